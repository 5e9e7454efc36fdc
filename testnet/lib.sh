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

# ca_of URL prints the CA certificate of the node serving URL (each node's
# data dir has its own dev CA).
ca_of() { echo "$DATA/node-$((${1##*:} - RPC_PORT + 1))/tls/ca.crt"; }

# node_pid N prints node N's PID if it is alive.
node_pid() {
	f="$RUN/node-$1.pid"
	[ -f "$f" ] || return 1
	p=$(cat "$f")
	kill -0 "$p" 2>/dev/null || return 1
	echo "$p"
}

start_node() {
	i=$1
	"$BIN" start --data-dir "$DATA/node-$i" >>"$RUN/node-$i.log" 2>&1 &
	echo $! >"$RUN/node-$i.pid"
}

# leader_id URL prints the leader's node id as the node at URL sees it ("" if none).
leader_id() {
	"$BIN" --rpc "$1" --ca "$(ca_of "$1")" --timeout 3s cluster status --json 2>/dev/null | grep -o '"leader": *"[^"]*"' | head -1 | sed 's/.*: *"\(.*\)"/\1/'
}

# head_hash URL prints "height hash" of the node at URL.
head_hash() {
	"$BIN" --rpc "$1" --ca "$(ca_of "$1")" --timeout 3s query head --json 2>/dev/null | tr -d '\n ' | sed -n 's/.*"height":\([0-9]*\).*"hash":"\([0-9a-f]*\)".*/\1 \2/p'
}

# wait_leader SECONDS: wait until a running node reports a leader; prints its node id.
wait_leader() {
	deadline=$(($(date +%s) + $1))
	while [ "$(date +%s)" -lt "$deadline" ]; do
		for i in $(seq 1 "$NODES"); do
			node_pid "$i" >/dev/null || continue
			l=$(leader_id "$(rpc_url "$i")" || true)
			if [ -n "$l" ]; then
				echo "$l"
				return 0
			fi
		done
		sleep 0.2
	done
	return 1
}
