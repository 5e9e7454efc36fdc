package pqbench

import (
	"bytes"
	"crypto/mlkem"
	"errors"
	"fmt"
	"time"

	"github.com/cloudflare/circl/kem/mlkem/mlkem512"
	"github.com/cloudflare/circl/sign"
	"github.com/cloudflare/circl/sign/mldsa/mldsa44"
	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
	"github.com/cloudflare/circl/sign/mldsa/mldsa87"
)

// Errors returned by this package.
var (
	// ErrSelfCheck is returned when a primitive gives a wrong result during a
	// measurement (shared secrets differ, a signature does not verify).
	ErrSelfCheck = errors.New("pqbench: self-check failed")
)

// Kind says whether an algorithm is a KEM or a signature scheme.
type Kind uint8

// Kinds.
const (
	KEM       Kind = 1 + iota // key encapsulation (FIPS 203)
	Signature                 // digital signature (FIPS 204)
)

// String returns "KEM" or "signature".
func (k Kind) String() string {
	switch k {
	case KEM:
		return "KEM"
	case Signature:
		return "signature"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Operation names used in Speed.
const (
	OpKeyGen      = "keygen"
	OpEncapsulate = "encapsulate"
	OpDecapsulate = "decapsulate"
	OpSign        = "sign"
	OpVerify      = "verify"
)

// Algorithm is one catalogue entry. Sizes are in bytes.
type Algorithm struct {
	Name           string // FIPS name, e.g. "ML-KEM-768"
	Kind           Kind
	Standard       string // "FIPS 203" or "FIPS 204"
	SecurityLevel  int    // NIST post-quantum security category, 1 to 5
	PublicKeySize  int    // encapsulation key or verification key
	SecretKeySize  int    // expanded decapsulation or signing key, as FIPS defines it
	SeedSize       int    // the seed the secret key derives from (what medchain stores)
	OutputSize     int    // ciphertext size (KEM) or signature size
	Implementation string // the Go package measured
	Recommended    bool   // part of medchain's recommended pair

	newBench func() (bench, error)
}

// bench holds the three timed operations of one algorithm, bound to a fixed
// key and ciphertext or signature made by its constructor.
type bench struct {
	ops   [3]string
	funcs [3]func() error
}

// Algorithms returns the catalogue: ML-KEM-512/768/1024, then ML-DSA-44/65/87.
func Algorithms() []Algorithm {
	return []Algorithm{
		{Name: "ML-KEM-512", Kind: KEM, Standard: "FIPS 203", SecurityLevel: 1,
			PublicKeySize: 800, SecretKeySize: 1632, SeedSize: 64, OutputSize: 768,
			Implementation: "github.com/cloudflare/circl/kem/mlkem/mlkem512", newBench: benchMLKEM512},
		{Name: "ML-KEM-768", Kind: KEM, Standard: "FIPS 203", SecurityLevel: 3,
			PublicKeySize: 1184, SecretKeySize: 2400, SeedSize: 64, OutputSize: 1088,
			Implementation: "crypto/mlkem", Recommended: true, newBench: benchMLKEM768},
		{Name: "ML-KEM-1024", Kind: KEM, Standard: "FIPS 203", SecurityLevel: 5,
			PublicKeySize: 1568, SecretKeySize: 3168, SeedSize: 64, OutputSize: 1568,
			Implementation: "crypto/mlkem", newBench: benchMLKEM1024},
		{Name: "ML-DSA-44", Kind: Signature, Standard: "FIPS 204", SecurityLevel: 2,
			PublicKeySize: 1312, SecretKeySize: 2560, SeedSize: 32, OutputSize: 2420,
			Implementation: "github.com/cloudflare/circl/sign/mldsa/mldsa44", newBench: benchMLDSA(mldsa44.Scheme())},
		{Name: "ML-DSA-65", Kind: Signature, Standard: "FIPS 204", SecurityLevel: 3,
			PublicKeySize: 1952, SecretKeySize: 4032, SeedSize: 32, OutputSize: 3309,
			Implementation: "github.com/cloudflare/circl/sign/mldsa/mldsa65", Recommended: true, newBench: benchMLDSA(mldsa65.Scheme())},
		{Name: "ML-DSA-87", Kind: Signature, Standard: "FIPS 204", SecurityLevel: 5,
			PublicKeySize: 2592, SecretKeySize: 4896, SeedSize: 32, OutputSize: 4627,
			Implementation: "github.com/cloudflare/circl/sign/mldsa/mldsa87", newBench: benchMLDSA(mldsa87.Scheme())},
	}
}

// Lookup returns the catalogue entry named name (e.g. "ML-DSA-65").
func Lookup(name string) (Algorithm, bool) {
	for _, a := range Algorithms() {
		if a.Name == name {
			return a, true
		}
	}
	return Algorithm{}, false
}

// Speed is what Measure found: one entry per operation, in the order keygen,
// then encapsulate and decapsulate (KEMs) or sign and verify (signatures).
type Speed struct {
	Algorithm string
	Ops       []OpSpeed
}

// OpSpeed is the median time of one operation over Runs timed runs.
type OpSpeed struct {
	Op       string
	MedianNs int64
	Runs     int
}

// Median returns the median nanoseconds of op, or 0 if op was not measured.
func (s Speed) Median(op string) int64 {
	for _, o := range s.Ops {
		if o.Op == op {
			return o.MedianNs
		}
	}
	return 0
}

// Measure times keygen and the algorithm's two operations on this machine,
// spending about d in total (split evenly; each operation runs at least
// MinRuns times however small d is). It returns ErrSelfCheck if the primitive
// gives a wrong result.
func (a Algorithm) Measure(d time.Duration) (Speed, error) {
	if a.newBench == nil {
		return Speed{}, fmt.Errorf("pqbench: %q is not a catalogue entry", a.Name)
	}
	b, err := a.newBench()
	if err != nil {
		return Speed{}, fmt.Errorf("pqbench: %s: %w", a.Name, err)
	}
	s := Speed{Algorithm: a.Name}
	for i, op := range b.ops {
		o, err := measure(op, d/3, b.funcs[i])
		if err != nil {
			return Speed{}, fmt.Errorf("pqbench: %s %s: %w", a.Name, op, err)
		}
		s.Ops = append(s.Ops, o)
	}
	return s, nil
}

func benchMLKEM512() (bench, error) {
	s := mlkem512.Scheme()
	pk, sk, err := s.GenerateKeyPair()
	if err != nil {
		return bench{}, err
	}
	ct, ss, err := s.Encapsulate(pk)
	if err != nil {
		return bench{}, err
	}
	if got, err := s.Decapsulate(sk, ct); err != nil || !bytes.Equal(got, ss) {
		return bench{}, fmt.Errorf("%w: ML-KEM-512 shared secrets differ", ErrSelfCheck)
	}
	return bench{
		ops: [3]string{OpKeyGen, OpEncapsulate, OpDecapsulate},
		funcs: [3]func() error{
			func() error { _, _, err := s.GenerateKeyPair(); return err },
			func() error { _, _, err := s.Encapsulate(pk); return err },
			func() error { _, err := s.Decapsulate(sk, ct); return err },
		},
	}, nil
}

// stdDecapsulator is the method set crypto/mlkem's 768 and 1024 keys share.
type stdDecapsulator interface {
	Decapsulate(ciphertext []byte) (sharedKey []byte, err error)
}

func benchStdMLKEM[DK stdDecapsulator](name string, gen func() (DK, error), encaps func(DK) ([]byte, []byte)) (bench, error) {
	dk, err := gen()
	if err != nil {
		return bench{}, err
	}
	ss, ct := encaps(dk)
	if got, err := dk.Decapsulate(ct); err != nil || !bytes.Equal(got, ss) {
		return bench{}, fmt.Errorf("%w: %s shared secrets differ", ErrSelfCheck, name)
	}
	return bench{
		ops: [3]string{OpKeyGen, OpEncapsulate, OpDecapsulate},
		funcs: [3]func() error{
			func() error { _, err := gen(); return err },
			func() error { encaps(dk); return nil },
			func() error { _, err := dk.Decapsulate(ct); return err },
		},
	}, nil
}

func benchMLKEM768() (bench, error) {
	return benchStdMLKEM("ML-KEM-768", mlkem.GenerateKey768, func(dk *mlkem.DecapsulationKey768) ([]byte, []byte) {
		return dk.EncapsulationKey().Encapsulate()
	})
}

func benchMLKEM1024() (bench, error) {
	return benchStdMLKEM("ML-KEM-1024", mlkem.GenerateKey1024, func(dk *mlkem.DecapsulationKey1024) ([]byte, []byte) {
		return dk.EncapsulationKey().Encapsulate()
	})
}

var benchMessage = []byte("medchain audit event: clinician c1 read Observation/123 of patient p1 for treatment")

func benchMLDSA(s sign.Scheme) func() (bench, error) {
	return func() (bench, error) {
		pk, sk, err := s.GenerateKey()
		if err != nil {
			return bench{}, err
		}
		sig := s.Sign(sk, benchMessage, nil)
		if !s.Verify(pk, benchMessage, sig, nil) {
			return bench{}, fmt.Errorf("%w: %s signature does not verify", ErrSelfCheck, s.Name())
		}
		return bench{
			ops: [3]string{OpKeyGen, OpSign, OpVerify},
			funcs: [3]func() error{
				func() error { _, _, err := s.GenerateKey(); return err },
				func() error { s.Sign(sk, benchMessage, nil); return nil },
				func() error {
					if !s.Verify(pk, benchMessage, sig, nil) {
						return fmt.Errorf("%w: %s signature does not verify", ErrSelfCheck, s.Name())
					}
					return nil
				},
			},
		}, nil
	}
}
