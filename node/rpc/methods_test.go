package rpc

import (
	"strings"
	"testing"
	"time"

	"github.com/medchain/medchain/node/zerotrust"
)

// TestEveryMethodHasARule registers every namespace (the gate's auth_ and
// session_ ones and cluster_ included) and checks that each JSON-RPC method
// either has a rule in MethodRules or is one of the gate's own session
// methods: no method falls through to the default deny by accident, and
// none is reachable without a decision.
func TestEveryMethodHasARule(t *testing.T) {
	h := newHarness(t)
	zc := zerotrust.TestConfig()
	zc.Methods = MethodRules()
	g, err := zerotrust.NewGate(zc, zerotrust.Options{Identities: zerotrust.NewMemIdentities()})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	s, err := NewServer(h.l, ServerConfig{MaxBodyBytes: 1 << 20, BatchLimit: 100, BatchResponseBytes: 1 << 20,
		MaxTxBytes: 16 << 10, WaitTimeout: time.Second, Gate: &GateConfig{Gate: g}})
	if err != nil {
		t.Fatal(err)
	}
	methods := append(s.Methods(), serviceMethods("cluster", &ClusterAPI{})...)
	if len(methods) < 30 {
		t.Fatalf("only %d methods registered: %v", len(methods), methods)
	}
	for _, m := range methods {
		if openMethods[m] || sessionMethods[m] {
			if !strings.HasPrefix(m, "auth_") && !strings.HasPrefix(m, "session_") {
				t.Errorf("%s bypasses the method table", m)
			}
			continue
		}
		seg, ok := g.MethodSegment(m)
		if !ok {
			t.Errorf("%s has no rule in MethodRules", m)
			continue
		}
		t.Logf("%-24s %s", m, seg)
	}
	for _, m := range []string{"auth_challenge", "auth_login", "auth_refresh", "auth_logout", "auth_mfaEnroll", "session_status", "session_segment"} {
		found := false
		for _, r := range methods {
			found = found || r == m
		}
		if !found {
			t.Errorf("%s is not registered", m)
		}
	}
	// The sensitive ones sit where the security model puts them.
	for m, want := range map[string]zerotrust.Segment{
		"node_status": zerotrust.SegmentPublic, "chain_head": zerotrust.SegmentPublic, "crypto_algorithms": zerotrust.SegmentPublic,
		"audit_trail": zerotrust.SegmentClinical, "consent_get": zerotrust.SegmentClinical, "fhir_auditTrail": zerotrust.SegmentClinical,
		"contract_execute": zerotrust.SegmentCritical, "cluster_transferLeader": zerotrust.SegmentInternal, "identity_get": zerotrust.SegmentInternal,
	} {
		if seg, _ := g.MethodSegment(m); seg != want {
			t.Errorf("%s in %s, want %s", m, seg, want)
		}
	}
	if _, ok := g.MethodSegment("rpc_modules"); ok {
		t.Error("rpc_modules has a rule")
	}
}
