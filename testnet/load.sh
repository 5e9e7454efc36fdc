#!/usr/bin/env bash
# load.sh: run medchain bench against the testnet's leader.
. "$(dirname "$0")/lib.sh"

usage() {
	cat <<USAGE
usage: testnet/load.sh [-n TXS] [-c CLIENTS] [-b BATCH] [-N NODE] [-j]

Runs medchain bench (pre-signed audit txs in tx_submitBatch calls that wait
for commit) against the leader, or against node NODE with -N (a follower
forwards each tx to the leader). Prints committed tx/s and the commit
latency p50/p99. Defaults: 20000 txs, 8 clients, batches of 250. bench
logs in as doctor456; up.sh raised the gate's rate limits for it.
USAGE
}
TXS=20000 CLIENTS=8 BATCH=250 NODE="" JSON=""
while getopts "n:c:b:N:jh" o; do
	case $o in
	n) TXS=$OPTARG ;;
	c) CLIENTS=$OPTARG ;;
	b) BATCH=$OPTARG ;;
	N) NODE=$OPTARG ;;
	j) JSON=--json ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
load_env
if [ -z "$NODE" ]; then
	leader=$(wait_leader 15) || die "no leader: is the testnet up? (testnet/status.sh)"
	NODE=${leader#node-}
fi
node_pid "$NODE" >/dev/null || die "node-$NODE is not running"
url=$(rpc_url "$NODE")
log "bench: $TXS txs, $CLIENTS clients, batches of $BATCH against node-$NODE ($url)"
# shellcheck disable=SC2086
# The node's own data dir: its sessions (bench logs in as doctor456).
exec "$BIN" --rpc "$url" --data-dir "$DATA/node-$NODE" --timeout 10m bench -n "$TXS" -c "$CLIENTS" --batch "$BATCH" $JSON
