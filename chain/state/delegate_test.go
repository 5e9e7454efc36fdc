package state

import (
	"strings"
	"testing"

	"github.com/medchain/medchain/chain/types"
)

// registerRedacted registers a patient identity as the proposer stores it on
// a chain that pseudonymizes: the record names the pseudonym.
func (f *fixture) registerRedacted(id, patient, pseudonym string, seed byte) {
	f.t.Helper()
	f.keys[id] = key(seed)
	p := &types.IdentityRegister{ID: id, Kind: types.KindPatient, Name: "Jane Roe", Roles: []string{types.RolePatient}, PublicKey: f.keys[id].Public(), Patient: patient}
	if r := f.block(f.redacted("admin", p, pseudonym))[0]; !r.OK() {
		f.t.Fatalf("register %s: %+v", id, r)
	}
}

// TestDelegationsAndPatientLinksByPseudonym: identity records that name a
// patient by pseudonym (a redacted registration, identity_delegate) are
// checked exactly in the block, and through the admission's resolver for a
// signed tx naming the patient id; a record that names patients in clear
// keeps the attested check; delegations are appointed and dismissed once,
// only by an admin or the patient, and survive identity_update_roles.
func TestDelegationsAndPatientLinksByPseudonym(t *testing.T) {
	f := contractFixture(t) // patient123 is registered in clear
	f.register("guardian", types.KindPerson, 21, types.RolePatient)
	f.register("stranger", types.KindPerson, 22, types.RolePatient)
	ps1, ps2 := types.NewPseudonym([types.PseudonymSize]byte{1}), types.NewPseudonym([types.PseudonymSize]byte{2})
	f.registerRedacted("mrn-1", "MRN-1", ps1, 23)
	if id, _ := GetIdentity(f.view, "mrn-1"); id == nil || id.Patient != ps1 || id.Name != "" {
		t.Fatalf("redacted registration stored as %+v", id)
	}
	grant := func(patient string) *types.ConsentGrant {
		return &types.ConsentGrant{Patient: patient, ConsentType: "data_sharing", Granted: true, Scope: scope()}
	}
	dlg := func(id, patient string, revoke bool) *types.IdentityDelegate {
		return &types.IdentityDelegate{ID: id, Patient: patient, Revoke: revoke}
	}
	cases := []struct {
		name, signer string
		tx           func() *types.Tx
		code         types.ResultCode
		reason       string
	}{
		{"the patient, by pseudonym", "mrn-1", func() *types.Tx { return f.redacted("mrn-1", grant("MRN-1"), ps1) }, types.CodeOK, ""},
		{"the patient, another pseudonym", "mrn-1", func() *types.Tx { return f.redacted("mrn-1", grant("MRN-2"), ps2) }, types.CodeUnauthorized, "may not manage consents"},
		{"not yet a delegate", "guardian", func() *types.Tx { return f.redacted("guardian", grant("MRN-1"), ps1) }, types.CodeUnauthorized, "may not manage consents"},
		{"a stranger may not appoint", "stranger", func() *types.Tx { return f.redacted("stranger", dlg("guardian", "MRN-1", false), ps1) }, types.CodeUnauthorized, "may not appoint"},
		{"the patient appoints", "mrn-1", func() *types.Tx { return f.redacted("mrn-1", dlg("guardian", "MRN-1", false), ps1) }, types.CodeOK, ""},
		{"twice", "admin", func() *types.Tx { return f.redacted("admin", dlg("guardian", "MRN-1", false), ps1) }, types.CodeConflict, "already acts for"},
		{"a delegate may not appoint", "guardian", func() *types.Tx { return f.redacted("guardian", dlg("stranger", "MRN-1", false), ps1) }, types.CodeUnauthorized, "may not appoint"},
		{"a patient identity is no delegate", "admin", func() *types.Tx { return f.redacted("admin", dlg("patient123", "MRN-1", false), ps1) }, types.CodeInvalidPayload, "only persons and services"},
		{"the delegate, by pseudonym", "guardian", func() *types.Tx { return f.redacted("guardian", grant("MRN-1"), ps1) }, types.CodeOK, ""},
		{"the delegate, another patient", "guardian", func() *types.Tx { return f.redacted("guardian", grant("MRN-2"), ps2) }, types.CodeUnauthorized, "may not manage consents"},
		{"a clear link is attested", "patient123", func() *types.Tx { return f.redacted("patient123", grant("patient123"), ps2) }, types.CodeOK, ""},
		{"dismissal of no delegate", "admin", func() *types.Tx { return f.redacted("admin", dlg("stranger", "MRN-1", true), ps1) }, types.CodeNotFound, "does not act for"},
	}
	for _, c := range cases {
		r := f.block(c.tx())[0]
		if r.Code != c.code || !strings.Contains(r.Reason, c.reason) {
			t.Fatalf("%s: got %s (%s), want %s (%q)", c.name, r.Code, r.Reason, c.code, c.reason)
		}
	}

	// identity_update_roles replaces clear delegations, keeps the others.
	f.mustOK("admin", &types.IdentityUpdateRoles{ID: "guardian", Roles: []string{types.RolePatient}, ActsFor: []string{"patient123"}})
	if id, _ := GetIdentity(f.view, "guardian"); len(id.ActsFor) != 2 || id.ActsFor[0] != "patient123" || id.ActsFor[1] != ps1 {
		t.Fatalf("acts_for after update_roles: %v", id.ActsFor)
	}
	f.mustOK("admin", &types.IdentityUpdateRoles{ID: "guardian", Roles: []string{types.RolePatient}})
	if id, _ := GetIdentity(f.view, "guardian"); len(id.ActsFor) != 1 || id.ActsFor[0] != ps1 {
		t.Fatalf("acts_for after update_roles without acts_for: %v", id.ActsFor)
	}

	// Admission checks the signed tx: the resolver links MRN-1 to ps1.
	resolve := func(patient string) (string, error) {
		if patient == "MRN-1" {
			return ps1, nil
		}
		return "", nil
	}
	signed := f.tx("guardian", grant("MRN-1"))
	if err := f.ex.AdmitTxHash(NewAdmission(), f.view, signed, signed.Hash(), f.nowMs); err == nil || !strings.Contains(err.Error(), "may not manage") {
		t.Fatalf("admission without the resolver: %v", err)
	}
	if err := f.ex.AdmitTxHash(NewAdmission().Pseudonyms(resolve), f.view, signed, signed.Hash(), f.nowMs); err != nil {
		t.Fatalf("admission of the delegate's grant: %v", err)
	}
	other := f.tx("stranger", grant("MRN-1"))
	if err := f.ex.AdmitTxHash(NewAdmission().Pseudonyms(resolve), f.view, other, other.Hash(), f.nowMs); err == nil || !strings.Contains(err.Error(), "may not manage") {
		t.Fatalf("admission of a stranger's grant: %v", err)
	}

	// Dismissed: the delegate speaks for the patient no more.
	if r := f.block(f.redacted("mrn-1", dlg("guardian", "MRN-1", true), ps1))[0]; !r.OK() {
		t.Fatalf("dismissal: %+v", r)
	}
	if r := f.block(f.redacted("guardian", grant("MRN-1"), ps1))[0]; r.Code != types.CodeUnauthorized {
		t.Fatalf("a dismissed delegate's grant: %+v", r)
	}
}
