package types

import (
	"fmt"

	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/chain/crypto/seal"
)

// Governance tx types: node admission and removal. Their values are fixed
// (other tx families take 8-12; 16-19 are the cluster key family).
const (
	TxNodeJoin    TxType = 13 // a new node asks to join; signed by the new node's own key
	TxNodeApprove TxType = 14 // an admin approves a pending join
	TxNodeRemove  TxType = 15 // an admin proposes or approves the removal of a node
)

func init() {
	txTypeNames[TxNodeJoin] = "node_join"
	txTypeNames[TxNodeApprove] = "node_approve"
	txTypeNames[TxNodeRemove] = "node_remove"
}

// IsGovernance reports whether t is a node-governance tx type.
func (t TxType) IsGovernance() bool { return t >= TxNodeJoin && t <= TxNodeRemove }

// Node roles requested in a join (and held in node records).
const (
	NodeRoleVoter    = "voter"    // votes in Raft elections and may lead
	NodeRoleObserver = "observer" // replicates the chain without voting
)

// ValidNodeRole reports whether r is voter or observer.
func ValidNodeRole(r string) bool { return r == NodeRoleVoter || r == NodeRoleObserver }

// NodeJoin is a join request. The tx is signed by the new node with the
// ML-DSA key in PublicKey, and its Signer must equal NodeID: the signer is not
// registered yet, so the executor verifies the signature against this key.
type NodeJoin struct {
	NodeID    string           `cbor:"1,keyasint" json:"node_id"`
	PublicKey crypto.PublicKey `cbor:"2,keyasint" json:"public_key"` // ML-DSA node key
	PeerID    string           `cbor:"3,keyasint" json:"peer_id"`    // libp2p peer id
	Addrs     []string         `cbor:"4,keyasint,omitempty" json:"addrs,omitempty"`
	Region    string           `cbor:"5,keyasint,omitempty" json:"region,omitempty"`
	Role      string           `cbor:"6,keyasint" json:"role"` // voter or observer
	// SealKey is the node's KEM public key (ML-KEM-768+X25519 by default):
	// a member wraps the cluster data key to it once the node is admitted.
	// medchain join always sends it; a record without one cannot receive
	// the key (requests made before this field existed).
	SealKey *seal.PublicKey `cbor:"7,keyasint,omitempty" json:"seal_key,omitempty"`
}

// TxType implements Payload.
func (*NodeJoin) TxType() TxType { return TxNodeJoin }

// ValidateBasic implements Payload.
func (p *NodeJoin) ValidateBasic() error {
	if err := checkID("node_id", p.NodeID); err != nil {
		return err
	}
	if err := p.PublicKey.Validate(); err != nil {
		return fmt.Errorf("%w: public_key: %v", ErrInvalid, err)
	}
	if err := checkID("peer_id", p.PeerID); err != nil {
		return err
	}
	if len(p.Addrs) > MaxListLen {
		return fmt.Errorf("%w: addrs: %d entries, limit %d", ErrInvalid, len(p.Addrs), MaxListLen)
	}
	for i, a := range p.Addrs {
		if a == "" {
			return fmt.Errorf("%w: addrs[%d]: empty", ErrInvalid, i)
		}
		if err := checkText(fmt.Sprintf("addrs[%d]", i), a); err != nil {
			return err
		}
	}
	if p.Region != "" {
		if err := checkID("region", p.Region); err != nil {
			return err
		}
	}
	if !ValidNodeRole(p.Role) {
		return fmt.Errorf("%w: role: %q is not voter or observer", ErrInvalid, p.Role)
	}
	return ValidateSealKey("seal_key", p.SealKey)
}

// NodeApprove is one admin's approval of a pending join.
type NodeApprove struct {
	NodeID string `cbor:"1,keyasint" json:"node_id"`
}

// TxType implements Payload.
func (*NodeApprove) TxType() TxType { return TxNodeApprove }

// ValidateBasic implements Payload.
func (p *NodeApprove) ValidateBasic() error { return checkID("node_id", p.NodeID) }

// NodeRemove is one admin's vote to remove a node (pending or admitted).
type NodeRemove struct {
	NodeID string `cbor:"1,keyasint" json:"node_id"`
	Reason string `cbor:"2,keyasint,omitempty" json:"reason,omitempty"`
}

// TxType implements Payload.
func (*NodeRemove) TxType() TxType { return TxNodeRemove }

// ValidateBasic implements Payload.
func (p *NodeRemove) ValidateBasic() error {
	if err := checkID("node_id", p.NodeID); err != nil {
		return err
	}
	return checkText("reason", p.Reason)
}

func newGovernancePayload(t TxType) Payload {
	switch t {
	case TxNodeJoin:
		return new(NodeJoin)
	case TxNodeApprove:
		return new(NodeApprove)
	case TxNodeRemove:
		return new(NodeRemove)
	}
	return nil
}
