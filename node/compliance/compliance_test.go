package compliance

import (
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/verify"
	"github.com/medchain/medchain/node/config"
	"github.com/medchain/medchain/node/zerotrust"
)

var now = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// good is evidence from a well-run node: every checkable line but erasure passes.
func good() Evidence {
	gc := zerotrust.DefaultConfig()
	return Evidence{
		Now: now, NodeID: "node-1", ChainID: "medchain-dev", Height: 10,
		TLS:  &tls.Config{MinVersion: tls.VersionTLS13, CurvePreferences: []tls.CurveID{tls.X25519MLKEM768, tls.X25519}},
		Gate: &gc, DenialsRecorded: true,
		Audit:    AuditEvidence{Blocks: 10, Total: 9, Events: 7, Denied: 1, Latest: now.Add(-time.Hour)},
		Verify:   VerifyEvidence{Report: &verify.Report{OK: true, From: 1, To: 10, Blocks: 10, Txs: 20}, Full: true},
		Keys:     KeyEvidence{Checked: 4, Oldest: 24 * time.Hour, OldID: "admin"},
		Consents: ConsentEvidence{Total: 2, Active: 1, Revoked: 1},
		Export:   ExportEvidence{Available: true, Detail: "signed by node-1"},
		Erasure:  ErasureEvidence{Recorded: 2, Complete: 2},
		Pseudonyms: PseudonymEvidence{On: true, AuditEvents: PseudonymCount{Named: 7, Pseudonymous: 7, NoPatient: 2},
			Consents: PseudonymCount{Named: 2, Pseudonymous: 2}, Executions: PseudonymCount{Named: 1, Pseudonymous: 1},
			Erasures: PseudonymCount{Named: 2, Pseudonymous: 2}},
		Retention: config.DefaultRetention(),
		Pruner:    goodPruner(),
		Policy:    config.DefaultConfig().Compliance,
	}
}

// goodPruner: the pruner runs every 6 hours and is up to date: the oldest
// block each pass has not visited is younger than its period.
func goodPruner() RetentionEvidence {
	return RetentionEvidence{Enabled: true, IntervalSeconds: 6 * 3600, LastRun: now.Add(-time.Hour),
		Passes: []RetentionPass{
			{Pass: "audit", Field: "audit_logs_days", Days: 2555, Cutoff: now.Add(-2555 * 24 * time.Hour), PrunedUpTo: 40, PrunedTxs: 75,
				NextHeight: 41, NextTime: now.Add(-2554 * 24 * time.Hour)},
			{Pass: "research", Field: "research_data_days", Days: 3650, Cutoff: now.Add(-3650 * 24 * time.Hour), NextHeight: 1, NextTime: now.Add(-2600 * 24 * time.Hour)},
		},
		NotStored: []RetentionNote{{Field: "api_logs_days", Note: "the node keeps no API log"}}}
}

func status(t *testing.T, r *Report, id string) Status {
	t.Helper()
	c := r.Check(id)
	if c == nil {
		t.Fatalf("no check %q", id)
	}
	if c.Evidence == "" || c.Standard == "" {
		t.Errorf("check %q has no evidence or standard: %+v", id, c)
	}
	return c.Status
}

func TestGoodEvidencePasses(t *testing.T) {
	r := Evaluate(good())
	for _, c := range r.Checks {
		want := Pass
		switch {
		case c.ID == "hipaa.administrative", c.ID == "hipaa.physical", c.ID == "hipaa.encryption_at_rest", c.ID == "gdpr.organisational":
			want = NotCheckable
		}
		if c.Status != want {
			t.Errorf("%s: %s (%s), want %s", c.ID, c.Status, c.Evidence, want)
		}
	}
	if r.Summary.Pass+r.Summary.Fail+r.Summary.NotCheckable != len(r.Checks) || r.Summary.Fail != 0 {
		t.Errorf("summary %+v over %d checks", r.Summary, len(r.Checks))
	}
	if e := r.Check("gdpr.erasure").Evidence; !strings.Contains(e, "2 erasure(s) recorded, all complete") {
		t.Errorf("erasure evidence %q", e)
	}
	e := r.Check("gdpr.storage_limitation").Evidence
	for _, want := range []string{"audit pass (audit_logs_days 2555): pruned up to height 40, 75 sealed payloads", "oldest unpruned block 41 is 2554 days old",
		"api_logs_days: the node keeps no API log", "never pruned"} {
		if !strings.Contains(e, want) {
			t.Errorf("retention evidence %q lacks %q", e, want)
		}
	}
	if r.Retention == nil || len(r.Retention.Passes) != 2 {
		t.Errorf("the report does not carry the pruner's state: %+v", r.Retention)
	}
}

// TestPrunerWithinGraceOfItsPeriodPasses: a block a few hours past its
// period passes while the pruner runs (it is within two intervals of it).
func TestPrunerWithinGraceOfItsPeriodPasses(t *testing.T) {
	e := good()
	e.Pruner.Passes[0].NextTime = now.Add(-2555*24*time.Hour - 2*time.Hour)
	if st := status(t, Evaluate(e), "gdpr.storage_limitation"); st != Pass {
		t.Fatalf("storage limitation %s, want pass within the grace", st)
	}
}

// TestChecksFlip changes one piece of evidence at a time and checks that the
// lines that depend on it flip from pass to fail.
func TestChecksFlip(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(e *Evidence)
		fail   []string
	}{
		{"erasure not complete here", func(e *Evidence) {
			e.Erasure = ErasureEvidence{Recorded: 2, Complete: 1, Pending: []string{"erasure at raft index 9: raft_log_compacted, snapshots_pruned"}}
		}, []string{"gdpr.erasure"}},
		{"no pseudonyms", func(e *Evidence) {
			e.Erasure = ErasureEvidence{Unsupported: "no cluster data key"}
			e.Pseudonyms.On, e.Pseudonyms.Off = false, "no cluster data key"
		}, []string{"gdpr.erasure", "gdpr.pseudonymisation"}},
		{"a consent in clear", func(e *Evidence) { e.Pseudonyms.Consents.Named++ }, []string{"gdpr.pseudonymisation"}},
		{"erasures unreadable", func(e *Evidence) { e.Erasure = ErasureEvidence{Err: errors.New("disk")} }, []string{"gdpr.erasure"}},
		{"plain HTTP", func(e *Evidence) { e.TLS = nil },
			[]string{"hipaa.transmission_security", "hipaa.transmission_encryption", "gdpr.security_of_processing"}},
		{"TLS 1.2", func(e *Evidence) { e.TLS.MinVersion = tls.VersionTLS12 }, []string{"hipaa.transmission_security", "gdpr.security_of_processing"}},
		{"no PQ curve", func(e *Evidence) { e.TLS.CurvePreferences = []tls.CurveID{tls.X25519} }, []string{"hipaa.transmission_encryption"}},
		{"tlsmlkem=0", func(e *Evidence) { e.GODEBUG = "tlsmlkem=0" }, []string{"hipaa.transmission_encryption"}},
		{"gate off", func(e *Evidence) { e.Gate, e.DenialsRecorded = nil, false },
			[]string{"hipaa.access_control", "hipaa.automatic_logoff", "hipaa.authentication", "hipaa.audit_refusals", "gdpr.security_of_processing"}},
		{"long idle timeout", func(e *Evidence) { e.Gate.IdleTimeout = 2 * time.Hour }, []string{"hipaa.automatic_logoff"}},
		{"policy without MFA", func(e *Evidence) {
			for i, p := range e.Gate.Policies {
				if p.Name == zerotrust.PolicyPatientDataAccess {
					e.Gate.Policies[i] = zerotrust.SeedPolicy(p.Name, []string{"clinician"}, 30, zerotrust.SegmentClinical, false)
				}
			}
			r := e.Gate.Segments[zerotrust.SegmentClinical]
			r.RequireMFA = false
			e.Gate.Segments[zerotrust.SegmentClinical] = r
		}, []string{"hipaa.authentication", "gdpr.security_of_processing"}},
		{"tampered chain", func(e *Evidence) {
			e.Verify.Report = &verify.Report{OK: false, From: 1, To: 10, Blocks: 10, Faults: []verify.Fault{{Height: 3, What: "tx root mismatch"}}}
		}, []string{"hipaa.integrity", "gdpr.security_of_processing"}},
		{"verify error", func(e *Evidence) { e.Verify = VerifyEvidence{Err: errors.New("disk")} }, []string{"hipaa.integrity", "gdpr.security_of_processing"}},
		{"no recent audit", func(e *Evidence) { e.Audit.Latest = now.Add(-60 * 24 * time.Hour) }, []string{"hipaa.audit_events"}},
		{"no audit at all", func(e *Evidence) { e.Audit = AuditEvidence{Blocks: 10} }, []string{"hipaa.audit_events"}},
		{"dropped refusals", func(e *Evidence) { e.DenialsDropped = 3 }, []string{"hipaa.audit_refusals"}},
		{"old key", func(e *Evidence) { e.Keys.NOver, e.Keys.Over = 1, []string{"doctor (400 days)"} }, []string{"hipaa.key_rotation"}},
		{"expired consent active", func(e *Evidence) { e.Consents.ExpiredActive, e.Consents.ExpiredActiveTypes = 1, []string{"research"} },
			[]string{"gdpr.consent_records"}},
		{"short audit retention", func(e *Evidence) { e.Retention.AuditLogsDays = 365 }, []string{"gdpr.storage_limitation"}},
		{"long API log retention", func(e *Evidence) { e.Retention.APILogsDays = 1000 }, []string{"gdpr.storage_limitation"}},
		{"pruner behind its period", func(e *Evidence) { e.Pruner.Passes[0].NextTime = now.Add(-2600 * 24 * time.Hour) }, []string{"gdpr.storage_limitation"}},
		{"pruner skipped its periods (clock ahead of the chain)", func(e *Evidence) {
			e.Pruner.Skipped = "the clock is 400 days ahead of the head block"
		}, []string{"gdpr.storage_limitation"}},
		{"pruner off, data a few hours past its period", func(e *Evidence) {
			e.Pruner.Enabled, e.Pruner.IntervalSeconds = false, 0
			e.Pruner.Passes[0].NextTime = now.Add(-2555*24*time.Hour - 2*time.Hour)
		}, []string{"gdpr.storage_limitation"}},
		{"last pruning run failed", func(e *Evidence) { e.Pruner.LastError = "store: corrupt record" }, []string{"gdpr.storage_limitation"}},
		{"pruner state unreadable", func(e *Evidence) { e.Pruner.Err = errors.New("disk") }, []string{"gdpr.storage_limitation"}},
		{"no pruner state", func(e *Evidence) { e.Pruner = RetentionEvidence{} }, []string{"gdpr.storage_limitation"}},
		{"export unavailable", func(e *Evidence) { e.Export = ExportEvidence{Detail: "node key differs from its chain record"} },
			[]string{"gdpr.access_portability"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := Evaluate(good())
			e := good()
			tc.change(&e)
			after := Evaluate(e)
			for _, id := range tc.fail {
				if b, a := status(t, before, id), status(t, after, id); b != Pass || a != Fail {
					t.Errorf("%s: %s -> %s, want pass -> fail (%s)", id, b, a, after.Check(id).Evidence)
				}
			}
			// Nothing else changes.
			for _, c := range after.Checks {
				if !contains(tc.fail, c.ID) && c.Status != before.Check(c.ID).Status {
					t.Errorf("%s changed too: %s -> %s (%s)", c.ID, before.Check(c.ID).Status, c.Status, c.Evidence)
				}
			}
		})
	}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
