package consensus

import "errors"

// Errors returned by this package. Callers classify them with errors.Is; the
// wrapped message names the height, hash or field concerned.
var (
	// ErrBusy is returned by Submit when the mempool is full. The tx was not
	// admitted; the client retries later with the same tx.
	ErrBusy = errors.New("consensus: busy")
	// ErrNotLeader is returned by Submit, SubmitAndWait and LinearizableBarrier
	// on a node that is not the Raft leader. The node layer forwards the tx
	// (or the read) to the leader.
	ErrNotLeader = errors.New("consensus: not the leader")
	// ErrHalted is returned once the FSM has stopped applying: re-execution
	// disagreed with a committed header (this node diverged) or an apply failed
	// on I/O. The node must not serve state until an operator intervenes.
	ErrHalted = errors.New("consensus: halted")
	// ErrRejected wraps the reason a committed log entry was not applied as a
	// block (wrong height or previous hash, bad proposer signature, header
	// fields that do not match the block). Every node rejects it the same way.
	ErrRejected = errors.New("consensus: block rejected")
	// ErrDivergence is wrapped by the halt error when the re-executed results or
	// state hash differ from the header.
	ErrDivergence = errors.New("consensus: state diverged from the committed header")
	// ErrUnknownEntry is wrapped by the halt error for a log entry kind this
	// version cannot apply (written by a newer version).
	ErrUnknownEntry = errors.New("consensus: unknown log entry kind")
	// ErrClosed is returned by calls on a closed node.
	ErrClosed = errors.New("consensus: closed")
	// ErrAlreadyBootstrapped is returned by Bootstrap when Raft state exists.
	ErrAlreadyBootstrapped = errors.New("consensus: raft state already exists")
	// ErrNotBootstrapped is returned by New when the data directory has no Raft
	// state: run Bootstrap (medchain init) or join a cluster first.
	ErrNotBootstrapped = errors.New("consensus: no raft state (not bootstrapped)")
	// ErrUncertain wraps ErrLeadershipLost and apply timeouts: the tx may or may
	// not have committed. Retry with the same tx; the tx index makes it harmless.
	ErrUncertain = errors.New("consensus: outcome unknown, retry with the same tx")
	// ErrDataDirInUse is returned by New and Bootstrap when another process
	// holds the data dir's Raft log.
	ErrDataDirInUse = errors.New("consensus: data dir in use")
	// ErrConfig wraps every Config.Validate failure.
	ErrConfig = errors.New("consensus: bad config")
	// ErrSnapshot wraps snapshot and restore failures.
	ErrSnapshot = errors.New("consensus: snapshot")
)
