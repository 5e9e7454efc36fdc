package seal

import (
	"bytes"
	"crypto/hpke"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Errors returned by this package.
var (
	// ErrUnknownAlgorithm is returned for an algorithm id or name this package does not support.
	ErrUnknownAlgorithm = errors.New("seal: unknown KEM algorithm")
	// ErrKeySize is returned for a key or seed whose length does not match its algorithm.
	ErrKeySize = errors.New("seal: key has the wrong size for its algorithm")
	// ErrInvalidKey is returned for a key of the right size that the KEM rejects.
	ErrInvalidKey = errors.New("seal: invalid key")
	// ErrAlgorithmMismatch is returned when an envelope's algorithm differs from the key's.
	ErrAlgorithmMismatch = errors.New("seal: envelope algorithm does not match the key")
	// ErrMalformed is returned for an envelope or sealed field that does not decode:
	// truncated, not canonical CBOR, or with fields of the wrong size.
	ErrMalformed = errors.New("seal: malformed envelope")
	// ErrUnsupportedVersion is returned for an envelope or sealed field of an unknown format version.
	ErrUnsupportedVersion = errors.New("seal: unsupported format version")
	// ErrDecrypt is returned when authentication fails: a wrong key, a wrong aad
	// or a tampered ciphertext. The cases are deliberately not told apart.
	ErrDecrypt = errors.New("seal: decryption failed")
	// ErrWrongDataKey is returned when a sealed field names another data key.
	ErrWrongDataKey = errors.New("seal: sealed with a different data key")
	// ErrKeyFile is returned for an unreadable, malformed or too-open key file.
	ErrKeyFile = errors.New("seal: bad key file")
	// ErrKeyDestroyed is returned by a DataKey's Seal and Open after its
	// Destroy, and by WrapKey for a destroyed key.
	ErrKeyDestroyed = errors.New("seal: data key destroyed")
)

// Algorithm identifies an HPKE KEM. The zero value is invalid.
type Algorithm uint8

// The supported KEMs. Values are part of the wire format: never renumber.
const (
	MLKEM768X25519 Algorithm = 1 + iota // ML-KEM-768 + X25519 (X-Wing), NIST level 3 (the default)
	MLKEM1024P384                       // ML-KEM-1024 + P-384, NIST level 5
	MLKEM768                            // pure ML-KEM-768, NIST level 3
)

// DefaultAlgorithm is the KEM used when none is configured.
const DefaultAlgorithm = MLKEM768X25519

// Algorithms lists every supported KEM in id order.
var Algorithms = []Algorithm{MLKEM768X25519, MLKEM1024P384, MLKEM768}

type algInfo struct {
	name    string
	kem     hpke.KEM
	seed    int // private key seed size (SerializePrivateKey output)
	pub     int // public key size
	enc     int // encapsulated key size
	level   int // NIST security category
	aliases []string
}

var algs = map[Algorithm]algInfo{
	MLKEM768X25519: {"ML-KEM-768-X25519", hpke.MLKEM768X25519(), 32, 1184 + 32, 1088 + 32, 3, []string{"mlkem768x25519", "xwing", "x25519mlkem768", ""}},
	MLKEM1024P384:  {"ML-KEM-1024-P384", hpke.MLKEM1024P384(), 32, 1568 + 97, 1568 + 97, 5, []string{"mlkem1024p384", "mlkem1024", "1024"}},
	MLKEM768:       {"ML-KEM-768", hpke.MLKEM768(), 64, 1184, 1088, 3, []string{"mlkem768", "768", "kyber768"}},
}

func (a Algorithm) info() (algInfo, error) {
	if i, ok := algs[a]; ok {
		return i, nil
	}
	return algInfo{}, fmt.Errorf("%w: id %d", ErrUnknownAlgorithm, uint8(a))
}

// String returns the name, e.g. "ML-KEM-768-X25519".
func (a Algorithm) String() string {
	if i, err := a.info(); err == nil {
		return i.name
	}
	return fmt.Sprintf("Algorithm(%d)", uint8(a))
}

// Valid reports whether a is a supported algorithm.
func (a Algorithm) Valid() bool { _, ok := algs[a]; return ok }

// HPKEID returns the RFC 9180 KEM identifier, or 0 for an unknown algorithm.
func (a Algorithm) HPKEID() uint16 {
	if i, err := a.info(); err == nil {
		return i.kem.ID()
	}
	return 0
}

// SecurityLevel returns the NIST post-quantum security category (3 or 5).
func (a Algorithm) SecurityLevel() int { i, _ := a.info(); return i.level }

// PublicKeySize returns the encoded public key size in bytes, or 0 for an unknown algorithm.
func (a Algorithm) PublicKeySize() int { i, _ := a.info(); return i.pub }

// SeedSize returns the private key seed size in bytes, or 0 for an unknown algorithm.
func (a Algorithm) SeedSize() int { i, _ := a.info(); return i.seed }

// EncSize returns the size of the KEM ciphertext in an envelope, or 0 for an unknown algorithm.
func (a Algorithm) EncSize() int { i, _ := a.info(); return i.enc }

// ParseAlgorithm accepts "ML-KEM-768-X25519" (also "xwing" and "", the
// default), "ML-KEM-1024-P384" (also "ML-KEM-1024") and "ML-KEM-768", in any
// case and with or without dashes.
func ParseAlgorithm(s string) (Algorithm, error) {
	n := strings.NewReplacer("-", "", "_", "", " ", "").Replace(strings.ToLower(strings.TrimSpace(s)))
	for _, a := range Algorithms {
		i := algs[a]
		if n == strings.ReplaceAll(strings.ToLower(i.name), "-", "") {
			return a, nil
		}
		for _, al := range i.aliases {
			if n == al {
				return a, nil
			}
		}
	}
	return 0, fmt.Errorf("%w: %q (want ML-KEM-768-X25519, ML-KEM-1024-P384 or ML-KEM-768)", ErrUnknownAlgorithm, s)
}

// MarshalText encodes the algorithm by name, for JSON and TOML.
func (a Algorithm) MarshalText() ([]byte, error) {
	if !a.Valid() {
		return nil, fmt.Errorf("%w: id %d", ErrUnknownAlgorithm, uint8(a))
	}
	return []byte(a.String()), nil
}

// UnmarshalText decodes a name accepted by ParseAlgorithm.
func (a *Algorithm) UnmarshalText(b []byte) error {
	v, err := ParseAlgorithm(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// PublicKey is an algorithm-tagged KEM public key (an encapsulation key). Its
// CBOR form is {1: algorithm, 2: key bytes}, as for signature keys.
type PublicKey struct {
	Algorithm Algorithm `cbor:"1,keyasint" json:"algorithm"`
	Key       []byte    `cbor:"2,keyasint" json:"key"`
}

// Validate checks the algorithm and the key length.
func (p PublicKey) Validate() error {
	i, err := p.Algorithm.info()
	if err != nil {
		return err
	}
	if len(p.Key) != i.pub {
		return fmt.Errorf("%w: %s wants %d bytes, got %d", ErrKeySize, p.Algorithm, i.pub, len(p.Key))
	}
	return nil
}

// Fingerprint returns the hex SHA-256 of the algorithm id and key bytes.
func (p PublicKey) Fingerprint() string {
	h := sha256.New()
	h.Write([]byte{byte(p.Algorithm)})
	h.Write(p.Key)
	return hex.EncodeToString(h.Sum(nil))
}

// Equal reports whether two keys have the same algorithm and bytes.
func (p PublicKey) Equal(o PublicKey) bool {
	return p.Algorithm == o.Algorithm && bytes.Equal(p.Key, o.Key)
}

func (p PublicKey) parse() (hpke.PublicKey, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	pk, err := algs[p.Algorithm].kem.NewPublicKey(p.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: %s public key: %v", ErrInvalidKey, p.Algorithm, err)
	}
	return pk, nil
}

// PrivateKey is a KEM private key (a decapsulation key) derived from a seed.
// It is safe for concurrent use. Its String and GoString never show the seed.
type PrivateKey struct {
	alg  Algorithm
	seed []byte
	sk   hpke.PrivateKey
	pub  PublicKey
}

// GenerateKey draws a seed of alg.SeedSize() bytes from rand and derives a key.
// Pass a deterministic reader in tests to get reproducible keys.
func GenerateKey(alg Algorithm, rand io.Reader) (*PrivateKey, error) {
	i, err := alg.info()
	if err != nil {
		return nil, err
	}
	seed := make([]byte, i.seed)
	if _, err := io.ReadFull(rand, seed); err != nil {
		return nil, fmt.Errorf("seal: read seed: %w", err)
	}
	return NewKeyFromSeed(alg, seed)
}

// NewKeyFromSeed derives the key for alg from seed (the RFC 9180
// SerializePrivateKey form: 32 bytes for the hybrids, 64 for ML-KEM-768).
func NewKeyFromSeed(alg Algorithm, seed []byte) (*PrivateKey, error) {
	i, err := alg.info()
	if err != nil {
		return nil, err
	}
	if len(seed) != i.seed {
		return nil, fmt.Errorf("%w: %s seed wants %d bytes, got %d", ErrKeySize, alg, i.seed, len(seed))
	}
	sk, err := i.kem.NewPrivateKey(seed)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalidKey, alg, err)
	}
	return &PrivateKey{
		alg:  alg,
		seed: bytes.Clone(seed),
		sk:   sk,
		pub:  PublicKey{Algorithm: alg, Key: sk.PublicKey().Bytes()},
	}, nil
}

// Algorithm returns the key's algorithm.
func (k *PrivateKey) Algorithm() Algorithm { return k.alg }

// Public returns the public half. The returned key shares no memory with k.
func (k *PrivateKey) Public() PublicKey {
	return PublicKey{Algorithm: k.pub.Algorithm, Key: bytes.Clone(k.pub.Key)}
}

// String names the key by algorithm and public fingerprint, never by its seed.
func (k PrivateKey) String() string {
	return fmt.Sprintf("seal.PrivateKey(%s %s)", k.alg, k.pub.Fingerprint()[:16])
}

// GoString is String, so %#v cannot print the seed either.
func (k PrivateKey) GoString() string { return k.String() }
