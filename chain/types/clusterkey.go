package types

import (
	"fmt"

	"github.com/medchain/medchain/chain/crypto/seal"
)

// Cluster data key and MFA tx types (this family owns 16-19).
const (
	TxClusterKeyGrant TxType = 16 // a member node: hand the cluster data key, wrapped, to an admitted node
	TxMFAEnroll       TxType = 17 // a node: store an identity's TOTP seed sealed under the cluster key
	TxMFAReset        TxType = 18 // admins: clear an identity's MFA enrolment
	// 19 is reserved for this family.
)

func init() {
	txTypeNames[TxClusterKeyGrant] = "cluster_key_grant"
	txTypeNames[TxMFAEnroll] = "mfa_enroll"
	txTypeNames[TxMFAReset] = "mfa_reset"
}

// IsClusterKey reports whether t is a cluster key or MFA tx type (16-19).
func (t TxType) IsClusterKey() bool { return t >= TxClusterKeyGrant && t <= 19 }

// Limits of the cluster key family.
const (
	// KeyIDLen is the length of a data key id: 16 lowercase hex characters
	// (seal.DataKey.ID).
	KeyIDLen = 16
	// MaxWrappedKeyLen bounds a wrapped key (a seal envelope); the largest
	// suite (ML-KEM-1024-P384) needs about 1,750 bytes.
	MaxWrappedKeyLen = 4096
	// MaxSealedSeedLen bounds a sealed TOTP seed: a base32 secret of at most
	// 128 characters plus seal.FieldOverhead.
	MaxSealedSeedLen = 128 + seal.FieldOverhead
)

// ClusterKeyAAD is the additional data that binds a wrapped cluster key to
// its chain, its recipient node and the key's id: a grant copied to another
// node, chain or key does not unwrap.
func ClusterKeyAAD(chainID, nodeID, keyID string) []byte {
	return []byte("medchain/cluster-key/v1\x00" + chainID + "\x00" + nodeID + "\x00" + keyID)
}

// MFASeedAAD is the additional data that binds a sealed TOTP seed to its
// chain and identity: a sealed seed moved to another identity does not open.
func MFASeedAAD(chainID, identity string) []byte {
	return []byte("medchain/totp-seed/v2\x00" + chainID + "\x00" + identity)
}

// ClusterKeyGrant hands the chain's cluster data key (id KeyID) to node
// NodeID: Wrapped is seal.WrapKey of the key to the node's seal (KEM) public
// key with ClusterKeyAAD(chain id, NodeID, KeyID). In a tx it is signed by a
// member node that holds the key; genesis carries the grants of the first
// nodes.
type ClusterKeyGrant struct {
	NodeID  string `cbor:"1,keyasint" json:"node_id"`
	KeyID   string `cbor:"2,keyasint" json:"key_id"`
	Wrapped []byte `cbor:"3,keyasint" json:"wrapped_key"`
}

// TxType implements Payload.
func (*ClusterKeyGrant) TxType() TxType { return TxClusterKeyGrant }

// ValidateBasic implements Payload: the ids, and a wrapped key that decodes
// as a seal envelope carrying exactly one data key.
func (p *ClusterKeyGrant) ValidateBasic() error {
	if err := checkID("node_id", p.NodeID); err != nil {
		return err
	}
	if err := checkKeyID("key_id", p.KeyID); err != nil {
		return err
	}
	_, err := WrappedKeyAlgorithm(p.Wrapped)
	return err
}

// WrappedKeyAlgorithm checks that w is a seal envelope that can carry a
// wrapped data key (size, version, algorithm, field sizes) and returns its
// KEM algorithm. It cannot tell whether the envelope opens: only the
// recipient can.
func WrappedKeyAlgorithm(w []byte) (seal.Algorithm, error) {
	if len(w) == 0 {
		return 0, fmt.Errorf("%w: wrapped_key: required", ErrInvalid)
	}
	if len(w) > MaxWrappedKeyLen {
		return 0, fmt.Errorf("%w: wrapped_key: %d bytes, limit %d", ErrInvalid, len(w), MaxWrappedKeyLen)
	}
	e, err := seal.DecodeEnvelope(w)
	if err != nil {
		return 0, fmt.Errorf("%w: wrapped_key: %v", ErrInvalid, err)
	}
	if len(e.Ciphertext) != seal.WrappedKeySize {
		return 0, fmt.Errorf("%w: wrapped_key: ciphertext of %d bytes cannot hold a %d byte data key", ErrInvalid, len(e.Ciphertext), seal.DataKeySize)
	}
	return e.Algorithm, nil
}

// MFAEnroll stores identity Identity's TOTP seed sealed (seal.DataKey.Seal)
// under the cluster data key KeyID with MFASeedAAD(chain id, Identity). It is
// signed by the node that served the identity's authenticated
// auth_mfaEnroll; the seed itself never appears in clear.
type MFAEnroll struct {
	Identity   string `cbor:"1,keyasint" json:"identity"`
	KeyID      string `cbor:"2,keyasint" json:"key_id"`
	SealedSeed []byte `cbor:"3,keyasint" json:"sealed_seed"`
}

// TxType implements Payload.
func (*MFAEnroll) TxType() TxType { return TxMFAEnroll }

// ValidateBasic implements Payload: the ids, and a sealed seed whose header
// names KeyID.
func (p *MFAEnroll) ValidateBasic() error {
	if err := checkID("identity", p.Identity); err != nil {
		return err
	}
	if err := checkKeyID("key_id", p.KeyID); err != nil {
		return err
	}
	if len(p.SealedSeed) > MaxSealedSeedLen {
		return fmt.Errorf("%w: sealed_seed: %d bytes, limit %d", ErrInvalid, len(p.SealedSeed), MaxSealedSeedLen)
	}
	id, err := seal.FieldKeyID(p.SealedSeed)
	if err != nil {
		return fmt.Errorf("%w: sealed_seed: %v", ErrInvalid, err)
	}
	if id != p.KeyID {
		return fmt.Errorf("%w: sealed_seed: sealed under key %s, payload names key %s", ErrInvalid, id, p.KeyID)
	}
	return nil
}

// MFAReset clears identity Identity's MFA enrolment (an administrator's act,
// e.g. for a lost authenticator); the identity may then enrol again.
type MFAReset struct {
	Identity string `cbor:"1,keyasint" json:"identity"`
	Reason   string `cbor:"2,keyasint,omitempty" json:"reason,omitempty"`
}

// TxType implements Payload.
func (*MFAReset) TxType() TxType { return TxMFAReset }

// ValidateBasic implements Payload.
func (p *MFAReset) ValidateBasic() error {
	if err := checkID("identity", p.Identity); err != nil {
		return err
	}
	return checkText("reason", p.Reason)
}

// ValidateSealKey checks a node's seal (KEM) public key, when present: a
// supported algorithm and the right length for it. (Whether the KEM accepts
// the bytes shows when a member wraps to it.)
func ValidateSealKey(field string, k *seal.PublicKey) error {
	if k == nil {
		return nil
	}
	if err := k.Validate(); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrInvalid, field, err)
	}
	return nil
}

// checkKeyID accepts a data key id: KeyIDLen lowercase hex characters.
func checkKeyID(field, s string) error {
	if len(s) != KeyIDLen {
		return fmt.Errorf("%w: %s: want %d hex characters, got %d bytes", ErrInvalid, field, KeyIDLen, len(s))
	}
	for i, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return fmt.Errorf("%w: %s: character %q at %d is not lowercase hex", ErrInvalid, field, r, i)
		}
	}
	return nil
}

func newClusterKeyPayload(t TxType) Payload {
	switch t {
	case TxClusterKeyGrant:
		return new(ClusterKeyGrant)
	case TxMFAEnroll:
		return new(MFAEnroll)
	case TxMFAReset:
		return new(MFAReset)
	}
	return nil
}
