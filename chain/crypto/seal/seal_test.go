package seal

import (
	"bytes"
	"crypto/hpke"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/medchain/medchain/chain/codec"
)

// testRand returns a deterministic reader so test keys are reproducible.
func testRand(seed uint64) *rand.ChaCha8 {
	var s [32]byte
	s[0] = byte(seed)
	s[1] = byte(seed >> 8)
	return rand.NewChaCha8(s)
}

func testKey(t testing.TB, alg Algorithm, seed uint64) *PrivateKey {
	t.Helper()
	k, err := GenerateKey(alg, testRand(seed))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpenRoundTripEveryAlgorithm(t *testing.T) {
	for _, alg := range Algorithms {
		t.Run(alg.String(), func(t *testing.T) {
			k := testKey(t, alg, 1)
			if got := len(k.Public().Key); got != alg.PublicKeySize() {
				t.Fatalf("public key %d bytes, PublicKeySize says %d", got, alg.PublicKeySize())
			}
			for _, pt := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte("PHI "), 1024)} {
				aad := []byte("patient/p1#note")
				env, err := Seal(k.Public(), pt, aad)
				if err != nil {
					t.Fatal(err)
				}
				e, err := DecodeEnvelope(env)
				if err != nil {
					t.Fatal(err)
				}
				if e.Version != Version || e.Algorithm != alg || len(e.Enc) != alg.EncSize() || len(e.Ciphertext) != len(pt)+gcmTagSize {
					t.Fatalf("envelope: version %d alg %v enc %d ct %d", e.Version, e.Algorithm, len(e.Enc), len(e.Ciphertext))
				}
				got, err := Open(k, env, aad)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, pt) {
					t.Fatalf("round trip: got %d bytes, want %d", len(got), len(pt))
				}
			}
		})
	}
}

func TestSealIsRandomized(t *testing.T) {
	k := testKey(t, DefaultAlgorithm, 2)
	a, _ := Seal(k.Public(), []byte("same"), nil)
	b, _ := Seal(k.Public(), []byte("same"), nil)
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same plaintext are identical")
	}
}

// The envelope is plain RFC 9180 HPKE: a recipient using crypto/hpke directly
// with the documented suite and info string opens it.
func TestEnvelopeIsStandardHPKE(t *testing.T) {
	for _, tt := range []struct {
		alg Algorithm
		kem hpke.KEM
		id  uint16
	}{
		{MLKEM768X25519, hpke.MLKEM768X25519(), 0x647a},
		{MLKEM1024P384, hpke.MLKEM1024P384(), 0x0051},
		{MLKEM768, hpke.MLKEM768(), 0x0041},
	} {
		t.Run(tt.alg.String(), func(t *testing.T) {
			if tt.alg.HPKEID() != tt.id {
				t.Fatalf("HPKEID %#x, want %#x", tt.alg.HPKEID(), tt.id)
			}
			k := testKey(t, tt.alg, 3)
			sk, err := tt.kem.NewPrivateKey(k.seed)
			if err != nil {
				t.Fatal(err)
			}
			env, _ := Seal(k.Public(), []byte("hello"), []byte("aad"))
			e, _ := DecodeEnvelope(env)
			r, err := hpke.NewRecipient(e.Enc, sk, hpke.HKDFSHA256(), hpke.AES256GCM(), []byte("medchain/seal/v1 message"))
			if err != nil {
				t.Fatal(err)
			}
			pt, err := r.Open([]byte("aad"), e.Ciphertext)
			if err != nil || string(pt) != "hello" {
				t.Fatalf("raw HPKE open: %q, %v", pt, err)
			}
		})
	}
}

func TestOpenRejectsBadEnvelopes(t *testing.T) {
	k := testKey(t, DefaultAlgorithm, 4)
	other := testKey(t, DefaultAlgorithm, 5)
	k1024 := testKey(t, MLKEM1024P384, 6)
	aad := []byte("aad")
	env, err := Seal(k.Public(), []byte("secret"), aad)
	if err != nil {
		t.Fatal(err)
	}
	e, _ := DecodeEnvelope(env)
	reencode := func(f func(e *Envelope)) []byte {
		c := *e
		c.Enc = bytes.Clone(e.Enc)
		c.Ciphertext = bytes.Clone(e.Ciphertext)
		f(&c)
		return codec.MustMarshal(&c)
	}
	wrapped, _ := WrapKey(k.Public(), mustDataKey(t, 1), aad)
	tests := []struct {
		name string
		key  *PrivateKey
		env  []byte
		aad  []byte
		want error
	}{
		{"wrong aad", k, env, []byte("other"), ErrDecrypt},
		{"missing aad", k, env, nil, ErrDecrypt},
		{"wrong key", other, env, aad, ErrDecrypt},
		{"key of another algorithm", k1024, env, aad, ErrAlgorithmMismatch},
		{"flipped enc PQ byte", k, reencode(func(e *Envelope) { e.Enc[10] ^= 1 }), aad, ErrDecrypt},
		{"flipped enc X25519 byte", k, reencode(func(e *Envelope) { e.Enc[len(e.Enc)-1] ^= 1 }), aad, ErrDecrypt},
		{"flipped ciphertext byte", k, reencode(func(e *Envelope) { e.Ciphertext[0] ^= 1 }), aad, ErrDecrypt},
		{"flipped tag byte", k, reencode(func(e *Envelope) { e.Ciphertext[len(e.Ciphertext)-1] ^= 0x80 }), aad, ErrDecrypt},
		{"ciphertext shorter than tag", k, reencode(func(e *Envelope) { e.Ciphertext = e.Ciphertext[:gcmTagSize-1] }), aad, ErrMalformed},
		{"enc truncated", k, reencode(func(e *Envelope) { e.Enc = e.Enc[:len(e.Enc)-1] }), aad, ErrMalformed},
		{"version 2", k, reencode(func(e *Envelope) { e.Version = 2 }), aad, ErrUnsupportedVersion},
		{"version 0", k, reencode(func(e *Envelope) { e.Version = 0 }), aad, ErrUnsupportedVersion},
		{"unknown algorithm", k, reencode(func(e *Envelope) { e.Algorithm = 9 }), aad, ErrUnknownAlgorithm},
		{"algorithm relabelled", k, reencode(func(e *Envelope) { e.Algorithm = MLKEM768 }), aad, ErrMalformed},
		{"wrapped key is not a message", k, wrapped, aad, ErrDecrypt},
		{"empty", k, nil, aad, ErrMalformed},
		{"not CBOR", k, []byte("hello"), aad, ErrMalformed},
		{"trailing byte", k, append(bytes.Clone(env), 0), aad, ErrMalformed},
		{"unknown field", k, codec.MustMarshal(map[int]any{1: 1, 2: 1, 3: e.Enc, 4: e.Ciphertext, 5: 0}), aad, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pt, err := Open(tt.key, tt.env, tt.aad)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if pt != nil {
				t.Fatal("plaintext returned with an error")
			}
		})
	}
}

// Every prefix of a valid envelope is rejected as malformed, without a panic.
func TestOpenRejectsEveryTruncation(t *testing.T) {
	k := testKey(t, DefaultAlgorithm, 7)
	env, _ := Seal(k.Public(), []byte("secret"), nil)
	for n := 0; n < len(env); n++ {
		if _, err := Open(k, env[:n], nil); !errors.Is(err, ErrMalformed) {
			t.Fatalf("prefix of %d/%d bytes: got %v, want ErrMalformed", n, len(env), err)
		}
	}
}

func TestSealRejectsBadPublicKeys(t *testing.T) {
	k := testKey(t, DefaultAlgorithm, 8)
	pub := k.Public()
	tests := []struct {
		name string
		pub  PublicKey
		want error
	}{
		{"zero value", PublicKey{}, ErrUnknownAlgorithm},
		{"unknown algorithm", PublicKey{Algorithm: 200, Key: pub.Key}, ErrUnknownAlgorithm},
		{"short key", PublicKey{Algorithm: pub.Algorithm, Key: pub.Key[:100]}, ErrKeySize},
		{"key of another algorithm's size", PublicKey{Algorithm: MLKEM1024P384, Key: pub.Key}, ErrKeySize},
		// ML-KEM rejects coefficients that are not reduced mod q.
		{"unreduced ML-KEM key", PublicKey{Algorithm: pub.Algorithm, Key: bytes.Repeat([]byte{0xff}, len(pub.Key))}, ErrInvalidKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Seal(tt.pub, []byte("x"), nil); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := Open(nil, nil, nil); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("nil key: got %v", err)
	}
}

func TestKeysAreDeterministicFromSeed(t *testing.T) {
	for _, alg := range Algorithms {
		a := testKey(t, alg, 9)
		b := testKey(t, alg, 9)
		c := testKey(t, alg, 10)
		if !a.Public().Equal(b.Public()) {
			t.Fatalf("%s: same seed, different keys", alg)
		}
		if a.Public().Equal(c.Public()) {
			t.Fatalf("%s: different seeds, same key", alg)
		}
		if a.Algorithm() != alg || a.Public().Validate() != nil {
			t.Fatalf("%s: bad public key", alg)
		}
		if _, err := NewKeyFromSeed(alg, make([]byte, alg.SeedSize()+1)); !errors.Is(err, ErrKeySize) {
			t.Fatalf("%s: long seed: got %v", alg, err)
		}
	}
	if _, err := GenerateKey(0, testRand(1)); !errors.Is(err, ErrUnknownAlgorithm) {
		t.Fatalf("algorithm 0: got %v", err)
	}
	if _, err := GenerateKey(DefaultAlgorithm, strings.NewReader("short")); err == nil {
		t.Fatal("short entropy accepted")
	}
}

func TestParseAlgorithm(t *testing.T) {
	tests := []struct {
		in   string
		want Algorithm
		err  bool
	}{
		{"ML-KEM-768-X25519", MLKEM768X25519, false},
		{"mlkem768x25519", MLKEM768X25519, false},
		{"X-Wing", MLKEM768X25519, false},
		{"", MLKEM768X25519, false},
		{"ML-KEM-1024-P384", MLKEM1024P384, false},
		{"ml-kem-1024", MLKEM1024P384, false},
		{"ML-KEM-768", MLKEM768, false},
		{"kyber768", MLKEM768, false},
		{"ML-KEM-512", 0, true},
		{"ML-DSA-65", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseAlgorithm(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseAlgorithm(%q) = %v, %v; want %v (error %v)", tt.in, got, err, tt.want, tt.err)
		}
		if tt.err && !errors.Is(err, ErrUnknownAlgorithm) {
			t.Errorf("ParseAlgorithm(%q): error %v does not wrap ErrUnknownAlgorithm", tt.in, err)
		}
	}
	for _, alg := range Algorithms {
		b, err := alg.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back Algorithm
		if err := back.UnmarshalText(b); err != nil || back != alg {
			t.Fatalf("%s: text round trip gave %v, %v", alg, back, err)
		}
	}
	if _, err := Algorithm(0).MarshalText(); !errors.Is(err, ErrUnknownAlgorithm) {
		t.Fatalf("MarshalText(0): %v", err)
	}
	if s := Algorithm(42).String(); s != "Algorithm(42)" {
		t.Fatalf("String(42) = %q", s)
	}
}

func TestPrivateKeyNeverPrintsSeed(t *testing.T) {
	k := testKey(t, DefaultAlgorithm, 11)
	seed := hex.EncodeToString(k.seed)
	for _, out := range []string{
		fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %s", k, k, k, k),
		fmt.Sprintf("%v %+v %#v", *k, *k, *k),
	} {
		if strings.Contains(out, seed) || strings.Contains(out, fmt.Sprint(k.seed)) {
			t.Fatalf("formatted key leaks its seed: %s", out)
		}
		if !strings.Contains(out, "ML-KEM-768-X25519") {
			t.Fatalf("formatted key does not name its algorithm: %s", out)
		}
	}
}
