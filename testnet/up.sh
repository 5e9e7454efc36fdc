#!/usr/bin/env bash
# up.sh: build medchain, create an N-node chain on 127.0.0.1 and start it.
. "$(dirname "$0")/lib.sh"

usage() {
	cat <<USAGE
usage: testnet/up.sh [-n NODES] [-r RPC_PORT] [-p P2P_PORT]

Builds bin/medchain, writes keys and a genesis admitting NODES nodes
(default 3) into testnet/.run/data/node-i, starts each node (JSON-RPC on
127.0.0.1:RPC_PORT+i-1, default 8545; libp2p on 127.0.0.1:P2P_PORT+i-1,
default 7600), waits for a leader, enrols the dev admin in MFA (its TOTP
secret saved in node-1's data dir and linked into the others, dev only)
and prints the RPC URLs. Logs and PIDs are in testnet/.run/. Stop with testnet/down.sh.

The zero-trust gate is on. So that load.sh and chaos.sh measure the nodes,
not the gate's default limits (100 calls a minute, burst 50, one session
per identity), the nodes start with TESTNET_PER_MINUTE (default 1000000),
TESTNET_BURST (100000) and TESTNET_SESSIONS (64) from the environment.
USAGE
}

NODES=3 RPC_PORT=8545 P2P_PORT=7600
while getopts "n:r:p:h" o; do
	case $o in
	n) NODES=$OPTARG ;;
	r) RPC_PORT=$OPTARG ;;
	p) P2P_PORT=$OPTARG ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
case $NODES in ''|*[!0-9]*) die "-n wants a number, got '$NODES'" ;; esac
[ "$NODES" -ge 1 ] && [ "$NODES" -le 32 ] || die "-n must be between 1 and 32"
if ls "$RUN"/node-*.pid >/dev/null 2>&1; then
	die "a testnet is already running (testnet/status.sh); stop it first with testnet/down.sh"
fi
for i in $(seq 1 "$NODES"); do
	for port in $((RPC_PORT + i - 1)) $((P2P_PORT + i - 1)); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			die "port $port on 127.0.0.1 is in use; pick other ports with -r/-p"
		fi
	done
done

log "building bin/medchain"
(cd "$ROOT" && make -s build) || die "build failed"
rm -rf "$RUN"
mkdir -p "$RUN"
printf 'NODES=%s\nRPC_PORT=%s\nP2P_PORT=%s\n' "$NODES" "$RPC_PORT" "$P2P_PORT" >"$RUN/env"
"$BIN" cluster init --dir "$DATA" -n "$NODES" --rpc-port "$RPC_PORT" --p2p-port "$P2P_PORT" >"$RUN/init.log" 2>&1 ||
	{ cat "$RUN/init.log" >&2; die "cluster init failed"; }

cleanup_on_failure() {
	log "start failed; stopping what was started"
	"$TESTNET_DIR/down.sh" >/dev/null 2>&1 || true
}
trap cleanup_on_failure INT TERM
for i in $(seq 1 "$NODES"); do
	start_node "$i"
done
leader=$(wait_leader 60) || { cleanup_on_failure; die "no leader within 60 s (logs: $RUN/node-*.log)"; }
enroll_admin || { cleanup_on_failure; die "MFA enrolment of admin failed (log: $RUN/node-1.log)"; }
trap - INT TERM
log "leader: $leader"
echo "Testnet of $NODES nodes is up (chain medchain-testnet). JSON-RPC:"
for i in $(seq 1 "$NODES"); do
	echo "  node-$i  $(rpc_url "$i")   data $DATA/node-$i   log $RUN/node-$i.log"
done
echo "Keys for signing (admin, doctor456, ...) are in every data dir; admin is enrolled in MFA"
echo "(its dev TOTP secret in DATA/node-i/totp/), so the CLI logs in by itself, e.g.:"
echo "  bin/medchain --rpc $(rpc_url 1) --data-dir $DATA/node-1 tx audit --as doctor456 --patient patient123 --action view_record --purpose treatment"
echo "  bin/medchain --rpc $(rpc_url 1) --data-dir $DATA/node-1 query trail --patient patient123"
echo "Next: testnet/status.sh, testnet/load.sh, testnet/chaos.sh, testnet/join.sh, testnet/down.sh"
