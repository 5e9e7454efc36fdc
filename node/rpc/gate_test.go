package rpc

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/node/zerotrust"
)

// TestGateAuthorizesTheCallTheServerRuns sends bodies whose method is
// spelled so that readers could disagree (encoding/json matches keys
// case-insensitively, the JSON-RPC server exactly): the gate must decide on
// the method the server runs, so a public session never reaches a clinical
// method. Before the gate read calls the server's way, the case-folded
// "Method":"chain_head" after "method":"audit_trail" passed the gate as
// chain_head and ran audit_trail.
// gatedDoctor returns the key of doctor456 (drawn from seed), an identity
// store holding doctor456 as a clinician cleared for every segment, and the
// test gate config with the server's method rules and sessions that
// outlast a slow test run: the base of the tests that send calls through a
// gate.
func gatedDoctor(t testing.TB, seed byte) (*crypto.PrivateKey, *zerotrust.MemIdentities, zerotrust.Config) {
	t.Helper()
	key, err := crypto.GenerateKey(crypto.MLDSA65, rand.NewChaCha8([32]byte{seed}))
	if err != nil {
		t.Fatal(err)
	}
	ids := zerotrust.NewMemIdentities()
	ids.Put("doctor456", zerotrust.Identity{Roles: []string{"clinician"}, PublicKey: key.Public(), Clearance: zerotrust.SegmentCritical})
	zc := zerotrust.TestConfig()
	zc.Methods = MethodRules()
	zc.ReauthInterval, zc.IdleTimeout = 20*time.Second, 20*time.Second
	return key, ids, zc
}

func TestGateAuthorizesTheCallTheServerRuns(t *testing.T) {
	h := newHarness(t)
	key, ids, zc := gatedDoctor(t, 7)
	g, err := zerotrust.NewGate(zc, zerotrust.Options{Identities: ids})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	s, err := NewServer(h.l, ServerConfig{MaxBodyBytes: 1 << 20, BatchLimit: 100, BatchResponseBytes: 1 << 20,
		MaxTxBytes: 16 << 10, WaitTimeout: time.Second, Gate: &GateConfig{Gate: g}})
	if err != nil {
		t.Fatal(err)
	}
	token := loginDoctor(t, g, key)
	// The session is public; audit_trail is clinical.
	tests := []struct {
		name    string
		body    string
		allowed bool
	}{
		{"public method", `{"jsonrpc":"2.0","id":1,"method":"chain_head","params":[]}`, true},
		{"clinical method", `{"jsonrpc":"2.0","id":1,"method":"audit_trail","params":[{"patient":"patient123"}]}`, false},
		{"a case-folded key hiding a clinical method", `{"jsonrpc":"2.0","id":1,"method":"audit_trail","Method":"chain_head","params":[{"patient":"patient123"}]}`, false},
		{"a case-folded key the server ignores", `{"jsonrpc":"2.0","id":1,"method":"chain_head","METHOD":"audit_trail","params":[]}`, true},
		{"repeated key: the last wins", `{"jsonrpc":"2.0","id":1,"method":"chain_head","method":"audit_trail","params":[{"patient":"patient123"}]}`, false},
		{"escaped key", `{"jsonrpc":"2.0","id":1,"m\u0065thod":"audit_trail","params":[{"patient":"patient123"}]}`, false},
		{"escaped method", `{"jsonrpc":"2.0","id":1,"method":"audit\u005ftrail","params":[{"patient":"patient123"}]}`, false},
		{"batch hiding a clinical call", `[{"jsonrpc":"2.0","id":1,"method":"chain_head"},{"jsonrpc":"2.0","id":2,"method":"audit_trail","Method":"chain_head","params":[{"patient":"patient123"}]}]`, false},
		{"a later non-string method", `{"jsonrpc":"2.0","id":1,"method":"audit_trail","method":7,"params":[{"patient":"patient123"}]}`, false},
		{"entry that is not a call", `[{"jsonrpc":"2.0","id":1,"method":"chain_head"},7]`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+token)
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, req)
			var single struct {
				Error *struct{ Code int } `json:"error"`
			}
			var batch []struct {
				Error *struct{ Code int } `json:"error"`
			}
			body := rec.Body.Bytes()
			refused := false
			if json.Unmarshal(body, &single) == nil {
				refused = single.Error != nil && (single.Error.Code == CodeForbidden || single.Error.Code == -32600)
			} else if err := json.Unmarshal(body, &batch); err == nil {
				for _, b := range batch {
					refused = refused || b.Error != nil && b.Error.Code == CodeForbidden
				}
			} else {
				t.Fatalf("response %s: %v", body, err)
			}
			if refused == tt.allowed {
				t.Fatalf("allowed %v, want %v: %s", !refused, tt.allowed, body)
			}
		})
	}
}

// loginDoctor logs doctor456 (whose ML-DSA key is key) in to g from
// httptest.NewRequest's address, without TOTP, and returns the token.
func loginDoctor(t testing.TB, g *zerotrust.Gate, key *crypto.PrivateKey) string {
	t.Helper()
	const remote = "192.0.2.1:1234" // httptest.NewRequest's
	ctx := context.Background()
	ch, err := g.IssueChallenge(ctx, "doctor456", "laptop", remote)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := key.Sign(ch.SignBytes())
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := g.Login(ctx, zerotrust.LoginRequest{Identity: "doctor456", DeviceKeyID: "laptop", Nonce: ch.Nonce, Signature: sig, RemoteAddr: remote})
	if err != nil {
		t.Fatal(err)
	}
	return token
}
