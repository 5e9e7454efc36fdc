# Shared helpers of the testnet scripts; sourced, not run.
set -eu
TESTNET_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$TESTNET_DIR/.." && pwd)
RUN="$TESTNET_DIR/.run"
DATA="$RUN/data"
BIN="$ROOT/bin/medchain"

die() { echo "testnet: $*" >&2; exit 1; }
log() { echo "testnet: $*" >&2; }

# load_env reads the ports and size up.sh recorded.
load_env() {
	[ -f "$RUN/env" ] || die "no testnet is running here (start one with testnet/up.sh -n 3)"
	# shellcheck disable=SC1091
	. "$RUN/env"
}

rpc_url() { echo "https://127.0.0.1:$((RPC_PORT + $1 - 1))"; }

# node_pid N prints node N's PID if it is alive.
node_pid() {
	f="$RUN/node-$1.pid"
	[ -f "$f" ] || return 1
	p=$(cat "$f")
	kill -0 "$p" 2>/dev/null || return 1
	echo "$p"
}

# The zero-trust gate is on: every call needs a session. The testnet raises
# the gate's limits for its load and its tools (each a session of its own):
# calls a minute per identity and address, the burst, and concurrent
# sessions per identity. Override them in the environment of up.sh.
: "${TESTNET_PER_MINUTE:=1000000}" "${TESTNET_BURST:=100000}" "${TESTNET_SESSIONS:=64}"

start_node() {
	i=$1
	MEDCHAIN_ZEROTRUST_USER_PER_MINUTE=$TESTNET_PER_MINUTE MEDCHAIN_ZEROTRUST_ADMIN_PER_MINUTE=$TESTNET_PER_MINUTE \
		MEDCHAIN_ZEROTRUST_BURST=$TESTNET_BURST MEDCHAIN_ZEROTRUST_MAX_SESSIONS_PER_IDENTITY=$TESTNET_SESSIONS \
		"$BIN" start --data-dir "$DATA/node-$i" >>"$RUN/node-$i.log" 2>&1 &
	echo $! >"$RUN/node-$i.pid"
}

# cli N ARGS... runs medchain against node N with node N's data dir: its
# dev CA and keys, and its own cached sessions (a session is valid on the
# node that issued it).
cli() {
	n=$1
	shift
	if [ -f "$DATA/node-$n/keys/admin.key" ]; then
		"$BIN" --rpc "$(rpc_url "$n")" --data-dir "$DATA/node-$n" "$@"
	else # a node that joined holds only its own keys: log in as node-1's dev admin
		"$BIN" --rpc "$(rpc_url "$n")" --data-dir "$DATA/node-$n" --as admin --key "$DATA/node-1/keys/admin.key" "$@"
	fi
}

# enroll_admin enrols the dev admin in MFA once for the chain (the seed is
# on chain, so every node verifies its codes) through node-1, saving its TOTP
# secret in node-1's data dir (dev only), and links that file into every
# node's data dir, where the CLI looks for it: the scripts call internal
# methods (cluster status), which need MFA.
enroll_admin() {
	if [ ! -f "$DATA/node-1/totp/admin.secret" ]; then
		cli 1 --timeout 20s mfa enroll --as admin --save-secret >/dev/null || return 1
	fi
	for d in "$DATA"/node-*; do
		[ -e "$d/totp/admin.secret" ] && continue
		mkdir -p "$d/totp" && chmod 700 "$d/totp" && ln -s "$DATA/node-1/totp/admin.secret" "$d/totp/admin.secret"
	done
}

# leader_id N prints the leader's node id as node N sees it ("" if none),
# from node_status (public: the dev admin's session, no MFA).
leader_id() {
	cli "$1" --timeout 3s query status --json 2>/dev/null | grep -o '"leader": *"[^"]*"' | head -1 | sed 's/.*: *"\(.*\)"/\1/'
}

# head_hash N prints "height hash" of node N.
head_hash() {
	cli "$1" --timeout 3s query head --json 2>/dev/null | tr -d '\n ' | sed -n 's/.*"height":\([0-9]*\).*"hash":"\([0-9a-f]*\)".*/\1 \2/p'
}

# log_size I: the number of txs in node I's log at its head (5 tries, a
# loaded node may miss one).
log_size() {
	for _ in 1 2 3 4 5; do
		cli "$1" --timeout 3s query head --json 2>/dev/null | tr -d '\n ' | sed -n 's/.*"log_size":\([0-9]*\).*/\1/p' | grep . && return 0
		sleep 1
	done
	return 1
}

# wait_leader SECONDS: wait until a running node reports a leader; prints its node id.
wait_leader() {
	deadline=$(($(date +%s) + $1))
	while [ "$(date +%s)" -lt "$deadline" ]; do
		for i in $(seq 1 "$NODES"); do
			node_pid "$i" >/dev/null || continue
			l=$(leader_id "$i" || true)
			if [ -n "$l" ]; then
				echo "$l"
				return 0
			fi
		done
		sleep 0.2
	done
	return 1
}
