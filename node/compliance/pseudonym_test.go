package compliance

import (
	"errors"
	"strings"
	"testing"
)

// pseudonymous is evidence from a node with pseudonyms on where every kind
// of record names patients under pseudonyms only.
func pseudonymous() PseudonymEvidence {
	return PseudonymEvidence{On: true,
		AuditEvents: PseudonymCount{Named: 100, Pseudonymous: 100, NoPatient: 3},
		Consents:    PseudonymCount{Named: 4, Pseudonymous: 4},
		Executions:  PseudonymCount{Named: 5, Pseudonymous: 5, NoPatient: 1},
		Reviews:     PseudonymCount{Named: 1, Pseudonymous: 1},
		Identities:  PseudonymCount{Named: 2, Pseudonymous: 2},
		Delegations: PseudonymCount{Named: 6, Pseudonymous: 6},
		Erasures:    PseudonymCount{Named: 1, Pseudonymous: 1},
	}
}

// TestPseudonymisationJudgedOnCounts: the line passes only with pseudonyms
// on and no record naming a patient in clear (genesis identities aside),
// and its evidence names the kinds at fault with their counts.
func TestPseudonymisationJudgedOnCounts(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(p *PseudonymEvidence)
		want   Status
		has    []string // substrings the evidence must hold
	}{
		{"every kind under pseudonyms", func(p *PseudonymEvidence) {}, Pass,
			[]string{"every record that names a patient names a pseudonym", "100 of 100 audit events", "4 of 4 consents",
				"5 of 5 contract executions", "1 of 1 break-glass reviews", "2 of 2 patient identities", "6 of 6 delegations", "1 of 1 erasures",
				"stored in clear by design (access denials: 3, contract executions: 1)"}},
		{"audit event in clear", func(p *PseudonymEvidence) { p.AuditEvents.Named++ }, Fail,
			[]string{"records that name a patient in clear: 1 of 120 (1 of 101 audit events);"}},
		{"consent in clear", func(p *PseudonymEvidence) { p.Consents.Named += 2 }, Fail,
			[]string{"in clear: 2 of 121 (2 of 6 consents);"}},
		{"contract execution in clear", func(p *PseudonymEvidence) { p.Executions.Named++ }, Fail,
			[]string{"in clear: 1 of 120 (1 of 6 contract executions);"}},
		{"review in clear", func(p *PseudonymEvidence) { p.Reviews.Named++ }, Fail,
			[]string{"in clear: 1 of 120 (1 of 2 break-glass reviews);"}},
		{"patient identity in clear", func(p *PseudonymEvidence) { p.Identities.Named++ }, Fail,
			[]string{"in clear: 1 of 120 (1 of 3 patient identities);"}},
		{"delegation in clear", func(p *PseudonymEvidence) { p.Delegations.Named++ }, Fail,
			[]string{"in clear: 1 of 120 (1 of 7 delegations);"}},
		{"erasure in clear", func(p *PseudonymEvidence) { p.Erasures.Named++ }, Fail,
			[]string{"in clear: 1 of 120 (1 of 2 erasures);"}},
		{"two kinds in clear", func(p *PseudonymEvidence) { p.AuditEvents.Named++; p.Delegations.Named++ }, Fail,
			[]string{"in clear: 2 of 121 (1 of 101 audit events, 1 of 7 delegations);"}},
		{"without pseudonyms", func(p *PseudonymEvidence) { p.On, p.Off = false, "no cluster data key" }, Fail,
			[]string{"no cluster data key; records that name a patient: 119, in clear: 0 (under a pseudonym: 100 of 100 audit events"}},
		{"without pseudonyms, records in clear", func(p *PseudonymEvidence) {
			*p = PseudonymEvidence{AuditEvents: PseudonymCount{Named: 9}, GenesisPatients: 1}
		}, Fail, []string{"this node runs without pseudonyms; records that name a patient: 9, in clear: 9", "(links: 1; patient identities: 1, delegations: 0)"}},
		{"without pseudonyms, empty chain", func(p *PseudonymEvidence) { *p = PseudonymEvidence{} }, Fail,
			[]string{"without pseudonyms; records that name a patient: 0, in clear: 0"}},
		{"only genesis identities in clear", func(p *PseudonymEvidence) {
			*p = PseudonymEvidence{On: true, GenesisPatients: 1, GenesisDelegations: 2}
		}, Pass, []string{"no record names a patient yet", "genesis identities name patient ids in clear by design", "(links: 3; patient identities: 1, delegations: 2)"}},
		{"genesis identities in clear beside pseudonyms", func(p *PseudonymEvidence) { p.GenesisPatients = 1 }, Pass,
			[]string{"every record that names a patient names a pseudonym", "(links: 1; patient identities: 1, delegations: 0)"}},
		{"empty chain", func(p *PseudonymEvidence) { *p = PseudonymEvidence{On: true} }, Pass,
			[]string{"no record names a patient yet"}},
		{"only denials naming no patient", func(p *PseudonymEvidence) {
			*p = PseudonymEvidence{On: true, AuditEvents: PseudonymCount{NoPatient: 4}}
		}, Pass, []string{"no record names a patient yet", "(access denials: 4, contract executions: 0)"}},
		{"records unreadable", func(p *PseudonymEvidence) { p.Err = errors.New("the consents could not be read") }, Fail,
			[]string{"could not read every record that names a patient: the consents could not be read"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := good()
			e.Pseudonyms = pseudonymous()
			tc.change(&e.Pseudonyms)
			r := Evaluate(e)
			c := r.Check("gdpr.pseudonymisation")
			if c == nil {
				t.Fatal("no gdpr.pseudonymisation line")
			}
			if c.Status != tc.want {
				t.Errorf("status %s, want %s: %s", c.Status, tc.want, c.Evidence)
			}
			for _, h := range tc.has {
				if !strings.Contains(c.Evidence, h) {
					t.Errorf("evidence %q lacks %q", c.Evidence, h)
				}
			}
			if c.Framework != "GDPR" || c.Standard != "GDPR Art. 25(1), 32(1)(a)" || c.Title != "Pseudonymisation of patient data" {
				t.Errorf("line %+v", c)
			}
			// The other lines do not depend on this evidence.
			base := Evaluate(good())
			for _, o := range r.Checks {
				if o.ID != c.ID && o.Status != base.Check(o.ID).Status {
					t.Errorf("%s changed to %s", o.ID, o.Status)
				}
			}
		})
	}
}
