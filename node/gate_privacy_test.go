package node_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/consensus"
	"github.com/medchain/medchain/node/config"
	"github.com/medchain/medchain/node/nodetest"
	"github.com/medchain/medchain/node/rpc"
	"github.com/medchain/medchain/node/zerotrust"
)

// Strings a caller sends that the gate refuses, none of them a registered
// identity or a patient the chain records: each stands for a real person's
// MRN or name, which a refusal must not store in clear, for good.
const (
	callerMRN        = "MRN-4711-Jane-Doe"
	callerOtherMRN   = "MRN-0815-John-Roe"
	callerPatient    = "MRN-never-seen-9"
	callerRESTMRN    = "MRN-rest-77"
	callerBadIDShape = "Jane Doe"
)

// TestAGateRefusalRecordsNoCallerString: every refusal the gate records on
// chain names as its actor a registered identity or the anonymous actor,
// never the identity a caller merely claimed; its reason is the refusal's
// class, never a quote of caller input; it names a patient only when the
// chain records that patient, so neither an unauthenticated caller nor a
// session makes the leader draw a pseudonym and a key for a string it
// invented. No caller string reaches any block.
func TestAGateRefusalRecordsNoCallerString(t *testing.T) {
	n := nodetest.Start(t, func(c *config.Config) { c.ZeroTrust.Enabled = true })
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if _, err := n.Signer(t, "doctor456").Send(ctx, erasureEvent("view_record")); err != nil {
		t.Fatal(err)
	}
	ps, err := n.Pseudonym("patient123")
	if err != nil {
		t.Fatal(err)
	}
	r := rawRPC{t: t, hc: n.HTTPClient(t), u: n.URL}
	doc := n.SessionClient(t, "doctor456", "public") // before failed logins delay doctor456's and raise its risk
	key := n.Key(t, "doctor456")
	const dev = "laptop-1"
	bogus := zerotrust.Challenge{ChainID: "x", Purpose: zerotrust.PurposeLogin, Identity: "doctor456", Nonce: bytes.Repeat([]byte{7}, zerotrust.NonceSize), DeviceKeyID: dev}

	tests := []struct { // in order: the failed logins come last, as they raise the session's risk
		name   string
		refuse func(t *testing.T) // makes the gate refuse one request
		actor  string
		action string
		reason string
	}{
		{"a session naming a patient the chain does not record", func(t *testing.T) {
			wantCode(t, "audit_trail", r.call(doc.Token(), "audit_trail", rpc.TrailParams{Patient: callerPatient}), rpc.CodeForbidden)
		}, "doctor456", "audit_trail", "segment access refused"},
		{"a session naming a patient by pseudonym", func(t *testing.T) {
			wantCode(t, "patient_export", r.call(doc.Token(), "patient_export", rpc.ExportParams{Patient: ps}), rpc.CodeForbidden)
		}, "doctor456", "patient_export", "segment access refused"},
		{"no session, FHIR REST naming an unrecorded patient", func(t *testing.T) {
			resp, err := r.hc.Get(n.URL + "/fhir/AuditEvent?patient=Patient/" + callerRESTMRN)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", resp.StatusCode)
			}
		}, types.AnonymousActor, "fhir_auditTrail", "no session or an unknown session"},
		{"login as an unregistered MRN with a bogus nonce", func(t *testing.T) {
			_, res := r.login(rpc.LoginParams{Identity: callerMRN, DeviceKeyID: dev, Nonce: bogus.Nonce, Signature: signed(t, key, bogus)})
			wantCode(t, "login", res, rpc.CodeUnauthenticated)
		}, types.AnonymousActor, "auth_login", "challenge unknown or already used"},
		{"login as an unregistered MRN with its own challenge", func(t *testing.T) {
			c := r.challenge(callerOtherMRN, dev)
			_, res := r.login(rpc.LoginParams{Identity: callerOtherMRN, DeviceKeyID: dev, Nonce: c.Nonce, Signature: signed(t, key, c)})
			wantCode(t, "login", res, rpc.CodeUnauthenticated)
		}, types.AnonymousActor, "auth_login", "unknown identity"},
		{"login as a string that is no identity", func(t *testing.T) {
			_, res := r.login(rpc.LoginParams{Identity: callerBadIDShape, DeviceKeyID: dev, Nonce: bogus.Nonce, Signature: signed(t, key, bogus)})
			wantCode(t, "login", res, rpc.CodeInvalidParams)
		}, types.AnonymousActor, "auth_login", "invalid request"},
		{"login as a registered identity with a bogus nonce", func(t *testing.T) {
			r.challenge("doctor456", dev) // waits out the delay of an earlier failure
			_, res := r.login(rpc.LoginParams{Identity: "doctor456", DeviceKeyID: dev, Nonce: bogus.Nonce, Signature: signed(t, key, bogus)})
			wantCode(t, "login", res, rpc.CodeUnauthenticated)
		}, "doctor456", "auth_login", "challenge unknown or already used"},
		{"login as a registered identity with a challenge issued for an MRN", func(t *testing.T) {
			r.challenge("doctor456", dev)
			c := r.challenge(callerMRN, dev)
			_, res := r.login(rpc.LoginParams{Identity: "doctor456", DeviceKeyID: dev, Nonce: c.Nonce, Signature: signed(t, key, c)})
			wantCode(t, "login", res, rpc.CodeUnauthenticated)
		}, "doctor456", "auth_login", "challenge not issued for this identity, device or session"},
		{"login again at once after a failure", func(t *testing.T) {
			_, res := r.login(rpc.LoginParams{Identity: "doctor456", DeviceKeyID: dev, Nonce: bogus.Nonce, Signature: signed(t, key, bogus)})
			wantCode(t, "login", res, rpc.CodeLocked)
		}, "doctor456", "auth_login", "retry too soon after a failed attempt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.refuse(t)
			e := waitDenial(t, n, tt.actor, tt.action, tt.reason)
			if e.Record.Patient != "" || e.Record.Resource != "" || e.Sealed != nil {
				t.Fatalf("the refusal names patient %q, resource %q (sealed %d bytes); want none", e.Record.Patient, e.Record.Resource, len(e.Sealed))
			}
			if _, ok := e.Record.Details["address"]; ok {
				t.Fatalf("a refusal in clear keeps the address: %v", e.Record.Details)
			}
		})
	}

	for _, s := range []string{callerMRN, callerOtherMRN, callerPatient, callerRESTMRN, callerBadIDShape} {
		if p, _, err := n.Consensus().Patient(s); !errors.Is(err, consensus.ErrPatientUnknown) {
			t.Errorf("%q: a refusal minted pseudonym %q (%v)", s, p, err)
		}
	}
	if p, _, err := n.Consensus().Patient(ps); !errors.Is(err, consensus.ErrPatientUnknown) {
		t.Errorf("a refusal naming a pseudonym recorded it as a patient id: %q %v", p, err)
	}
	st := n.Consensus().Store()
	for h := uint64(1); h <= st.Height(); h++ {
		raw, err := st.RawBlock(h)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{callerMRN, callerOtherMRN, callerPatient, callerRESTMRN, callerBadIDShape} {
			if bytes.Contains(raw, []byte(s)) {
				t.Errorf("block %d holds the caller string %q", h, s)
			}
		}
	}
}

// waitDenial waits for the access_denied event of actor's trail with the
// given action and reason.
func waitDenial(t *testing.T, n *nodetest.Node, actor, action, reason string) state.AuditEntry {
	t.Helper()
	st := n.Consensus().Store()
	var seen []string
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		p, err := state.Trail(st, st, state.TrailQuery{ID: actor, ByActor: true, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		seen = seen[:0]
		for _, e := range p.Entries {
			if e.Record.EventType != types.EventAccessDenied {
				continue
			}
			if e.Record.Action == action && e.Record.Details["reason"] == reason {
				return e
			}
			seen = append(seen, e.Record.Action+": "+e.Record.Details["reason"])
		}
		if time.Now().After(deadline) {
			t.Fatalf("no access_denied %s by %s for %q; the actor's refusals: %s", action, actor, reason, strings.Join(seen, "; "))
		}
	}
}
