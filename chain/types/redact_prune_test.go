package types

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func pruned(tx *Tx) *Tx {
	cp := tx.Clone()
	r := cp.Redaction.PruneSealed()
	cp.Redaction = &r
	return cp
}

func TestPrunedRedactionKeepsBodyHashTxHashAndTxRoot(t *testing.T) {
	signed, r := redactedAudit(t)
	p := pruned(r)
	if !p.Redaction.Pruned() || r.Redaction.Pruned() {
		t.Fatalf("Pruned: %v for the pruned tx, %v for the sealed one", p.Redaction.Pruned(), r.Redaction.Pruned())
	}
	if len(p.Redaction.Sealed) != 0 || p.Redaction.SealedHash != sha256.Sum256(r.Redaction.Sealed) {
		t.Fatal("a pruned redaction keeps SHA-256 of the sealed payload and nothing of its bytes")
	}
	if p.BodyHash() != r.BodyHash() {
		t.Fatal("pruning the sealed payload changed the body hash")
	}
	if p.Hash() != signed.Hash() || p.Hash() != r.Hash() {
		t.Fatal("pruning changed the tx hash (the log leaf)")
	}
	other := makeTx(t, &IdentityRevoke{ID: "x"})
	hs := []Hash{r.Hash(), other.Hash()}
	if TxRoot([]*Tx{p, other}, hs) != TxRoot([]*Tx{r, other}, hs) {
		t.Fatal("pruning changed the tx root")
	}
	if again := p.Redaction.PruneSealed(); again.SealedHash != p.Redaction.SealedHash || again.Original != p.Redaction.Original || len(again.Sealed) != 0 {
		t.Fatal("pruning a pruned redaction must change nothing")
	}
	back, err := DecodeTx(p.Encode(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := back.ValidateBasic(); err != nil {
		t.Fatalf("pruned tx fails ValidateBasic: %v", err)
	}
	if back.BodyHash() != r.BodyHash() || bytes.Contains(p.Encode(), r.Redaction.Sealed) {
		t.Fatal("the decoded pruned tx must keep the body hash and hold no sealed byte")
	}
}

// TestBodyHashCommitsToEveryStoredField: changing any stored field of a
// redacted tx, sealed or pruned, changes its body hash, so a tampered
// digest or payload fails the tx root check.
func TestBodyHashCommitsToEveryStoredField(t *testing.T) {
	_, r := redactedAudit(t)
	cases := []struct {
		name string
		mut  func(*Tx)
	}{
		{"sealed byte", func(tx *Tx) { tx.Redaction.Sealed[0] ^= 1 }},
		{"pruned digest", func(tx *Tx) { *tx = *pruned(tx); tx.Redaction.SealedHash[5] ^= 1 }},
		{"original hash", func(tx *Tx) { tx.Redaction.Original[0] ^= 1 }},
		{"payload", func(tx *Tx) { tx.Payload = append(tx.Payload, 0) }},
		{"signature", func(tx *Tx) { tx.Signature.Sig[0] ^= 1 }},
		{"signer", func(tx *Tx) { tx.Signer += "x" }},
		{"chain id", func(tx *Tx) { tx.ChainID += "x" }},
		{"timestamp", func(tx *Tx) { tx.Timestamp++ }},
		{"nonce", func(tx *Tx) { tx.Nonce++ }},
	}
	for _, c := range cases {
		for _, start := range []struct {
			name string
			tx   *Tx
		}{{"sealed", r}, {"pruned", pruned(r)}} {
			t.Run(c.name+"/"+start.name, func(t *testing.T) {
				tx := start.tx.Clone()
				if c.name == "sealed byte" && tx.Redaction.Pruned() {
					t.Skip("a pruned tx holds no sealed byte")
				}
				c.mut(tx)
				if tx.BodyHash() == r.BodyHash() {
					t.Fatalf("changing the %s left the body hash unchanged", c.name)
				}
			})
		}
	}
}

// TestRedactionHoldsExactlyOneOfSealedAndItsHash: a stored redaction keeps
// the sealed payload or its hash, never both and never neither, and a
// sealed payload within the chain's bound. CheckBasic (which the executor
// runs) checks only what pruning leaves unchanged; the rest is
// ValidateStored, which the FSM runs when a block is accepted.
func TestRedactionHoldsExactlyOneOfSealedAndItsHash(t *testing.T) {
	_, r := redactedAudit(t)
	cases := []struct {
		name       string
		maxTxBytes int
		red        func() Redaction
		wantBasic  string // "" valid for CheckBasic
		wantStored string // "" valid for ValidateStored
	}{
		{"sealed", 0, func() Redaction { return *r.Clone().Redaction }, "", ""},
		{"pruned", 0, func() Redaction { return r.Redaction.PruneSealed() }, "", ""},
		{"neither", 0, func() Redaction { return Redaction{Original: r.Redaction.Original} }, "neither", ""},
		{"both", 0, func() Redaction {
			x := *r.Clone().Redaction
			x.SealedHash = x.SealedDigest()
			return x
		}, "", "both"},
		{"sealed too long", 0, func() Redaction {
			return Redaction{Original: r.Redaction.Original, Sealed: make([]byte, MaxSealedLen(0)+1)}
		}, "", "sealed payload of"},
		{"sealed at the bound", 0, func() Redaction {
			return Redaction{Original: r.Redaction.Original, Sealed: make([]byte, MaxSealedLen(0))}
		}, "", ""},
		{"sealed over the default bound on a chain with larger txs", 2 * DefaultMaxTxBytes, func() Redaction {
			return Redaction{Original: r.Redaction.Original, Sealed: make([]byte, MaxSealedLen(0)+1)}
		}, "", ""},
		{"sealed too long on a chain with smaller txs", 4096, func() Redaction {
			return Redaction{Original: r.Redaction.Original, Sealed: make([]byte, 4096+65)}
		}, "", "sealed payload of"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tx := r.Clone()
			red := c.red()
			tx.Redaction = &red
			check := func(what string, err error, want string) {
				t.Helper()
				if want == "" {
					if err != nil {
						t.Fatalf("%s refused a valid redaction: %v", what, err)
					}
					return
				}
				if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), want) {
					t.Fatalf("%s: got %v, want ErrInvalid mentioning %q", what, err, want)
				}
			}
			check("ValidateBasic", tx.ValidateBasic(), c.wantBasic)
			check("ValidateStored", tx.Redaction.ValidateStored(c.maxTxBytes), c.wantStored)
			// Pruning never changes what CheckBasic decides.
			p := pruned(tx)
			if got, want := fmt.Sprint(p.ValidateBasic()), fmt.Sprint(tx.ValidateBasic()); got != want {
				t.Fatalf("ValidateBasic is %q pruned, %q as stored", got, want)
			}
			if c.wantBasic == "" && c.wantStored == "" {
				if _, err := DecodeTx(tx.Encode(), 0); err != nil && len(red.Sealed) < DefaultMaxTxBytes {
					t.Fatalf("valid redaction does not round-trip: %v", err)
				}
			}
		})
	}
}

// TestBodyHashV2Layout pins the v2 layout: SHA-256 of the sealed payload,
// not its bytes, after the length-prefixed fields.
func TestBodyHashV2Layout(t *testing.T) {
	_, r := redactedAudit(t)
	var want bytes.Buffer
	want.WriteString("medchain/tx-redacted/v2\x00")
	want.Write(r.Redaction.Original[:])
	want.Write([]byte{byte(r.Type), byte(r.Signature.Algorithm)})
	u64 := func(v uint64) {
		for i := 7; i >= 0; i-- {
			want.WriteByte(byte(v >> (8 * i)))
		}
	}
	u64(uint64(r.Timestamp))
	u64(r.Nonce)
	for _, f := range [][]byte{[]byte(r.ChainID), []byte(r.Signer), r.Payload, r.Signature.Sig} {
		n := len(f)
		want.Write([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
		want.Write(f)
	}
	d := sha256.Sum256(r.Redaction.Sealed)
	want.Write(d[:])
	if Hash(sha256.Sum256(want.Bytes())) != r.BodyHash() {
		t.Fatal("BodyHash does not follow the documented v2 layout")
	}
}
