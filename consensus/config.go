package consensus

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/store"
	"github.com/medchain/medchain/chain/types"
)

// Config configures a consensus Node. DefaultConfig returns production values;
// TestConfig fast timeouts for in-process tests.
type Config struct {
	// DataDir holds the node's data: DataDir/chain (Pebble, see StoreDir) and
	// DataDir/raft (raft.db and snapshots/). Required.
	DataDir string
	// NodeID is the Raft server id and the node's identity id on chain: block
	// headers name it as proposer and followers look its key up under it.
	// Required; a valid identifier (types.ValidateID).
	NodeID string

	// Join starts a node that has no Raft state and waits for the leader to
	// add it (AddVoter or AddNonvoter); it then catches up by snapshot and
	// log. Without Join, New refuses a data dir with no Raft state
	// (ErrNotBootstrapped), so a node that missed medchain init never sits
	// silently outside its cluster. Default false.
	Join bool

	// HeartbeatTimeout is how long a follower waits without contact before it
	// starts an election. Default 1s (raft's default, sized for multi-region RTTs).
	HeartbeatTimeout time.Duration
	// ElectionTimeout bounds a candidate's wait. Default 1s.
	ElectionTimeout time.Duration
	// LeaderLeaseTimeout is how long a leader stays leader without reaching a
	// quorum. Default 500ms; must not exceed HeartbeatTimeout.
	LeaderLeaseTimeout time.Duration
	// CommitTimeout is the idle interval after which the leader sends an
	// AppendEntries to propagate the commit index. Default 50ms.
	CommitTimeout time.Duration

	// MaxBlockTxs cuts a block when this many txs are waiting. Default 2000.
	// MaxBlockDelay cuts a block this long after the first waiting tx arrived.
	// Default 20ms.
	//
	// Measured (2-core EPYC, fsync on, ~4 KB signed audit txs; go test -run
	// '^$' -bench CommitSignedAudit -benchtime 40000x ./consensus/): a block
	// costs a fixed ~2 ms (two fsyncs: bbolt and Pebble) plus the per-tx work
	// (docs/BENCHMARKS.md, section 1). 2000 txs per block keep the fixed cost
	// under 2% and a block's write (~8 MB per store) under 100 ms; 20 ms
	// bounds the added latency at low load.
	MaxBlockTxs   int
	MaxBlockDelay time.Duration
	// MaxBlockBytes bounds the encoded txs of one block (a Raft entry). Default
	// 16 MiB; must be at least the genesis MaxTxBytes.
	MaxBlockBytes int
	// MaxBlocksInFlight is how many proposed blocks may be in Raft at once.
	// With 2, the leader builds and executes block N+1 on top of block N's
	// outcome while N is being replicated, written and applied; if N does
	// not commit, N+1 is rejected (its prev hash no longer matches) and the
	// txs of both return to the mempool. 1 is one block at a time. Default 2.
	MaxBlocksInFlight int
	// MempoolSize is how many txs may wait for a block. Default 50000 (five
	// seconds at the 10,000 tx/s target). When full, Submit returns ErrBusy.
	MempoolSize int
	// ApplyTimeout bounds one raft.Apply of a block, enqueue to applied.
	// Default 10s.
	ApplyTimeout time.Duration

	// Snapshots and the Raft log. A restart reads every entry after the last
	// snapshot twice (Raft scans them for configuration changes, then hands
	// them to the FSM, which skips the ones it has applied without decoding
	// them): start-up time grows with the bytes of log since the last
	// snapshot, about 9 ms per MB on the 2-core dev host under load
	// (docs/ARCHITECTURE.md, "Snapshots and start-up"). A snapshot streams the whole store (a
	// Pebble checkpoint), so its cost grows with the chain: the thresholds
	// trade one against the other.
	//
	// SnapshotInterval is how often Raft checks SnapshotThreshold. Default 2m.
	SnapshotInterval time.Duration
	// SnapshotThreshold is how many log entries (blocks) must accumulate before
	// Raft snapshots. Default 8192: it bounds a log of small blocks, whose
	// replay is cheap; SnapshotLogBytes bounds a log of large ones.
	SnapshotThreshold uint64
	// SnapshotLogBytes triggers a snapshot once the block entries handed to
	// the FSM since the last snapshot (replayed ones included) reach this
	// many bytes, checked at every entry rather than every SnapshotInterval.
	// It bounds the log a restart replays by size: 1 GiB replays in about
	// 9 s there, and costs one snapshot (the whole store written once: 4.5 s
	// for a 1.2 GB store) per GiB of blocks. 0 disables it. Default 1 GiB.
	SnapshotLogBytes int64
	// TrailingLogs is how many entries stay in the Raft log after a snapshot,
	// so a follower that lags by fewer entries catches up from the log; one
	// further behind receives a whole snapshot (the store). It does not
	// affect start-up (replay starts at the snapshot). Default 2048: about
	// 2 GB of log at 1 MB blocks, and 7 min of catch-up at 10,000 tx/s in
	// 2,000-tx blocks (10240 kept up to 10 GB of 1 MB blocks on disk).
	TrailingLogs uint64
	// ClusterKey, when set, turns pseudonymization on: the leader stores txs
	// that name a patient redacted, with per-patient keys wrapped under it
	// (pseudonym.go), and erasures are completed on this node (erasure.go).
	// Every node of a cluster must hold the same key. Default nil (off).
	ClusterKey ClusterKey

	// SnapshotRetain is how many snapshots are kept on disk. Default 2.
	SnapshotRetain int

	// VerifyTxSignatures re-checks every tx signature when a follower
	// re-executes a block. The leader always checks at admission. Default off.
	VerifyTxSignatures bool

	// Store configures the Pebble store under StoreDir. Default
	// FSMStoreOptions: no Pebble WAL, the Raft log being the write-ahead
	// log of every block.
	Store store.Options
	// LeftOut, when set, learns each tx this node, leading, left out of a
	// block at the cut, with the refusal its own waiters of the tx got (a
	// stale signature, a patient erased meanwhile): the node layer passes
	// it on to the followers, which wake their waiters of the tx with the
	// same refusal (Node.LeftOut). A copy of a tx whose first copy is in a
	// block still in flight, or already in the chain, is not reported, as
	// it is not answered locally. It is called on the proposer's goroutine
	// once the block is built, before it is handed to Raft (the left-out
	// txs are in no block either way), so it must not block: queue and
	// return. refusal is the hook's to keep. Default nil.
	LeftOut func(h types.Hash, refusal *state.TxError)

	// Logger receives the node's and Raft's messages; nil means slog.Default().
	Logger *slog.Logger
	// Metrics receives counters and gauges; nil means no metrics.
	Metrics Metrics
}

// Defaults for Config.
const (
	DefaultMaxBlockTxs   = 2000
	DefaultMaxBlockDelay = 20 * time.Millisecond
	DefaultMaxBlockBytes = 16 << 20
	DefaultMempoolSize   = 50000

	DefaultMaxBlocksInFlight = 2
)

// DefaultConfig returns production values for the node id and data dir given.
func DefaultConfig(nodeID, dataDir string) Config {
	return Config{
		DataDir:            dataDir,
		NodeID:             nodeID,
		HeartbeatTimeout:   time.Second,
		ElectionTimeout:    time.Second,
		LeaderLeaseTimeout: 500 * time.Millisecond,
		CommitTimeout:      50 * time.Millisecond,
		MaxBlockTxs:        DefaultMaxBlockTxs,
		MaxBlockDelay:      DefaultMaxBlockDelay,
		MaxBlockBytes:      DefaultMaxBlockBytes,
		MempoolSize:        DefaultMempoolSize,
		MaxBlocksInFlight:  DefaultMaxBlocksInFlight,
		ApplyTimeout:       10 * time.Second,
		SnapshotInterval:   2 * time.Minute,
		SnapshotThreshold:  8192,
		SnapshotLogBytes:   1 << 30,
		TrailingLogs:       2048,
		SnapshotRetain:     2,
		Store:              FSMStoreOptions(),
	}
}

// FSMStoreOptions returns the production options of the FSM's store:
// store.DefaultOptions without Pebble's WAL. Every block is already durable
// in the Raft log (raft-boltdb fsyncs it before the entry counts towards the
// commit), and the FSM re-applies the entries after its applied index on
// start, so a second log of the same bytes buys nothing but a faster restart
// after a crash. The invariants that make this safe: the store is flushed
// before a Raft snapshot lets Raft compact the log (FSM.Snapshot), before a
// clean close (store.Close), and a crash keeps a prefix of the commits
// (chain/store invariant 1), so the store's applied index never runs ahead of
// what it holds. Without the WAL no wrapped patient key is ever written to a
// WAL file either.
func FSMStoreOptions() store.Options {
	o := store.DefaultOptions()
	o.Sync, o.DisableWAL = false, true
	return o
}

// TestConfig returns DefaultConfig with fast timeouts, small blocks and a
// small mempool, for in-process tests.
func TestConfig(nodeID, dataDir string) Config {
	c := DefaultConfig(nodeID, dataDir)
	c.HeartbeatTimeout = 100 * time.Millisecond
	c.ElectionTimeout = 100 * time.Millisecond
	c.LeaderLeaseTimeout = 50 * time.Millisecond
	c.CommitTimeout = 5 * time.Millisecond
	c.MaxBlockTxs = 100
	c.MaxBlockDelay = 5 * time.Millisecond
	c.MempoolSize = 1000
	c.ApplyTimeout = 5 * time.Second
	c.SnapshotInterval = time.Hour
	c.SnapshotThreshold = 1 << 20
	c.SnapshotLogBytes = 0
	c.TrailingLogs = 64
	c.Store = FSMStoreOptions()
	c.Store.CacheSize = 8 << 20
	c.Store.MemTableSize = 4 << 20
	return c
}

// Validate reports every invalid field.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s: %s", ErrConfig, field, fmt.Sprintf(format, args...)))
	}
	if c.DataDir == "" {
		bad("DataDir", "required")
	}
	if err := types.ValidateID("NodeID", c.NodeID); err != nil {
		bad("NodeID", "%v", err)
	}
	positive := func(field string, d time.Duration) {
		if d <= 0 {
			bad(field, "%v: must be positive", d)
		}
	}
	positive("HeartbeatTimeout", c.HeartbeatTimeout)
	positive("ElectionTimeout", c.ElectionTimeout)
	positive("LeaderLeaseTimeout", c.LeaderLeaseTimeout)
	positive("CommitTimeout", c.CommitTimeout)
	positive("MaxBlockDelay", c.MaxBlockDelay)
	positive("ApplyTimeout", c.ApplyTimeout)
	positive("SnapshotInterval", c.SnapshotInterval)
	if c.LeaderLeaseTimeout > c.HeartbeatTimeout {
		bad("LeaderLeaseTimeout", "%v: must not exceed HeartbeatTimeout %v", c.LeaderLeaseTimeout, c.HeartbeatTimeout)
	}
	if c.HeartbeatTimeout > 0 && c.HeartbeatTimeout < 5*time.Millisecond {
		bad("HeartbeatTimeout", "%v: must be at least 5ms (raft)", c.HeartbeatTimeout)
	}
	if c.ElectionTimeout > 0 && c.ElectionTimeout < 5*time.Millisecond {
		bad("ElectionTimeout", "%v: must be at least 5ms (raft)", c.ElectionTimeout)
	}
	if c.MaxBlockTxs < 1 || c.MaxBlockTxs > 100000 {
		bad("MaxBlockTxs", "%d: must be between 1 and 100000", c.MaxBlockTxs)
	}
	if c.MaxBlockBytes < types.DefaultMaxTxBytes {
		bad("MaxBlockBytes", "%d: must be at least %d (one tx)", c.MaxBlockBytes, types.DefaultMaxTxBytes)
	}
	if c.MaxBlocksInFlight < 1 || c.MaxBlocksInFlight > 4 {
		bad("MaxBlocksInFlight", "%d: must be between 1 and 4", c.MaxBlocksInFlight)
	}
	if c.MempoolSize < 1 {
		bad("MempoolSize", "%d: must be positive", c.MempoolSize)
	}
	if c.SnapshotThreshold == 0 {
		bad("SnapshotThreshold", "must be positive")
	}
	if c.SnapshotLogBytes < 0 || c.SnapshotLogBytes > 0 && c.SnapshotLogBytes < int64(c.MaxBlockBytes) {
		bad("SnapshotLogBytes", "%d: must be 0 (off) or at least MaxBlockBytes (%d)", c.SnapshotLogBytes, c.MaxBlockBytes)
	}
	if c.SnapshotRetain < 1 {
		bad("SnapshotRetain", "%d: must be at least 1", c.SnapshotRetain)
	}
	if err := c.Store.Validate(); err != nil {
		bad("Store", "%v", err)
	}
	return errors.Join(errs...)
}

// StoreDir is where the Pebble store lives: DataDir/chain.
func (c Config) StoreDir() string { return filepath.Join(c.DataDir, "chain") }

// RaftDir is where the Raft log, stable store and snapshots live: DataDir/raft.
func (c Config) RaftDir() string { return filepath.Join(c.DataDir, "raft") }

func (c Config) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.Default()
}

func (c Config) metrics() Metrics {
	if c.Metrics != nil {
		return c.Metrics
	}
	return nopMetrics{}
}
