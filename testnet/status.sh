#!/usr/bin/env bash
# status.sh: show the testnet's members, leader, applied index and lag.
. "$(dirname "$0")/lib.sh"

usage() {
	cat <<USAGE
usage: testnet/status.sh [-j]

Prints medchain cluster status as seen by the first running node, and the
head of every node. -j prints cluster status as JSON.
USAGE
}
JSON=""
while getopts "jh" o; do
	case $o in
	j) JSON=--json ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
load_env
[ -x "$BIN" ] || die "bin/medchain is missing: run testnet/up.sh"
TOTAL=$(ls "$RUN"/node-*.pid 2>/dev/null | wc -l)
for i in $(seq 1 "$TOTAL"); do
	if node_pid "$i" >/dev/null; then
		# shellcheck disable=SC2086
		# cluster_status is internal (admin, MFA): the dev admin, enrolled
		# by up.sh with its TOTP secret linked into every data dir.
		enroll_admin || die "MFA enrolment of admin failed"
		cli "$i" cluster status $JSON || die "node-$i did not answer"
		[ -n "$JSON" ] && exit 0
		echo
		for j in $(seq 1 "$TOTAL"); do
			if node_pid "$j" >/dev/null; then
				echo "node-$j  $(rpc_url "$j")  head: $(head_hash "$j")"
			else
				echo "node-$j  down"
			fi
		done
		exit 0
	fi
done
die "no testnet node is running (testnet/up.sh starts one)"
