package state

import (
	"strings"
	"testing"

	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/contracts"
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

// TestRedactedConsentsDecideContractsUnderThePseudonym: consents and
// contract calls stored redacted name the patient's pseudonym, so the
// consent a contract reads inside the VM is the one granted under it; the
// executor checks that a redacted consent's signer speaks for some patient
// (the proposer checked which one at admission), keeps the revocation's
// reason out of state, and refuses all three once the pseudonym is erased.
func TestRedactedConsentsDecideContractsUnderThePseudonym(t *testing.T) {
	f := contractFixture(t)
	ps := types.NewPseudonym([types.PseudonymSize]byte{4})
	f.mustOK("admin", &types.ContractDeploy{ID: "access", Source: types.ContractSource{Template: contracts.TemplateBreakGlass}})
	call := &types.ContractExecute{ContractID: "access", Action: "read", Purpose: "treatment", Patient: "patient123", Resource: "Observation/bp-1"}
	decide := func() string {
		t.Helper()
		r := f.block(f.redacted("doctor456", call, ps))[0]
		if !r.OK() {
			t.Fatalf("redacted call: %+v", r)
		}
		res, err := contracts.DecodeResult(r.Data, contracts.DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		return res.Rule
	}
	if rule := decide(); rule == "consent" {
		t.Fatal("allowed by consent before any consent was granted")
	}
	grant := &types.ConsentGrant{Patient: "patient123", ConsentType: "data_sharing", Granted: true, Scope: scope()}
	if r := f.block(f.redacted("doctor456", grant, ps))[0]; r.Code != types.CodeUnauthorized {
		t.Fatalf("redacted grant by a clinician: %+v", r)
	}
	if r := f.block(f.redacted("patient123", grant, ps))[0]; !r.OK() {
		t.Fatalf("redacted grant by the patient: %+v", r)
	}
	if c, err := GetConsent(f.view, ps, "data_sharing"); err != nil || c == nil || !c.Granted {
		t.Fatalf("consent under the pseudonym: %+v %v", c, err)
	}
	if c, _ := GetConsent(f.view, "patient123", "data_sharing"); c != nil {
		t.Fatal("a redacted grant is stored under the patient id")
	}
	if rule := decide(); rule != "consent" {
		t.Fatalf("call after the grant decided by %q, want the consent rule", rule)
	}
	revoke := &types.ConsentRevoke{Patient: "patient123", ConsentType: "data_sharing", Reason: "moved away"}
	if r := f.block(f.redacted("patient123", revoke, ps))[0]; !r.OK() {
		t.Fatalf("redacted revoke: %+v", r)
	}
	if c, _ := GetConsent(f.view, ps, "data_sharing"); c == nil || c.Status != ConsentRevoked || c.Reason != "" {
		t.Fatalf("revoked consent: %+v (the reason stays sealed)", c)
	}
	if rule := decide(); rule == "consent" {
		t.Fatal("allowed by a revoked consent")
	}
	if r := f.block(f.redacted("patient123", &types.PatientErase{Patient: "patient123", Reason: "gdpr-art17"}, ps))[0]; !r.OK() {
		t.Fatalf("erasure: %+v", r)
	}
	for _, p := range []types.Payload{grant, revoke, call} {
		signer := "patient123"
		if p == call {
			signer = "doctor456"
		}
		if r := f.block(f.redacted(signer, p, ps))[0]; r.Code != types.CodeConflict || !strings.Contains(r.Reason, "erased") {
			t.Fatalf("%T about an erased pseudonym: %+v", p, r)
		}
	}
}
