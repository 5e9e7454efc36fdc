package state

import (
	"fmt"
	"slices"

	"github.com/medchain/medchain/chain/codec"
	"github.com/medchain/medchain/chain/types"
)

// Cluster key and MFA state keys:
//
//	'K' 0x00       -> ClusterKeyInfo (the chain's cluster data key id)
//	'K' node id    -> ClusterKeyGrantRecord (that node's wrapped copy)
//	'M' identity   -> MFAEnrolment (the identity's sealed TOTP seed)
//
// Node ids never contain 0x00, so the info key cannot collide with a grant.
const (
	prefixClusterKey = 'K'
	prefixMFA        = 'M'
)

// ClusterKeyInfoKey is the state key of the cluster key info.
func ClusterKeyInfoKey() []byte { return []byte{prefixClusterKey, 0} }

// ClusterKeyGrantKey is the state key of node id's grant.
func ClusterKeyGrantKey(nodeID string) []byte { return append([]byte{prefixClusterKey}, nodeID...) }

// MFAKey is the state key of identity id's MFA enrolment.
func MFAKey(id string) []byte { return append([]byte{prefixMFA}, id...) }

// ClusterKeyInfo names the chain's cluster data key. The key itself is never
// in state: only its id, and one wrapped copy per node that holds it.
type ClusterKeyInfo struct {
	KeyID  string `cbor:"1,keyasint" json:"key_id"`
	Height uint64 `cbor:"2,keyasint" json:"height"` // set at (0: genesis)
}

// ClusterKeyGrantRecord is a node's wrapped copy of the cluster data key.
type ClusterKeyGrantRecord struct {
	NodeID    string     `cbor:"1,keyasint" json:"node_id"`
	KeyID     string     `cbor:"2,keyasint" json:"key_id"`
	Wrapped   []byte     `cbor:"3,keyasint" json:"wrapped_key"`
	GrantedBy string     `cbor:"4,keyasint" json:"granted_by"` // the member node, or "genesis"
	Height    uint64     `cbor:"5,keyasint" json:"height"`
	TxHash    types.Hash `cbor:"6,keyasint" json:"tx_hash"` // zero for genesis grants
}

// MFAEnrolment is an identity's TOTP seed, sealed under the cluster data key
// (types.MFASeedAAD). Only a node holding the cluster key can open it.
type MFAEnrolment struct {
	Identity   string     `cbor:"1,keyasint" json:"identity"`
	KeyID      string     `cbor:"2,keyasint" json:"key_id"`
	SealedSeed []byte     `cbor:"3,keyasint" json:"-"` // never shown, even sealed
	EnrolledBy string     `cbor:"4,keyasint" json:"enrolled_by"`
	Height     uint64     `cbor:"5,keyasint" json:"height"`
	Time       int64      `cbor:"6,keyasint" json:"time"`
	TxHash     types.Hash `cbor:"7,keyasint" json:"tx_hash"`
}

// GenesisGrantor is the GrantedBy of the grants genesis carries.
const GenesisGrantor = "genesis"

// GetClusterKeyInfo returns the chain's cluster key info, or nil when the
// chain has no cluster key (a genesis made before it existed).
func GetClusterKeyInfo(v View) (*ClusterKeyInfo, error) {
	return decode[ClusterKeyInfo](newOverlay(v), ClusterKeyInfoKey())
}

// GetClusterKeyGrant returns node id's grant, or nil.
func GetClusterKeyGrant(v View, nodeID string) (*ClusterKeyGrantRecord, error) {
	return decode[ClusterKeyGrantRecord](newOverlay(v), ClusterKeyGrantKey(nodeID))
}

// GetMFAEnrolment returns identity id's MFA enrolment, or nil.
func GetMFAEnrolment(v View, id string) (*MFAEnrolment, error) {
	return decode[MFAEnrolment](newOverlay(v), MFAKey(id))
}

// validateClusterKey checks the genesis grants: well formed, one per node,
// every one for a genesis node identity, all of the same key.
func (g *Genesis) validateClusterKey() error {
	var keyID string
	seen := map[string]bool{}
	for i := range g.ClusterKeyGrants {
		gr := &g.ClusterKeyGrants[i]
		if err := gr.ValidateBasic(); err != nil {
			return fmt.Errorf("genesis: cluster_key_grants[%d]: %w", i, err)
		}
		if seen[gr.NodeID] {
			return fmt.Errorf("genesis: cluster_key_grants[%d]: node %q listed twice", i, gr.NodeID)
		}
		seen[gr.NodeID] = true
		if keyID == "" {
			keyID = gr.KeyID
		} else if gr.KeyID != keyID {
			return fmt.Errorf("genesis: cluster_key_grants[%d]: key %s differs from key %s of the first grant", i, gr.KeyID, keyID)
		}
		j := slices.IndexFunc(g.Identities, func(id types.IdentityRegister) bool { return id.ID == gr.NodeID })
		if j < 0 || g.Identities[j].Kind != types.KindNode || !slices.Contains(g.Identities[j].Roles, types.RoleNode) {
			return fmt.Errorf("genesis: cluster_key_grants[%d]: %q must be a genesis identity of kind node with role node", i, gr.NodeID)
		}
		if k := slices.IndexFunc(g.Nodes, func(n GenesisNode) bool { return n.NodeID == gr.NodeID }); k >= 0 && g.Nodes[k].SealKey != nil {
			alg, _ := types.WrappedKeyAlgorithm(gr.Wrapped)
			if alg != g.Nodes[k].SealKey.Algorithm {
				return fmt.Errorf("genesis: cluster_key_grants[%d]: key wrapped with %s, node %q has a %s seal key", i, alg, gr.NodeID, g.Nodes[k].SealKey.Algorithm)
			}
		}
	}
	return nil
}

// genesisClusterKey writes the cluster key info and the genesis grants.
func (g *Genesis) genesisClusterKey(o *overlay) {
	if len(g.ClusterKeyGrants) == 0 {
		return
	}
	o.put(ClusterKeyInfoKey(), codec.MustMarshal(&ClusterKeyInfo{KeyID: g.ClusterKeyGrants[0].KeyID}))
	for i := range g.ClusterKeyGrants {
		gr := g.ClusterKeyGrants[i]
		o.put(ClusterKeyGrantKey(gr.NodeID), codec.MustMarshal(&ClusterKeyGrantRecord{NodeID: gr.NodeID, KeyID: gr.KeyID,
			Wrapped: gr.Wrapped, GrantedBy: GenesisGrantor}))
	}
}

// authorizeClusterKey: nodes grant the key and enrol seeds; admins reset.
func authorizeClusterKey(signer *Identity, tx *types.Tx) error {
	switch tx.Type {
	case types.TxClusterKeyGrant, types.TxMFAEnroll:
		if signer.Kind != types.KindNode || !signer.HasRole(types.RoleNode) {
			return reject(types.CodeUnauthorized, "%s must be signed by a member node; %q is a %s with %v", tx.Type, signer.ID, signer.Kind, signer.Roles)
		}
	case types.TxMFAReset:
		if !signer.HasRole(types.RoleAdmin) {
			return reject(types.CodeUnauthorized, "%s requires the admin role; %q has %v", tx.Type, signer.ID, signer.Roles)
		}
	default:
		return reject(types.CodeInvalidPayload, "unknown cluster key tx type %d", uint8(tx.Type))
	}
	return nil
}

// clusterKeyTx runs the stateful checks of a cluster key or MFA tx and, unless
// checkOnly, applies it.
func (e *Executor) clusterKeyTx(o *overlay, tx *types.Tx, p types.Payload, h types.Hash, signer *Identity, bc BlockContext, checkOnly bool) error {
	switch p := p.(type) {
	case *types.ClusterKeyGrant:
		return e.grantClusterKey(o, p, h, signer, bc, checkOnly)
	case *types.MFAEnroll:
		return e.enrollMFA(o, p, h, signer, bc, checkOnly)
	case *types.MFAReset:
		cur, err := decode[MFAEnrolment](o, MFAKey(p.Identity))
		if err != nil {
			return err
		}
		if cur == nil {
			return reject(types.CodeNotFound, "identity %q is not enrolled in MFA", p.Identity)
		}
		if !checkOnly {
			o.del(MFAKey(p.Identity))
		}
		return nil
	}
	return reject(types.CodeInvalidPayload, "unknown cluster key payload %T", p)
}

// clusterKey returns the chain's cluster key id, or a conflict when the chain
// has none.
func clusterKey(o *overlay) (string, error) {
	info, err := decode[ClusterKeyInfo](o, ClusterKeyInfoKey())
	if err != nil {
		return "", err
	}
	if info == nil {
		return "", reject(types.CodeConflict, "this chain has no cluster data key (its genesis predates it)")
	}
	return info.KeyID, nil
}

func (e *Executor) grantClusterKey(o *overlay, p *types.ClusterKeyGrant, h types.Hash, signer *Identity, bc BlockContext, checkOnly bool) error {
	keyID, err := clusterKey(o)
	if err != nil {
		return err
	}
	if p.KeyID != keyID {
		return reject(types.CodeConflict, "grant of key %s, but the cluster key is %s", p.KeyID, keyID)
	}
	own, err := decode[ClusterKeyGrantRecord](o, ClusterKeyGrantKey(signer.ID))
	if err != nil {
		return err
	}
	if own == nil || own.KeyID != keyID {
		return reject(types.CodeUnauthorized, "node %q holds no grant of cluster key %s, so it cannot hand it on", signer.ID, keyID)
	}
	r, err := o.node(p.NodeID)
	if err != nil {
		return err
	}
	if r == nil {
		return reject(types.CodeNotFound, "node %q has no node record", p.NodeID)
	}
	if r.Status != NodeAdmitted {
		return reject(types.CodeConflict, "node %q is %s, not admitted", p.NodeID, r.Status)
	}
	if r.SealKey == nil {
		return reject(types.CodeConflict, "node %q has no seal key on record: nothing can be wrapped to it", p.NodeID)
	}
	alg, err := types.WrappedKeyAlgorithm(p.Wrapped)
	if err != nil {
		return reject(types.CodeInvalidPayload, "%v", err)
	}
	if alg != r.SealKey.Algorithm {
		return reject(types.CodeInvalidPayload, "key wrapped with %s, but node %q has a %s seal key", alg, p.NodeID, r.SealKey.Algorithm)
	}
	cur, err := decode[ClusterKeyGrantRecord](o, ClusterKeyGrantKey(p.NodeID))
	if err != nil {
		return err
	}
	if cur != nil && cur.KeyID == keyID {
		return reject(types.CodeConflict, "node %q already holds cluster key %s (granted by %s)", p.NodeID, keyID, cur.GrantedBy)
	}
	if !checkOnly {
		o.put(ClusterKeyGrantKey(p.NodeID), codec.MustMarshal(&ClusterKeyGrantRecord{NodeID: p.NodeID, KeyID: p.KeyID,
			Wrapped: p.Wrapped, GrantedBy: signer.ID, Height: bc.Height, TxHash: h}))
	}
	return nil
}

func (e *Executor) enrollMFA(o *overlay, p *types.MFAEnroll, h types.Hash, signer *Identity, bc BlockContext, checkOnly bool) error {
	keyID, err := clusterKey(o)
	if err != nil {
		return err
	}
	if p.KeyID != keyID {
		return reject(types.CodeConflict, "seed sealed under key %s, but the cluster key is %s", p.KeyID, keyID)
	}
	id, err := o.identity(p.Identity)
	if err != nil {
		return err
	}
	if id == nil {
		return reject(types.CodeNotFound, "identity %q does not exist", p.Identity)
	}
	if id.Revoked {
		return reject(types.CodeConflict, "identity %q is revoked", p.Identity)
	}
	cur, err := decode[MFAEnrolment](o, MFAKey(p.Identity))
	if err != nil {
		return err
	}
	if cur != nil {
		return reject(types.CodeConflict, "%q is already enrolled in MFA; an administrator must reset it", p.Identity)
	}
	if !checkOnly {
		o.put(MFAKey(p.Identity), codec.MustMarshal(&MFAEnrolment{Identity: p.Identity, KeyID: p.KeyID, SealedSeed: p.SealedSeed,
			EnrolledBy: signer.ID, Height: bc.Height, Time: bc.Time, TxHash: h}))
	}
	return nil
}
