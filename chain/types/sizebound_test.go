package types

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// redactables returns a payload of every redactable type naming patient.
func redactables(patient string) []Payload {
	return []Payload{
		&AuditRecord{EventType: "data_access", Patient: patient, Actor: "dr-1", Action: "view_record", Purpose: "treatment", Outcome: "success"},
		&AuditRecord{EventType: "data_access", Patient: patient, Actor: "dr-1", Action: "view_record", Purpose: "treatment", Outcome: "success",
			Resource: "Observation/1", Details: map[string]string{"note": strings.Repeat("x", 3000)}},
		&PatientErase{Patient: patient, Reason: "gdpr-art17"},
		&ConsentGrant{Patient: patient, ConsentType: "c", Granted: true, Scope: ConsentScope{Purposes: []string{"t"}}},
		&ConsentRevoke{Patient: patient, ConsentType: "c"},
		&ConsentRevoke{Patient: patient, ConsentType: "c", Reason: "moved"},
		&ContractExecute{ContractID: "k", Action: "read", Patient: patient},
		&IdentityRegister{ID: "pat-1", Kind: KindPatient, Roles: []string{RolePatient}, Patient: patient},
		&IdentityRegister{ID: "pat-1", Kind: KindPatient, Name: "Jane Roe", Roles: []string{RolePatient}, Patient: patient},
		&IdentityDelegate{ID: "rel-1", Patient: patient},
	}
}

// redactWith redacts the signed tx with a sealed payload of n bytes.
func redactWith(t *testing.T, signed *Tx, n int) *Tx {
	t.Helper()
	p, err := signed.DecodePayload()
	if err != nil {
		t.Fatal(err)
	}
	r, err := Redact(signed, signed.Hash(), p, NewPseudonym([PseudonymSize]byte{9}), bytes.Repeat([]byte{0xA5}, n))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestSizeBoundIsTheSameBeforeAndAfterPruning: the executor limits
// SizeBound, so it must not count bytes a node may prune, whatever their
// size.
func TestSizeBoundIsTheSameBeforeAndAfterPruning(t *testing.T) {
	signed := makeTx(t, audit())
	for _, n := range []int{1, 100, DefaultMaxTxBytes, MaxSealedLen(0)} {
		r := redactWith(t, signed, n)
		if got, want := pruned(r).SizeBound(), r.SizeBound(); got != want {
			t.Errorf("sealed payload of %d bytes: SizeBound %d as stored, %d pruned", n, want, got)
		}
		if got, want := pruned(r).SizeLimit(1024), r.SizeLimit(1024); got != want {
			t.Errorf("sealed payload of %d bytes: SizeLimit %d as stored, %d pruned", n, want, got)
		}
	}
}

// TestSizeBoundBoundsTheEncoding: SizeBound is an upper bound on the
// encoded size, less the sealed payload's bytes for a redacted tx, in
// either stored form.
func TestSizeBoundBoundsTheEncoding(t *testing.T) {
	for _, p := range redactables("patient-1") {
		signed := makeTx(t, p)
		if n := len(signed.Encode()); signed.SizeBound() < n {
			t.Errorf("%s signed: SizeBound %d, encoding %d bytes", p.TxType(), signed.SizeBound(), n)
		}
		for _, sealedLen := range []int{1, 23, 255, 70_000} {
			r := redactWith(t, signed, sealedLen)
			for _, tx := range []*Tx{r, pruned(r)} {
				if n := len(tx.Encode()) - len(tx.Redaction.Sealed); tx.SizeBound() < n {
					t.Errorf("%s redacted (pruned %v, sealed %d): SizeBound %d, encoding without the sealed bytes %d",
						p.TxType(), tx.Redaction.Pruned(), sealedLen, tx.SizeBound(), n)
				}
			}
		}
	}
}

// TestRedactedTxFitsTheLimitItsSignedTxFits: a signed tx within a chain's
// limit stays within it once the proposer redacts it, even with the
// shortest patient id (the pseudonym is longer) and no field to drop, so the
// leader never admits a tx its block then rejects for its size.
func TestRedactedTxFitsTheLimitItsSignedTxFits(t *testing.T) {
	for _, patient := range []string{"p", "patient-1", strings.Repeat("m", 64)} {
		for _, p := range redactables(patient) {
			t.Run(fmt.Sprintf("%s/%d", p.TxType(), len(patient)), func(t *testing.T) {
				signed := makeTx(t, p)
				limit := signed.SizeBound() // the signed tx is exactly at the limit
				if signed.SizeBound() > signed.SizeLimit(limit) {
					t.Fatal("the signed tx must fit its own bound")
				}
				r := redactWith(t, signed, len(signed.Payload)+37)
				if r.SizeBound() > r.SizeLimit(limit) {
					t.Fatalf("redacted SizeBound %d over its limit %d (signed %d, limit %d)", r.SizeBound(), r.SizeLimit(limit), signed.SizeBound(), limit)
				}
			})
		}
	}
}
