package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"io"
)

// DataKeySize is the length of a data key: AES-256.
const DataKeySize = 32

// Sealed field layout sizes (see the package doc).
const (
	keyIDSize       = 8
	gcmNonceSize    = 12
	fieldHeaderSize = 1 + keyIDSize
	// FieldOverhead is how many bytes DataKey.Seal adds to a plaintext.
	FieldOverhead = fieldHeaderSize + gcmNonceSize + gcmTagSize
)

// DataKey is a symmetric AES-256-GCM key for sealing fields under a cluster
// key or a per-patient key. Each Seal draws a fresh random 96-bit nonce, so a
// key must seal at most 2^32 values (invariant 5). A DataKey is safe for
// concurrent use; its String and GoString never show the key.
type DataKey struct {
	key  [DataKeySize]byte
	id   [keyIDSize]byte
	aead cipher.AEAD
}

// NewDataKey draws a fresh key from rand (crypto/rand.Reader in production).
func NewDataKey(rand io.Reader) (*DataKey, error) {
	var k [DataKeySize]byte
	if _, err := io.ReadFull(rand, k[:]); err != nil {
		return nil, fmt.Errorf("seal: read data key: %w", err)
	}
	return newDataKey(k[:])
}

func newDataKey(b []byte) (*DataKey, error) {
	if len(b) != DataKeySize {
		return nil, fmt.Errorf("%w: data key wants %d bytes, got %d", ErrKeySize, DataKeySize, len(b))
	}
	k := &DataKey{}
	copy(k.key[:], b)
	h := sha256.New()
	h.Write([]byte("medchain/seal/v1 data-key-id"))
	h.Write(k.key[:])
	copy(k.id[:], h.Sum(nil))
	block, err := aes.NewCipher(k.key[:])
	if err != nil {
		return nil, fmt.Errorf("seal: data key: %w", err)
	}
	// The standard library draws the nonce and prepends it to the ciphertext.
	k.aead, err = cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("seal: data key: %w", err)
	}
	return k, nil
}

// ID returns the key's public identifier (16 hex characters): a truncated
// SHA-256 of a label and the key, stored in every sealed field so that Open
// can tell a wrong key from a tampered field.
func (k *DataKey) ID() string { return hex.EncodeToString(k.id[:]) }

// String names the key by its id, never by its bytes.
func (k *DataKey) String() string { return "seal.DataKey(" + k.ID() + ")" }

// GoString is String, so %#v cannot print the key either.
func (k *DataKey) GoString() string { return k.String() }

// Equal reports whether two data keys are the same key, in constant time.
func (k *DataKey) Equal(o *DataKey) bool {
	return subtle.ConstantTimeCompare(k.key[:], o.key[:]) == 1
}

func (k *DataKey) header() []byte {
	h := make([]byte, 0, fieldHeaderSize)
	h = append(h, Version)
	return append(h, k.id[:]...)
}

// Seal encrypts plaintext and authenticates aad, which should name where the
// value belongs (e.g. "patient/p1#mrn") so a sealed field cannot be moved to
// another place unnoticed. The result is FieldOverhead bytes longer than
// plaintext.
func (k *DataKey) Seal(plaintext, aad []byte) ([]byte, error) {
	h := k.header()
	out := make([]byte, 0, FieldOverhead+len(plaintext))
	out = append(out, h...)
	return k.aead.Seal(out, nil, plaintext, append(h, aad...)), nil
}

// Open decrypts a field made by Seal with the same key and aad.
func (k *DataKey) Open(sealed, aad []byte) ([]byte, error) {
	if len(sealed) < FieldOverhead {
		return nil, fmt.Errorf("%w: sealed field of %d bytes is shorter than the %d byte minimum", ErrMalformed, len(sealed), FieldOverhead)
	}
	if sealed[0] != Version {
		return nil, fmt.Errorf("%w: sealed field version %d (this build reads %d)", ErrUnsupportedVersion, sealed[0], Version)
	}
	if subtle.ConstantTimeCompare(sealed[1:fieldHeaderSize], k.id[:]) != 1 {
		return nil, fmt.Errorf("%w: field names key %x, this is key %s", ErrWrongDataKey, sealed[1:fieldHeaderSize], k.ID())
	}
	ad := append(append([]byte(nil), sealed[:fieldHeaderSize]...), aad...)
	pt, err := k.aead.Open(nil, nil, sealed[fieldHeaderSize:], ad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// WrapKey seals dk to a node's KEM public key; aad names what the key is for
// (e.g. "cluster-key/3" or "patient-key/p1") and must be given again to
// UnwrapKey. The result is an envelope.
func WrapKey(pub PublicKey, dk *DataKey, aad []byte) ([]byte, error) {
	if dk == nil {
		return nil, fmt.Errorf("%w: nil data key", ErrInvalidKey)
	}
	return seal(pub, dk.key[:], aad, infoDataKey)
}

// UnwrapKey opens a data key wrapped by WrapKey. An envelope made by Seal does
// not unwrap (and a wrapped key does not Open): the purposes differ.
func UnwrapKey(priv *PrivateKey, wrapped, aad []byte) (*DataKey, error) {
	b, err := open(priv, wrapped, aad, infoDataKey)
	if err != nil {
		return nil, err
	}
	if len(b) != DataKeySize {
		return nil, fmt.Errorf("%w: wrapped key of %d bytes, want %d", ErrMalformed, len(b), DataKeySize)
	}
	return newDataKey(b)
}
