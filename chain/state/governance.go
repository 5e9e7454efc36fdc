package state

import (
	"fmt"
	"slices"
	"time"

	"github.com/medchain/medchain/chain/codec"
	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/chain/crypto/seal"
	"github.com/medchain/medchain/chain/types"
)

// NodeStatus is the governance state of a node record.
type NodeStatus string

// Node statuses.
const (
	NodePending  NodeStatus = "pending"  // asked to join; waiting for admin approvals
	NodeAdmitted NodeStatus = "admitted" // approved by the threshold; registered as an identity with role "node"
	NodeRemoved  NodeStatus = "removed"  // removed (or refused while pending) by the threshold; final
)

// NodeRecord is the on-chain record of a consortium node: the binding of its
// node id, ML-DSA key and libp2p peer id, and the approvals that admitted or
// removed it. Approvals and Removals hold distinct admin ids, sorted.
type NodeRecord struct {
	NodeID    string           `cbor:"1,keyasint" json:"node_id"`
	PublicKey crypto.PublicKey `cbor:"2,keyasint" json:"public_key"`
	PeerID    string           `cbor:"3,keyasint" json:"peer_id"`
	Addrs     []string         `cbor:"4,keyasint,omitempty" json:"addrs,omitempty"`
	Region    string           `cbor:"5,keyasint,omitempty" json:"region,omitempty"`
	Role      string           `cbor:"6,keyasint" json:"role"` // voter or observer
	Status    NodeStatus       `cbor:"7,keyasint" json:"status"`
	Approvals []string         `cbor:"8,keyasint,omitempty" json:"approvals,omitempty"`
	Removals  []string         `cbor:"9,keyasint,omitempty" json:"removals,omitempty"`
	Reason    string           `cbor:"10,keyasint,omitempty" json:"reason,omitempty"` // removal reason
	Height    uint64           `cbor:"11,keyasint" json:"height"`                     // requested at (0: genesis)
	Updated   uint64           `cbor:"12,keyasint" json:"updated"`                    // last changed at
	// SealKey is the node's KEM public key, to which members wrap the
	// cluster data key; nil for a record made before it existed.
	SealKey   *seal.PublicKey `cbor:"13,keyasint,omitempty" json:"seal_key,omitempty"`
	Requested int64           `cbor:"14,keyasint,omitempty" json:"requested,omitempty"` // join request's block time, Unix ms
}

// GenesisNode lists a node admitted at genesis. Its ML-DSA key is the key of
// the genesis identity with the same id (kind node, role node).
type GenesisNode struct {
	NodeID string   `cbor:"1,keyasint" json:"node_id"`
	PeerID string   `cbor:"2,keyasint" json:"peer_id"`
	Addrs  []string `cbor:"3,keyasint,omitempty" json:"addrs,omitempty"`
	Region string   `cbor:"4,keyasint,omitempty" json:"region,omitempty"`
	Role   string   `cbor:"5,keyasint,omitempty" json:"role,omitempty"` // default voter
	// SealKey is the node's KEM public key (see NodeRecord.SealKey).
	SealKey *seal.PublicKey `cbor:"6,keyasint,omitempty" json:"seal_key,omitempty"`
}

// Governance state keys:
//
//	'g' node id -> NodeRecord
//	'G' peer id -> node id (peer index; every record, whatever its status)
//	'V'         -> govCounts: admitted voters and pending joins, written from genesis on
const (
	prefixNode     = 'g'
	prefixNodePeer = 'G'
	prefixGov      = 'V'
)

// Bounds on join requests. Anyone can sign a join request with a fresh
// key, so pending records are bounded: at most MaxPendingJoins wait at
// once, and a request older than PendingJoinTTL (block time) expires: it
// can no longer be approved, and it is deleted (record and peer index) when
// a new request needs its slot, its node id or its peer id. An expired
// request leaves no trace in state besides its tx in the chain.
const (
	MaxPendingJoins = 16
	PendingJoinTTL  = 72 * time.Hour
)

// GovKey is the state key of the governance bookkeeping (govCounts). A
// chain whose genesis predates it has none: its removals and joins are not
// bounded by it (deterministically: every node sees the same missing key).
func GovKey() []byte { return []byte{prefixGov} }

// govCounts is the governance bookkeeping: the number of admitted voters
// and the pending join requests, oldest first.
type govCounts struct {
	Voters  uint32   `cbor:"1,keyasint"`
	Pending []string `cbor:"2,keyasint,omitempty"`
}

// gov returns the bookkeeping, or nil when the chain keeps none.
func (o *overlay) gov() (*govCounts, error) { return decode[govCounts](o, GovKey()) }

func (o *overlay) putGov(g *govCounts) { o.put(GovKey(), codec.MustMarshal(g)) }

// unpend drops id from the pending list.
func (g *govCounts) unpend(id string) {
	if i := slices.Index(g.Pending, id); i >= 0 {
		g.Pending = slices.Delete(g.Pending, i, i+1)
	}
}

// expired reports whether r is a join request older than PendingJoinTTL at
// block time now. Requests without a time (older chains) never expire.
func (r *NodeRecord) expired(now int64) bool {
	return r.Status == NodePending && r.Requested != 0 && now-r.Requested > PendingJoinTTL.Milliseconds()
}

// dropPending deletes the pending record r (expired) and its peer index.
func (o *overlay) dropPending(g *govCounts, r *NodeRecord) {
	o.del(NodeKey(r.NodeID))
	o.del(NodePeerKey(r.PeerID))
	if g != nil {
		g.unpend(r.NodeID)
	}
}

// isVoter reports whether r counts as an admitted voter.
func (r *NodeRecord) isVoter() bool { return r.Status == NodeAdmitted && r.Role == types.NodeRoleVoter }

// NodeKey is the state key of a node record.
func NodeKey(id string) []byte { return append([]byte{prefixNode}, id...) }

// NodePeerKey is the state key of the peer index entry of peer id p.
func NodePeerKey(p string) []byte { return append([]byte{prefixNodePeer}, p...) }

// NodePrefix is the key prefix of all node records.
func NodePrefix() []byte { return []byte{prefixNode} }

// IsNodeKey reports whether a state key belongs to governance (node records
// or the peer index): a write to such a key changes node membership.
func IsNodeKey(k []byte) bool {
	return len(k) > 0 && (k[0] == prefixNode || k[0] == prefixNodePeer)
}

func (o *overlay) node(id string) (*NodeRecord, error) { return decode[NodeRecord](o, NodeKey(id)) }

func (o *overlay) putNode(r *NodeRecord) {
	o.put(NodeKey(r.NodeID), codec.MustMarshal(r))
	o.put(NodePeerKey(r.PeerID), []byte(r.NodeID))
}

// GetNode returns the node record id, or nil.
func GetNode(v View, id string) (*NodeRecord, error) { return newOverlay(v).node(id) }

// GetNodeByPeer returns the node record of libp2p peer id p, or nil.
func GetNodeByPeer(v View, p string) (*NodeRecord, error) {
	o := newOverlay(v)
	b, found, err := o.get(NodePeerKey(p))
	if err != nil || !found {
		return nil, err
	}
	return o.node(string(b))
}

// Nodes returns every node record, in node id order.
func Nodes(s Scanner) ([]NodeRecord, error) {
	prefix := NodePrefix()
	var out []NodeRecord
	var derr error
	err := s.Scan(prefix, prefixEnd(prefix), false, func(k, v []byte) bool {
		var r NodeRecord
		if derr = codec.Unmarshal(v, &r); derr != nil {
			derr = fmt.Errorf("%w: corrupt node record at %q: %v", ErrIO, k, derr)
			return false
		}
		out = append(out, r)
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrIO, err)
	}
	return out, derr
}

// validateNodes checks the genesis node list against the identities.
func (g *Genesis) validateNodes() error {
	peers := map[string]bool{}
	ids := map[string]bool{}
	for i := range g.Nodes {
		n := &g.Nodes[i]
		if err := types.ValidateID("node_id", n.NodeID); err != nil {
			return fmt.Errorf("genesis: nodes[%d]: %w", i, err)
		}
		if err := types.ValidateID("peer_id", n.PeerID); err != nil {
			return fmt.Errorf("genesis: nodes[%d]: %w", i, err)
		}
		if n.Role != "" && !types.ValidNodeRole(n.Role) {
			return fmt.Errorf("genesis: nodes[%d]: role %q is not voter or observer", i, n.Role)
		}
		if n.Region != "" {
			if err := types.ValidateID("region", n.Region); err != nil {
				return fmt.Errorf("genesis: nodes[%d]: %w", i, err)
			}
		}
		if err := types.ValidateSealKey("seal_key", n.SealKey); err != nil {
			return fmt.Errorf("genesis: nodes[%d]: %w", i, err)
		}
		if ids[n.NodeID] || peers[n.PeerID] {
			return fmt.Errorf("genesis: nodes[%d]: node %q or peer %q listed twice", i, n.NodeID, n.PeerID)
		}
		ids[n.NodeID], peers[n.PeerID] = true, true
		j := slices.IndexFunc(g.Identities, func(id types.IdentityRegister) bool { return id.ID == n.NodeID })
		if j < 0 || g.Identities[j].Kind != types.KindNode || !slices.Contains(g.Identities[j].Roles, types.RoleNode) {
			return fmt.Errorf("genesis: nodes[%d]: %q must be a genesis identity of kind node with role node", i, n.NodeID)
		}
	}
	return nil
}

// genesisNodes writes the genesis node records, admitted, and the voter count.
func (g *Genesis) genesisNodes(o *overlay) {
	var voters uint32
	defer func() { o.putGov(&govCounts{Voters: voters}) }()
	for i := range g.Nodes {
		n := g.Nodes[i]
		j := slices.IndexFunc(g.Identities, func(id types.IdentityRegister) bool { return id.ID == n.NodeID })
		role := n.Role
		if role == "" {
			role = types.NodeRoleVoter
		}
		o.putNode(&NodeRecord{NodeID: n.NodeID, PublicKey: g.Identities[j].PublicKey, PeerID: n.PeerID, Addrs: n.Addrs,
			Region: n.Region, Role: role, Status: NodeAdmitted, SealKey: n.SealKey})
		if role == types.NodeRoleVoter {
			voters++
		}
	}
}

// checkJoin is check for a join request, whose signer is not registered yet:
// the signer must be the node named in the payload, and the signature must
// verify against the key the payload carries (always, whatever opts say:
// there is no registered key a header could vouch for).
func (e *Executor) checkJoin(o *overlay, tx *types.Tx, p types.Payload) (*Identity, types.Payload, error) {
	j, ok := p.(*types.NodeJoin)
	if !ok {
		return nil, nil, reject(types.CodeInvalidPayload, "node_join carries %T", p)
	}
	if tx.Signer != j.NodeID {
		return nil, nil, reject(types.CodeUnauthorized, "node_join must be signed by the joining node %q, not %q", j.NodeID, tx.Signer)
	}
	if err := tx.VerifySignature(j.PublicKey); err != nil {
		return nil, nil, reject(types.CodeBadSignature, "join request of %q: %v", j.NodeID, err)
	}
	return &Identity{ID: j.NodeID, Kind: types.KindNode, PublicKey: j.PublicKey}, p, nil
}

// authorizeGovernance: admins approve and remove; joins were checked by checkJoin.
func authorizeGovernance(signer *Identity, tx *types.Tx) error {
	switch tx.Type {
	case types.TxNodeJoin:
		return nil
	case types.TxNodeApprove, types.TxNodeRemove:
		if !signer.HasRole(types.RoleAdmin) {
			return reject(types.CodeUnauthorized, "%s requires the admin role; %q has %v", tx.Type, signer.ID, signer.Roles)
		}
		return nil
	}
	return reject(types.CodeInvalidPayload, "unknown governance tx type %d", uint8(tx.Type))
}

// executeGovernance applies a checked governance tx.
func (e *Executor) executeGovernance(o *overlay, p types.Payload, signer *Identity, bc BlockContext) error {
	switch p := p.(type) {
	case *types.NodeJoin:
		return e.join(o, p, bc)
	case *types.NodeApprove:
		return e.approve(o, p, signer, bc)
	case *types.NodeRemove:
		return e.remove(o, p, signer, bc)
	}
	return reject(types.CodeInvalidPayload, "unknown governance payload %T", p)
}

func (e *Executor) join(o *overlay, p *types.NodeJoin, bc BlockContext) error {
	g, err := o.gov()
	if err != nil {
		return err
	}
	cur, err := o.node(p.NodeID)
	if err != nil {
		return err
	}
	if cur != nil && cur.expired(bc.Time) {
		o.dropPending(g, cur)
		cur = nil
	}
	if cur != nil {
		return reject(types.CodeConflict, "node %q already has a %s record", p.NodeID, cur.Status)
	}
	id, err := o.identity(p.NodeID)
	if err != nil {
		return err
	}
	if id != nil {
		return reject(types.CodeConflict, "identity %q already exists", p.NodeID)
	}
	if b, taken, err := o.get(NodePeerKey(p.PeerID)); err != nil {
		return err
	} else if taken {
		other, err := o.node(string(b))
		if err != nil {
			return err
		}
		if other == nil || !other.expired(bc.Time) {
			return reject(types.CodeConflict, "peer id %s already belongs to a node record", p.PeerID)
		}
		o.dropPending(g, other)
	}
	if g != nil {
		for len(g.Pending) > 0 { // free the slots of expired requests, oldest first
			old, err := o.node(g.Pending[0])
			if err != nil {
				return err
			}
			if old != nil && !old.expired(bc.Time) {
				break
			}
			if old != nil {
				o.dropPending(g, old)
			} else {
				g.Pending = g.Pending[1:]
			}
		}
		if len(g.Pending) >= MaxPendingJoins {
			return reject(types.CodeConflict, "%d join requests are pending, the limit: admins must approve or refuse one (or it expires after %v) before %q can ask",
				len(g.Pending), PendingJoinTTL, p.NodeID)
		}
		g.Pending = append(g.Pending, p.NodeID)
		o.putGov(g)
	}
	o.putNode(&NodeRecord{NodeID: p.NodeID, PublicKey: p.PublicKey, PeerID: p.PeerID, Addrs: p.Addrs, Region: p.Region,
		Role: p.Role, Status: NodePending, Height: bc.Height, Updated: bc.Height, SealKey: p.SealKey, Requested: bc.Time})
	return nil
}

func (e *Executor) approve(o *overlay, p *types.NodeApprove, signer *Identity, bc BlockContext) error {
	r, err := o.node(p.NodeID)
	if err != nil {
		return err
	}
	if r == nil {
		return reject(types.CodeNotFound, "node %q has no join request", p.NodeID)
	}
	if r.Status != NodePending {
		return reject(types.CodeConflict, "node %q is %s, not pending", p.NodeID, r.Status)
	}
	if r.expired(bc.Time) {
		return reject(types.CodeConflict, "the join request of node %q expired (older than %v): the node must ask again", p.NodeID, PendingJoinTTL)
	}
	if slices.Contains(r.Approvals, signer.ID) {
		return reject(types.CodeConflict, "admin %q already approved node %q", signer.ID, p.NodeID)
	}
	r.Approvals = append(r.Approvals, signer.ID)
	slices.Sort(r.Approvals)
	r.Updated = bc.Height
	if uint32(len(r.Approvals)) >= e.g.Params.AdminThreshold {
		id, err := o.identity(r.NodeID)
		if err != nil {
			return err
		}
		if id != nil {
			return reject(types.CodeConflict, "identity %q already exists; the node cannot be admitted under it", r.NodeID)
		}
		r.Status = NodeAdmitted
		g, err := o.gov()
		if err != nil {
			return err
		}
		if g != nil {
			g.unpend(r.NodeID)
			if r.isVoter() {
				g.Voters++
			}
			o.putGov(g)
		}
		o.put(IdentityKey(r.NodeID), codec.MustMarshal(&Identity{ID: r.NodeID, Kind: types.KindNode, Name: "node " + r.NodeID,
			Roles: []string{types.RoleNode}, PublicKey: r.PublicKey, Height: bc.Height, Updated: bc.Height}))
	}
	o.putNode(r)
	return nil
}

func (e *Executor) remove(o *overlay, p *types.NodeRemove, signer *Identity, bc BlockContext) error {
	r, err := o.node(p.NodeID)
	if err != nil {
		return err
	}
	if r == nil {
		return reject(types.CodeNotFound, "node %q has no record", p.NodeID)
	}
	if r.Status == NodeRemoved {
		return reject(types.CodeConflict, "node %q is already removed", p.NodeID)
	}
	if slices.Contains(r.Removals, signer.ID) {
		return reject(types.CodeConflict, "admin %q already voted to remove node %q", signer.ID, p.NodeID)
	}
	r.Removals = append(r.Removals, signer.ID)
	slices.Sort(r.Removals)
	r.Updated = bc.Height
	if p.Reason != "" {
		r.Reason = p.Reason
	}
	if uint32(len(r.Removals)) >= e.g.Params.AdminThreshold {
		g, err := o.gov()
		if err != nil {
			return err
		}
		if g != nil {
			if r.isVoter() {
				if g.Voters <= 1 {
					return reject(types.CodeConflict, "node %q is the last voter: removing it would leave no node to order blocks; admit another voter first", p.NodeID)
				}
				g.Voters--
			}
			g.unpend(r.NodeID)
			o.putGov(g)
		}
		r.Status = NodeRemoved
		id, err := o.identity(r.NodeID)
		if err != nil {
			return err
		}
		if id != nil && !id.Revoked && id.Kind == types.KindNode {
			id.Revoked, id.RevokeReason, id.Updated = true, "node removed by governance", bc.Height
			o.put(IdentityKey(id.ID), codec.MustMarshal(id))
		}
	}
	o.putNode(r)
	return nil
}
