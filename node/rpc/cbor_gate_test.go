package rpc

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/chaintest"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/node/zerotrust"
)

// gatedCBOR is a server behind the zero-trust gate, with a logged-in
// public session for doctor456.
type gatedCBOR struct {
	h     *harness
	s     *Server
	token string
}

func newGatedCBOR(t testing.TB, burst int) *gatedCBOR {
	return newGated(t, newHarness(t), nil, burst, 1<<20)
}

// newGated puts l (h's ledger when nil) behind a gate with a logged-in
// session; the gate's validator takes bodies up to maxBody bytes.
func newGated(t testing.TB, h *harness, l Ledger, burst int, maxBody int64) *gatedCBOR {
	if l == nil {
		l = h.l
	}
	key, ids, zc := gatedDoctor(t, 9)
	zc.RateLimit.Burst = burst
	zc.Request.MaxBodyBytes = maxBody // node.Open sets it from rpc.max_body_bytes
	g, err := zerotrust.NewGate(zc, zerotrust.Options{Identities: ids})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	s, err := NewServer(l, ServerConfig{MaxBodyBytes: 10 << 20, BatchLimit: 1000, BatchResponseBytes: 25 << 20,
		MaxTxBytes: 16 << 10, WaitTimeout: 5 * time.Second, Gate: &GateConfig{Gate: g}})
	if err != nil {
		t.Fatal(err)
	}
	token := loginDoctor(t, g, key)
	return &gatedCBOR{h: h, s: s, token: token}
}

// post sends a CBOR body with token (if any) and returns the status and
// the first response.
func (g *gatedCBOR) post(t testing.TB, token string, body []byte) (int, CBORResponse) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	req.Header.Set("Content-Type", ContentTypeCBOR)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	g.s.Handler().ServeHTTP(rec, req)
	if ct := rec.Header().Get("Content-Type"); ct != ContentTypeCBOR {
		t.Fatalf("reply content type %q: %s", ct, rec.Body)
	}
	b := rec.Body.Bytes()
	if len(b) > 0 && b[0]>>5 == 4 {
		var rs []CBORResponse
		if err := CBORDecMode.Unmarshal(b, &rs); err != nil || len(rs) == 0 {
			t.Fatalf("reply %x: %v", b, err)
		}
		return rec.Code, rs[0]
	}
	return rec.Code, oneCBOR(t, b)
}

// TestCBORCallsPassTheGate: a CBOR call meets the same gate as a JSON one:
// no token, no call; a session's call runs; the rate limit applies; the
// validator's limits refuse oversized, deep and huge-batch bodies.
func TestCBORCallsPassTheGate(t *testing.T) {
	g := newGatedCBOR(t, 50)
	c := g.h.l.c
	tx := c.Tx("doctor456", chaintest.Audit("patient123", "doctor456"))
	body := cborReq(t, "tx_submit", CBORSubmitParams{Tx: tx.Encode(), Wait: true})

	status, r := g.post(t, "", body)
	if status != 200 || r.Error == nil || r.Error.Code != CodeUnauthenticated {
		t.Fatalf("no token: %d %+v", status, r.Error)
	}
	if _, _, _, _, err := c.Store.Tx(tx.Hash()); err == nil {
		t.Fatal("the refused tx committed")
	}
	status, r = g.post(t, g.token, body)
	if status != 200 || r.Error != nil {
		t.Fatalf("with a session: %d %+v", status, r.Error)
	}
	if _, _, _, _, err := c.Store.Tx(tx.Hash()); err != nil {
		t.Fatalf("the allowed tx did not commit: %v", err)
	}
	// A clinical method is refused by the gate before the CBOR path would
	// answer that it is JSON-only.
	if _, r = g.post(t, g.token, cborReq(t, "audit_trail", map[string]any{"patient": "patient123"})); r.Error == nil || r.Error.Code != CodeForbidden {
		t.Fatalf("clinical method from a public session: %+v", r.Error)
	}
	// A public JSON-only method passes the gate and gets -32601.
	if _, r = g.post(t, g.token, cborReq(t, "chain_head")); r.Error == nil || r.Error.Code != -32601 {
		t.Fatalf("JSON-only method: %+v", r.Error)
	}

	deep := []byte{0xa4, 0x67, 'j', 's', 'o', 'n', 'r', 'p', 'c', 0x63, '2', '.', '0', 0x62, 'i', 'd', 0x01,
		0x66, 'm', 'e', 't', 'h', 'o', 'd', 0x69, 't', 'x', '_', 's', 'u', 'b', 'm', 'i', 't', 0x66, 'p', 'a', 'r', 'a', 'm', 's'}
	for range 50 {
		deep = append(deep, 0x81)
	}
	deep = append(deep, 0x01)
	batch := make([]any, 101) // the gate's max_batch is 100
	for i := range batch {
		batch[i] = map[string]any{"jsonrpc": "2.0", "id": i, "method": "tx_submit"}
	}
	limits := []struct {
		name   string
		body   []byte
		status int
		code   int
	}{
		{"oversized", cborReq(t, "tx_submit", CBORSubmitParams{Tx: make([]byte, 1<<20)}), 413, -32600},
		{"too deep", deep, 400, -32600},
		{"huge batch", mustCBOR(t, batch), 400, -32600},
		{"malformed", body[:len(body)-2], 400, -32700},
		{"not calls", mustCBOR(t, []any{1, 2}), 200, -32600},
	}
	for _, tt := range limits {
		t.Run(tt.name, func(t *testing.T) {
			status, r := g.post(t, g.token, tt.body)
			if status != tt.status || r.Error == nil || r.Error.Code != tt.code {
				t.Fatalf("status %d %+v, want %d %d", status, r.Error, tt.status, tt.code)
			}
		})
	}
}

// TestCBORCallsAreRateLimited: CBOR calls draw from the session's bucket.
func TestCBORCallsAreRateLimited(t *testing.T) {
	g := newGatedCBOR(t, 3)
	body := cborReq(t, "tx_submit", CBORSubmitParams{Tx: []byte{1}})
	for i := range 3 {
		if _, r := g.post(t, g.token, body); r.Error == nil || r.Error.Code != CodeInvalidParams {
			t.Fatalf("call %d: %+v, want the tx refused as undecodable", i, r.Error)
		}
	}
	_, r := g.post(t, g.token, body)
	if r.Error == nil || r.Error.Code != CodeRateLimited {
		t.Fatalf("call 4: %+v, want %d", r.Error, CodeRateLimited)
	}
	var data map[string]any
	if CBORDecMode.Unmarshal(r.Error.Data, &data) != nil || data["reason"] != "rate_limited" {
		t.Fatalf("refusal data %x", r.Error.Data)
	}
}

// acceptLedger admits every tx at once without checks, so that a benchmark
// measures the RPC layer alone.
type acceptLedger struct{ *chainLedger }

func (acceptLedger) Submit(_ context.Context, tx *types.Tx) (types.Hash, error) {
	return tx.Hash(), nil
}
func (acceptLedger) SubmitAndWait(_ context.Context, tx *types.Tx) (Receipt, error) {
	return Receipt{TxHash: tx.Hash(), Height: 1}, nil
}

// BenchmarkSubmitBatchEncoding measures one tx_submitBatch call of 250
// signed audit txs with wait through the gate (validator, session, the
// server and the reply), with a ledger that admits at once: the cost of
// the encoding and of the RPC layer, not of the chain. Reports µs per tx.
func BenchmarkSubmitBatchEncoding(b *testing.B) {
	h := newHarness(b)
	g := newGated(b, h, acceptLedger{h.l}, 1<<30, 10<<20)
	txs := make([]*types.Tx, 250)
	raws := make([][]byte, len(txs))
	b64 := make([]string, len(txs))
	for i := range txs {
		txs[i] = h.l.c.Tx("doctor456", chaintest.Audit(fmt.Sprintf("p%d", i), "doctor456"))
		raws[i] = txs[i].Encode()
		b64[i] = base64.StdEncoding.EncodeToString(raws[i])
	}
	for _, enc := range []struct {
		name, ct string
		body     []byte
	}{
		{"json", "application/json", []byte(call("tx_submitBatch", SubmitBatchParams{Txs: b64, Wait: true}))},
		{"cbor", ContentTypeCBOR, cborReq(b, "tx_submitBatch", CBORSubmitBatchParams{Txs: raws, Wait: true})},
	} {
		b.Run(enc.name, func(b *testing.B) {
			b.SetBytes(int64(len(enc.body)))
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(enc.body))
				req.Header.Set("Content-Type", enc.ct)
				req.Header.Set("Authorization", "Bearer "+g.token)
				rec := httptest.NewRecorder()
				g.s.Handler().ServeHTTP(rec, req)
				if rec.Code != 200 || bytes.Contains(rec.Body.Bytes(), []byte("error")) {
					b.Fatalf("%d %.300s", rec.Code, rec.Body)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(txs)), "µs/tx")
		})
	}
}
