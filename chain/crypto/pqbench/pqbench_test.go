package pqbench

import (
	"crypto/mlkem"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	circlkem "github.com/cloudflare/circl/kem"
	"github.com/cloudflare/circl/kem/mlkem/mlkem1024"
	"github.com/cloudflare/circl/kem/mlkem/mlkem512"
	"github.com/cloudflare/circl/kem/mlkem/mlkem768"
	"github.com/cloudflare/circl/sign"
	"github.com/cloudflare/circl/sign/mldsa/mldsa44"
	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
	"github.com/cloudflare/circl/sign/mldsa/mldsa87"

	"github.com/medchain/medchain/chain/crypto"
)

// The catalogue's sizes equal the constants of the libraries that implement
// each algorithm, and the lengths those implementations really produce.
func TestCatalogueSizesMatchImplementations(t *testing.T) {
	type want struct {
		level, pub, sec, seed, out int
	}
	kemWant := func(s circlkem.Scheme, level int) want {
		pk, sk, err := s.GenerateKeyPair()
		if err != nil {
			t.Fatal(err)
		}
		pkb, _ := pk.MarshalBinary()
		skb, _ := sk.MarshalBinary()
		ct, _, err := s.Encapsulate(pk)
		if err != nil {
			t.Fatal(err)
		}
		if len(pkb) != s.PublicKeySize() || len(skb) != s.PrivateKeySize() || len(ct) != s.CiphertextSize() {
			t.Fatalf("%s: circl lengths disagree with its own sizes", s.Name())
		}
		return want{level, s.PublicKeySize(), s.PrivateKeySize(), s.SeedSize(), s.CiphertextSize()}
	}
	sigWant := func(s sign.Scheme, alg crypto.Algorithm) want {
		pk, sk, err := s.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		pkb, _ := pk.MarshalBinary()
		skb, _ := sk.MarshalBinary()
		if len(pkb) != s.PublicKeySize() || len(skb) != s.PrivateKeySize() || len(s.Sign(sk, []byte("m"), nil)) != s.SignatureSize() {
			t.Fatalf("%s: circl lengths disagree with its own sizes", s.Name())
		}
		// chain/crypto is what medchain signs with: its view must agree too.
		if alg.PublicKeySize() != s.PublicKeySize() || alg.SignatureSize() != s.SignatureSize() {
			t.Fatalf("%s: chain/crypto sizes disagree with circl", s.Name())
		}
		return want{alg.SecurityLevel(), s.PublicKeySize(), s.PrivateKeySize(), s.SeedSize(), s.SignatureSize()}
	}
	wants := map[string]want{
		"ML-KEM-512":  kemWant(mlkem512.Scheme(), 1),
		"ML-KEM-768":  kemWant(mlkem768.Scheme(), 3),
		"ML-KEM-1024": kemWant(mlkem1024.Scheme(), 5),
		"ML-DSA-44":   sigWant(mldsa44.Scheme(), crypto.MLDSA44),
		"ML-DSA-65":   sigWant(mldsa65.Scheme(), crypto.MLDSA65),
		"ML-DSA-87":   sigWant(mldsa87.Scheme(), crypto.MLDSA87),
	}
	// The standard library's ML-KEM, which Measure uses for 768 and 1024.
	std := map[string]want{
		"ML-KEM-768":  {pub: mlkem.EncapsulationKeySize768, out: mlkem.CiphertextSize768, seed: mlkem.SeedSize},
		"ML-KEM-1024": {pub: mlkem.EncapsulationKeySize1024, out: mlkem.CiphertextSize1024, seed: mlkem.SeedSize},
	}
	algs := Algorithms()
	if len(algs) != len(wants) {
		t.Fatalf("catalogue has %d entries, want %d", len(algs), len(wants))
	}
	for _, a := range algs {
		w, ok := wants[a.Name]
		if !ok {
			t.Fatalf("unexpected catalogue entry %q", a.Name)
		}
		got := want{a.SecurityLevel, a.PublicKeySize, a.SecretKeySize, a.SeedSize, a.OutputSize}
		if got != w {
			t.Errorf("%s: catalogue %+v, implementation %+v", a.Name, got, w)
		}
		if s, ok := std[a.Name]; ok && (s.pub != a.PublicKeySize || s.out != a.OutputSize || s.seed != a.SeedSize) {
			t.Errorf("%s: catalogue disagrees with crypto/mlkem %+v", a.Name, s)
		}
		if (a.Kind == KEM) != strings.HasPrefix(a.Name, "ML-KEM-") || (a.Kind == KEM) != (a.Standard == "FIPS 203") {
			t.Errorf("%s: kind %v standard %q", a.Name, a.Kind, a.Standard)
		}
	}
}

func TestMeasureReturnsPositiveMedians(t *testing.T) {
	for _, a := range Algorithms() {
		t.Run(a.Name, func(t *testing.T) {
			s, err := a.Measure(15 * time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			wantOps := []string{OpKeyGen, OpEncapsulate, OpDecapsulate}
			if a.Kind == Signature {
				wantOps = []string{OpKeyGen, OpSign, OpVerify}
			}
			if s.Algorithm != a.Name || len(s.Ops) != 3 {
				t.Fatalf("speed %+v", s)
			}
			for i, o := range s.Ops {
				if o.Op != wantOps[i] {
					t.Fatalf("op %d is %q, want %q", i, o.Op, wantOps[i])
				}
				if o.MedianNs <= 0 || o.Runs < MinRuns {
					t.Fatalf("%s: median %d ns over %d runs", o.Op, o.MedianNs, o.Runs)
				}
				// No post-quantum operation here takes a second; a median
				// that large means the timing is broken.
				if o.MedianNs > int64(time.Second) {
					t.Fatalf("%s: implausible median %d ns", o.Op, o.MedianNs)
				}
				t.Logf("%-11s %-12s median %8d ns over %d runs", a.Name, o.Op, o.MedianNs, o.Runs)
				if s.Median(o.Op) != o.MedianNs {
					t.Fatalf("Median(%q) = %d, want %d", o.Op, s.Median(o.Op), o.MedianNs)
				}
			}
			if s.Median("nope") != 0 {
				t.Fatal("Median of an unmeasured op is not 0")
			}
		})
	}
	if _, err := (Algorithm{Name: "RSA"}).Measure(time.Millisecond); err == nil {
		t.Fatal("Measure of a non-catalogue algorithm succeeded")
	}
}

func TestMeasureRespectsMinimumRunsAndReportsErrors(t *testing.T) {
	n := 0
	o, err := measure("op", 0, func() error { n++; return nil })
	if err != nil || o.Runs != MinRuns || n != MinRuns+1 {
		t.Fatalf("zero budget: %+v, %v after %d calls", o, err, n)
	}
	boom := errors.New("boom")
	calls := 0
	if _, err := measure("op", time.Second, func() error {
		calls++
		if calls == 3 {
			return boom
		}
		return nil
	}); !errors.Is(err, boom) {
		t.Fatalf("op error not returned: %v", err)
	}
	// A longer budget buys more runs of a fast op.
	o, _ = measure("op", 5*time.Millisecond, func() error { return nil })
	if o.Runs <= MinRuns {
		t.Fatalf("5 ms budget ran a no-op only %d times", o.Runs)
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		in   []int64
		want int64
	}{
		{nil, 0},
		{[]int64{7}, 7},
		{[]int64{9, 1, 5}, 5},
		{[]int64{4, 1, 3, 2}, 2}, // (2+3)/2 rounded down
		{[]int64{10, 1000000, 12, 11, 9}, 11},
	}
	for _, tt := range tests {
		if got := median(append([]int64(nil), tt.in...)); got != tt.want {
			t.Errorf("median(%v) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestRecommendationIsInTheCatalogue(t *testing.T) {
	r := Recommend()
	kem, ok1 := Lookup(r.KEM)
	sig, ok2 := Lookup(r.Signature)
	if !ok1 || !ok2 || kem.Kind != KEM || sig.Kind != Signature {
		t.Fatalf("recommendation %q/%q not a KEM and a signature in the catalogue", r.KEM, r.Signature)
	}
	if r.KEM != "ML-KEM-768" || r.Signature != "ML-DSA-65" {
		t.Fatalf("recommendation is %s + %s", r.KEM, r.Signature)
	}
	var marked []string
	for _, a := range Algorithms() {
		if a.Recommended {
			marked = append(marked, a.Name)
		}
	}
	if strings.Join(marked, ",") != "ML-KEM-768,ML-DSA-65" {
		t.Fatalf("catalogue marks %v as recommended", marked)
	}
	// The paragraph names both and the sizes it quotes are the catalogue's.
	for _, s := range []string{"ML-KEM-768", "ML-DSA-65", "category 3", "4,627", "3,309"} {
		if !strings.Contains(r.Why, s) {
			t.Errorf("Why does not mention %q", s)
		}
	}
	d87, _ := Lookup("ML-DSA-87")
	if d87.OutputSize != 4627 || sig.OutputSize != 3309 {
		t.Fatal("Why quotes signature sizes the catalogue does not have")
	}
	if _, ok := Lookup("ML-KEM-2048"); ok {
		t.Fatal("Lookup found an unknown algorithm")
	}
}

func TestCompare(t *testing.T) {
	c, err := Compare(60 * time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		op, pq, cls string
		pqBytes     int
		clsBytes    int
	}{
		// enc (1088+32 or 32) + 1024 plaintext + 16 tag
		{OpSeal1KB, "HPKE MLKEM768-X25519", "HPKE DHKEM(X25519)", mlkem.CiphertextSize768 + 32 + 1024 + 16, 32 + 1024 + 16},
		{OpOpen1KB, "HPKE MLKEM768-X25519", "HPKE DHKEM(X25519)", mlkem.CiphertextSize768 + 32 + 1024 + 16, 32 + 1024 + 16},
		{OpSign, "ML-DSA-65", "Ed25519", mldsa65.SignatureSize, 64},
		{OpVerify, "ML-DSA-65", "Ed25519", mldsa65.SignatureSize, 64},
		{OpEncapsulate, "ML-KEM-768", "X25519 ECDH", mlkem.CiphertextSize768, 32},
		{OpDecapsulate, "ML-KEM-768", "X25519 ECDH", mlkem.CiphertextSize768, 32},
	}
	if c.Budget != 60*time.Millisecond || len(c.Rows) != len(want) {
		t.Fatalf("comparison: budget %v, %d rows", c.Budget, len(c.Rows))
	}
	for i, w := range want {
		r := c.Rows[i]
		if r.Operation != w.op || r.PostQuantum != w.pq || r.Classical != w.cls {
			t.Fatalf("row %d: %s %s vs %s, want %s %s vs %s", i, r.Operation, r.PostQuantum, r.Classical, w.op, w.pq, w.cls)
		}
		if r.PostQuantumBytes != w.pqBytes || r.ClassicalBytes != w.clsBytes {
			t.Errorf("%s: bytes %d vs %d, want %d vs %d", r.Operation, r.PostQuantumBytes, r.ClassicalBytes, w.pqBytes, w.clsBytes)
		}
		if r.PostQuantumNs <= 0 || r.ClassicalNs <= 0 {
			t.Errorf("%s: non-positive medians %d, %d", r.Operation, r.PostQuantumNs, r.ClassicalNs)
		}
		t.Logf("%-12s %-21s %7d ns %5d B | %-19s %7d ns %5d B | %+7.1f%%", r.Operation, r.PostQuantum, r.PostQuantumNs, r.PostQuantumBytes, r.Classical, r.ClassicalNs, r.ClassicalBytes, r.OverheadPercent)
		if math.Abs(r.OverheadPercent-Overhead(r.PostQuantumNs, r.ClassicalNs)) > 1e-9 {
			t.Errorf("%s: overhead %.2f%% is not computed from the medians", r.Operation, r.OverheadPercent)
		}
	}
}

func TestOverhead(t *testing.T) {
	tests := []struct {
		pq, cls int64
		want    float64
	}{
		{150, 100, 50},
		{100, 100, 0},
		{50, 100, -50},
		{300, 100, 200},
		{5, 0, 0},
	}
	for _, tt := range tests {
		if got := Overhead(tt.pq, tt.cls); got != tt.want {
			t.Errorf("Overhead(%d, %d) = %v, want %v", tt.pq, tt.cls, got, tt.want)
		}
	}
}

func TestKindString(t *testing.T) {
	if KEM.String() != "KEM" || Signature.String() != "signature" || Kind(9).String() != "Kind(9)" {
		t.Fatal("Kind.String")
	}
}
