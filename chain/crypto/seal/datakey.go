package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
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
// concurrent use; its String and GoString never show the key. Destroy ends
// its use: every later Seal, Open and MAC fails or panics as documented.
type DataKey struct {
	key  [DataKeySize]byte // zeroed by Destroy
	id   [keyIDSize]byte
	aead atomic.Pointer[aeadRef] // nil once destroyed

	macMu sync.Mutex
	// guards the following
	macs map[string]*KeyedMAC // by label (mac.go); emptied by Destroy
}

// aeadRef boxes the AEAD so that Destroy can drop it atomically.
type aeadRef struct{ cipher.AEAD }

// NewDataKey draws a fresh key from rand (crypto/rand.Reader in production).
func NewDataKey(rand io.Reader) (*DataKey, error) {
	var k [DataKeySize]byte
	defer clear(k[:])
	if _, err := io.ReadFull(rand, k[:]); err != nil {
		return nil, fmt.Errorf("seal: read data key: %w", err)
	}
	return newDataKey(k[:])
}

// DataKeyFrom returns the data key whose bytes are b (DataKeySize bytes, as
// a key unwrapped from storage). The key is copied: the caller should clear
// b when done with it.
func DataKeyFrom(b []byte) (*DataKey, error) { return newDataKey(b) }

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
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("seal: data key: %w", err)
	}
	k.aead.Store(&aeadRef{aead})
	return k, nil
}

// Destroy zeroes the key bytes and drops the cipher state and the MAC
// states derived from the key, so that nothing reachable from k holds the
// key any more: later Seal and Open return ErrKeyDestroyed, and MAC panics
// (its callers hold keys that are never destroyed). It is safe to call
// concurrently with those methods and more than once. The standard
// library's AES and HMAC states cannot be zeroed from outside; after
// Destroy they are unreachable and their memory is reclaimed by the garbage
// collector.
func (k *DataKey) Destroy() {
	k.aead.Store(nil)
	k.macMu.Lock()
	clear(k.key[:])
	k.macs = nil
	k.macMu.Unlock()
}

// Destroyed reports whether Destroy was called.
func (k *DataKey) Destroyed() bool { return k.aead.Load() == nil }

// ID returns the key's public identifier (16 hex characters): a truncated
// SHA-256 of a label and the key, stored in every sealed field so that Open
// can tell a wrong key from a tampered field.
func (k *DataKey) ID() string { return hex.EncodeToString(k.id[:]) }

// String names the key by its id, never by its bytes.
func (k *DataKey) String() string { return "seal.DataKey(" + k.ID() + ")" }

// GoString is String, so %#v cannot print the key either.
func (k *DataKey) GoString() string { return k.String() }

// Equal reports whether two data keys are the same key, in constant time.
// It must not run concurrently with Destroy of either key.
func (k *DataKey) Equal(o *DataKey) bool {
	return subtle.ConstantTimeCompare(k.key[:], o.key[:]) == 1
}

// Seal encrypts plaintext and authenticates aad, which should name where the
// value belongs (e.g. "patient/p1#mrn") so a sealed field cannot be moved to
// another place unnoticed. The result is FieldOverhead bytes longer than
// plaintext. aad is not retained. ErrKeyDestroyed after Destroy.
func (k *DataKey) Seal(plaintext, aad []byte) ([]byte, error) {
	a := k.aead.Load()
	if a == nil {
		return nil, ErrKeyDestroyed
	}
	// One allocation: the sealed field, then (past its capacity, so the
	// AEAD cannot write into it) the additional data header || aad.
	n := FieldOverhead + len(plaintext)
	buf := make([]byte, n+fieldHeaderSize+len(aad))
	ad := buf[n:n]
	ad = append(append(append(ad, Version), k.id[:]...), aad...)
	out := append(buf[:0:n], ad[:fieldHeaderSize]...)
	return a.Seal(out, nil, plaintext, ad), nil
}

// Open decrypts a field made by Seal with the same key and aad.
// ErrKeyDestroyed after Destroy.
func (k *DataKey) Open(sealed, aad []byte) ([]byte, error) {
	a := k.aead.Load()
	if a == nil {
		return nil, ErrKeyDestroyed
	}
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
	pt, err := a.Open(nil, nil, sealed[fieldHeaderSize:], ad)
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
	if dk.Destroyed() {
		return nil, ErrKeyDestroyed
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
