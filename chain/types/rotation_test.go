package types

import (
	"errors"
	"strings"
	"testing"

	"github.com/medchain/medchain/chain/codec"
	"github.com/medchain/medchain/chain/crypto"
)

func rotation(t testing.TB) *IdentityRotateKey {
	t.Helper()
	p, err := NewRotateKey("test-chain", "dr-1", testKey(t, 1).Public(), testKey(t, 2), "yearly rotation")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRotateKeyValidateBasic(t *testing.T) {
	k87, err := crypto.NewKeyFromSeed(crypto.MLDSA87, [32]byte{3})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		modify func(p *IdentityRotateKey)
		want   string // "" means valid
	}{
		{"valid", func(*IdentityRotateKey) {}, ""},
		{"valid, to another algorithm", func(p *IdentityRotateKey) {
			p.NewKey = k87.Public()
			p.Proof, _ = k87.Sign(RotationProofBytes("test-chain", p))
		}, ""},
		{"missing id", func(p *IdentityRotateKey) { p.ID = "" }, "id: required"},
		{"bad id", func(p *IdentityRotateKey) { p.ID = "a b" }, "id: character"},
		{"unknown old key algorithm", func(p *IdentityRotateKey) { p.OldKey.Algorithm = 9 }, "old_key: crypto: unknown signature algorithm"},
		{"unknown new key algorithm", func(p *IdentityRotateKey) { p.NewKey.Algorithm = 0 }, "new_key: crypto: unknown signature algorithm"},
		{"short new key", func(p *IdentityRotateKey) { p.NewKey.Key = p.NewKey.Key[:10] }, "new_key: crypto: public key has the wrong size"},
		{"new key equals old key", func(p *IdentityRotateKey) { p.NewKey = p.OldKey }, "equals old_key"},
		{"missing proof", func(p *IdentityRotateKey) { p.Proof = crypto.Signature{} }, "proof: missing"},
		{"truncated proof", func(p *IdentityRotateKey) { p.Proof.Sig = p.Proof.Sig[:100] }, "proof: crypto: signature has the wrong size"},
		{"proof of another algorithm", func(p *IdentityRotateKey) {
			p.Proof, _ = k87.Sign(RotationProofBytes("test-chain", p))
		}, "proof: signed with ML-DSA-87, the new key is ML-DSA-65"},
		{"control character in reason", func(p *IdentityRotateKey) { p.Reason = "a\x07" }, "reason: control character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := rotation(t)
			tt.modify(p)
			err := p.ValidateBasic()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("valid rotation refused: %v", err)
				}
				// The tx carrying it passes CheckBasic too.
				if _, err := makeTx(t, p).CheckBasic(); err != nil {
					t.Fatalf("tx refused: %v", err)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want ErrInvalid mentioning %q", err, tt.want)
			}
		})
	}
}

// TestRotationProofIsBoundToChainAndStep: the proof's bytes change with the
// chain, the identity and either key, so it cannot be carried to another
// chain, identity or rotation step.
func TestRotationProofIsBoundToChainAndStep(t *testing.T) {
	p := rotation(t)
	base := string(RotationProofBytes("test-chain", p))
	if !strings.HasPrefix(base, rotationDomain) {
		t.Fatal("proof bytes lack the domain")
	}
	if err := crypto.Verify(p.NewKey, []byte(base), p.Proof); err != nil {
		t.Fatalf("proof does not verify: %v", err)
	}
	variants := map[string]func(q *IdentityRotateKey) string{
		"chain": func(q *IdentityRotateKey) string { return string(RotationProofBytes("other", q)) },
		"id":    func(q *IdentityRotateKey) string { q.ID = "dr-2"; return string(RotationProofBytes("test-chain", q)) },
		"old key": func(q *IdentityRotateKey) string {
			q.OldKey = testKey(t, 3).Public()
			return string(RotationProofBytes("test-chain", q))
		},
		"new key": func(q *IdentityRotateKey) string {
			q.NewKey = testKey(t, 4).Public()
			return string(RotationProofBytes("test-chain", q))
		},
	}
	for name, f := range variants {
		q := *p
		if f(&q) == base {
			t.Errorf("proof bytes do not depend on the %s", name)
		}
	}
	if TxIdentityRotateKey.String() != "identity_rotate_key" || NewPayload(TxIdentityRotateKey) == nil {
		t.Fatal("identity_rotate_key is not registered")
	}
}

// FuzzRotateKeyPayload: no byte string makes the rotation payload decoder
// or its ValidateBasic panic, and a valid payload re-encodes stably.
func FuzzRotateKeyPayload(f *testing.F) {
	f.Add(codec.MustMarshal(rotation(f)))
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, b []byte) {
		tx := &Tx{Type: TxIdentityRotateKey, Payload: b}
		p, err := tx.DecodePayload()
		if err != nil || p.ValidateBasic() != nil {
			return
		}
		again := codec.MustMarshal(p)
		q := NewPayload(TxIdentityRotateKey)
		if err := codec.Unmarshal(again, q); err != nil {
			t.Fatalf("re-encoded payload does not decode: %v", err)
		}
		if string(codec.MustMarshal(q)) != string(again) {
			t.Fatal("encoding is not stable")
		}
	})
}
