package crypto

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// testRand returns a deterministic reader so test keys are reproducible.
func testRand(seed uint64) *rand.ChaCha8 {
	var s [32]byte
	s[0] = byte(seed)
	return rand.NewChaCha8(s)
}

func TestSignVerifyEveryAlgorithm(t *testing.T) {
	for _, alg := range Algorithms {
		t.Run(alg.String(), func(t *testing.T) {
			k, err := GenerateKey(alg, testRand(1))
			if err != nil {
				t.Fatal(err)
			}
			msg := []byte("audit event")
			sig, err := k.Sign(msg)
			if err != nil {
				t.Fatal(err)
			}
			if len(sig.Sig) != alg.SignatureSize() || sig.Algorithm != alg {
				t.Fatalf("signature: alg %v len %d", sig.Algorithm, len(sig.Sig))
			}
			if err := Verify(k.Public(), msg, sig); err != nil {
				t.Fatalf("valid signature rejected: %v", err)
			}
			if err := Verify(k.Public(), []byte("other"), sig); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("wrong message: got %v, want ErrBadSignature", err)
			}
			again, _ := k.Sign(msg)
			if !bytes.Equal(again.Sig, sig.Sig) {
				t.Fatal("signing is not deterministic")
			}
		})
	}
}

func TestVerifyRejectsMalformed(t *testing.T) {
	k, _ := GenerateKey(MLDSA65, testRand(2))
	k44, _ := GenerateKey(MLDSA44, testRand(3))
	msg := []byte("m")
	sig, _ := k.Sign(msg)
	tests := []struct {
		name string
		pub  PublicKey
		sig  Signature
		want error
	}{
		{"unknown key algorithm", PublicKey{Algorithm: 9, Key: k.Public().Key}, sig, ErrUnknownAlgorithm},
		{"short key", PublicKey{Algorithm: MLDSA65, Key: k.Public().Key[:10]}, sig, ErrKeySize},
		{"short signature", k.Public(), Signature{Algorithm: MLDSA65, Sig: sig.Sig[:100]}, ErrSignatureSize},
		{"empty signature", k.Public(), Signature{Algorithm: MLDSA65}, ErrSignatureSize},
		{"algorithm mismatch", k44.Public(), sig, ErrAlgorithmMismatch},
		{"flipped bit", k.Public(), Signature{Algorithm: MLDSA65, Sig: flip(sig.Sig, 40)}, ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Verify(tt.pub, msg, tt.sig); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func flip(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 1
	return c
}

func TestParseAlgorithm(t *testing.T) {
	for in, want := range map[string]Algorithm{"ML-DSA-44": MLDSA44, "mldsa65": MLDSA65, "dilithium3": MLDSA65, "87": MLDSA87, "": MLDSA65} {
		if got, err := ParseAlgorithm(in); err != nil || got != want {
			t.Errorf("ParseAlgorithm(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseAlgorithm("rsa"); !errors.Is(err, ErrUnknownAlgorithm) {
		t.Errorf("rsa: got %v", err)
	}
}

func TestKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys", "admin.key")
	k, _ := GenerateKey(MLDSA87, testRand(4))
	if err := SaveKey(path, k); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %04o, want 0600", st.Mode().Perm())
	}
	got, err := LoadKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Public().Equal(k.Public()) || got.Algorithm() != MLDSA87 {
		t.Fatal("loaded key differs")
	}
	if err := SaveKey(path, k); err == nil {
		t.Fatal("SaveKey overwrote an existing key")
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKey(path); !errors.Is(err, ErrKeyFile) {
		t.Fatalf("world-readable key: got %v, want ErrKeyFile", err)
	}
}

func BenchmarkVerifyMLDSA65(b *testing.B) {
	k, _ := GenerateKey(MLDSA65, testRand(5))
	msg := make([]byte, 600)
	sig, _ := k.Sign(msg)
	pub := k.Public()
	for b.Loop() {
		if err := Verify(pub, msg, sig); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSignMLDSA65(b *testing.B) {
	k, _ := GenerateKey(MLDSA65, testRand(6))
	msg := make([]byte, 600)
	for b.Loop() {
		if _, err := k.Sign(msg); err != nil {
			b.Fatal(err)
		}
	}
}
