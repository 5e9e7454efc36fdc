package types

import (
	"bytes"
	"testing"
)

// TestRedactLeavesTheSignedTxUnchanged proves that Redact, which shares the
// signature bytes instead of copying them, modifies nothing of the signed
// tx: its encoding, hash and signature are those from before.
func TestRedactLeavesTheSignedTxUnchanged(t *testing.T) {
	signed := makeTx(t, audit())
	before := signed.Encode()
	h := signed.Hash()
	p, err := signed.DecodePayload()
	if err != nil {
		t.Fatal(err)
	}
	sealed := fakeSealed(signed.Payload)
	r, err := Redact(signed, h, p, NewPseudonym([PseudonymSize]byte{9}), sealed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(signed.Encode(), before) || signed.Redaction != nil || signed.Hash() != h {
		t.Fatal("Redact modified the signed tx")
	}
	if err := signed.VerifySignature(testKey(t, 1).Public()); err != nil {
		t.Fatalf("signed tx after Redact: %v", err)
	}
	if r.Hash() != h || !bytes.Equal(r.Redaction.Sealed, sealed) || bytes.Equal(r.Payload, signed.Payload) {
		t.Fatal("redacted tx does not carry the signed hash, the sealed bytes and a new payload")
	}
	// A clone of the redacted tx owns every byte.
	c := r.Clone()
	c.Signature.Sig[0] ^= 1
	c.Redaction.Sealed[0] ^= 1
	if err := signed.VerifySignature(testKey(t, 1).Public()); err != nil || !bytes.Equal(r.Redaction.Sealed, sealed) {
		t.Fatal("a clone of the redacted tx shares bytes with it")
	}
}

func TestAppendRedactionAADIsRedactionAAD(t *testing.T) {
	h := Hash{1, 2, 3}
	buf := []byte("prefix")
	got := AppendRedactionAAD(buf, h)
	if !bytes.Equal(got[len("prefix"):], RedactionAAD(h)) || string(got[:6]) != "prefix" || len(RedactionAAD(h)) != RedactionAADSize {
		t.Fatalf("AppendRedactionAAD %q, RedactionAAD %q", got, RedactionAAD(h))
	}
}

// TestRedactAllocations bounds the allocations of Redact: the redacted
// payload (copy and encoding) and one for the tx with its redaction; no
// copy of the signature or the sealed bytes.
func TestRedactAllocations(t *testing.T) {
	signed := makeTx(t, audit())
	p, err := signed.DecodePayload()
	if err != nil {
		t.Fatal(err)
	}
	ps, sealed, h := NewPseudonym([PseudonymSize]byte{9}), fakeSealed(signed.Payload), signed.Hash()
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := Redact(signed, h, p, ps, sealed); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 4 {
		t.Fatalf("Redact makes %.0f allocations, want at most 4", allocs)
	}
	t.Logf("Redact: %.0f allocations", allocs)
}

func BenchmarkRedact(b *testing.B) {
	signed := makeTx(b, audit())
	p, err := signed.DecodePayload()
	if err != nil {
		b.Fatal(err)
	}
	ps, sealed, h := NewPseudonym([PseudonymSize]byte{9}), fakeSealed(signed.Payload), signed.Hash()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Redact(signed, h, p, ps, sealed); err != nil {
			b.Fatal(err)
		}
	}
}
