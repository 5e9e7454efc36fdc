package rpc

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/medchain/medchain/node/zerotrust"
)

// gatedServer is a server behind the gate with one logged-in public session
// (doctor456's) and a record of the gate's refusals.
type gatedServer struct {
	s     *Server
	token string
	mu    sync.Mutex
	// denied guards nothing else: the methods OnDenied saw, in order.
	denied []string
}

func newGatedServer(t *testing.T) *gatedServer {
	t.Helper()
	h := newHarness(t)
	key, ids, zc := gatedDoctor(t, 9)
	g, err := zerotrust.NewGate(zc, zerotrust.Options{Identities: ids})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	gs := &gatedServer{}
	gs.s, err = NewServer(h.l, ServerConfig{MaxBodyBytes: 1 << 20, BatchLimit: 100, BatchResponseBytes: 1 << 20,
		MaxTxBytes: 16 << 10, WaitTimeout: time.Second, Gate: &GateConfig{Gate: g, OnDenied: func(d Denial) {
			gs.mu.Lock()
			gs.denied = append(gs.denied, d.Method)
			gs.mu.Unlock()
		}}})
	if err != nil {
		t.Fatal(err)
	}
	gs.token = loginDoctor(t, g, key)
	return gs
}

type gateErrBody struct {
	ID    json.RawMessage `json:"id"`
	Error *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Data    struct {
			Reason string `json:"reason"`
		} `json:"data"`
	} `json:"error"`
}

// TestGateAnswersUnknownMethodsMethodNotFound proves that with the gate on a
// method the server does not serve gets JSON-RPC's -32601, with or without
// a session, and never reaches the server; a method the server serves but
// the gate's table does not list (go-ethereum's rpc_modules) is still
// refused as -32022 unknown_method and audited; a known public method runs.
// Before the fix every unknown method was answered -32022 (or -32020
// without a session).
func TestGateAnswersUnknownMethodsMethodNotFound(t *testing.T) {
	gs := newGatedServer(t)
	type want struct {
		code   int
		reason string // data.reason, "" for none
		text   string // in the message
	}
	tests := []struct {
		name    string
		body    string
		session bool
		reached bool   // the server behind the gate runs the request
		want    []want // one per call (a batch), nil when reached
		denied  []string
	}{
		{name: "unknown method with a session", session: true,
			body: `{"jsonrpc":"2.0","id":1,"method":"chain_tail","params":[]}`,
			want: []want{{CodeMethodNotFound, "", "chain_tail does not exist"}}},
		{name: "unknown method without a session",
			body: `{"jsonrpc":"2.0","id":1,"method":"chain_tail","params":[]}`,
			want: []want{{CodeMethodNotFound, "", "chain_tail does not exist"}}},
		{name: "unknown method under a wildcard rule", session: true,
			body: `{"jsonrpc":"2.0","id":1,"method":"audit_delete","params":[]}`,
			want: []want{{CodeMethodNotFound, "", "audit_delete"}}},
		{name: "unknown method in an open namespace", session: true,
			body: `{"jsonrpc":"2.0","id":1,"method":"auth_impersonate","params":[]}`,
			want: []want{{CodeMethodNotFound, "", "auth_impersonate"}}},
		{name: "subscription over HTTP", session: true,
			body: `{"jsonrpc":"2.0","id":1,"method":"chain_subscribe","params":["newHeads"]}`,
			want: []want{{CodeMethodNotFound, "", "chain_subscribe"}}},
		{name: "case-folded name of a served method", session: true,
			body: `{"jsonrpc":"2.0","id":1,"method":"Chain_head","params":[]}`,
			want: []want{{CodeMethodNotFound, "", "Chain_head"}}},
		{name: "served method outside the table", session: true,
			body:   `{"jsonrpc":"2.0","id":1,"method":"rpc_modules","params":[]}`,
			want:   []want{{CodeForbidden, "unknown_method", "no access rule"}},
			denied: []string{"rpc_modules"}},
		{name: "batch with an unknown method is not run", session: true,
			body: `[{"jsonrpc":"2.0","id":1,"method":"chain_head"},{"jsonrpc":"2.0","id":2,"method":"chain_tail"}]`,
			want: []want{{CodeForbidden, "", "not run"}, {CodeMethodNotFound, "", "chain_tail"}}},
		{name: "known public method runs", session: true,
			body: `{"jsonrpc":"2.0","id":1,"method":"chain_head","params":[]}`, reached: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gs.mu.Lock()
			gs.denied = nil
			gs.mu.Unlock()
			reached := false
			h := gs.s.gateHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				reached = true
				writeJSON(w, http.StatusOK, map[string]any{"jsonrpc": "2.0", "id": 1, "result": "ran"})
			}))
			req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			if tt.session {
				req.Header.Set("Authorization", "Bearer "+gs.token)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if reached != tt.reached {
				t.Fatalf("reached the server: %v, want %v: %s", reached, tt.reached, rec.Body)
			}
			if tt.reached {
				return
			}
			var got []gateErrBody
			if strings.HasPrefix(tt.body, "[") {
				if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
					t.Fatalf("batch response %s: %v", rec.Body, err)
				}
			} else {
				var one gateErrBody
				if err := json.Unmarshal(rec.Body.Bytes(), &one); err != nil {
					t.Fatalf("response %s: %v", rec.Body, err)
				}
				got = []gateErrBody{one}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("%d answers, want %d: %s", len(got), len(tt.want), rec.Body)
			}
			for i, w := range tt.want {
				e := got[i].Error
				if e == nil || e.Code != w.code || e.Data.Reason != w.reason || !strings.Contains(e.Message, w.text) {
					t.Errorf("call %d: %s, want code %d reason %q message containing %q", i, rec.Body, w.code, w.reason, w.text)
				}
			}
			gs.mu.Lock()
			defer gs.mu.Unlock()
			if strings.Join(gs.denied, ",") != strings.Join(tt.denied, ",") {
				t.Errorf("audited refusals %v, want %v", gs.denied, tt.denied)
			}
		})
	}
}

// TestGateUnknownMethodOverHTTP checks the whole stack (validator, gate,
// JSON-RPC server) answers an unknown method as the server does with the
// gate off: -32601 naming the method, the id echoed.
func TestGateUnknownMethodOverHTTP(t *testing.T) {
	gs := newGatedServer(t)
	srv := httptest.NewServer(gs.s.Handler())
	defer srv.Close()
	for _, gated := range []bool{true, false} {
		url := srv.URL
		if !gated {
			url = newHarness(t).srv.URL
		}
		req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"jsonrpc":"2.0","id":7,"method":"tx_steal","params":[]}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+gs.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var got gateErrBody
		err = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got.Error == nil || got.Error.Code != CodeMethodNotFound || got.Error.Message != "the method tx_steal does not exist/is not available" || string(got.ID) != "7" {
			t.Errorf("gate on %v: %+v, want -32601 naming tx_steal with id 7", gated, got)
		}
	}
}
