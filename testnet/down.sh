#!/usr/bin/env bash
# down.sh: stop the testnet's nodes (by the PIDs up.sh recorded).
. "$(dirname "$0")/lib.sh"

usage() {
	cat <<USAGE
usage: testnet/down.sh [-k]

Stops every node started by testnet/up.sh or join.sh (SIGTERM, then SIGKILL
after 10 s) using the PIDs in testnet/.run/. With -k the data dirs and logs
are kept; without it testnet/.run is removed.
USAGE
}
KEEP=0
while getopts "kh" o; do
	case $o in
	k) KEEP=1 ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
[ -d "$RUN" ] || { log "nothing to stop"; exit 0; }
for f in "$RUN"/node-*.pid; do
	[ -f "$f" ] || continue
	p=$(cat "$f")
	if kill -0 "$p" 2>/dev/null; then
		kill -TERM "$p" 2>/dev/null || true
		n=0
		while kill -0 "$p" 2>/dev/null && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
		kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null || true
		log "stopped $(basename "$f" .pid) (pid $p)"
	fi
	rm -f "$f"
done
[ "$KEEP" = 1 ] || rm -rf "$RUN"
