package rpc

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/medchain/medchain/node/zerotrust"
)

// deniedLog collects what the gate hands OnDenied.
type deniedLog struct {
	mu sync.Mutex
	ds []Denial
}

func (d *deniedLog) record(x Denial) {
	d.mu.Lock()
	d.ds = append(d.ds, x)
	d.mu.Unlock()
}

func (d *deniedLog) since(n int) []Denial {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Denial(nil), d.ds[n:]...)
}

func (d *deniedLog) len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.ds)
}

// TestEveryGateRefusalPathHandsOnAClassReason: each path on which the gate
// refuses a request (a call without a session, JSON or CBOR; a call outside
// the session's segment naming a patient; a refused segment move; a failed
// login claiming an MRN; a FHIR REST search without a session; the rate
// limit) hands the recorder a Denial whose reason is the refusal's class
// text, never a quote of the request, and whose method and policy come
// from the server and its config. Identity, patient and resource are caller
// input the recorder filters (node/gate.go); a REST patient comes without
// its "Patient/" prefix, as the search reads it.
func TestEveryGateRefusalPathHandsOnAClassReason(t *testing.T) {
	const mrn = "MRN-4711-Jane-Doe"
	h := newHarness(t)
	key, ids, zc := gatedDoctor(t, 9)
	zc.RateLimit.Burst = 6
	zc.Request.MaxBodyBytes = 1 << 20
	g, err := zerotrust.NewGate(zc, zerotrust.Options{Identities: ids})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	var denied deniedLog
	s, err := NewServer(h.l, ServerConfig{MaxBodyBytes: 10 << 20, BatchLimit: 1000, BatchResponseBytes: 25 << 20,
		MaxTxBytes: 16 << 10, WaitTimeout: 5 * time.Second, Gate: &GateConfig{Gate: g, OnDenied: denied.record},
		Handlers: FHIRHandlers(h.l, "test", time.Now())})
	if err != nil {
		t.Fatal(err)
	}
	token := loginDoctor(t, g, key)
	send := func(method, path, ctype, tok string, body []byte) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, bytes.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		return rec
	}
	jsonCall := func(tok, method string, params any) *httptest.ResponseRecorder {
		b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": []any{params}})
		return send(http.MethodPost, "/", "application/json", tok, b)
	}
	bogus := zerotrust.Challenge{ChainID: "x", Purpose: zerotrust.PurposeLogin, Identity: mrn, Nonce: bytes.Repeat([]byte{3}, zerotrust.NonceSize), DeviceKeyID: "laptop"}
	sig, err := key.Sign(bogus.SignBytes())
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		refuse   func()
		method   string
		reason   string
		identity string
		patient  string
	}{
		{"JSON without a session", func() { jsonCall("", "audit_trail", TrailParams{Patient: mrn}) },
			"audit_trail", "no session or an unknown session", "", mrn},
		{"CBOR without a session", func() {
			send(http.MethodPost, "/", ContentTypeCBOR, "", cborReq(t, "audit_trail", map[string]any{"patient": mrn}))
		}, "audit_trail", "no session or an unknown session", "", mrn},
		{"a clinical call from a public session", func() { jsonCall(token, "consent_get", ConsentParams{Patient: mrn, ConsentType: "data_sharing"}) },
			"consent_get", "segment access refused", "doctor456", mrn},
		{"a CBOR clinical call from a public session", func() {
			send(http.MethodPost, "/", ContentTypeCBOR, token, cborReq(t, "patient_export", map[string]any{"patient": mrn}))
		}, "patient_export", "segment access refused", "doctor456", mrn},
		{"a move into a segment that requires MFA", func() { jsonCall(token, "session_segment", "critical") },
			"session_segment", "segment access refused: segment critical requires MFA", "doctor456", ""},
		{"a login claiming an MRN", func() {
			jsonCall("", "auth_login", LoginParams{Identity: mrn, DeviceKeyID: "laptop", Nonce: bogus.Nonce, Signature: sig})
		}, "auth_login", "challenge unknown or already used", mrn, ""},
		{"FHIR REST without a session", func() { send(http.MethodGet, "/fhir/AuditEvent?patient=Patient/"+mrn, "", "", nil) },
			"fhir_auditTrail", "no session or an unknown session", "", mrn},
		{"the rate limit", func() {
			for range 10 {
				if rec := jsonCall(token, "chain_head", nil); strings.Contains(rec.Body.String(), "rate_limited") {
					return
				}
			}
			t.Fatal("the rate limit never refused")
		}, "chain_head", "rate limit exceeded", "doctor456", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := denied.len()
			tt.refuse()
			ds := denied.since(n)
			if len(ds) != 1 {
				t.Fatalf("%d denials handed on, want 1: %+v", len(ds), ds)
			}
			d := ds[0]
			if d.Method != tt.method || d.Reason != tt.reason || d.Identity != tt.identity || d.Patient != tt.patient {
				t.Fatalf("denial %+v, want method %s reason %q identity %q patient %q", d, tt.method, tt.reason, tt.identity, tt.patient)
			}
			if strings.Contains(d.Reason+d.Policy+d.Method, mrn) {
				t.Fatalf("reason, policy or method quotes the request: %+v", d)
			}
		})
	}
}
