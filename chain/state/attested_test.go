package state

import (
	"errors"
	"strings"
	"testing"

	"github.com/medchain/medchain/chain/types"
)

// TestCheckAttestedLink: at the block cut the signed form of a redacted tx
// is checked exactly against the state the block builds on, for signers
// whose links to patients are by patient id (which execution of the
// redaction takes as attested). The dismissed delegate of the review's
// scenario is refused; links that execution compares exactly, role
// bypasses and other tx types pass untouched; a signer whose record changes
// earlier in the same cut is refused with a reason to resubmit; a dismissal
// that could never reach a delegation in clear is refused with the way to
// do it.
func TestCheckAttestedLink(t *testing.T) {
	f := contractFixture(t) // patient123 registered in clear (as in a genesis)
	ps1 := types.NewPseudonym([types.PseudonymSize]byte{1})
	psClear := types.NewPseudonym([types.PseudonymSize]byte{3}) // patient123's pseudonym on a chain that pseudonymizes
	f.registerRedacted("mrn-1", "MRN-1", ps1, 23)
	f.register("guardian", types.KindPerson, 21, types.RolePatient) // patient123 in clear; MRN-1 by pseudonym, then dismissed
	f.register("steward", types.KindPerson, 22, types.RolePatient)  // patient123 in clear; MRN-1 by pseudonym
	f.register("aide", types.KindPerson, 24, types.RolePatient)     // MRN-1 by pseudonym only
	f.register("officer", types.KindPerson, 25, types.RolePrivacyOfficer)
	f.mustOK("admin", &types.IdentityUpdateRoles{ID: "guardian", Roles: []string{types.RolePatient}, ActsFor: []string{"patient123"}})
	f.mustOK("admin", &types.IdentityUpdateRoles{ID: "steward", Roles: []string{types.RolePatient}, ActsFor: []string{"patient123"}})
	for _, id := range []string{"guardian", "steward", "aide"} {
		if r := f.block(f.redacted("mrn-1", &types.IdentityDelegate{ID: id, Patient: "MRN-1"}, ps1))[0]; !r.OK() {
			t.Fatalf("appoint %s: %+v", id, r)
		}
	}
	if r := f.block(f.redacted("mrn-1", &types.IdentityDelegate{ID: "guardian", Patient: "MRN-1", Revoke: true}, ps1))[0]; !r.OK() {
		t.Fatalf("dismiss guardian: %+v", r)
	}
	grant := grantOf
	for _, tc := range []struct {
		name      string
		signer    string
		p         types.Payload
		pseudonym string
		changing  bool
		wantCode  types.ResultCode // 0: passes
		wantWords string
	}{
		{"dismissed delegate with a link in clear elsewhere", "guardian", grant("MRN-1"), ps1, false, types.CodeUnauthorized, "may not manage consents"},
		{"dismissed delegate erasing", "guardian", &types.PatientErase{Patient: "MRN-1", Reason: "gdpr-art17"}, ps1, false, types.CodeUnauthorized, "may not erase"},
		{"delegate by pseudonym with a link in clear elsewhere", "steward", grant("MRN-1"), ps1, false, 0, ""},
		{"delegate by patient id", "steward", grant("patient123"), psClear, false, 0, ""},
		{"its record changes earlier in the cut", "steward", grant("MRN-1"), ps1, true, types.CodeConflict, "submit the tx again"},
		{"delegate by pseudonym only: execution compares exactly", "aide", grant("MRN-1"), ps1, true, 0, ""},
		{"the patient in clear", "patient123", grant("patient123"), psClear, false, 0, ""},
		{"a privacy officer erases any patient", "officer", &types.PatientErase{Patient: "MRN-1", Reason: "gdpr-art17"}, ps1, false, 0, ""},
		{"an admin appoints any delegate", "admin", &types.IdentityDelegate{ID: "aide", Patient: "patient123"}, psClear, false, 0, ""},
		{"an audit event is not checked", "doctor456", &types.AuditRecord{EventType: "data_access", Patient: "MRN-1", Actor: "doctor456", Action: "view"}, ps1, true, 0, ""},
		{"dismissing a delegate appointed in clear", "patient123", &types.IdentityDelegate{ID: "guardian", Patient: "patient123", Revoke: true}, psClear, false, types.CodeConflict, "an admin removes it with identity_update_roles"},
		{"dismissing a delegate appointed by pseudonym", "mrn-1", &types.IdentityDelegate{ID: "steward", Patient: "MRN-1", Revoke: true}, ps1, false, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := f.ex.CheckAttestedLink(f.view, f.tx(tc.signer, tc.p), tc.pseudonym, tc.changing)
			if tc.wantCode == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var te *TxError
			if !errors.As(err, &te) || te.Code != tc.wantCode || !strings.Contains(te.Reason, tc.wantWords) {
				t.Fatalf("got %v, want %s saying %q", err, tc.wantCode, tc.wantWords)
			}
		})
	}
}

// TestChangesIdentity names the identity a tx changes the record of.
func TestChangesIdentity(t *testing.T) {
	f := contractFixture(t)
	for _, tc := range []struct {
		p    types.Payload
		want string
	}{
		{&types.IdentityDelegate{ID: "guardian", Patient: "p"}, "guardian"},
		{&types.IdentityUpdateRoles{ID: "steward", Roles: []string{types.RolePatient}}, "steward"},
		{&types.IdentityRevoke{ID: "aide"}, "aide"},
		{grantOf("p"), ""},
		{&types.AuditRecord{EventType: "data_access", Patient: "p", Actor: "doctor456", Action: "view"}, ""},
	} {
		if got := ChangesIdentity(f.tx("admin", tc.p)); got != tc.want {
			t.Errorf("%T: %q, want %q", tc.p, got, tc.want)
		}
	}
}

func grantOf(patient string) *types.ConsentGrant {
	return &types.ConsentGrant{Patient: patient, ConsentType: "data_sharing", Granted: true, Scope: scope()}
}
