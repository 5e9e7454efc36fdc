#!/usr/bin/env bash
# chaos.sh: SIGKILL the leader under load, restart it, check convergence.
. "$(dirname "$0")/lib.sh"

usage() {
	cat <<USAGE
usage: testnet/chaos.sh [-n TXS] [-d DOWN_SECONDS]

Starts a load (medchain bench, TXS txs, default 20000) against a follower,
kills the leader with SIGKILL, measures the time until another node is
leader, restarts the killed node after DOWN_SECONDS (default 3), waits for
the load to end and checks that every node reaches the same head hash and
that no tx was lost: the bench sends a tx refused during the election again
(--retry, the same signed tx, never recorded twice), and every one of the
TXS txs must commit, the chain's log growing by at least TXS entries.
USAGE
}
TXS=20000 DOWN=3
while getopts "n:d:h" o; do
	case $o in
	n) TXS=$OPTARG ;;
	d) DOWN=$OPTARG ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
load_env
TOTAL=$(ls "$RUN"/node-*.pid 2>/dev/null | wc -l)
[ "$TOTAL" -ge 3 ] || die "chaos needs at least 3 nodes (testnet/up.sh -n 3)"
leader=$(wait_leader 15) || die "no leader: is the testnet up?"
L=${leader#node-}
F=$((L % TOTAL + 1))
lpid=$(node_pid "$L") || die "leader node-$L has no live PID in $RUN"
log "leader is node-$L (pid $lpid); load goes through node-$F"
log_before=$(log_size "$F") || die "node-$F does not answer its head"
cli "$F" --timeout 10m bench -n "$TXS" -c 8 --batch 100 --retry 2m --json >"$RUN/chaos-bench.json" 2>"$RUN/chaos-bench.log" &
bench=$!
trap 'kill $bench 2>/dev/null || true' EXIT
sleep 2
log "SIGKILL node-$L"
t0=$(date +%s%N)
kill -KILL "$lpid"
new=""
for _ in $(seq 1 400); do
	for i in $(seq 1 "$TOTAL"); do
		[ "$i" = "$L" ] && continue
		node_pid "$i" >/dev/null || continue
		l=$(leader_id "$i" || true)
		if [ -n "$l" ] && [ "$l" != "node-$L" ]; then new=$l; break 2; fi
	done
	sleep 0.05
done
t1=$(date +%s%N)
[ -n "$new" ] || die "no new leader within 20 s"
echo "re-election: $new leads $(((t1 - t0) / 1000000)) ms after SIGKILL of node-$L"
sleep "$DOWN"
log "restarting node-$L"
start_node "$L"
wait $bench || log "bench exited with an error (some submissions during the election may fail; see $RUN/chaos-bench.log)"
trap - EXIT
cat "$RUN/chaos-bench.json" 2>/dev/null | grep -E '"(committed|errors|retried|committed_tx_per_sec|latency_p50_ms|latency_p99_ms)"' || true
committed=$(tr -d '\n ' <"$RUN/chaos-bench.json" 2>/dev/null | grep -o '"committed":[0-9]*' | head -1 | cut -d: -f2)
for _ in $(seq 1 300); do
	ref="" same=1
	for i in $(seq 1 "$TOTAL"); do
		h=$(head_hash "$i")
		[ -n "$h" ] || { same=0; break; }
		if [ -z "$ref" ]; then ref=$h; elif [ "$h" != "$ref" ]; then same=0; break; fi
	done
	if [ "$same" = 1 ]; then
		echo "converged: all $TOTAL nodes at height/head $ref"
		log_after=$(log_size "$F") || die "node-$F does not answer its head"
		grown=$((log_after - log_before))
		[ "${committed:-0}" = "$TXS" ] || die "tx lost: the bench saw ${committed:-no} of $TXS txs commit (see $RUN/chaos-bench.log)"
		[ "$grown" -ge "$TXS" ] || die "tx lost: the bench saw all $TXS commit but the log grew by $grown entries"
		extra=""
		[ "$grown" -gt "$TXS" ] && extra=" (the $((grown - TXS)) beyond $TXS: copies sent again during the election, recorded as replays, and other txs)"
		echo "no tx lost: all $TXS txs committed; the log grew by $grown entries$extra"
		exit 0
	fi
	sleep 0.2
done
die "nodes did not reach the same head hash within 60 s (testnet/status.sh)"
