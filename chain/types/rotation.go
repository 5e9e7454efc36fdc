package types

import (
	"fmt"

	"github.com/medchain/medchain/chain/codec"
	"github.com/medchain/medchain/chain/crypto"
)

// Key rotation tx types. Values 24-27 belong to key rotation; 25-27 are
// reserved for it.
const (
	// TxIdentityRotateKey replaces an identity's signing key. The identity
	// itself signs the tx with its current (old) key, and the payload carries
	// a proof signed by the new key.
	TxIdentityRotateKey TxType = 24
)

func init() {
	txTypeNames[TxIdentityRotateKey] = "identity_rotate_key"
}

// rotationDomain prefixes the bytes the new key signs, so the proof is never
// valid as a tx's, a header's or an export's signature.
const rotationDomain = "medchain/rotate-key/v1\x00"

// IdentityRotateKey replaces the signing key of identity ID with NewKey.
//
// Two signatures authorise it: the tx signature, by the identity's current
// key (OldKey), and Proof, by NewKey over RotationProofBytes: the holder of
// the old key hands over to the holder of the new one, and the new key's
// holder proves possession and agrees. OldKey names the key being retired,
// which binds the proof to this one step: it cannot be replayed after a
// later rotation. NewKey signs from the block after the rotation's.
type IdentityRotateKey struct {
	ID     string           `cbor:"1,keyasint" json:"id"`
	OldKey crypto.PublicKey `cbor:"2,keyasint" json:"old_key"`
	NewKey crypto.PublicKey `cbor:"3,keyasint" json:"new_key"`
	Proof  crypto.Signature `cbor:"4,keyasint" json:"proof"` // by NewKey over RotationProofBytes
	Reason string           `cbor:"5,keyasint,omitempty" json:"reason,omitempty"`
}

// TxType implements Payload.
func (*IdentityRotateKey) TxType() TxType { return TxIdentityRotateKey }

// ValidateBasic implements Payload: both keys well formed and different, the
// proof well formed and of the new key's algorithm. The proof itself is
// checked by the executor, which knows the chain id.
func (p *IdentityRotateKey) ValidateBasic() error {
	if err := checkID("id", p.ID); err != nil {
		return err
	}
	if err := p.OldKey.Validate(); err != nil {
		return fmt.Errorf("%w: old_key: %v", ErrInvalid, err)
	}
	if err := p.NewKey.Validate(); err != nil {
		return fmt.Errorf("%w: new_key: %v", ErrInvalid, err)
	}
	if p.NewKey.Equal(p.OldKey) {
		return fmt.Errorf("%w: new_key: equals old_key (a rotation must change the key)", ErrInvalid)
	}
	if len(p.Proof.Sig) == 0 {
		return fmt.Errorf("%w: proof: missing (the new key must sign the rotation)", ErrInvalid)
	}
	if err := p.Proof.Validate(); err != nil {
		return fmt.Errorf("%w: proof: %v", ErrInvalid, err)
	}
	if p.Proof.Algorithm != p.NewKey.Algorithm {
		return fmt.Errorf("%w: proof: signed with %s, the new key is %s", ErrInvalid, p.Proof.Algorithm, p.NewKey.Algorithm)
	}
	return checkText("reason", p.Reason)
}

// rotationProof is what the new key signs.
type rotationProof struct {
	ChainID string           `cbor:"1,keyasint"`
	ID      string           `cbor:"2,keyasint"`
	OldKey  crypto.PublicKey `cbor:"3,keyasint"`
	NewKey  crypto.PublicKey `cbor:"4,keyasint"`
}

// RotationProofBytes returns the canonical bytes NewKey signs for a rotation
// of p.ID on chain chainID: the domain, then CBOR{1 chain id, 2 id, 3 old
// key, 4 new key}.
func RotationProofBytes(chainID string, p *IdentityRotateKey) []byte {
	b := codec.MustMarshal(rotationProof{ChainID: chainID, ID: p.ID, OldKey: p.OldKey, NewKey: p.NewKey})
	return append([]byte(rotationDomain), b...)
}

// NewRotateKey builds the payload that rotates identity id from oldKey to
// newKey on chain chainID and signs its proof with newKey. The tx carrying
// it must still be signed by the old key.
func NewRotateKey(chainID, id string, oldKey crypto.PublicKey, newKey *crypto.PrivateKey, reason string) (*IdentityRotateKey, error) {
	p := &IdentityRotateKey{ID: id, OldKey: oldKey, NewKey: newKey.Public(), Reason: reason}
	sig, err := newKey.Sign(RotationProofBytes(chainID, p))
	if err != nil {
		return nil, fmt.Errorf("types: sign rotation proof: %w", err)
	}
	p.Proof = sig
	return p, nil
}
