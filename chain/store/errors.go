package store

import "errors"

// Errors returned by this package. Callers classify them with errors.Is; the
// wrapped message names the height, hash or key concerned.
var (
	// ErrNotFound is returned for a block, tx, leaf or genesis that is not stored.
	ErrNotFound = errors.New("store: not found")
	// ErrNotNext is returned by Commit for a block that does not extend the head
	// (wrong height or previous hash), and by Commit and SetAppliedIndex for an
	// applied index below the stored one. Nothing is written.
	ErrNotNext = errors.New("store: not the next block")
	// ErrLogMismatch is returned by Commit when the header's LogSize or LogRoot
	// differs from the log after appending the block's tx hashes. Nothing is written.
	ErrLogMismatch = errors.New("store: header does not match the log")
	// ErrCorrupt is returned when stored bytes fail to decode or contradict the
	// key they are stored under. It is never retried: the node stops serving
	// the record and an operator restores it.
	ErrCorrupt = errors.New("store: corrupt record")
	// ErrOutOfRange is returned for a log index or size beyond the log.
	ErrOutOfRange = errors.New("store: log index or size out of range")
	// ErrInvalidBlock is returned by Commit for a block that cannot be stored
	// as is (nil, txs and results of different lengths, a redacted tx
	// without its sealed payload).
	ErrInvalidBlock = errors.New("store: invalid block")
	// ErrReadOnly is returned by writes on a Snapshot.
	ErrReadOnly = errors.New("store: read-only snapshot")
	// ErrGenesisMismatch is returned by SetGenesis when another genesis is stored.
	ErrGenesisMismatch = errors.New("store: a different genesis is already stored")
	// ErrClosed is returned by calls on a closed store.
	ErrClosed = errors.New("store: closed")
	// ErrBadPruneRun is returned by Prune and PruneTxs for a step that
	// cannot start (a pass name that is not 1-32 of a-z, 0-9, _ and -, no
	// selector, no block budget, a location that names no tx). Nothing is
	// written.
	ErrBadPruneRun = errors.New("store: invalid prune run")
)
