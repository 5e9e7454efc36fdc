package node_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/node/compliance"
	"github.com/medchain/medchain/node/nodetest"
)

// pseudonymLine returns the gdpr.pseudonymisation line of a fresh report
// and the pseudonymisation evidence it was judged on (from a second read:
// nothing is committed in between).
func pseudonymLine(t *testing.T, n *nodetest.Node) (*compliance.Check, compliance.PseudonymEvidence) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := report(t, n).Check("gdpr.pseudonymisation")
	if c == nil {
		t.Fatal("no gdpr.pseudonymisation line")
	}
	ev, err := n.ComplianceEvidence(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return c, ev.Pseudonyms
}

// noPatientNamed fails if the line's evidence names a patient id or a
// pseudonym.
func noPatientNamed(t *testing.T, c *compliance.Check, ids ...string) {
	t.Helper()
	for _, s := range append(ids, types.PseudonymPrefix) {
		if strings.Contains(c.Evidence, s) {
			t.Errorf("the evidence names %q: %s", s, c.Evidence)
		}
	}
}

// TestCompliancePseudonymisationCountsLiveRecords records, on a dev node
// (pseudonyms on), an audit event, a consent, contract calls (one flagged
// for review), a patient identity, a delegation and an erasure, and checks
// that the pseudonymisation line passes on counts read from state: each
// kind under a pseudonym, the genesis identity patient123 reported in clear
// by design, and no patient id or pseudonym in the evidence.
func TestCompliancePseudonymisationCountsLiveRecords(t *testing.T) {
	n := nodetest.Start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	c, ev := pseudonymLine(t, n)
	if c.Status != compliance.Pass || !strings.Contains(c.Evidence, "no record names a patient yet") ||
		!strings.Contains(c.Evidence, "genesis identities name patient ids in clear by design, as the genesis is written before any pseudonym exists (links: 1; patient identities: 1, delegations: 0)") {
		t.Fatalf("fresh dev chain: %s: %s", c.Status, c.Evidence)
	}
	if ev.GenesisPatients != 1 || !ev.On {
		t.Fatalf("fresh dev chain evidence: %+v", ev)
	}

	const mrn = "MRN-880022"
	recordAudit(t, n, "patient123")
	if _, err := n.Signer(t, "patient123").Send(ctx, &types.ConsentGrant{Patient: "patient123", ConsentType: "data_sharing", Granted: true,
		Scope: types.ConsentScope{Purposes: []string{"treatment"}, Parties: []string{"doctor456"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Signer(t, "privacy_officer").Send(ctx, &types.ContractDeploy{ID: "emergency", Source: types.ContractSource{Template: "break-glass"}}); err != nil {
		t.Fatal(err)
	}
	if r := execute(ctx, t, n, "doctor456", &types.ContractExecute{ContractID: "emergency", Action: "read", Purpose: "treatment", Patient: "patient123"}); !r.Allowed() {
		t.Fatalf("call under the consent: %+v", r.Result)
	}
	if r := execute(ctx, t, n, "doctor456", &types.ContractExecute{ContractID: "emergency", Action: "read", Purpose: "emergency", Patient: "patient123"}); !r.ReviewRequired {
		t.Fatalf("break-glass call: %+v", r.Result)
	}
	admin := n.Signer(t, "admin")
	for _, reg := range []*types.IdentityRegister{
		{ID: "mroe", Kind: types.KindPatient, Roles: []string{types.RolePatient}, Patient: mrn},
		{ID: "guardian2", Kind: types.KindPerson, Roles: []string{types.RolePatient}},
	} {
		reg.PublicKey = newIdentityKey(t, n, reg.ID).Public()
		if _, err := admin.Send(ctx, reg); err != nil {
			t.Fatalf("register %s: %v", reg.ID, err)
		}
	}
	if _, err := admin.Send(ctx, &types.IdentityDelegate{ID: "guardian2", Patient: mrn}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Signer(t, "privacy_officer").Send(ctx, &types.PatientErase{Patient: mrn, Reason: "gdpr-art17"}); err != nil {
		t.Fatal(err)
	}

	c, ev = pseudonymLine(t, n)
	if c.Status != compliance.Pass {
		t.Fatalf("%s: %s", c.Status, c.Evidence)
	}
	ev.Err = nil
	want := compliance.PseudonymEvidence{On: true,
		AuditEvents:     compliance.PseudonymCount{Named: 1, Pseudonymous: 1},
		Consents:        compliance.PseudonymCount{Named: 1, Pseudonymous: 1},
		Executions:      compliance.PseudonymCount{Named: 2, Pseudonymous: 2},
		Reviews:         compliance.PseudonymCount{Named: 1, Pseudonymous: 1},
		Identities:      compliance.PseudonymCount{Named: 1, Pseudonymous: 1},
		Delegations:     compliance.PseudonymCount{Named: 1, Pseudonymous: 1},
		Erasures:        compliance.PseudonymCount{Named: 1, Pseudonymous: 1},
		GenesisPatients: 1,
	}
	if ev != want {
		t.Fatalf("evidence\n%+v, want\n%+v", ev, want)
	}
	for _, s := range []string{"every record that names a patient names a pseudonym", "1 of 1 audit events", "1 of 1 consents",
		"2 of 2 contract executions", "1 of 1 break-glass reviews", "1 of 1 patient identities", "1 of 1 delegations", "1 of 1 erasures",
		"(links: 1; patient identities: 1, delegations: 0)"} {
		if !strings.Contains(c.Evidence, s) {
			t.Errorf("evidence lacks %q: %s", s, c.Evidence)
		}
	}
	noPatientNamed(t, c, "patient123", mrn)
	t.Logf("evidence: %s", c.Evidence)
}

// TestCompliancePseudonymisationFailsWithoutPseudonyms: on a node without a
// cluster data key, an audit event about patient123 is stored in clear and
// the line fails with the count, naming neither the patient nor a
// pseudonym.
func TestCompliancePseudonymisationFailsWithoutPseudonyms(t *testing.T) {
	n := nodetest.StartWith(t, nil, node.WithoutPseudonyms(node.Options{}))
	recordAudit(t, n, "patient123")
	c, ev := pseudonymLine(t, n)
	if c.Status != compliance.Fail || !strings.Contains(c.Evidence, "without pseudonyms (no cluster data key)") ||
		!strings.Contains(c.Evidence, "records that name a patient: 1, in clear: 1") || !strings.Contains(c.Evidence, "0 of 1 audit events") {
		t.Fatalf("%s: %s", c.Status, c.Evidence)
	}
	if ev.On || ev.AuditEvents != (compliance.PseudonymCount{Named: 1}) {
		t.Fatalf("evidence %+v", ev)
	}
	noPatientNamed(t, c, "patient123")
}
