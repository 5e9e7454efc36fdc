package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/store"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/chain/verify"
	"github.com/medchain/medchain/consensus"
	"github.com/medchain/medchain/node/config"
	"github.com/medchain/medchain/node/rpc"
	"github.com/medchain/medchain/node/zerotrust"
)

// Version is the node's version, set at build time with -ldflags.
var Version = "dev"

// ErrDisabled is returned by Open when the config disables the ledger.
var ErrDisabled = errors.New("node: the ledger is disabled (node.enabled = false, or BLOCKCHAIN_ENABLED=false)")

// Options are the parts of a node that tests replace.
type Options struct {
	// Transport carries Raft; nil means TCP on consensus.raft_listen.
	Transport raft.Transport
	// Logger; nil means slog.Default().
	Logger *slog.Logger

	// noPseudonyms leaves the cluster key out of consensus, so the leader
	// stores patient ids in clear: only benchmarks set it (through a test
	// hook), to measure what pseudonyms cost.
	noPseudonyms bool
}

// Node is a running medchain node.
type Node struct {
	cfg     config.Config
	log     *slog.Logger
	genesis *state.Genesis
	cons    *consensus.Node
	rpc     *rpc.Server
	reg     *prometheus.Registry
	cl      *cluster        // nil unless [p2p] is enabled
	gate    *zerotrust.Gate // nil with the gate off
	denials *denials        // nil with the gate off
	key     *crypto.PrivateKey
	keys    *keyring // the cluster data key
	sweeper func()   // stops the gate's session sweep; nil with the gate off
	pruner  *pruner  // the retention pruner (retention.go)
	// stopPruner stops the pruner's goroutine and waits for it.
	stopPruner func()
}

func raftAddr(cfg config.Config) raft.ServerAddress {
	return raft.ServerAddress(cfg.Consensus.RaftListen)
}

// consensusConfig maps the node config onto consensus.Config.
func consensusConfig(cfg config.Config, log *slog.Logger) consensus.Config {
	cc := consensus.DefaultConfig(cfg.Node.ID, cfg.Node.DataDir)
	cc.MaxBlockTxs = cfg.Consensus.MaxBlockTxs
	cc.MaxBlockDelay = cfg.Consensus.MaxBlockDelay.D()
	cc.MempoolSize = cfg.Consensus.MempoolSize
	cc.VerifyTxSignatures = cfg.Consensus.VerifyTxSignatures
	cc.SnapshotInterval = cfg.Consensus.SnapshotInterval.D()
	cc.SnapshotThreshold = cfg.Consensus.SnapshotThreshold
	cc.SnapshotLogBytes = int64(cfg.Consensus.SnapshotLogMB) << 20
	cc.TrailingLogs = cfg.Consensus.TrailingLogs
	cc.Store.DisableWAL = !cfg.Store.WAL
	cc.Store.Sync = cfg.Store.Sync && cfg.Store.WAL
	cc.Store.CacheSize = int64(cfg.Store.CacheMB) << 20
	cc.Logger = log
	return cc
}

// Open starts a node from cfg: it loads the genesis and the node key from
// the data dir, opens the store and Raft, and prepares (but does not start)
// the JSON-RPC server.
func Open(cfg config.Config, opts Options) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !cfg.Node.Enabled {
		return nil, ErrDisabled
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	g, err := state.LoadGenesis(cfg.Path(GenesisFile))
	if err != nil {
		return nil, fmt.Errorf("node: %w (run medchain init first)", err)
	}
	key, err := crypto.LoadKey(cfg.Path(cfg.Node.KeyFile))
	if err != nil {
		return nil, fmt.Errorf("node: node key: %w", err)
	}
	sk, created, err := loadOrCreateSealKey(cfg.Path(SealKeyFile))
	if err != nil {
		return nil, err
	}
	if created {
		log.Warn("node: created a seal key for a data dir that had none; this node receives the cluster data key only if a member grants it to this key", "file", SealKeyFile)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m, err := consensus.NewPrometheusMetrics(reg)
	if err != nil {
		return nil, err
	}
	cc := consensusConfig(cfg, log)
	cc.Metrics = m
	vk := &vaultKey{} // pseudonyms (node/pseudonym.go): the cluster key, once the keyring exists
	if !opts.noPseudonyms {
		cc.ClusterKey = vk
	}
	trans := opts.Transport
	var cl *cluster
	if trans == nil && cfg.P2P.Enabled {
		cl, trans, err = startP2P(cfg, g, key, log)
		if err != nil {
			return nil, err
		}
		cc.Join = cfg.Consensus.Join
		cc.LeftOut = cl.queueLeftOut // the followers' waiters learn the txs the leader left out
	} else if trans == nil {
		t, err := consensus.NewTCPTransport(cfg.Consensus.RaftListen, log)
		if err != nil {
			return nil, fmt.Errorf("node: raft transport on %s: %w", cfg.Consensus.RaftListen, err)
		}
		trans = t
	}
	cons, err := consensus.New(cc, g, key, trans)
	if err != nil {
		if c, ok := trans.(interface{ Close() error }); ok && opts.Transport == nil {
			c.Close()
		}
		if cl != nil {
			cl.p2p.Close()
		}
		return nil, fmt.Errorf("node: %w", err)
	}
	n := &Node{cfg: cfg, log: log, genesis: g, cons: cons, reg: reg, cl: cl, key: key,
		keys: newKeyring(g.ChainID, cfg.Node.ID, sk, func() state.View { return cons.Store() }, log)}
	var ring ClusterKeyring = n.keys
	vk.ring.Store(&ring)
	if cl != nil {
		if err := cl.run(n); err != nil {
			cons.Close()
			cl.close()
			return nil, err
		}
	}
	scfg := rpc.ServerConfig{
		Listen: cfg.RPC.Listen, MaxBodyBytes: cfg.RPC.MaxBodyBytes, BatchLimit: cfg.RPC.BatchLimit,
		BatchResponseBytes: cfg.RPC.BatchResponseBytes, MaxTxBytes: g.Params.MaxTxBytes,
		WaitTimeout: cfg.RPC.WaitTimeout.D(), Registry: reg, Logger: log, Pprof: cfg.RPC.Pprof,
		Handlers: rpc.FHIRHandlers(n, Version, time.Now()),
	}
	if !cfg.RPC.InsecureHTTP {
		if scfg.TLS, err = rpc.ServerTLS(cfg.Path(cfg.RPC.TLSCert), cfg.Path(cfg.RPC.TLSKey)); err != nil {
			n.closeCluster()
			return nil, fmt.Errorf("node: %w", err)
		}
	}
	if scfg.Gate, err = n.openGate(key, log); err != nil {
		n.closeCluster()
		return nil, fmt.Errorf("node: zero-trust gate: %w", err)
	}
	srv, err := rpc.NewServer(n, scfg)
	if err != nil {
		n.closeCluster()
		return nil, err
	}
	n.rpc = srv
	if n.pruner, err = newPruner(cons.WithStore, cfg.Retention, log, reg); err != nil {
		n.closeCluster()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); n.pruner.Run(ctx) }()
	n.stopPruner = func() { cancel(); <-done }
	return n, nil
}

// Listen binds the RPC address; RPCAddr is valid after it.
func (n *Node) Listen() error { return n.rpc.Listen() }

// RPCAddr returns the bound JSON-RPC address.
func (n *Node) RPCAddr() string { return n.rpc.Addr() }

// RPCURL returns the JSON-RPC base URL (https:// unless rpc.insecure_http).
func (n *Node) RPCURL() string { return n.rpc.URL() }

// Run serves JSON-RPC until ctx is done, then closes the node.
func (n *Node) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- n.rpc.Serve() }()
	select {
	case <-ctx.Done():
	case err := <-errc:
		if err != nil {
			n.Close()
			return err
		}
	}
	return n.Close()
}

// Close stops the RPC server and consensus and closes the store.
func (n *Node) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := n.rpc.Close(ctx)
	if n.stopPruner != nil {
		n.stopPruner() // before the store closes: a step in flight ends first
	}
	if n.denials != nil {
		n.denials.close()
	}
	if n.sweeper != nil {
		n.sweeper()
	}
	if n.gate != nil {
		err = errors.Join(err, n.gate.Close())
	}
	return errors.Join(err, n.closeCluster())
}

// closeCluster closes consensus (and its transport), then the p2p layer.
func (n *Node) closeCluster() error {
	var errs []error
	if n.cl != nil {
		close(n.cl.stop)
	}
	errs = append(errs, n.cons.Close())
	if n.cl != nil {
		n.cl.wg.Wait()
		errs = append(errs, n.cl.p2p.Close())
	}
	return errors.Join(errs...)
}

// Gate returns the zero-trust gate, or nil when it is off.
func (n *Node) Gate() *zerotrust.Gate { return n.gate }

// Consensus returns the consensus node (for tests and operators' tools).
func (n *Node) Consensus() *consensus.Node { return n.cons }

// WaitReady waits until the node leads (single node) and can take txs.
func (n *Node) WaitReady(ctx context.Context) error {
	for {
		if n.Status().Ready {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node: not ready: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

var _ rpc.Ledger = (*Node)(nil)

// Submit implements rpc.Ledger. On a follower of a p2p cluster the tx is
// checked here (CheckTx) and forwarded to the leader.
func (n *Node) Submit(ctx context.Context, tx *types.Tx) (types.Hash, error) {
	if err := n.checkRemoval(ctx, tx); err != nil {
		return tx.Hash(), err
	}
	h, err := n.cons.Submit(ctx, tx)
	if errors.Is(err, consensus.ErrNotLeader) && n.cl != nil {
		h, err = n.cl.forward(ctx, tx)
	}
	return h, mapErr(err)
}

// SubmitAndWait implements rpc.Ledger. On a follower of a p2p cluster the tx
// is forwarded to the leader and the commit is awaited locally.
func (n *Node) SubmitAndWait(ctx context.Context, tx *types.Tx) (rpc.Receipt, error) {
	if err := n.checkRemoval(ctx, tx); err != nil {
		return rpc.Receipt{}, err
	}
	if n.cl != nil && !n.cons.IsLeader() {
		// Wait from before the forward: the commit, or the leader's report
		// that it left the tx out, may come back before the forward's answer.
		h := tx.Hash()
		w := n.cons.WatchTxs([]types.Hash{h})
		defer w.Close()
		err := n.cl.forwardHash(ctx, tx, h)
		var te *state.TxError
		if err != nil && !(errors.As(err, &te) && te.Code == types.CodeReplay) {
			return rpc.Receipt{}, mapErr(err)
		}
		r, err := w.Wait(ctx, 0)
		if err != nil {
			return rpc.Receipt{}, mapErr(err)
		}
		return rpc.Receipt(r), nil
	}
	r, err := n.cons.SubmitAndWait(ctx, tx)
	if err != nil {
		return rpc.Receipt{}, mapErr(err)
	}
	return rpc.Receipt(r), nil
}

// Wait implements rpc.Ledger.
func (n *Node) Wait(ctx context.Context, h types.Hash) (rpc.Receipt, error) {
	r, err := n.cons.WaitTx(ctx, h)
	if err != nil {
		return rpc.Receipt{}, mapErr(err)
	}
	return rpc.Receipt(r), nil
}

// Pending implements rpc.Ledger.
func (n *Node) Pending(h types.Hash) bool { return n.cons.Pending(h) }

// Reader implements rpc.Ledger.
func (n *Node) Reader() rpc.Reader { return n.cons.Store() }

// Genesis implements rpc.Ledger.
func (n *Node) Genesis() *state.Genesis { return n.genesis }

// Verify implements rpc.Ledger.
func (n *Node) Verify(ctx context.Context, opts verify.Options, progress func(done, total uint64)) (*verify.Report, error) {
	var rep *verify.Report
	err := n.cons.WithStore(func(st *store.Store) error {
		// Verify one point in time: blocks keep committing meanwhile.
		snap, err := st.Snapshot()
		if err != nil {
			return err
		}
		defer snap.Close()
		opts.Opener = verifyOpener{n} // redacted txs: check their originals while keys exist
		rep, err = verify.Verify(ctx, snap, opts, progress)
		return err
	})
	return rep, err
}

// Status implements rpc.Ledger.
func (n *Node) Status() rpc.NodeStatus {
	st := rpc.NodeStatus{NodeID: n.cfg.Node.ID, ChainID: n.genesis.ChainID, Version: Version,
		Role: strings.ToLower(n.cons.Raft().State().String()), MempoolSize: n.cons.MempoolLen()}
	_, leader := n.cons.Leader()
	st.Leader = string(leader)
	s := n.cons.Store()
	if h, ok := s.Head(); ok {
		st.Height, st.HeadHash = h.Height, h.Hash().String()
	}
	st.AppliedIndex = s.AppliedIndex()
	if err := n.cons.Err(); err != nil {
		st.Halted = err.Error()
	}
	st.Ready = st.Halted == "" && n.cons.Ready()
	if n.cl != nil && st.Halted == "" && st.Leader != "" {
		st.Ready = true // a follower forwards txs to the leader it knows
	}
	return st
}

// mapErr turns consensus errors into the RPC layer's kinds.
func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errForwardRefused):
		return &rpc.Error{Code: rpc.CodeTxRejected, Msg: err.Error()}
	case errors.Is(err, consensus.ErrBusy):
		return fmt.Errorf("%w: %v", rpc.ErrBusy, err)
	case errors.Is(err, consensus.ErrUncertain), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w (%v)", rpc.ErrTimeout, err)
	case errors.Is(err, consensus.ErrNotLeader), errors.Is(err, consensus.ErrHalted), errors.Is(err, consensus.ErrClosed):
		return fmt.Errorf("%w: %v", rpc.ErrUnavailable, err)
	}
	return err
}
