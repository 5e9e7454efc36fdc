package rpc

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/chaintest"
	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/store"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/chain/verify"
)

// chainLedger is a Ledger without Raft: each admitted tx is committed at
// once in its own block. It exercises the RPC layer against real state.
type chainLedger struct {
	mu sync.Mutex
	c  *chaintest.Chain
}

func (l *chainLedger) Submit(ctx context.Context, tx *types.Tx) (types.Hash, error) {
	r, err := l.SubmitAndWait(ctx, tx)
	return r.TxHash, err
}

func (l *chainLedger) SubmitAndWait(_ context.Context, tx *types.Tx) (Receipt, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.c.Exec.CheckTx(l.c.Store, tx, l.c.Now); err != nil {
		return Receipt{}, err
	}
	b := l.c.Commit(tx)
	return Receipt{TxHash: tx.Hash(), Height: b.Header.Height, BlockHash: b.Hash(), Result: b.Results[0]}, nil
}

func (l *chainLedger) Wait(_ context.Context, h types.Hash) (Receipt, error) {
	_, res, height, idx, err := l.c.Store.Tx(h)
	if err != nil {
		return Receipt{}, err
	}
	return Receipt{TxHash: h, Height: height, Index: idx, Result: res}, nil
}

func (l *chainLedger) Pending(types.Hash) bool { return false }
func (l *chainLedger) Reader() Reader          { return l.c.Store }
func (l *chainLedger) Genesis() *state.Genesis { return l.c.Genesis }
func (l *chainLedger) Status() NodeStatus      { return NodeStatus{ChainID: chaintest.ChainID, Ready: true} }
func (l *chainLedger) Verify(ctx context.Context, o verify.Options, p func(uint64, uint64)) (*verify.Report, error) {
	return verify.Verify(ctx, l.c.Store, o, p)
}

type harness struct {
	t   testing.TB
	l   *chainLedger
	srv *httptest.Server
}

func newHarness(t testing.TB) *harness {
	c := chaintest.New(t)
	c.Register("doctor456", types.KindPerson, types.RoleClinician)
	c.Register("patient123", types.KindPatient, types.RolePatient)
	c.Register("gone", types.KindPerson, types.RoleClinician)
	c.Commit(c.Tx("admin", &types.IdentityRevoke{ID: "gone"}))
	l := &chainLedger{c: c}
	s, err := NewServer(l, ServerConfig{MaxBodyBytes: 1 << 20, BatchLimit: 100, BatchResponseBytes: 1 << 20, MaxTxBytes: 16 << 10, WaitTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return &harness{t: t, l: l, srv: srv}
}

type rpcResp struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int             `json:"code"`
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	} `json:"error"`
}

// post sends a raw body and returns the HTTP status and decoded response.
func (h *harness) post(body string) (int, rpcResp) {
	h.t.Helper()
	resp, err := http.Post(h.srv.URL, "application/json", strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var r rpcResp
	json.Unmarshal(b, &r)
	return resp.StatusCode, r
}

func (h *harness) call(method string, params ...any) rpcResp {
	h.t.Helper()
	if params == nil {
		params = []any{}
	}
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
	_, r := h.post(string(b))
	return r
}

func enc(tx *types.Tx) string { return base64.StdEncoding.EncodeToString(tx.Encode()) }

func TestSeedWorkflowOverRPC(t *testing.T) {
	h := newHarness(t)
	c := h.l.c
	r := h.call("tx_submit", SubmitParams{Tx: enc(c.Tx("doctor456", chaintest.Audit("patient123", "doctor456"))), Wait: true})
	if r.Error != nil {
		t.Fatalf("audit: %+v", r.Error)
	}
	var sub SubmitResult
	json.Unmarshal(r.Result, &sub)
	if sub.Status != "committed" || sub.Receipt == nil || !sub.Receipt.Result.OK() {
		t.Fatalf("audit receipt: %s", r.Result)
	}
	grant := &types.ConsentGrant{Patient: "patient123", ConsentType: "data_sharing", Granted: true,
		Scope: types.ConsentScope{Purposes: []string{"treatment"}, Parties: []string{"doctor456"}}}
	if r := h.call("tx_submit", SubmitParams{Tx: enc(c.Tx("patient123", grant)), Wait: true}); r.Error != nil {
		t.Fatalf("grant: %+v", r.Error)
	}
	for _, tc := range []struct {
		purpose, requester string
		granted            bool
	}{{"treatment", "doctor456", true}, {"research", "doctor456", false}, {"treatment", "stranger", false}} {
		r := h.call("consent_verify", map[string]string{"patient": "patient123", "consent_type": "data_sharing", "purpose": tc.purpose, "requester_id": tc.requester})
		var v VerifyResult
		if r.Error != nil || json.Unmarshal(r.Result, &v) != nil || v.Granted != tc.granted || v.Reason == "" {
			t.Fatalf("verify %+v: %s %+v", tc, r.Result, r.Error)
		}
	}
	r = h.call("audit_trail", map[string]string{"patient": "patient123"})
	var page state.TrailPage
	if r.Error != nil || json.Unmarshal(r.Result, &page) != nil || len(page.Entries) != 1 || page.Entries[0].TxHash != sub.TxHash {
		t.Fatalf("trail: %s %+v", r.Result, r.Error)
	}
	r = h.call("tx_get", map[string]string{"hash": sub.TxHash.String()})
	var got TxResult
	if r.Error != nil || json.Unmarshal(r.Result, &got) != nil || got.Status != "committed" || got.Height == nil || *got.Height != sub.Receipt.Height {
		t.Fatalf("tx_get: %s %+v", r.Result, r.Error)
	}
	if r := h.call("chain_proof", map[string]string{"tx_hash": sub.TxHash.String()}); r.Error != nil {
		t.Fatalf("proof: %+v", r.Error)
	}
}

// badTxs are the signed-tx bad inputs of the submit path: applied is
// already committed (a replay), the others fail a check each.
type badTxs struct {
	applied, forged, stale, unsigned, noPurpose, oversized *types.Tx
}

// newBadTxs commits applied on h's node and builds the other bad txs.
func newBadTxs(t *testing.T, h *harness) badTxs {
	t.Helper()
	c := h.l.c
	b := badTxs{applied: c.Tx("doctor456", chaintest.Audit("patient123", "doctor456"))}
	if r := h.call("tx_submit", SubmitParams{Tx: enc(b.applied), Wait: true}); r.Error != nil {
		t.Fatal(r.Error)
	}
	b.forged = c.Tx("doctor456", chaintest.Audit("p1", "doctor456"))
	b.forged.Signature.Sig[7] ^= 1
	b.stale = c.Tx("doctor456", chaintest.Audit("p1", "doctor456"))
	b.stale.Timestamp -= 11 * 60 * 1000
	b.stale.Sign(c.Keys["doctor456"])
	b.unsigned = c.Tx("doctor456", chaintest.Audit("p1", "doctor456"))
	b.unsigned.Signature.Sig = nil
	b.noPurpose = c.Tx("patient123", &types.ConsentGrant{Patient: "patient123", ConsentType: "c", Granted: true})
	big := chaintest.Audit("p1", "doctor456")
	big.Details = map[string]string{}
	for i := 0; i < 20; i++ {
		big.Details[string(rune('a'+i))] = strings.Repeat("x", 1000)
	}
	b.oversized = c.Tx("doctor456", big)
	return b
}

// TestBadInputNeverChangesState sends each bad input the issue names and
// checks the JSON-RPC code, that the message names the problem, and that the
// head did not move.
func TestBadInputNeverChangesState(t *testing.T) {
	h := newHarness(t)
	c := h.l.c
	bad := newBadTxs(t, h)
	applied, forged, stale, unsigned, noPurpose, oversized := bad.applied, bad.forged, bad.stale, bad.unsigned, bad.noPurpose, bad.oversized

	tests := []struct {
		name string
		body string
		code int
		want string
	}{
		{"malformed JSON", `{"jsonrpc":"2.0","id":1,"method":"tx_submit","params":[{`, -32700, "parse"},
		{"unknown method", `{"jsonrpc":"2.0","id":1,"method":"tx_steal","params":[]}`, -32601, "tx_steal"},
		{"wrong params", `{"jsonrpc":"2.0","id":1,"method":"tx_submit","params":[42]}`, -32602, "invalid argument"},
		{"not base64", call("tx_submit", SubmitParams{Tx: "!!!"}), -32602, "not base64"},
		{"malformed CBOR", call("tx_submit", SubmitParams{Tx: base64.StdEncoding.EncodeToString([]byte{0xa1, 0x01})}), -32602, "CBOR"},
		{"missing signature", call("tx_submit", SubmitParams{Tx: enc(unsigned)}), -32602, "signature"},
		{"bad signature", call("tx_submit", SubmitParams{Tx: enc(forged)}), -32010, "bad_signature"},
		{"unknown signer", call("tx_submit", SubmitParams{Tx: enc(c.Tx("mallory", chaintest.Audit("p1", "mallory")))}), -32010, "unknown_signer"},
		{"revoked signer", call("tx_submit", SubmitParams{Tx: enc(c.Tx("gone", chaintest.Audit("p1", "gone")))}), -32010, "revoked_signer"},
		{"role may not sign", call("tx_submit", SubmitParams{Tx: enc(c.Tx("patient123", chaintest.Audit("patient123", "patient123")))}), -32010, "unauthorized"},
		{"replayed tx", call("tx_submit", SubmitParams{Tx: enc(applied)}), -32010, "replay"},
		{"timestamp outside window", call("tx_submit", SubmitParams{Tx: enc(stale)}), -32010, "stale_timestamp"},
		{"consent scope without purposes", call("tx_submit", SubmitParams{Tx: enc(noPurpose)}), -32602, "allowed_purposes"},
		{"oversized tx", call("tx_submit", SubmitParams{Tx: enc(oversized)}), -32602, "limit"},
		{"bad hash", call("tx_get", GetParams{Hash: "xyz"}), -32602, "hash"},
		{"trail without id", call("audit_trail", TrailParams{}), -32602, "patient"},
		{"trail limit", call("audit_trail", TrailParams{Patient: "p", Limit: 100000}), -32602, "limit"},
		{"trail bad time", `{"jsonrpc":"2.0","id":1,"method":"audit_trail","params":[{"patient":"p","from":"yesterday"}]}`, -32602, "RFC 3339"},
		{"consent injection", call("consent_get", ConsentParams{Patient: "'; DROP TABLE consents; --", ConsentType: "c"}), -32602, "patient"},
		{"unknown identity", call("identity_get", "nobody"), -32011, "nobody"},
		{"block zero", call("chain_block", BlockParams{}), -32602, "height"},
	}
	before, _ := c.Store.Head()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, r := h.post(tt.body)
			if r.Error == nil {
				t.Fatalf("accepted: %s", r.Result)
			}
			if r.Error.Code != tt.code || !strings.Contains(r.Error.Message+string(r.Error.Data), tt.want) {
				t.Fatalf("got %d %q (data %s), want %d mentioning %q", r.Error.Code, r.Error.Message, r.Error.Data, tt.code, tt.want)
			}
			if after, _ := c.Store.Head(); after.Height != before.Height {
				t.Fatalf("state changed: height %d -> %d", before.Height, after.Height)
			}
		})
	}
}

func call(method string, params ...any) string {
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
	return string(b)
}

func TestBatchLimits(t *testing.T) {
	h := newHarness(t)
	var calls []string
	for i := 0; i < 101; i++ {
		calls = append(calls, call("node_status"))
	}
	// An over-limit batch is answered with one error object for the whole batch.
	resp, err := http.Post(h.srv.URL, "application/json", strings.NewReader("["+strings.Join(calls, ",")+"]"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(b, []byte("batch too large")) {
		t.Fatalf("101-call batch with limit 100: %s", b[:min(len(b), 300)])
	}
	// Oversized body.
	resp, err = http.Post(h.srv.URL, "application/json", strings.NewReader(strings.Repeat(" ", 2<<20)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("2 MiB body: status %d", resp.StatusCode)
	}
	// Wrong content type.
	resp, err = http.Post(h.srv.URL, "text/plain", strings.NewReader(call("node_status")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("text/plain: status %d", resp.StatusCode)
	}
}

func TestSubmitBatchReportsEachTx(t *testing.T) {
	h := newHarness(t)
	c := h.l.c
	good := c.Tx("doctor456", chaintest.Audit("patient123", "doctor456"))
	bad := c.Tx("mallory", chaintest.Audit("p", "mallory"))
	r := h.call("tx_submitBatch", SubmitBatchParams{Txs: []string{enc(good), enc(bad), "!!"}, Wait: true})
	var items []BatchItem
	if r.Error != nil || json.Unmarshal(r.Result, &items) != nil || len(items) != 3 {
		t.Fatalf("batch: %s %+v", r.Result, r.Error)
	}
	if items[0].Error != nil || items[0].Status != "committed" || items[0].TxHash == nil || *items[0].TxHash != good.Hash() {
		t.Fatalf("good tx: %+v", items[0])
	}
	if items[1].Error == nil || items[1].Error.Code != CodeTxRejected || items[2].Error == nil || items[2].Error.Code != CodeInvalidParams {
		t.Fatalf("bad txs: %+v %+v", items[1].Error, items[2].Error)
	}
	if items[1].TxHash != nil || items[1].Status != "" {
		t.Fatalf("a refused tx carries a hash or status: %+v", items[1])
	}
}

func TestErrorMapping(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
	}{
		{ErrBusy, CodeBusy}, {ErrTimeout, CodeTimeout}, {ErrUnavailable, CodeUnavailable},
		{store.ErrNotFound, CodeNotFound}, {errors.New("disk on fire"), CodeInternal},
		{&state.TxError{Code: types.CodeReplay, Reason: "seen"}, CodeTxRejected},
	} {
		var e *Error
		if !errors.As(toRPC(tc.err), &e) || e.Code != tc.code {
			t.Errorf("%v -> %v, want code %d", tc.err, toRPC(tc.err), tc.code)
		}
	}
}

// FuzzRPCRequest sends arbitrary bodies to the server: it must answer (never
// panic or hang) and never change state.
func FuzzRPCRequest(f *testing.F) {
	h := newHarness(f)
	f.Add(call("tx_submit", SubmitParams{Tx: enc(h.l.c.Tx("doctor456", chaintest.Audit("p", "doctor456")))}))
	f.Add(call("audit_trail", TrailParams{Patient: "patient123", Limit: 5}))
	f.Add(call("consent_verify", map[string]string{"patient": "p", "consent_type": "c", "purpose": "x", "requester_id": "y"}))
	f.Add(call("chain_consistency", ConsistencyParams{From: 1, To: 3}))
	f.Add(`[` + call("chain_block", BlockParams{Height: 2, Full: true}) + `,` + call("node_status") + `]`)
	f.Add(`{"jsonrpc":"2.0","id":1,"method":"chain_proof","params":[{"tx_hash":"00"}]}`)
	before, _ := h.l.c.Store.Head()
	f.Fuzz(func(t *testing.T, body string) {
		resp, err := http.Post(h.srv.URL, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("status %d for %q", resp.StatusCode, body)
		}
		if after, _ := h.l.c.Store.Head(); after.Height != before.Height && !strings.Contains(body, "tx_submit") {
			t.Fatalf("state changed by %q", body)
		}
	})
}
