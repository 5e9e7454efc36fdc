package consensus

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"

	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/store"
	"github.com/medchain/medchain/chain/types"
)

// Receipt says where a tx committed and what became of it.
type Receipt struct {
	TxHash    types.Hash   `json:"tx_hash"`
	Height    uint64       `json:"height"`
	Index     uint32       `json:"index"`
	Result    types.Result `json:"result"`
	BlockHash types.Hash   `json:"block_hash"`
}

// Node is one medchain consensus participant: the Raft instance, the FSM over
// the Pebble store and, while leader, the proposer. Create it with New and
// stop it with Close.
type Node struct {
	cfg   Config
	log   *slog.Logger
	m     Metrics
	key   *crypto.PrivateKey
	exec  *state.Executor
	fsm   *FSM
	raft  *raft.Raft
	trans raft.Transport
	logs  *raftboltdb.BoltStore
	snaps *raft.FileSnapshotStore
	pool  *mempool

	pseudo  *pseudonymizer // nil without Config.ClusterKey: txs are stored as signed
	eraseCh chan struct{}  // wakes the eraser after a block that erased a patient
	snapMu  sync.Mutex     // one erasure snapshot at a time

	done     chan struct{}
	wg       sync.WaitGroup
	closeMu  sync.Mutex
	closed   bool
	closeErr error

	waitMu sync.Mutex
	// guards the following
	waiters map[types.Hash][]chan waitOutcome

	subMu sync.Mutex
	// guards the following
	subs    map[*subscriber]struct{}
	dropped uint64

	leadMu sync.Mutex
	// guards the following
	ready    bool          // leader and the term-start barrier has applied
	inflight chan struct{} // closed when the newest block in flight is done; nil if none
}

// InitStore prepares an empty store for chain g: it stores the genesis
// document and the state it creates (the genesis identities) in one batch. On
// a store that already holds g it does nothing, and a store of another chain
// is store.ErrGenesisMismatch.
func InitStore(st *store.Store, g *state.Genesis) error {
	if err := g.Validate(); err != nil {
		return err
	}
	ex, err := state.NewExecutor(g)
	if err != nil {
		return err
	}
	ws, _ := ex.GenesisState()
	if err := st.SetGenesis(g.Encode(), ws); err != nil {
		return fmt.Errorf("consensus: init store: %w", err)
	}
	return nil
}

func (c Config) raftConfig(log *slog.Logger) *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(c.NodeID)
	rc.HeartbeatTimeout = c.HeartbeatTimeout
	rc.ElectionTimeout = c.ElectionTimeout
	rc.LeaderLeaseTimeout = c.LeaderLeaseTimeout
	rc.CommitTimeout = c.CommitTimeout
	rc.SnapshotInterval = c.SnapshotInterval
	rc.SnapshotThreshold = c.SnapshotThreshold
	rc.TrailingLogs = c.TrailingLogs
	rc.NoSnapshotRestoreOnStart = true
	rc.Logger = newHclog(log, "raft")
	return rc
}

// raftLogCache is how many recent Raft entries (blocks) are kept in memory
// for replication: a few blocks in flight per follower, at most
// MaxBlockBytes each.
const raftLogCache = 8

type raftStores struct {
	logs  *raftboltdb.BoltStore
	snaps *raft.FileSnapshotStore
}

func openRaftStores(c Config, log *slog.Logger) (*raftStores, error) {
	if err := os.MkdirAll(c.RaftDir(), 0o700); err != nil {
		return nil, fmt.Errorf("consensus: create %s: %w", c.RaftDir(), err)
	}
	path := filepath.Join(c.RaftDir(), "raft.db")
	// bbolt waits forever for its file lock by default: another process on the
	// same data dir would hang this one silently. Not syncing the freelist
	// (rebuilt at open) and keeping it as a map is what Consul does for
	// raft-boltdb: each block is a multi-megabyte entry, and writing the
	// freelist at every commit dominated the cost of appending it.
	logs, err := raftboltdb.New(raftboltdb.Options{Path: path, BoltOptions: &bbolt.Options{
		Timeout: 2 * time.Second, NoFreelistSync: true, FreelistType: bbolt.FreelistMapType}})
	if errors.Is(err, bbolt.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s is locked: is another medchain node running on data dir %s?", ErrDataDirInUse, path, c.DataDir)
	}
	if err != nil {
		return nil, fmt.Errorf("consensus: open raft log: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(c.RaftDir(), c.SnapshotRetain, newHclog(log, "raft-snap"))
	if err != nil {
		logs.Close()
		return nil, fmt.Errorf("consensus: open snapshot store: %w", err)
	}
	return &raftStores{logs: logs, snaps: snaps}, nil
}

// Bootstrap writes the initial Raft configuration of a one-voter cluster made
// of this node at addr (medchain init). It fails with ErrAlreadyBootstrapped
// when the data dir already has Raft state: an existing cluster restarts
// with New alone, never by bootstrapping again.
func Bootstrap(cfg Config, addr raft.ServerAddress) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := cfg.logger()
	rs, err := openRaftStores(cfg, log)
	if err != nil {
		return err
	}
	defer rs.logs.Close()
	has, err := raft.HasExistingState(rs.logs, rs.logs, rs.snaps)
	if err != nil {
		return fmt.Errorf("consensus: bootstrap: %w", err)
	}
	if has {
		return ErrAlreadyBootstrapped
	}
	conf := raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: raft.ServerID(cfg.NodeID), Address: addr}}}
	if err := raft.BootstrapCluster(cfg.raftConfig(log), rs.logs, rs.logs, rs.snaps, nil, conf); err != nil {
		return fmt.Errorf("consensus: bootstrap: %w", err)
	}
	return nil
}

// New opens the node's store (creating it and storing g if new), checks that
// the data dir holds Raft state (see Bootstrap), restores the newest local
// snapshot if the store is behind it, and starts Raft on trans and the
// proposer. key is the node's ML-DSA key, registered on chain under
// cfg.NodeID; it signs the blocks this node proposes. Close releases
// everything, trans included when it is an io.Closer.
func New(cfg Config, g *state.Genesis, key *crypto.PrivateKey, trans raft.Transport) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if key == nil || trans == nil {
		return nil, fmt.Errorf("%w: key and transport are required", ErrConfig)
	}
	exec, err := state.NewExecutor(g)
	if err != nil {
		return nil, err
	}
	log := cfg.logger().With("node", cfg.NodeID)
	rs, err := openRaftStores(cfg, log)
	if err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, log: log, m: cfg.metrics(), key: key, exec: exec, trans: trans, logs: rs.logs, snaps: rs.snaps,
		pool: newMempool(cfg.MempoolSize), done: make(chan struct{}), waiters: make(map[types.Hash][]chan waitOutcome),
		subs: make(map[*subscriber]struct{}), pseudo: newPseudonymizer(cfg.ClusterKey), eraseCh: make(chan struct{}, 1)}
	ok := false
	defer func() {
		if !ok {
			n.closeStores()
		}
	}()
	has, err := raft.HasExistingState(rs.logs, rs.logs, rs.snaps)
	if err != nil {
		return nil, fmt.Errorf("consensus: read raft state: %w", err)
	}
	if !has && !cfg.Join {
		return nil, ErrNotBootstrapped
	}
	st, err := openStore(cfg, g)
	if err != nil {
		return nil, err
	}
	n.fsm = newFSM(st, cfg.StoreDir(), cfg.Store, exec, cfg.VerifyTxSignatures, log, n.m)
	n.fsm.onCommit = n.committed
	n.fsm.onReject = n.rejected
	n.fsm.onErase = n.signalErase
	if cfg.SnapshotLogBytes > 0 {
		n.fsm.snapLogBytes, n.fsm.snapWanted = cfg.SnapshotLogBytes, make(chan struct{}, 1)
	}
	if err := n.checkKey(); err != nil {
		return nil, err
	}
	if err := n.catchUpFromSnapshot(); err != nil {
		return nil, err
	}
	// Recent entries stay in memory: the leader reads the entry before each
	// AppendEntries batch (its term) and the entries it sends, and decoding a
	// multi-megabyte block from bbolt for that was a quarter of its CPU.
	logs, err := raft.NewLogCache(raftLogCache, rs.logs)
	if err != nil {
		return nil, fmt.Errorf("consensus: raft log cache: %w", err)
	}
	r, err := raft.NewRaft(cfg.raftConfig(log), n.fsm, logs, rs.logs, rs.snaps, trans)
	if err != nil {
		return nil, fmt.Errorf("consensus: start raft: %w", err)
	}
	n.raft = r
	n.wg.Add(1)
	go n.runProposer()
	if n.fsm.snapWanted != nil {
		n.wg.Add(1)
		go n.runSnapshotter()
	}
	if n.pseudo != nil {
		n.wg.Add(1)
		go n.runEraser()
	}
	ok = true
	return n, nil
}

func openStore(cfg Config, g *state.Genesis) (*store.Store, error) {
	fs := cfg.Store.FS
	if fs == nil {
		fs = vfs.Default
	}
	if err := recoverStoreDir(fs, cfg.StoreDir()); err != nil {
		return nil, fmt.Errorf("consensus: recover store dir: %w", err)
	}
	opts := cfg.Store
	if opts.Logger == nil {
		opts.Logger = cfg.logger()
	}
	st, err := store.Open(cfg.StoreDir(), opts)
	if err != nil {
		return nil, fmt.Errorf("consensus: open store: %w", err)
	}
	if err := InitStore(st, g); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// checkKey refuses a key that differs from the one registered for NodeID.
// A node not registered yet may run (as a follower) but cannot propose.
func (n *Node) checkKey() error {
	var id *state.Identity
	err := n.fsm.WithStore(func(st *store.Store) error {
		var err error
		id, err = state.GetIdentity(st, n.cfg.NodeID)
		return err
	})
	if err != nil {
		return fmt.Errorf("consensus: read node identity: %w", err)
	}
	if id == nil {
		n.log.Warn("consensus: node identity is not registered on chain; this node cannot propose blocks", "id", n.cfg.NodeID)
		return nil
	}
	if !id.PublicKey.Equal(n.key.Public()) {
		return fmt.Errorf("%w: key %s does not match the key %s registered for node %q", ErrConfig,
			n.key.Public().Fingerprint()[:16], id.PublicKey.Fingerprint()[:16], n.cfg.NodeID)
	}
	return nil
}

// catchUpFromSnapshot restores the newest local snapshot when the store is
// behind it. With NoSnapshotRestoreOnStart Raft resumes after the snapshot's
// index and would never re-deliver the entries in between; this happens only
// if a restore was interrupted by a crash.
func (n *Node) catchUpFromSnapshot() error {
	metas, err := n.snaps.List()
	if err != nil {
		return fmt.Errorf("consensus: list snapshots: %w", err)
	}
	if len(metas) == 0 || metas[0].Index <= n.fsm.Store().AppliedIndex() {
		return nil
	}
	meta, rc, err := n.snaps.Open(metas[0].ID)
	if err != nil {
		return fmt.Errorf("consensus: open snapshot %s: %w", metas[0].ID, err)
	}
	n.log.Warn("consensus: store is behind the newest snapshot; restoring it", "snapshot_index", meta.Index,
		"applied_index", n.fsm.Store().AppliedIndex())
	return n.fsm.Restore(rc)
}

// runSnapshotter takes a snapshot whenever the FSM reports
// Config.SnapshotLogBytes of log since the last one (SnapshotThreshold
// counts entries and is checked only every SnapshotInterval; this bounds the
// log a restart replays by size, promptly). One snapshot at a time, with
// the erasure snapshots (snapMu); after a failure it waits before the next
// try. It runs until the node closes.
func (n *Node) runSnapshotter() {
	defer n.wg.Done()
	for {
		select {
		case <-n.done:
			return
		case <-n.fsm.snapWanted:
		}
		logBytes := n.fsm.logBytes.Load()
		if logBytes < n.cfg.SnapshotLogBytes {
			continue // a snapshot came in the meantime
		}
		start := time.Now()
		n.snapMu.Lock()
		err := n.await(n.raft.Snapshot())
		n.snapMu.Unlock()
		switch {
		case err == nil:
			n.log.Info("consensus: snapshot after SnapshotLogBytes of log", "log_bytes", logBytes, "took", time.Since(start).Round(time.Millisecond))
			continue
		case errors.Is(err, ErrClosed), errors.Is(err, raft.ErrRaftShutdown):
			return
		}
		n.log.Warn("consensus: snapshot for SnapshotLogBytes failed; will retry", "log_bytes", logBytes, "err", err)
		select {
		case <-n.done:
			return
		case <-time.After(min(n.cfg.SnapshotInterval, 30*time.Second)):
		}
	}
}

// await waits for f like f.Error, but returns ErrClosed as soon as the node
// closes. hashicorp/raft answers every future it still holds when it shuts
// down, except those whose entries were committed and queued for the FSM
// but not yet applied: it drops that queue, and their Error waits for ever.
// That is exactly where the leader's term-start barrier sits while a
// restarted node replays its log, so a goroutine that Close waits for must
// never wait on a future alone (Close hung after a SIGINT right after
// start). The goroutine reading an abandoned future stays blocked after
// Close; there is at most one per future in flight at shutdown.
func (n *Node) await(f raft.Future) error {
	errc := make(chan error, 1)
	go func() { errc <- f.Error() }()
	select {
	case err := <-errc:
		return err
	case <-n.done:
		select { // an answer that is already there wins
		case err := <-errc:
			return err
		default:
			return ErrClosed
		}
	}
}

// Close stops the proposer and Raft and closes the stores and the transport.
// Waiters get ErrClosed; subscriber channels are closed. It returns promptly
// in every state, from right after New to a leader with blocks in flight:
// nothing it waits for blocks on a Raft future without watching for it
// (see await).
func (n *Node) Close() error {
	n.closeMu.Lock()
	defer n.closeMu.Unlock()
	if n.closed {
		return n.closeErr
	}
	n.closed = true
	close(n.done)
	var errs []error
	if n.raft != nil {
		if err := n.raft.Shutdown().Error(); err != nil {
			errs = append(errs, fmt.Errorf("consensus: raft shutdown: %w", err))
		}
	}
	n.wg.Wait()
	if c, ok := n.trans.(io.Closer); ok {
		if err := c.Close(); err != nil {
			errs = append(errs, fmt.Errorf("consensus: close transport: %w", err))
		}
	}
	errs = append(errs, n.closeStores())
	n.subMu.Lock()
	for s := range n.subs {
		close(s.ch)
		delete(n.subs, s)
	}
	n.subMu.Unlock()
	n.closeErr = errors.Join(errs...)
	return n.closeErr
}

func (n *Node) closeStores() error {
	var errs []error
	if n.fsm != nil {
		if err := n.fsm.Store().Close(); err != nil && !errors.Is(err, store.ErrClosed) {
			errs = append(errs, fmt.Errorf("consensus: close store: %w", err))
		}
	}
	if n.logs != nil {
		if err := n.logs.Close(); err != nil {
			errs = append(errs, fmt.Errorf("consensus: close raft log: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Store returns the current store; a snapshot restore replaces it. Read
// through Store (or WithStore) each time rather than keeping the pointer.
func (n *Node) Store() *store.Store { return n.fsm.Store() }

// WithStore calls fn with the current store, holding off a restore meanwhile.
func (n *Node) WithStore(fn func(*store.Store) error) error { return n.fsm.WithStore(fn) }

// Err returns nil, or the ErrHalted error that stopped this node's FSM.
func (n *Node) Err() error { return n.fsm.Err() }

// Raft exposes the Raft instance for stats and the cluster layer.
func (n *Node) Raft() *raft.Raft { return n.raft }

// IsLeader reports whether this node is the Raft leader.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// Leader returns the leader's address and id, empty when unknown.
func (n *Node) Leader() (raft.ServerAddress, raft.ServerID) { return n.raft.LeaderWithID() }

// Height returns the height of the last committed block.
func (n *Node) Height() uint64 {
	h, _ := n.fsm.Store().Head()
	return h.Height
}

// MempoolLen returns how many txs wait for a block on this node.
func (n *Node) MempoolLen() int { return n.pool.len() }

// Membership changes: thin wrappers over Raft, run on the leader.

// AddVoter adds a voting server.
func (n *Node) AddVoter(id, addr string, timeout time.Duration) error {
	return n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, timeout).Error()
}

// AddNonvoter adds a server that replicates the log without voting.
func (n *Node) AddNonvoter(id, addr string, timeout time.Duration) error {
	return n.raft.AddNonvoter(raft.ServerID(id), raft.ServerAddress(addr), 0, timeout).Error()
}

// RemoveServer removes a server from the cluster.
func (n *Node) RemoveServer(id string, timeout time.Duration) error {
	return n.raft.RemoveServer(raft.ServerID(id), 0, timeout).Error()
}

// LeadershipTransfer asks the leader to hand leadership to another voter.
func (n *Node) LeadershipTransfer() error { return n.raft.LeadershipTransfer().Error() }

// Servers returns the current Raft configuration.
func (n *Node) Servers() ([]raft.Server, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, err
	}
	return f.Configuration().Servers, nil
}

// Snapshot asks Raft for a snapshot now (tests, operators).
func (n *Node) Snapshot() error { return n.raft.Snapshot().Error() }
