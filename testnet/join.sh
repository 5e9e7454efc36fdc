#!/usr/bin/env bash
# join.sh: add a node to the running testnet through the admission flow.
. "$(dirname "$0")/lib.sh"

usage() {
	cat <<USAGE
usage: testnet/join.sh [-r observer] [-t SECONDS]

Prepares node-(N+1) with medchain join (keys, genesis, config, and its
signed join request submitted through node-1), approves it as the genesis
admin, starts it, and waits until the leader has added it (and promoted it
to voter, once caught up, unless -r observer): at most SECONDS (default 60;
a long chain takes longer to catch up). Prints how long the wait took.
USAGE
}
ROLE=voter
WAIT=60
while getopts "r:t:h" o; do
	case $o in
	r) ROLE=$OPTARG ;;
	t) WAIT=$OPTARG ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
case $WAIT in '' | *[!0-9]*) die "-t wants whole seconds, got '$WAIT'" ;; esac
load_env
TOTAL=$(ls "$RUN"/node-*.pid 2>/dev/null | wc -l)
[ "$TOTAL" -ge 1 ] || die "no testnet is running (testnet/up.sh)"
K=$((TOTAL + 1))
ID=node-$K
url1=$(rpc_url 1)
node_pid 1 >/dev/null || die "node-1 must be running to take the join request"
# The new node has no identity yet: node-1's admin (its key and its TOTP
# secret on node-1) reads the member list and submits the signed request.
enroll_admin || die "MFA enrolment of admin failed"
"$BIN" --rpc "$url1" --data-dir "$DATA/$ID" --ca "$DATA/node-1/tls/ca.crt" --as admin --key "$DATA/node-1/keys/admin.key" \
	--totp-file "$DATA/node-1/totp/admin.secret" join --node-id "$ID" --role "$ROLE" --region local \
	--p2p-listen "/ip4/127.0.0.1/tcp/$((P2P_PORT + K - 1))" --rpc-listen "127.0.0.1:$((RPC_PORT + K - 1))" ||
	die "join request failed"
rm -rf "$DATA/$ID/sessions" # admin's session, cached while joining: not the new node's
enroll_admin # links admin's dev TOTP secret into the new node's dir too
cli 1 tx node approve --node-id "$ID" --as admin || die "approval failed"
start_node "$K"
started=$(date +%s%N)
want=voter
[ "$ROLE" = observer ] && want=nonvoter
for _ in $(seq 1 $((WAIT * 5))); do
	if cli 1 cluster status 2>/dev/null | grep -qE "^$ID +$want "; then
		echo "$ID joined as $ROLE after $((($(date +%s%N) - started) / 1000000)) ms: JSON-RPC $(rpc_url "$K")"
		exit 0
	fi
	sleep 0.2
done
die "$ID was not added within $WAIT s (log: $RUN/$ID.log)"
