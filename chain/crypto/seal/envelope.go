package seal

import (
	"crypto/hpke"
	"fmt"

	"github.com/medchain/medchain/chain/codec"
)

// Version is the envelope and sealed-field format version this package writes.
const Version = 1

// MaxEnvelopeSize bounds what DecodeEnvelope accepts (16 MiB): a sealed value
// is a field or a key, never a bulk object.
const MaxEnvelopeSize = 16 << 20

// gcmTagSize is the AES-GCM authentication tag length.
const gcmTagSize = 16

// Purposes bound into the HPKE info string, so a message envelope never opens
// as a wrapped key and the reverse (invariant 2).
const (
	infoMessage = "medchain/seal/v1 message"
	infoDataKey = "medchain/seal/v1 data-key"
)

// The fixed KDF and AEAD of every suite.
var (
	suiteKDF  = hpke.HKDFSHA256()
	suiteAEAD = hpke.AES256GCM()
)

// Envelope is a sealed message: the KEM's encapsulated key and the AEAD
// ciphertext, tagged with the format version and the KEM algorithm.
type Envelope struct {
	Version    uint8     `cbor:"1,keyasint" json:"version"`
	Algorithm  Algorithm `cbor:"2,keyasint" json:"algorithm"`
	Enc        []byte    `cbor:"3,keyasint" json:"enc"`
	Ciphertext []byte    `cbor:"4,keyasint" json:"ciphertext"`
}

// ValidateBasic checks the version, the algorithm and the field sizes.
func (e *Envelope) ValidateBasic() error {
	if e.Version != Version {
		return fmt.Errorf("%w: envelope version %d (this build reads %d)", ErrUnsupportedVersion, e.Version, Version)
	}
	i, err := e.Algorithm.info()
	if err != nil {
		return err
	}
	if len(e.Enc) != i.enc {
		return fmt.Errorf("%w: %s enc wants %d bytes, got %d", ErrMalformed, e.Algorithm, i.enc, len(e.Enc))
	}
	if len(e.Ciphertext) < gcmTagSize {
		return fmt.Errorf("%w: ciphertext of %d bytes is shorter than the %d byte tag", ErrMalformed, len(e.Ciphertext), gcmTagSize)
	}
	return nil
}

// Encode returns the deterministic CBOR form.
func (e *Envelope) Encode() ([]byte, error) {
	return codec.Marshal(e)
}

// DecodeEnvelope decodes and validates an envelope. It never panics; every
// failure wraps ErrMalformed, ErrUnsupportedVersion or ErrUnknownAlgorithm.
func DecodeEnvelope(b []byte) (*Envelope, error) {
	if len(b) > MaxEnvelopeSize {
		return nil, fmt.Errorf("%w: %d bytes exceeds the %d byte limit", ErrMalformed, len(b), MaxEnvelopeSize)
	}
	var e Envelope
	if err := codec.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := e.ValidateBasic(); err != nil {
		return nil, err
	}
	return &e, nil
}

// Seal encrypts plaintext to pub and authenticates aad (which is not stored
// in the envelope: Open needs the same aad). It returns the encoded envelope.
func Seal(pub PublicKey, plaintext, aad []byte) ([]byte, error) {
	return seal(pub, plaintext, aad, infoMessage)
}

// Open decrypts an envelope made by Seal for priv's public key with the same aad.
func Open(priv *PrivateKey, envelope, aad []byte) ([]byte, error) {
	return open(priv, envelope, aad, infoMessage)
}

func seal(pub PublicKey, plaintext, aad []byte, info string) ([]byte, error) {
	pk, err := pub.parse()
	if err != nil {
		return nil, err
	}
	enc, s, err := hpke.NewSender(pk, suiteKDF, suiteAEAD, []byte(info))
	if err != nil {
		return nil, fmt.Errorf("seal: %s encapsulate: %w", pub.Algorithm, err)
	}
	ct, err := s.Seal(aad, plaintext)
	if err != nil {
		return nil, fmt.Errorf("seal: encrypt: %w", err)
	}
	e := Envelope{Version: Version, Algorithm: pub.Algorithm, Enc: enc, Ciphertext: ct}
	return e.Encode()
}

func open(priv *PrivateKey, envelope, aad []byte, info string) ([]byte, error) {
	if priv == nil || priv.sk == nil {
		return nil, fmt.Errorf("%w: nil private key", ErrInvalidKey)
	}
	e, err := DecodeEnvelope(envelope)
	if err != nil {
		return nil, err
	}
	if e.Algorithm != priv.alg {
		return nil, fmt.Errorf("%w: key is %s, envelope is %s", ErrAlgorithmMismatch, priv.alg, e.Algorithm)
	}
	r, err := hpke.NewRecipient(e.Enc, priv.sk, suiteKDF, suiteAEAD, []byte(info))
	if err != nil {
		// A hybrid KEM rejects an invalid curve point here; ML-KEM itself
		// rejects implicitly and fails at the AEAD below.
		return nil, fmt.Errorf("%w: decapsulate: %v", ErrDecrypt, err)
	}
	pt, err := r.Open(aad, e.Ciphertext)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}
