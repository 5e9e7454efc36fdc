package crypto

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/cloudflare/circl/sign"
	"github.com/cloudflare/circl/sign/mldsa/mldsa44"
	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
	"github.com/cloudflare/circl/sign/mldsa/mldsa87"
)

// Errors returned by this package.
var (
	// ErrUnknownAlgorithm is returned for an algorithm id or name that is not ML-DSA-44/65/87.
	ErrUnknownAlgorithm = errors.New("crypto: unknown signature algorithm")
	// ErrKeySize is returned for a public key whose length does not match its algorithm.
	ErrKeySize = errors.New("crypto: public key has the wrong size for its algorithm")
	// ErrSignatureSize is returned for a signature whose length does not match its algorithm.
	ErrSignatureSize = errors.New("crypto: signature has the wrong size for its algorithm")
	// ErrAlgorithmMismatch is returned when a signature's algorithm differs from the key's.
	ErrAlgorithmMismatch = errors.New("crypto: signature algorithm does not match the key")
	// ErrBadSignature is returned when a well-formed signature does not verify.
	ErrBadSignature = errors.New("crypto: signature does not verify")
	// ErrKeyFile is returned for an unreadable, malformed or too-open key file.
	ErrKeyFile = errors.New("crypto: bad key file")
)

// Algorithm identifies a signature algorithm. The zero value is invalid.
type Algorithm uint8

// The supported algorithms. Values are part of the wire format: never renumber.
const (
	MLDSA44 Algorithm = 1 + iota // ML-DSA-44, NIST security level 2
	MLDSA65                      // ML-DSA-65, NIST security level 3 (the default)
	MLDSA87                      // ML-DSA-87, NIST security level 5
)

// DefaultAlgorithm is the algorithm used when none is configured.
const DefaultAlgorithm = MLDSA65

// Algorithms lists every supported algorithm in id order.
var Algorithms = []Algorithm{MLDSA44, MLDSA65, MLDSA87}

func (a Algorithm) scheme() (sign.Scheme, error) {
	switch a {
	case MLDSA44:
		return mldsa44.Scheme(), nil
	case MLDSA65:
		return mldsa65.Scheme(), nil
	case MLDSA87:
		return mldsa87.Scheme(), nil
	}
	return nil, fmt.Errorf("%w: id %d", ErrUnknownAlgorithm, uint8(a))
}

// String returns the FIPS 204 name, e.g. "ML-DSA-65".
func (a Algorithm) String() string {
	if s, err := a.scheme(); err == nil {
		return s.Name()
	}
	return fmt.Sprintf("Algorithm(%d)", uint8(a))
}

// Valid reports whether a is a supported algorithm.
func (a Algorithm) Valid() bool { _, err := a.scheme(); return err == nil }

// SecurityLevel returns the NIST post-quantum security category (2, 3 or 5).
func (a Algorithm) SecurityLevel() int {
	switch a {
	case MLDSA44:
		return 2
	case MLDSA65:
		return 3
	case MLDSA87:
		return 5
	}
	return 0
}

// PublicKeySize returns the encoded public key size in bytes, or 0 for an unknown algorithm.
func (a Algorithm) PublicKeySize() int {
	if s, err := a.scheme(); err == nil {
		return s.PublicKeySize()
	}
	return 0
}

// SignatureSize returns the signature size in bytes, or 0 for an unknown algorithm.
func (a Algorithm) SignatureSize() int {
	if s, err := a.scheme(); err == nil {
		return s.SignatureSize()
	}
	return 0
}

// ParseAlgorithm accepts "ML-DSA-65", "mldsa65", "65" or "dilithium3" (and the other levels).
func ParseAlgorithm(s string) (Algorithm, error) {
	n := strings.NewReplacer("-", "", "_", "").Replace(strings.ToLower(strings.TrimSpace(s)))
	switch n {
	case "mldsa44", "44", "dilithium2":
		return MLDSA44, nil
	case "mldsa65", "65", "dilithium3", "":
		return MLDSA65, nil
	case "mldsa87", "87", "dilithium5":
		return MLDSA87, nil
	}
	return 0, fmt.Errorf("%w: %q (want ML-DSA-44, ML-DSA-65 or ML-DSA-87)", ErrUnknownAlgorithm, s)
}

// MarshalText encodes the algorithm by name, for JSON and TOML.
func (a Algorithm) MarshalText() ([]byte, error) {
	if !a.Valid() {
		return nil, fmt.Errorf("%w: id %d", ErrUnknownAlgorithm, uint8(a))
	}
	return []byte(a.String()), nil
}

// UnmarshalText decodes an algorithm name accepted by ParseAlgorithm.
func (a *Algorithm) UnmarshalText(b []byte) error {
	v, err := ParseAlgorithm(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// PublicKey is an algorithm-tagged ML-DSA public key. Its CBOR form is part of
// signed data: {1: algorithm, 2: key bytes}.
type PublicKey struct {
	Algorithm Algorithm `cbor:"1,keyasint" json:"algorithm"`
	Key       []byte    `cbor:"2,keyasint" json:"key"`
}

// Validate checks the algorithm and the key length.
func (p PublicKey) Validate() error {
	if !p.Algorithm.Valid() {
		return fmt.Errorf("%w: id %d", ErrUnknownAlgorithm, uint8(p.Algorithm))
	}
	if len(p.Key) != p.Algorithm.PublicKeySize() {
		return fmt.Errorf("%w: %s wants %d bytes, got %d", ErrKeySize, p.Algorithm, p.Algorithm.PublicKeySize(), len(p.Key))
	}
	return nil
}

// Fingerprint returns the hex SHA-256 of the algorithm id and key bytes; it
// names a key in logs and on chain without repeating kilobytes.
func (p PublicKey) Fingerprint() string {
	h := sha256.New()
	h.Write([]byte{byte(p.Algorithm)})
	h.Write(p.Key)
	return hex.EncodeToString(h.Sum(nil))
}

// Equal reports whether two keys have the same algorithm and bytes.
func (p PublicKey) Equal(o PublicKey) bool {
	return p.Algorithm == o.Algorithm && string(p.Key) == string(o.Key)
}

// Signature is an algorithm-tagged ML-DSA signature: {1: algorithm, 2: bytes}.
type Signature struct {
	Algorithm Algorithm `cbor:"1,keyasint" json:"algorithm"`
	Sig       []byte    `cbor:"2,keyasint" json:"sig"`
}

// Validate checks the algorithm and the signature length.
func (s Signature) Validate() error {
	if !s.Algorithm.Valid() {
		return fmt.Errorf("%w: id %d", ErrUnknownAlgorithm, uint8(s.Algorithm))
	}
	if len(s.Sig) != s.Algorithm.SignatureSize() {
		return fmt.Errorf("%w: %s wants %d bytes, got %d", ErrSignatureSize, s.Algorithm, s.Algorithm.SignatureSize(), len(s.Sig))
	}
	return nil
}

// PrivateKey is an ML-DSA private key derived from a 32-byte seed. It is safe
// for concurrent use.
type PrivateKey struct {
	alg  Algorithm
	seed [32]byte
	sk   sign.PrivateKey
	pub  PublicKey
}

// GenerateKey draws a seed from rand and derives a key. Pass a deterministic
// reader in tests to get reproducible keys.
func GenerateKey(alg Algorithm, rand io.Reader) (*PrivateKey, error) {
	var seed [32]byte
	if _, err := io.ReadFull(rand, seed[:]); err != nil {
		return nil, fmt.Errorf("crypto: read seed: %w", err)
	}
	return NewKeyFromSeed(alg, seed)
}

// NewKeyFromSeed derives the key for alg from seed.
func NewKeyFromSeed(alg Algorithm, seed [32]byte) (*PrivateKey, error) {
	s, err := alg.scheme()
	if err != nil {
		return nil, err
	}
	pk, sk := s.DeriveKey(seed[:])
	pkb, err := pk.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("crypto: marshal public key: %w", err)
	}
	k := &PrivateKey{alg: alg, seed: seed, sk: sk, pub: PublicKey{Algorithm: alg, Key: pkb}}
	cachePut(k.pub, pk)
	return k, nil
}

// Algorithm returns the key's algorithm.
func (k *PrivateKey) Algorithm() Algorithm { return k.alg }

// Public returns the public half. The returned key shares no memory with k.
func (k *PrivateKey) Public() PublicKey {
	return PublicKey{Algorithm: k.pub.Algorithm, Key: append([]byte(nil), k.pub.Key...)}
}

// Sign signs msg deterministically.
func (k *PrivateKey) Sign(msg []byte) (Signature, error) {
	s, err := k.alg.scheme()
	if err != nil {
		return Signature{}, err
	}
	return Signature{Algorithm: k.alg, Sig: s.Sign(k.sk, msg, nil)}, nil
}

// Verify checks sig over msg against pub. It returns nil only for a valid
// signature; malformed keys and signatures are reported, never panicked on.
func Verify(pub PublicKey, msg []byte, sig Signature) error {
	if err := pub.Validate(); err != nil {
		return err
	}
	if err := sig.Validate(); err != nil {
		return err
	}
	if sig.Algorithm != pub.Algorithm {
		return fmt.Errorf("%w: key is %s, signature is %s", ErrAlgorithmMismatch, pub.Algorithm, sig.Algorithm)
	}
	pk, err := parsePublic(pub)
	if err != nil {
		return err
	}
	s, _ := pub.Algorithm.scheme()
	if !s.Verify(pk, msg, sig.Sig, nil) {
		return ErrBadSignature
	}
	return nil
}

// Parsing an ML-DSA public key expands its matrix, which costs about as much
// as a verification; identities are few, so parsed keys are cached.
const maxCachedKeys = 4096

var (
	cacheMu sync.RWMutex
	// guards the following
	keyCache = make(map[string]sign.PublicKey)
)

func cacheKey(p PublicKey) string { return string(rune(p.Algorithm)) + string(p.Key) }

func cachePut(p PublicKey, pk sign.PublicKey) {
	cacheMu.Lock()
	if len(keyCache) >= maxCachedKeys {
		clear(keyCache)
	}
	keyCache[cacheKey(p)] = pk
	cacheMu.Unlock()
}

func parsePublic(p PublicKey) (sign.PublicKey, error) {
	k := cacheKey(p)
	cacheMu.RLock()
	pk, ok := keyCache[k]
	cacheMu.RUnlock()
	if ok {
		return pk, nil
	}
	s, err := p.Algorithm.scheme()
	if err != nil {
		return nil, err
	}
	pk, err = s.UnmarshalBinaryPublicKey(p.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeySize, err)
	}
	cachePut(p, pk)
	return pk, nil
}
