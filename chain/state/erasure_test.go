package state

import (
	"strings"
	"testing"

	"github.com/medchain/medchain/chain/types"
)

func erasureFixture(t *testing.T) *fixture {
	f := newFixture(t)
	f.register("doctor456", types.KindPerson, 10, types.RoleClinician)
	f.register("patient123", types.KindPatient, 11, types.RolePatient)
	f.register("privacy_officer", types.KindPerson, 12, types.RolePrivacyOfficer)
	f.register("patient777", types.KindPatient, 13, types.RolePatient)
	return f
}

// redacted returns the redacted form of a tx signed by signer, as the
// proposer stores it, under pseudonym.
func (f *fixture) redacted(signer string, p types.Payload, pseudonym string) *types.Tx {
	tx := f.tx(signer, p)
	r, err := types.Redact(tx, tx.Hash(), p, pseudonym, []byte("sealed-bytes"))
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

func TestEraseIsAuthorizedAndRecordedOnce(t *testing.T) {
	f := erasureFixture(t)
	cases := []struct {
		name   string
		signer string
		p      *types.PatientErase
		code   types.ResultCode
		reason string
	}{
		{"a clinician may not", "doctor456", &types.PatientErase{Patient: "patient123", Reason: "gdpr-art17"}, types.CodeUnauthorized, "may not erase"},
		{"another patient may not", "patient777", &types.PatientErase{Patient: "patient123", Reason: "gdpr-art17"}, types.CodeUnauthorized, "may not erase"},
		{"the patient may", "patient123", &types.PatientErase{Patient: "patient123", Reason: "gdpr-art17"}, types.CodeOK, ""},
		{"a second erasure is refused", "privacy_officer", &types.PatientErase{Patient: "patient123", Reason: "gdpr-art17"}, types.CodeConflict, "already erased"},
		{"a privacy officer may", "privacy_officer", &types.PatientErase{Patient: "patient999", Reason: "court-order"}, types.CodeOK, ""},
	}
	for _, c := range cases {
		r := f.one(c.signer, c.p)
		if r.Code != c.code || !strings.Contains(r.Reason, c.reason) {
			t.Fatalf("%s: got %s (%s), want %s (%q)", c.name, r.Code, r.Reason, c.code, c.reason)
		}
	}
	e, err := GetErasure(f.view, "patient123")
	if err != nil || e == nil || e.Signer != "patient123" || e.Reason != "gdpr-art17" {
		t.Fatalf("erasure record: %+v %v", e, err)
	}
}

func TestRedactedTxsOfAnErasedPseudonymAreRefused(t *testing.T) {
	f := erasureFixture(t)
	ps := types.NewPseudonym([types.PseudonymSize]byte{9})
	rs := f.block(f.redacted("doctor456", audit("patient123", "doctor456"), ps))
	if !rs[0].OK() {
		t.Fatalf("redacted audit event: %+v", rs[0])
	}
	page, err := Trail(f.view, f.view, TrailQuery{ID: ps})
	if err != nil || len(page.Entries) != 1 || !page.Entries[0].Redacted || page.Entries[0].Sealed != nil {
		t.Fatalf("trail by pseudonym: %+v %v", page, err)
	}
	// A redacted erasure names the pseudonym: the patient link was checked at
	// admission, execution checks the signer speaks for a patient.
	if r := f.block(f.redacted("doctor456", &types.PatientErase{Patient: "patient123", Reason: "gdpr-art17"}, ps)); r[0].Code != types.CodeUnauthorized {
		t.Fatalf("redacted erasure by a clinician: %+v", r[0])
	}
	if r := f.block(f.redacted("patient123", &types.PatientErase{Patient: "patient123", Reason: "gdpr-art17"}, ps)); !r[0].OK() {
		t.Fatalf("redacted erasure by the patient: %+v", r[0])
	}
	if e, _ := GetErasure(f.view, ps); e == nil {
		t.Fatal("the erasure is not recorded by pseudonym")
	}
	if r := f.block(f.redacted("doctor456", audit("patient123", "doctor456"), ps)); r[0].Code != types.CodeConflict || !strings.Contains(r[0].Reason, "erased") {
		t.Fatalf("event about an erased pseudonym: %+v", r[0])
	}
	// Only the proposer makes redacted txs: admission refuses them.
	err = f.ex.CheckTx(f.view, f.redacted("doctor456", audit("patient777", "doctor456"), ps), f.nowMs)
	if err == nil || !strings.Contains(err.Error(), "proposer only") {
		t.Fatalf("CheckTx of a redacted tx: %v", err)
	}
}
