package node

import (
	"fmt"
	"log/slog"
	"sync"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/p2p"
)

// chainRegistry is the p2p.Registry of a node: the on-chain node records
// (chain/state NodeRecord), reloaded after every committed block that
// changes governance state. Pending records are not admitted; removed ones are
// reported as removed so the p2p layer refuses and disconnects them.
type chainRegistry struct {
	log *slog.Logger

	mu sync.RWMutex
	// guards the following
	byPeer   map[peer.ID]p2p.NodeRecord
	watchers map[int]func(peer.ID)
	nextW    int
}

var _ p2p.RegistryWatcher = (*chainRegistry)(nil)

func newChainRegistry(log *slog.Logger) *chainRegistry {
	return &chainRegistry{log: log, byPeer: map[peer.ID]p2p.NodeRecord{}, watchers: map[int]func(peer.ID){}}
}

// NodeByPeer implements p2p.Registry.
func (r *chainRegistry) NodeByPeer(p peer.ID) (p2p.NodeRecord, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	rec, ok := r.byPeer[p]
	if !ok {
		return p2p.NodeRecord{}, fmt.Errorf("%w: %s has no admitted node record", p2p.ErrNotAdmitted, p)
	}
	rec.Addrs = append([]string(nil), rec.Addrs...)
	return rec, nil
}

// Watch implements p2p.RegistryWatcher.
func (r *chainRegistry) Watch(fn func(peer.ID)) (cancel func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	id := r.nextW
	r.nextW++
	r.watchers[id] = fn
	return func() {
		r.mu.Lock()
		delete(r.watchers, id)
		r.mu.Unlock()
	}
}

// p2pRecord maps an on-chain record to the p2p layer's view; ok is false for
// records that admit nothing (pending, or an undecodable peer id).
func p2pRecord(s state.NodeRecord) (p2p.NodeRecord, bool) {
	pid, err := peer.Decode(s.PeerID)
	if err != nil || s.Status == state.NodePending {
		return p2p.NodeRecord{}, false
	}
	role := p2p.RoleVoter
	if s.Role == types.NodeRoleObserver {
		role = p2p.RoleObserver
	}
	return p2p.NodeRecord{NodeID: s.NodeID, PeerID: pid, PublicKey: s.PublicKey, Role: role,
		Removed: s.Status == state.NodeRemoved, Addrs: s.Addrs}, true
}

// load replaces the records and notifies watchers of every peer whose record
// appeared, changed or disappeared.
func (r *chainRegistry) load(recs []state.NodeRecord) {
	next := make(map[peer.ID]p2p.NodeRecord, len(recs))
	for _, s := range recs {
		rec, ok := p2pRecord(s)
		if !ok {
			if s.Status != state.NodePending {
				r.log.Warn("node: node record with an invalid peer id ignored", "node_id", s.NodeID, "peer_id", s.PeerID)
			}
			continue
		}
		next[rec.PeerID] = rec
	}
	r.mu.Lock()
	var changed []peer.ID
	for p, rec := range next {
		if old, ok := r.byPeer[p]; !ok || !sameP2PRecord(old, rec) {
			changed = append(changed, p)
		}
	}
	for p := range r.byPeer {
		if _, ok := next[p]; !ok {
			changed = append(changed, p)
		}
	}
	r.byPeer = next
	ws := make([]func(peer.ID), 0, len(r.watchers))
	for _, fn := range r.watchers {
		ws = append(ws, fn)
	}
	r.mu.Unlock()
	for _, p := range changed {
		for _, fn := range ws {
			fn(p)
		}
	}
}

func sameP2PRecord(a, b p2p.NodeRecord) bool {
	if a.NodeID != b.NodeID || a.PeerID != b.PeerID || a.Role != b.Role || a.Removed != b.Removed || !a.PublicKey.Equal(b.PublicKey) || len(a.Addrs) != len(b.Addrs) {
		return false
	}
	for i := range a.Addrs {
		if a.Addrs[i] != b.Addrs[i] {
			return false
		}
	}
	return true
}

// genesisNodeRecords returns the node records genesis g creates.
func genesisNodeRecords(g *state.Genesis) ([]state.NodeRecord, error) {
	ex, err := state.NewExecutor(g)
	if err != nil {
		return nil, err
	}
	ws, _ := ex.GenesisState()
	mv := state.NewMemView()
	mv.Apply(ws, nil)
	return state.Nodes(mv)
}
