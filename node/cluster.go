package node

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/medchain/medchain/chain/codec"
	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/chain/crypto/seal"
	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/store"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/consensus"
	"github.com/medchain/medchain/node/config"
	"github.com/medchain/medchain/node/rpc"
	"github.com/medchain/medchain/p2p"
)

// Cluster tuning. A new node is promoted to voter once its applied index is
// within catchUpLag entries of the leader's.
const (
	membershipInterval = 250 * time.Millisecond
	membershipTimeout  = 5 * time.Second
	catchUpLag         = 8
	statusTimeout      = time.Second
	forwardAttempts    = 30 // x forwardPause: how long one look for a leader waits (sendBatch looks again for up to forwardPatience)
	forwardPause       = 100 * time.Millisecond
)

// cluster is the part of a node that exists only with [p2p] enabled: the
// libp2p peer, the registry of on-chain node records, tx forwarding, peer
// queries and, on the leader, the membership loop.
type cluster struct {
	n    *Node
	p2p  *p2p.Node
	reg  *chainRegistry
	log  *slog.Logger
	fwd  *forwarder
	left *leftOuts // txs this node, leading, left out of a block: reported to the followers (cluster_leftout.go)
	poke chan struct{}
	stop chan struct{}
	wg   sync.WaitGroup

	mu sync.Mutex
	// guards the following
	revoked map[string]bool // node ids revoked on this node's p2p layer

	claims *codeClaims // TOTP codes claimed at this node while it leads (mfaclaim.go)

	// used by the membership loop's goroutine only
	granted    map[string]time.Time // node id -> when this node last submitted its cluster key grant
	noSealKey  map[string]bool      // admitted voters without a seal key, warned about once
	grantNonce uint64
}

// startP2P starts the libp2p peer for cfg over the genesis node records and
// returns the Raft transport on its stream layer.
func startP2P(cfg config.Config, g *state.Genesis, key *crypto.PrivateKey, log *slog.Logger) (*cluster, raft.Transport, error) {
	reg := newChainRegistry(log)
	recs, err := genesisNodeRecords(g)
	if err != nil {
		return nil, nil, err
	}
	reg.load(recs)
	pc := p2p.DefaultConfig()
	pc.ChainID, pc.NodeID = g.ChainID, cfg.Node.ID
	pc.ListenAddrs = cfg.P2P.Listen
	pc.BootstrapPeers = cfg.P2P.Bootstrap
	pc.IdentityKeyFile = cfg.Path(cfg.P2P.KeyFile)
	pc.ReauthInterval = cfg.P2P.ReauthenticationInterval.D()
	if pc.HandshakeTimeout*2 > pc.ReauthInterval {
		pc.HandshakeTimeout = pc.ReauthInterval / 2
	}
	pc.MaxTxBytes = max(g.Params.MaxTxBytes, 1024)
	pc.MaxBatchBytes = max(pc.MaxBatchBytes, pc.MaxTxBytes+16)
	pc.Logger = log
	pn, err := p2p.New(pc, key, reg)
	if err != nil {
		return nil, nil, fmt.Errorf("node: p2p: %w", err)
	}
	trans := raft.NewNetworkTransport(pn.RaftStreamLayer(), 3, 10*time.Second, slogWriter{log.With("component", "raft-net")})
	c := &cluster{p2p: pn, reg: reg, log: log, poke: make(chan struct{}, 1), stop: make(chan struct{}), revoked: map[string]bool{},
		granted: map[string]time.Time{}, noSealKey: map[string]bool{}, grantNonce: uint64(time.Now().UnixNano()), claims: newCodeClaims(time.Now),
		left: newLeftOuts()}
	return c, trans, nil
}

// run attaches the cluster to the started node: it loads the node records
// from the store, follows commits and serves forwarded txs and queries.
func (c *cluster) run(n *Node) error {
	c.n = n
	if err := c.reload(); err != nil {
		return err
	}
	c.p2p.SetTxHandler(c.handleTx)
	c.p2p.SetTxBatchHandler(c.handleTxBatch)
	c.p2p.SetQueryHandler(c.handleQuery)
	c.p2p.SetLeftOutHandler(c.leaderPeerID, c.handleLeftOut)
	c.fwd = newForwarder(c)
	if err := c.fwd.register(n.reg); err != nil {
		return err
	}
	if err := c.left.register(n.reg); err != nil {
		return err
	}
	c.wg.Add(4)
	go c.followCommits()
	go c.membershipLoop()
	go c.fwd.run()
	go c.sendLeftOuts()
	return nil
}

func (c *cluster) close() error {
	close(c.stop)
	c.wg.Wait()
	return c.p2p.Close()
}

// reload reads every node record from the store into the registry.
func (c *cluster) reload() error {
	var recs []state.NodeRecord
	err := c.n.cons.WithStore(func(st *store.Store) error {
		var err error
		recs, err = state.Nodes(st)
		return err
	})
	if err != nil {
		return fmt.Errorf("node: read node records: %w", err)
	}
	c.reg.load(recs)
	return nil
}

// followCommits reloads the registry after each block with a governance tx
// and wakes the membership loop; a removed node is disconnected (through the
// registry watcher) as soon as this node applies the block.
func (c *cluster) followCommits() {
	defer c.wg.Done()
	for {
		ch, cancel := c.n.cons.Subscribe(256)
		if err := c.reload(); err != nil { // cover blocks applied before the subscription
			c.log.Error("node: registry reload failed", "err", err)
		}
		for blk := range ch {
			if slices.ContainsFunc(blk.Block.Txs, func(tx *types.Tx) bool { return tx.Type.IsGovernance() }) {
				if err := c.reload(); err != nil {
					c.log.Error("node: registry reload failed", "err", err)
				}
				select {
				case c.poke <- struct{}{}:
				default:
				}
			}
		}
		cancel()
		select { // the channel closed: the node is closing or we were too slow
		case <-c.stop:
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// membershipLoop makes the Raft configuration follow the node records while
// this node leads: admitted nodes are added as non-voters, promoted to voters
// (if they asked to vote) once caught up; removed nodes are removed and
// revoked.
func (c *cluster) membershipLoop() {
	defer c.wg.Done()
	t := time.NewTicker(membershipInterval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		case <-c.poke:
		}
		if c.n.cons.IsLeader() {
			if err := c.reconcile(); err != nil {
				c.log.Debug("node: membership", "err", err)
			}
			c.grantClusterKey()
		}
		c.revokeRemoved()
	}
}

func (c *cluster) records() (map[string]state.NodeRecord, error) {
	var recs []state.NodeRecord
	err := c.n.cons.WithStore(func(st *store.Store) error {
		var err error
		recs, err = state.Nodes(st)
		return err
	})
	m := make(map[string]state.NodeRecord, len(recs))
	for _, r := range recs {
		m[r.NodeID] = r
	}
	return m, err
}

func (c *cluster) reconcile() error {
	recs, err := c.records()
	if err != nil {
		return err
	}
	servers, err := c.n.cons.Servers()
	if err != nil {
		return err
	}
	inConf := map[string]raft.Server{}
	for _, s := range servers {
		inConf[string(s.ID)] = s
	}
	self := c.n.cfg.Node.ID
	ids := make([]string, 0, len(recs))
	for id := range recs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		r := recs[id]
		srv, present := inConf[id]
		switch r.Status {
		case state.NodeAdmitted:
			if id == self {
				continue
			}
			if !present {
				c.log.Info("node: adding admitted node as non-voter", "node_id", id, "peer", r.PeerID)
				if err := c.n.cons.AddNonvoter(id, r.PeerID, membershipTimeout); err != nil {
					return fmt.Errorf("add non-voter %s: %w", id, err)
				}
				continue
			}
			if srv.Suffrage == raft.Nonvoter && r.Role == types.NodeRoleVoter {
				st, lag, err := c.lag(r)
				if err != nil {
					c.log.Debug("node: new node not reachable yet", "node_id", id, "err", err)
					continue
				}
				if lag > catchUpLag {
					c.log.Debug("node: new node catching up", "node_id", id, "lag", lag)
					continue
				}
				if why, err := c.awaitsClusterKey(id, st); err != nil || why != "" {
					if r.SealKey == nil && err == nil && !c.noSealKey[id] {
						c.noSealKey[id] = true
						c.log.Warn("node: admitted node has no seal key on record, so it can never hold the cluster data key and will stay a non-voter; remove it and admit it again with a seal key (medchain join writes one)", "node_id", id)
					} else {
						c.log.Debug("node: new node waits for the cluster data key before it may vote", "node_id", id, "reason", why, "err", err)
					}
					continue
				}
				c.log.Info("node: promoting caught-up node to voter", "node_id", id, "lag", lag)
				if err := c.n.cons.AddVoter(id, r.PeerID, membershipTimeout); err != nil {
					return fmt.Errorf("promote %s: %w", id, err)
				}
			}
		case state.NodeRemoved:
			if present {
				c.log.Warn("node: removing node from the cluster (removed on chain)", "node_id", id, "peer", r.PeerID)
				if err := c.n.cons.RemoveServer(id, membershipTimeout); err != nil {
					return fmt.Errorf("remove %s: %w", id, err)
				}
			}
		}
	}
	return nil
}

// grantResubmit is how long the leader waits for a submitted cluster key
// grant to commit before it submits another (a lost submission, a leader
// change); a grant that did commit stops the resubmission, and a duplicate
// is refused on chain (conflict), so a retry is harmless.
const grantResubmit = 5 * time.Second

// grantClusterKey runs on the leader: every admitted node with a seal key on
// record that holds no grant of the cluster key gets one, wrapped to its
// seal key and signed by this node. The new node unwraps it once it has
// applied the block.
func (c *cluster) grantClusterKey() {
	dk, err := c.n.keys.ClusterKey()
	if err != nil {
		return // the keyring logs why; a leader without the key cannot grant it
	}
	recs, err := c.records()
	if err != nil {
		c.log.Debug("node: cluster key grants", "err", err)
		return
	}
	ids := make([]string, 0, len(recs))
	for id := range recs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	chainID := c.n.genesis.ChainID
	for _, id := range ids {
		r := recs[id]
		if r.Status != state.NodeAdmitted || id == c.n.cfg.Node.ID {
			continue
		}
		g, err := state.GetClusterKeyGrant(c.n.cons.Store(), id)
		if err != nil {
			c.log.Debug("node: cluster key grants", "err", err)
			return
		}
		if g != nil && g.KeyID == dk.ID() {
			delete(c.granted, id)
			continue
		}
		if last, ok := c.granted[id]; ok && time.Since(last) < grantResubmit {
			continue
		}
		c.granted[id] = time.Now()
		if r.SealKey == nil {
			c.log.Warn("node: admitted node has no seal key on record; it cannot receive the cluster data key (MFA will be unavailable there)", "node_id", id)
			continue
		}
		w, err := seal.WrapKey(*r.SealKey, dk, types.ClusterKeyAAD(chainID, id, dk.ID()))
		if err != nil {
			c.log.Warn("node: cannot wrap the cluster data key to a node's seal key", "node_id", id, "err", err)
			continue
		}
		c.grantNonce++
		tx, err := types.NewTx(chainID, c.n.cfg.Node.ID, &types.ClusterKeyGrant{NodeID: id, KeyID: dk.ID(), Wrapped: w}, time.Now(), c.grantNonce)
		if err == nil {
			err = tx.Sign(c.n.key)
		}
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), membershipTimeout)
			_, err = c.n.Submit(ctx, tx)
			cancel()
		}
		if err != nil {
			c.log.Warn("node: cluster key grant not submitted", "node_id", id, "err", err)
			continue
		}
		c.log.Info("node: granted the cluster data key to an admitted node", "node_id", id, "key_id", dk.ID())
	}
}

// revokeRemoved revokes, on this node's p2p layer, every node removed on
// chain (the registry already refuses them; Revoke also holds if a stale
// record reappeared).
func (c *cluster) revokeRemoved() {
	recs, err := c.records()
	if err != nil {
		return
	}
	for id, r := range recs {
		if r.Status != state.NodeRemoved || id == c.n.cfg.Node.ID {
			continue
		}
		c.mu.Lock()
		done := c.revoked[id]
		c.revoked[id] = true
		c.mu.Unlock()
		if done {
			continue
		}
		if pid, err := peer.Decode(r.PeerID); err == nil {
			c.p2p.Revoke(pid, "node "+id+" removed on chain")
		}
	}
}

// lag asks node r for its status and returns how far it trails this node.
func (c *cluster) lag(r state.NodeRecord) (peerStatus, uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), statusTimeout)
	defer cancel()
	st, err := c.peerStatus(ctx, r.PeerID)
	if err != nil {
		return st, 0, err
	}
	own := c.n.cons.AppliedIndex()
	if st.AppliedIndex >= own {
		return st, 0, nil
	}
	return st, own - st.AppliedIndex, nil
}

// awaitsClusterKey says why node id (whose chain is at height) may not vote
// yet, or "" if it may: on a chain with a cluster data key, a voter must
// hold it, since any voter may be elected leader and a leader without the
// key cannot cut a block that names a patient (pseudonyms) nor open MFA
// seeds. So a node is promoted only once a grant of the current key to it
// is on chain and the node has applied the block that carries it.
func (c *cluster) awaitsClusterKey(id string, st peerStatus) (why string, err error) {
	err = c.n.cons.WithStore(func(s *store.Store) error {
		why, err = awaitsClusterKey(s, id, st.Height, st.ClusterKeyID)
		return err
	})
	return why, err
}

// awaitsClusterKey is cluster.awaitsClusterKey on committed state v, for
// node id whose chain is at height and which reports holding the cluster
// key held ("" for none): a grant on chain and applied is not enough, the
// node must have opened it (a node whose seal key changed since its join
// cannot, and as leader could not cut a block that names a patient).
func awaitsClusterKey(v state.View, id string, height uint64, held string) (string, error) {
	info, err := state.GetClusterKeyInfo(v)
	if err != nil || info == nil {
		return "", err // no error and no info: a chain without a cluster key
	}
	g, err := state.GetClusterKeyGrant(v, id)
	switch {
	case err != nil:
		return "", err
	case g == nil || g.KeyID != info.KeyID:
		return "no grant of the current cluster key on chain yet", nil
	case height < g.Height:
		return fmt.Sprintf("has not applied its grant (height %d, grant at %d)", height, g.Height), nil
	case held != info.KeyID:
		return fmt.Sprintf("applied its grant but holds key %q, not the cluster key %q (it could not open the grant: was its seal key replaced?)", held, info.KeyID), nil
	}
	return "", nil
}

// Queries between nodes (p2p QueryProtocol), CBOR-encoded.
type queryReq struct {
	Op    string `cbor:"1,keyasint"` // status, read_index, transfer, mfa_claim
	To    string `cbor:"2,keyasint,omitempty"`
	Claim []byte `cbor:"3,keyasint,omitempty"` // mfa_claim: see claimOf
}

type peerStatus struct {
	NodeID       string `cbor:"1,keyasint"`
	State        string `cbor:"2,keyasint"`
	AppliedIndex uint64 `cbor:"3,keyasint"`
	Height       uint64 `cbor:"4,keyasint"`
	HeadHash     string `cbor:"5,keyasint,omitempty"`
	// ClusterKeyID is the id of the cluster data key the node holds, opened
	// from its grant ("" for none): promotion to voter requires it.
	ClusterKeyID string `cbor:"6,keyasint,omitempty"`
}

type readIndex struct {
	Index uint64 `cbor:"1,keyasint"`
}

func (c *cluster) query(ctx context.Context, to string, req queryReq, out any) error {
	pid, err := peer.Decode(to)
	if err != nil {
		return fmt.Errorf("node: %q is not a peer id: %w", to, err)
	}
	b, err := c.p2p.Query(ctx, pid, codec.MustMarshal(req))
	if err != nil {
		return err
	}
	if err := codec.Unmarshal(b, out); err != nil {
		return fmt.Errorf("node: bad %s answer from %s: %w", req.Op, to, err)
	}
	return nil
}

func (c *cluster) peerStatus(ctx context.Context, peerID string) (peerStatus, error) {
	var st peerStatus
	err := c.query(ctx, peerID, queryReq{Op: "status"}, &st)
	return st, err
}

func (c *cluster) localStatus() peerStatus {
	st := peerStatus{NodeID: c.n.cfg.Node.ID, State: c.n.cons.Raft().State().String(), AppliedIndex: c.n.cons.AppliedIndex()}
	if h, ok := c.n.cons.Store().Head(); ok {
		st.Height, st.HeadHash = h.Height, h.Hash().String()
	}
	if dk, err := c.n.keys.ClusterKey(); err == nil {
		st.ClusterKeyID = dk.ID()
	}
	return st
}

// handleQuery answers another node's query.
func (c *cluster) handleQuery(ctx context.Context, from p2p.NodeRecord, raw []byte) ([]byte, error) {
	var req queryReq
	if err := codec.Unmarshal(raw, &req); err != nil {
		return nil, fmt.Errorf("node: bad query: %w", err)
	}
	switch req.Op {
	case "status":
		return codec.Marshal(c.localStatus())
	case "read_index":
		if err := c.n.cons.LinearizableBarrier(ctx); err != nil {
			return nil, err
		}
		return codec.Marshal(readIndex{Index: c.n.cons.AppliedIndex()})
	case "transfer":
		if from.Role != p2p.RoleVoter {
			return nil, fmt.Errorf("node: %s may not move leadership", from.NodeID)
		}
		c.log.Info("node: leadership transfer requested by a peer", "from", from.NodeID, "to", req.To)
		if err := c.transferLocal(req.To); err != nil {
			return nil, err
		}
		return codec.Marshal(true)
	case "mfa_claim":
		if !c.n.cons.IsLeader() {
			return nil, fmt.Errorf("node: %s is not the leader; claim TOTP codes at the leader", c.n.cfg.Node.ID)
		}
		fresh, err := c.claims.claim(req.Claim)
		if err != nil {
			return nil, err
		}
		return codec.Marshal(fresh)
	}
	return nil, fmt.Errorf("node: unknown query %q", req.Op)
}

// handleTx is the leader's side of tx forwarding: the tx is decoded and
// admitted exactly as a local submission (CheckTx: signature, signer, role,
// replay window). A refusal is logged and returned to the follower; nothing
// enters the mempool.
func (c *cluster) handleTx(ctx context.Context, from peer.ID, raw []byte) ([]byte, error) {
	tx, err := types.DecodeTx(raw, c.n.genesis.Params.MaxTxBytes)
	if err != nil {
		c.log.Warn("node: refused forwarded tx", "peer", from, "reason", err.Error())
		return nil, err
	}
	h, err := c.n.cons.Submit(ctx, tx)
	if err != nil {
		c.log.Warn("node: refused forwarded tx", "peer", from, "tx", h, "reason", err.Error())
		return nil, err
	}
	return h[:], nil
}

// leaderPeer returns the leader's Raft address (a peer id), waiting a little
// for an election to finish.
func (c *cluster) leaderPeer(ctx context.Context) (string, error) {
	for range forwardAttempts {
		if addr, _ := c.n.cons.Leader(); addr != "" {
			return string(addr), nil
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(forwardPause):
		}
	}
	return "", fmt.Errorf("%w: no leader is known", rpc.ErrUnavailable)
}

// isRetryable reports whether a remote refusal means "ask again" (leadership
// moved, mempool full) rather than "this tx is bad".
func isRetryable(err error) bool {
	s := err.Error()
	for _, m := range []string{consensus.ErrNotLeader.Error(), consensus.ErrBusy.Error()} {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}

// readBarrier waits until this node has applied everything acknowledged
// before the call: on the leader, consensus.LinearizableBarrier; on a
// follower, the leader's read index (after its own barrier), then a local
// wait for that index.
func (c *cluster) readBarrier(ctx context.Context) error {
	if c.n.cons.IsLeader() {
		return c.n.cons.LinearizableBarrier(ctx)
	}
	leader, err := c.leaderPeer(ctx)
	if err != nil {
		return err
	}
	var ri readIndex
	if err := c.query(ctx, leader, queryReq{Op: "read_index"}, &ri); err != nil {
		return fmt.Errorf("%w: read index from the leader: %v", rpc.ErrUnavailable, err)
	}
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for c.n.cons.AppliedIndex() < ri.Index {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: waiting for index %d: %v", rpc.ErrTimeout, ri.Index, ctx.Err())
		case <-t.C:
		}
	}
	return c.n.cons.Err()
}

// transferLocal moves leadership from this node (which must lead).
func (c *cluster) transferLocal(to string) error {
	if !c.n.cons.IsLeader() {
		return fmt.Errorf("%w: not the leader", rpc.ErrUnavailable)
	}
	if to == "" {
		return c.n.cons.LeadershipTransfer()
	}
	servers, err := c.n.cons.Servers()
	if err != nil {
		return err
	}
	for _, s := range servers {
		if string(s.ID) == to {
			if s.Suffrage != raft.Voter {
				return fmt.Errorf("%w: %s is not a voter", rpc.ErrUnavailable, to)
			}
			return c.n.cons.LeadershipTransferTo(to, s.Address)
		}
	}
	return &rpc.Error{Code: rpc.CodeNotFound, Msg: fmt.Sprintf("node %q is not a cluster member", to)}
}

// slogWriter adapts the network transport's log output to slog.
type slogWriter struct{ log *slog.Logger }

var _ io.Writer = slogWriter{}

func (w slogWriter) Write(p []byte) (int, error) {
	w.log.Debug(string(p))
	return len(p), nil
}
