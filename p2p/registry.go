package p2p

import (
	"fmt"
	"sync"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/medchain/medchain/chain/crypto"
)

// Role is a node's role in the consortium. It decides which protocols the
// node may open (see the table in doc.go). The zero value is invalid.
type Role uint8

// Roles. Values are stored on chain: never renumber.
const (
	RoleVoter    Role = 1 + iota // takes part in Raft elections and replication
	RoleObserver                 // replicates the chain, never votes or campaigns
)

// String returns "voter" or "observer".
func (r Role) String() string {
	switch r {
	case RoleVoter:
		return "voter"
	case RoleObserver:
		return "observer"
	}
	return fmt.Sprintf("Role(%d)", uint8(r))
}

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleVoter || r == RoleObserver }

// NodeRecord is what the consortium knows about an admitted node: the binding
// between its libp2p peer id and its ML-DSA key. It is owned by the registry;
// this package only reads it.
type NodeRecord struct {
	NodeID    string           // the node's name on chain, e.g. "hospital-a-1"
	PeerID    peer.ID          // the libp2p peer id (Ed25519) the node connects with
	PublicKey crypto.PublicKey // the ML-DSA key that signs the node's handshakes
	Role      Role
	Removed   bool     // set by governance; a removed node is refused everywhere
	Addrs     []string // multiaddrs the node listens on, used to dial it
}

// Registry answers which node a peer id belongs to. It is implemented by the
// consumer (the node wiring reads the on-chain node records).
//
// Contract: NodeByPeer is called from many goroutines (the connection gater,
// handshakes, stream handlers) and must be safe for concurrent use and fast
// (no network I/O). It returns ErrNotAdmitted (possibly wrapped) for an
// unknown peer. The returned record is read, never modified, by this package.
// A record whose PeerID differs from the queried id is treated as a mismatch.
type Registry interface {
	NodeByPeer(peer.ID) (NodeRecord, error)
}

// RegistryWatcher is an optional extension of Registry: a registry that can
// announce changes lets the node disconnect a removed or changed node at once
// instead of at the next reauthentication.
//
// Contract: fn is called after a record was added, changed or removed, from
// the goroutine that changed it; fn must not block and must not call back into
// the registry's mutators. cancel stops further calls.
type RegistryWatcher interface {
	Registry
	Watch(fn func(peer.ID)) (cancel func())
}

// MemRegistry is an in-memory Registry and RegistryWatcher, for tests and
// in-process clusters. The zero value is empty and ready to use.
type MemRegistry struct {
	mu sync.RWMutex
	// guards the following
	nodes    map[peer.ID]NodeRecord
	watchers map[int]func(peer.ID)
	nextW    int
}

var (
	_ Registry        = (*MemRegistry)(nil)
	_ RegistryWatcher = (*MemRegistry)(nil)
)

// NodeByPeer implements Registry.
func (r *MemRegistry) NodeByPeer(p peer.ID) (NodeRecord, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	rec, ok := r.nodes[p]
	if !ok {
		return NodeRecord{}, fmt.Errorf("%w: %s", ErrNotAdmitted, p)
	}
	rec.Addrs = append([]string(nil), rec.Addrs...)
	return rec, nil
}

// Put adds or replaces rec under rec.PeerID and notifies watchers.
func (r *MemRegistry) Put(rec NodeRecord) {
	r.PutAs(rec.PeerID, rec)
}

// PutAs stores rec under the key p, which may differ from rec.PeerID; tests
// use it to model a registry that returns another node's record.
func (r *MemRegistry) PutAs(p peer.ID, rec NodeRecord) {
	r.mu.Lock()
	if r.nodes == nil {
		r.nodes = make(map[peer.ID]NodeRecord)
	}
	r.nodes[p] = rec
	ws := r.watchersLocked()
	r.mu.Unlock()
	for _, fn := range ws {
		fn(p)
	}
}

// Remove marks the node with peer id p as removed (as governance does) and
// notifies watchers. It reports whether p was known.
func (r *MemRegistry) Remove(p peer.ID) bool {
	r.mu.Lock()
	rec, ok := r.nodes[p]
	if ok {
		rec.Removed = true
		r.nodes[p] = rec
	}
	ws := r.watchersLocked()
	r.mu.Unlock()
	if ok {
		for _, fn := range ws {
			fn(p)
		}
	}
	return ok
}

// Watch implements RegistryWatcher.
func (r *MemRegistry) Watch(fn func(peer.ID)) (cancel func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.watchers == nil {
		r.watchers = make(map[int]func(peer.ID))
	}
	id := r.nextW
	r.nextW++
	r.watchers[id] = fn
	return func() {
		r.mu.Lock()
		delete(r.watchers, id)
		r.mu.Unlock()
	}
}

func (r *MemRegistry) watchersLocked() []func(peer.ID) {
	ws := make([]func(peer.ID), 0, len(r.watchers))
	for _, fn := range r.watchers {
		ws = append(ws, fn)
	}
	return ws
}

// admit checks that rec is a usable record for the authenticated peer p.
func admit(reg Registry, p peer.ID) (NodeRecord, error) {
	rec, err := reg.NodeByPeer(p)
	if err != nil {
		return NodeRecord{}, err
	}
	if rec.PeerID != p {
		return NodeRecord{}, fmt.Errorf("%w: registry record for %s names peer %s", ErrIdentityMismatch, p, rec.PeerID)
	}
	if rec.Removed {
		return NodeRecord{}, fmt.Errorf("%w: node %q (%s)", ErrRemoved, rec.NodeID, p)
	}
	if !rec.Role.Valid() {
		return NodeRecord{}, fmt.Errorf("%w: node %q has invalid role %d", ErrNotAdmitted, rec.NodeID, uint8(rec.Role))
	}
	return rec, nil
}
