package pqbench

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/mlkem"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
)

// Operations compared, in the order of Comparison.Rows.
const (
	OpSeal1KB = "seal 1 KB"
	OpOpen1KB = "open 1 KB"
)

// Comparison is Compare's result: one row per operation.
type Comparison struct {
	Budget time.Duration // the time Compare was given
	Rows   []Row
}

// Row compares one operation between a post-quantum algorithm and the
// classical one it replaces. Bytes are what travels: the sealed message
// (encapsulated key, ciphertext and tag), the signature, or the KEM
// ciphertext or ephemeral public key.
type Row struct {
	Operation        string // OpSeal1KB, OpOpen1KB, OpSign, OpVerify, OpEncapsulate, OpDecapsulate
	PostQuantum      string
	Classical        string
	PostQuantumNs    int64 // median
	ClassicalNs      int64 // median
	PostQuantumBytes int
	ClassicalBytes   int
	// OverheadPercent is (PostQuantumNs - ClassicalNs) / ClassicalNs * 100:
	// how much slower the post-quantum operation is (negative if faster).
	OverheadPercent float64
}

// Overhead returns (pq - classical) / classical * 100, or 0 if classical is 0.
func Overhead(pq, classical int64) float64 {
	if classical == 0 {
		return 0
	}
	return float64(pq-classical) / float64(classical) * 100
}

// compareInfo is the HPKE info string of the comparison's seal and open.
var compareInfo = []byte("medchain/pqbench")

// Compare measures, on this machine and in about d in total:
//
//   - seal and open of 1 KB: HPKE MLKEM768-X25519 vs HPKE DHKEM(X25519),
//     both with HKDF-SHA256 and AES-256-GCM (crypto/hpke);
//   - sign and verify: ML-DSA-65 (circl) vs Ed25519 (crypto/ed25519);
//   - encapsulate and decapsulate: ML-KEM-768 (crypto/mlkem) vs an X25519
//     ECDH exchange with an ephemeral key (crypto/ecdh).
//
// It returns ErrSelfCheck if any primitive gives a wrong result.
func Compare(d time.Duration) (Comparison, error) {
	type side struct {
		name string
		sideOps
	}
	type pair struct {
		ops     [2]string
		pq, cls side
	}
	var pairs []pair
	for _, mk := range []func() (pair, error){
		func() (pair, error) {
			pq, err := hpkeSide(hpke.MLKEM768X25519())
			if err != nil {
				return pair{}, err
			}
			cls, err := hpkeSide(hpke.DHKEM(ecdh.X25519()))
			if err != nil {
				return pair{}, err
			}
			return pair{[2]string{OpSeal1KB, OpOpen1KB},
				side{"HPKE MLKEM768-X25519", pq}, side{"HPKE DHKEM(X25519)", cls}}, nil
		},
		func() (pair, error) {
			pq, err := mldsaSide()
			if err != nil {
				return pair{}, err
			}
			cls, err := ed25519Side()
			if err != nil {
				return pair{}, err
			}
			return pair{[2]string{OpSign, OpVerify},
				side{"ML-DSA-65", pq}, side{"Ed25519", cls}}, nil
		},
		func() (pair, error) {
			pq, err := mlkemSide()
			if err != nil {
				return pair{}, err
			}
			cls, err := x25519Side()
			if err != nil {
				return pair{}, err
			}
			return pair{[2]string{OpEncapsulate, OpDecapsulate},
				side{"ML-KEM-768", pq}, side{"X25519 ECDH", cls}}, nil
		},
	} {
		p, err := mk()
		if err != nil {
			return Comparison{}, fmt.Errorf("pqbench: compare: %w", err)
		}
		pairs = append(pairs, p)
	}

	per := d / time.Duration(4*len(pairs))
	c := Comparison{Budget: d}
	for _, p := range pairs {
		for i, op := range p.ops {
			pq, err := measure(op, per, p.pq.ops[i])
			if err != nil {
				return Comparison{}, fmt.Errorf("pqbench: compare %s %s: %w", p.pq.name, op, err)
			}
			cls, err := measure(op, per, p.cls.ops[i])
			if err != nil {
				return Comparison{}, fmt.Errorf("pqbench: compare %s %s: %w", p.cls.name, op, err)
			}
			c.Rows = append(c.Rows, Row{
				Operation: op, PostQuantum: p.pq.name, Classical: p.cls.name,
				PostQuantumNs: pq.MedianNs, ClassicalNs: cls.MedianNs,
				PostQuantumBytes: p.pq.bytes, ClassicalBytes: p.cls.bytes,
				OverheadPercent: Overhead(pq.MedianNs, cls.MedianNs),
			})
		}
	}
	return c, nil
}

// sideOps is one algorithm's two timed operations and the bytes they send.
type sideOps struct {
	bytes int
	ops   [2]func() error
}

func hpkeSide(kem hpke.KEM) (sideOps, error) {
	sk, err := kem.GenerateKey()
	if err != nil {
		return sideOps{}, err
	}
	pk := sk.PublicKey()
	pt := bytes.Repeat([]byte{'m'}, 1024)
	kdf, aead := hpke.HKDFSHA256(), hpke.AES256GCM()
	sealed, err := hpke.Seal(pk, kdf, aead, compareInfo, pt)
	if err != nil {
		return sideOps{}, err
	}
	if got, err := hpke.Open(sk, kdf, aead, compareInfo, sealed); err != nil || !bytes.Equal(got, pt) {
		return sideOps{}, fmt.Errorf("%w: HPKE KEM %#x does not open what it sealed", ErrSelfCheck, kem.ID())
	}
	return sideOps{len(sealed), [2]func() error{
		func() error { _, err := hpke.Seal(pk, kdf, aead, compareInfo, pt); return err },
		func() error { _, err := hpke.Open(sk, kdf, aead, compareInfo, sealed); return err },
	}}, nil
}

func mldsaSide() (sideOps, error) {
	pk, sk, err := mldsa65.GenerateKey(rand.Reader)
	if err != nil {
		return sideOps{}, err
	}
	sig := make([]byte, mldsa65.SignatureSize)
	if err := mldsa65.SignTo(sk, benchMessage, nil, false, sig); err != nil {
		return sideOps{}, err
	}
	if !mldsa65.Verify(pk, benchMessage, nil, sig) {
		return sideOps{}, fmt.Errorf("%w: ML-DSA-65 signature does not verify", ErrSelfCheck)
	}
	buf := make([]byte, mldsa65.SignatureSize)
	return sideOps{len(sig), [2]func() error{
		func() error { return mldsa65.SignTo(sk, benchMessage, nil, false, buf) },
		func() error {
			if !mldsa65.Verify(pk, benchMessage, nil, sig) {
				return fmt.Errorf("%w: ML-DSA-65 signature does not verify", ErrSelfCheck)
			}
			return nil
		},
	}}, nil
}

func ed25519Side() (sideOps, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return sideOps{}, err
	}
	sig := ed25519.Sign(priv, benchMessage)
	if !ed25519.Verify(pub, benchMessage, sig) {
		return sideOps{}, fmt.Errorf("%w: Ed25519 signature does not verify", ErrSelfCheck)
	}
	return sideOps{len(sig), [2]func() error{
		func() error { ed25519.Sign(priv, benchMessage); return nil },
		func() error {
			if !ed25519.Verify(pub, benchMessage, sig) {
				return fmt.Errorf("%w: Ed25519 signature does not verify", ErrSelfCheck)
			}
			return nil
		},
	}}, nil
}

func mlkemSide() (sideOps, error) {
	dk, err := mlkem.GenerateKey768()
	if err != nil {
		return sideOps{}, err
	}
	ek := dk.EncapsulationKey()
	ss, ct := ek.Encapsulate()
	if got, err := dk.Decapsulate(ct); err != nil || !bytes.Equal(got, ss) {
		return sideOps{}, fmt.Errorf("%w: ML-KEM-768 shared secrets differ", ErrSelfCheck)
	}
	return sideOps{len(ct), [2]func() error{
		func() error { ek.Encapsulate(); return nil },
		func() error { _, err := dk.Decapsulate(ct); return err },
	}}, nil
}

// x25519Side is X25519 used as a KEM, as DHKEM does: encapsulate draws an
// ephemeral key and computes the shared secret with the recipient's public
// key; decapsulate computes it from the recipient's private key and the
// ephemeral public key.
func x25519Side() (sideOps, error) {
	curve := ecdh.X25519()
	recipient, err := curve.GenerateKey(rand.Reader)
	if err != nil {
		return sideOps{}, err
	}
	rpub := recipient.PublicKey()
	encaps := func() ([]byte, []byte, error) {
		eph, err := curve.GenerateKey(rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		ss, err := eph.ECDH(rpub)
		return ss, eph.PublicKey().Bytes(), err
	}
	ss, ct, err := encaps()
	if err != nil {
		return sideOps{}, err
	}
	ephPub, err := curve.NewPublicKey(ct)
	if err != nil {
		return sideOps{}, err
	}
	if got, err := recipient.ECDH(ephPub); err != nil || !bytes.Equal(got, ss) {
		return sideOps{}, fmt.Errorf("%w: X25519 shared secrets differ", ErrSelfCheck)
	}
	return sideOps{len(ct), [2]func() error{
		func() error { _, _, err := encaps(); return err },
		func() error {
			p, err := curve.NewPublicKey(ct)
			if err != nil {
				return err
			}
			_, err = recipient.ECDH(p)
			return err
		},
	}}, nil
}
