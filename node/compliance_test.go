package node_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/store"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/node/compliance"
	"github.com/medchain/medchain/node/config"
	"github.com/medchain/medchain/node/nodetest"
)

func report(t *testing.T, n *nodetest.Node) *compliance.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := n.ComplianceReport(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func wantStatus(t *testing.T, r *compliance.Report, id string, want compliance.Status, evidence string) {
	t.Helper()
	c := r.Check(id)
	if c == nil {
		t.Fatalf("no check %q", id)
	}
	if c.Status != want || !strings.Contains(c.Evidence, evidence) {
		t.Errorf("%s: %s (%s), want %s with evidence containing %q", id, c.Status, c.Evidence, want, evidence)
	}
}

func recordAudit(t *testing.T, n *nodetest.Node, patient string) types.Hash {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rc, err := n.Signer(t, "doctor456").Send(ctx, &types.AuditRecord{EventType: "data_access", Patient: patient, Actor: "doctor456",
		Action: "view_record", Purpose: "treatment", Resource: "Observation/1"})
	if err != nil {
		t.Fatal(err)
	}
	return rc.TxHash
}

// TestComplianceReportLiveEvidence runs the report on real nodes and changes
// the evidence under it: HTTPS vs plain HTTP, the gate off vs on, an intact
// vs a tampered chain, recent audit events vs none, the key rotation policy.
func TestComplianceReportLiveEvidence(t *testing.T) {
	// A node with HTTPS (TLS 1.3, X25519MLKEM768) and a fresh chain, with
	// the gate turned off on purpose (ZEROTRUST_ENABLED=false, the dev
	// escape hatch): the report must fail access control and authentication.
	n := nodetest.Start(t, func(c *config.Config) { c.ZeroTrust.Enabled = false })
	r := report(t, n)
	wantStatus(t, r, "hipaa.transmission_security", compliance.Pass, "TLS 1.3")
	wantStatus(t, r, "hipaa.transmission_encryption", compliance.Pass, "X25519MLKEM768")
	wantStatus(t, r, "hipaa.access_control", compliance.Fail, "gate off")
	wantStatus(t, r, "hipaa.authentication", compliance.Fail, "gate off")
	wantStatus(t, r, "hipaa.audit_events", compliance.Fail, "no audit event")
	wantStatus(t, r, "hipaa.integrity", compliance.Fail, "no blocks yet")
	wantStatus(t, r, "hipaa.key_rotation", compliance.Pass, "active identities")
	wantStatus(t, r, "gdpr.access_portability", compliance.Pass, "matching its chain record")
	wantStatus(t, r, "gdpr.erasure", compliance.Pass, "no erasure requested yet")
	wantStatus(t, r, "hipaa.administrative", compliance.NotCheckable, "not checkable by the node")

	// An audit event makes the audit line pass.
	tx := recordAudit(t, n, "patient123")
	r = report(t, n)
	wantStatus(t, r, "hipaa.audit_events", compliance.Pass, "newest at")
	wantStatus(t, r, "hipaa.integrity", compliance.Pass, "whole chain")

	// Tamper with the stored tx index of that event: integrity fails.
	cfg := n.Config
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(cfg.Node.DataDir, "chain"), store.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	key := store.TxKey(tx)
	var orig []byte
	st.ScanRaw(key, func(k, v []byte) bool {
		if string(k) == string(key) {
			orig = append([]byte(nil), v...)
		}
		return false
	})
	if orig == nil {
		st.Close()
		t.Fatal("tx index entry not found")
	}
	bad := append([]byte(nil), orig...)
	bad[7] ^= 1
	if err := st.RawSetUnsafe(key, bad); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	n = nodetest.Restart(t, cfg)
	r = report(t, n)
	wantStatus(t, r, "hipaa.integrity", compliance.Fail, "FAILED")
	wantStatus(t, r, "gdpr.security_of_processing", compliance.Fail, "integrity")
	n.Stop()

	// Plain HTTP and the gate on (the default): transmission fails, access
	// control passes.
	m := nodetest.Start(t, func(c *config.Config) {
		c.RPC.InsecureHTTP = true
		c.Retention.AuditLogsDays = 365
	})
	r = report(t, m)
	wantStatus(t, r, "hipaa.transmission_security", compliance.Fail, "plain HTTP")
	wantStatus(t, r, "hipaa.transmission_encryption", compliance.Fail, "no TLS")
	wantStatus(t, r, "hipaa.access_control", compliance.Pass, "gate on")
	wantStatus(t, r, "hipaa.authentication", compliance.Pass, "MFA")
	wantStatus(t, r, "hipaa.audit_refusals", compliance.Pass, "access_denied")
	wantStatus(t, r, "gdpr.storage_limitation", compliance.Fail, "audit_logs_days 365")
}
