package rpc

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/medchain/medchain/chain/chaintest"
	"github.com/medchain/medchain/chain/types"
)

// postCBOR posts body as application/cbor and returns the status, the
// reply's content type and the reply.
func (h *harness) postCBOR(body []byte) (int, string, []byte) {
	h.t.Helper()
	resp, err := http.Post(h.srv.URL, ContentTypeCBOR, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

func mustCBOR(t testing.TB, v any) []byte {
	t.Helper()
	b, err := cbor.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// cborReq encodes one call.
func cborReq(t testing.TB, method string, params ...any) []byte {
	return mustCBOR(t, map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
}

// oneCBOR decodes a single response.
func oneCBOR(t testing.TB, b []byte) CBORResponse {
	t.Helper()
	var r CBORResponse
	if err := CBORDecMode.Unmarshal(b, &r); err != nil {
		t.Fatalf("reply %x: %v", b, err)
	}
	return r
}

// cborDataJSON returns a CBOR error's data in canonical JSON, for
// comparison with the JSON path's.
func cborDataJSON(t testing.TB, d cbor.RawMessage) string {
	t.Helper()
	if len(d) == 0 {
		return ""
	}
	var v any
	if err := CBORDecMode.Unmarshal(d, &v); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func canonJSON(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var v any
	json.Unmarshal(raw, &v)
	b, _ := json.Marshal(v)
	return string(b)
}

// TestCBORErrorsMatchJSON sends each bad input of the submit path over
// JSON and over CBOR: the code, message and data must be the same, and the
// head must not move.
func TestCBORErrorsMatchJSON(t *testing.T) {
	h := newHarness(t)
	c := h.l.c
	bad := newBadTxs(t, h)
	applied, forged, stale, unsigned, noPurpose := bad.applied, bad.forged, bad.stale, bad.unsigned, bad.noPurpose
	txs := []struct {
		name string
		raw  []byte
	}{
		{"replayed tx", applied.Encode()},
		{"bad signature", forged.Encode()},
		{"timestamp outside the window", stale.Encode()},
		{"missing signature", unsigned.Encode()},
		{"consent without purposes", noPurpose.Encode()},
		{"oversized tx", bad.oversized.Encode()},
		{"unknown signer", c.Tx("mallory", chaintest.Audit("p1", "mallory")).Encode()},
		{"revoked signer", c.Tx("gone", chaintest.Audit("p1", "gone")).Encode()},
		{"not a tx", []byte{0xa1, 0x01}},
		{"empty tx", []byte{}},
	}
	head, _ := h.l.c.Store.Head()
	for _, tt := range txs {
		t.Run("tx_submit/"+tt.name, func(t *testing.T) {
			j := h.call("tx_submit", SubmitParams{Tx: base64.StdEncoding.EncodeToString(tt.raw)})
			_, ct, b := h.postCBOR(cborReq(t, "tx_submit", CBORSubmitParams{Tx: tt.raw}))
			if ct != ContentTypeCBOR {
				t.Fatalf("content type %q", ct)
			}
			r := oneCBOR(t, b)
			if j.Error == nil || r.Error == nil {
				t.Fatalf("json %+v, cbor %+v: both must fail", j.Error, r.Error)
			}
			if j.Error.Code != r.Error.Code || j.Error.Message != r.Error.Message || canonJSON(j.Error.Data) != cborDataJSON(t, r.Error.Data) {
				t.Fatalf("json %d %q %s\ncbor %d %q %s", j.Error.Code, j.Error.Message, j.Error.Data, r.Error.Code, r.Error.Message, cborDataJSON(t, r.Error.Data))
			}
		})
	}
	t.Run("tx_submitBatch items", func(t *testing.T) {
		enc64 := make([]string, len(txs))
		raws := make([][]byte, len(txs))
		for i, tt := range txs {
			enc64[i], raws[i] = base64.StdEncoding.EncodeToString(tt.raw), tt.raw
		}
		j := h.call("tx_submitBatch", SubmitBatchParams{Txs: enc64})
		var ji []BatchItem
		if j.Error != nil || json.Unmarshal(j.Result, &ji) != nil {
			t.Fatalf("json: %+v", j.Error)
		}
		_, _, b := h.postCBOR(cborReq(t, "tx_submitBatch", CBORSubmitBatchParams{Txs: raws}))
		r := oneCBOR(t, b)
		var ci []CBORBatchItem
		if r.Error != nil || CBORDecMode.Unmarshal(r.Result, &ci) != nil || len(ci) != len(ji) {
			t.Fatalf("cbor: %+v %x", r.Error, r.Result)
		}
		for i := range ji {
			if ji[i].Error == nil || ci[i].Error == nil || ji[i].Error.Code != ci[i].Error.Code || ji[i].Error.Message != ci[i].Error.Message {
				t.Fatalf("item %d (%s): json %+v, cbor %+v", i, txs[i].name, ji[i].Error, ci[i].Error)
			}
		}
	})
	// Params errors: the body differs by encoding, the answer must not.
	tooMany := make([][]byte, MaxSubmitBatch+1)
	tooMany64 := make([]string, len(tooMany))
	for i := range tooMany {
		tooMany[i] = []byte{0}
		tooMany64[i] = "AA=="
	}
	params := []struct {
		name        string
		json        string
		cbor        any
		exact       bool // else the code and the message's prefix up to ':'
		wantMessage string
	}{
		{"no params", `{"jsonrpc":"2.0","id":1,"method":"tx_submit"}`, map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tx_submit"}, true, "missing value"},
		{"empty params", `{"jsonrpc":"2.0","id":1,"method":"tx_submit","params":[]}`, map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tx_submit", "params": []any{}}, true, "missing value"},
		{"null argument", `{"jsonrpc":"2.0","id":1,"method":"tx_submit","params":[null]}`, map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tx_submit", "params": []any{nil}}, true, "missing value"},
		{"two arguments", `{"jsonrpc":"2.0","id":1,"method":"tx_submit","params":[{},{}]}`, map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tx_submit", "params": []any{map[string]any{}, map[string]any{}}}, true, "too many"},
		{"params not an array", `{"jsonrpc":"2.0","id":1,"method":"tx_submit","params":{"tx":""}}`, map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tx_submit", "params": map[string]any{"tx": []byte{}}}, true, "non-array"},
		{"argument of the wrong type", `{"jsonrpc":"2.0","id":1,"method":"tx_submit","params":[42]}`, map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tx_submit", "params": []any{42}}, true, "want an object, got a number"},
		{"unknown key", `{"jsonrpc":"2.0","id":1,"method":"tx_submit","params":[{"tx":"","sneaky":1}]}`, map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tx_submit", "params": []any{map[string]any{"tx": []byte{}, "sneaky": 1}}}, true, `unknown key "sneaky"`},
		{"wait of the wrong type", `{"jsonrpc":"2.0","id":1,"method":"tx_submit","params":[{"tx":"AA==","wait":"yes"}]}`, map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tx_submit", "params": []any{map[string]any{"tx": []byte{0}, "wait": "yes"}}}, true, "wait: want a boolean, got a string"},
		{"batch wait of the wrong type", `{"jsonrpc":"2.0","id":1,"method":"tx_submitBatch","params":[{"txs":["AA=="],"wait":3}]}`, map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tx_submitBatch", "params": []any{map[string]any{"txs": [][]byte{{0}}, "wait": 3}}}, true, "wait: want a boolean, got a number"},
		{"batch argument not an object", `{"jsonrpc":"2.0","id":1,"method":"tx_submitBatch","params":["x"]}`, map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tx_submitBatch", "params": []any{"x"}}, true, "want an object, got a string"},
		{"batch unknown key", `{"jsonrpc":"2.0","id":1,"method":"tx_submitBatch","params":[{"txs":["AA=="],"x":3}]}`, map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tx_submitBatch", "params": []any{map[string]any{"txs": [][]byte{{0}}, "x": 3}}}, true, `unknown key "x"`},
		{"tx of the wrong type", `{"jsonrpc":"2.0","id":1,"method":"tx_submit","params":[{"tx":5}]}`, map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tx_submit", "params": []any{map[string]any{"tx": 5}}}, false, "tx: want a byte string, got a number"},
		{"txs of the wrong type", `{"jsonrpc":"2.0","id":1,"method":"tx_submitBatch","params":[{"txs":5}]}`, map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tx_submitBatch", "params": []any{map[string]any{"txs": 5}}}, false, "txs: want an array of byte strings, got a number"},
		{"no tx", `{"jsonrpc":"2.0","id":1,"method":"tx_submit","params":[{}]}`, map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tx_submit", "params": []any{map[string]any{}}}, true, "tx: required"},
		{"no txs", `{"jsonrpc":"2.0","id":1,"method":"tx_submitBatch","params":[{"txs":[]}]}`, map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tx_submitBatch", "params": []any{map[string]any{"txs": [][]byte{}}}}, true, "at least one"},
		{"absent txs", `{"jsonrpc":"2.0","id":1,"method":"tx_submitBatch","params":[{}]}`, map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tx_submitBatch", "params": []any{map[string]any{}}}, true, "at least one"},
		{"more than MaxSubmitBatch txs", call("tx_submitBatch", SubmitBatchParams{Txs: tooMany64}), map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tx_submitBatch", "params": []any{CBORSubmitBatchParams{Txs: tooMany}}}, true, "5001 txs"},
	}
	for _, tt := range params {
		t.Run("params/"+tt.name, func(t *testing.T) {
			_, j := h.post(tt.json)
			_, _, b := h.postCBOR(mustCBOR(t, tt.cbor))
			r := oneCBOR(t, b)
			if j.Error == nil || r.Error == nil || j.Error.Code != r.Error.Code || j.Error.Code != CodeInvalidParams {
				t.Fatalf("json %+v, cbor %+v: want both %d", j.Error, r.Error, CodeInvalidParams)
			}
			if !strings.Contains(r.Error.Message, tt.wantMessage) {
				t.Fatalf("cbor message %q does not name %q", r.Error.Message, tt.wantMessage)
			}
			jm, cm := j.Error.Message, r.Error.Message
			if !tt.exact {
				jm, _, _ = strings.Cut(jm, ":")
				cm, _, _ = strings.Cut(cm, ":")
			}
			if jm != cm {
				t.Fatalf("json %q\ncbor %q", j.Error.Message, r.Error.Message)
			}
		})
	}
	if got, _ := h.l.c.Store.Head(); got.Hash() != head.Hash() {
		t.Fatalf("head moved from %v to %v", head, got)
	}
}

// TestCBORSubmitCommits submits good txs over CBOR, single and batched,
// and checks the receipts against the chain.
func TestCBORSubmitCommits(t *testing.T) {
	h := newHarness(t)
	c := h.l.c
	tx := c.Tx("doctor456", chaintest.Audit("patient123", "doctor456"))
	_, _, b := h.postCBOR(cborReq(t, "tx_submit", CBORSubmitParams{Tx: tx.Encode(), Wait: true}))
	r := oneCBOR(t, b)
	var sr CBORSubmitResult
	if r.Error != nil || CBORDecMode.Unmarshal(r.Result, &sr) != nil {
		t.Fatalf("tx_submit: %+v", r.Error)
	}
	want := tx.Hash()
	if !bytes.Equal(sr.TxHash, want[:]) || sr.Status != "committed" || sr.Receipt == nil || sr.Receipt.Result.Code != "ok" || !bytes.Equal(sr.Receipt.TxHash, want[:]) {
		t.Fatalf("tx_submit result %+v", sr)
	}
	if _, _, height, _, err := c.Store.Tx(want); err != nil || height != sr.Receipt.Height {
		t.Fatalf("stored at %d (%v), receipt says %d", height, err, sr.Receipt.Height)
	}

	good := []*types.Tx{c.Tx("doctor456", chaintest.Audit("p1", "doctor456")), c.Tx("doctor456", chaintest.Audit("p2", "doctor456"))}
	_, _, b = h.postCBOR(cborReq(t, "tx_submitBatch", CBORSubmitBatchParams{Txs: [][]byte{good[0].Encode(), {0xa1, 0x01}, good[1].Encode()}, Wait: true}))
	r = oneCBOR(t, b)
	var items []CBORBatchItem
	if r.Error != nil || CBORDecMode.Unmarshal(r.Result, &items) != nil || len(items) != 3 {
		t.Fatalf("tx_submitBatch: %+v", r.Error)
	}
	for i, j := range []int{0, 2} {
		hh := good[i].Hash()
		if it := items[j]; it.Error != nil || !bytes.Equal(it.TxHash, hh[:]) || it.Status != "committed" || it.Receipt == nil {
			t.Fatalf("item %d: %+v", j, it)
		}
	}
	if items[1].Error == nil || items[1].Error.Code != CodeInvalidParams {
		t.Fatalf("undecodable item: %+v", items[1])
	}

	// A batch of tx_submit calls answers each by its id.
	t3 := c.Tx("doctor456", chaintest.Audit("p3", "doctor456"))
	body := mustCBOR(t, []any{
		map[string]any{"jsonrpc": "2.0", "id": "a", "method": "tx_submit", "params": []any{CBORSubmitParams{Tx: t3.Encode(), Wait: true}}},
		map[string]any{"jsonrpc": "2.0", "id": -7, "method": "tx_submit", "params": []any{CBORSubmitParams{Tx: []byte{1}}}},
		map[string]any{"jsonrpc": "2.0", "method": "tx_submit", "params": []any{CBORSubmitParams{Tx: []byte{2}}}}, // a notification
	})
	_, _, b = h.postCBOR(body)
	var rs []CBORResponse
	if err := CBORDecMode.Unmarshal(b, &rs); err != nil || len(rs) != 2 {
		t.Fatalf("batch reply %x: %v", b, err)
	}
	var id0 string
	var id1 int
	if CBORDecMode.Unmarshal(rs[0].ID, &id0) != nil || id0 != "a" || rs[0].Error != nil || CBORDecMode.Unmarshal(rs[1].ID, &id1) != nil || id1 != -7 || rs[1].Error == nil {
		t.Fatalf("batch replies: %+v", rs)
	}
}

// TestCBORBadRequests: malformed CBOR is -32700, a bad request -32600,
// a method not served over CBOR -32601 naming it JSON-only; oversized,
// too deep and too large bodies are refused before any call runs.
func TestCBORBadRequests(t *testing.T) {
	h := newHarness(t) // MaxBodyBytes 1 MiB, BatchLimit 100
	deep := []byte{0xa4, 0x67, 'j', 's', 'o', 'n', 'r', 'p', 'c', 0x63, '2', '.', '0', 0x62, 'i', 'd', 0x01,
		0x66, 'm', 'e', 't', 'h', 'o', 'd', 0x69, 't', 'x', '_', 's', 'u', 'b', 'm', 'i', 't', 0x66, 'p', 'a', 'r', 'a', 'm', 's'}
	for range cborMaxDepth {
		deep = append(deep, 0x81)
	}
	deep = append(deep, 0x01)
	batch := []any{}
	for range 101 {
		batch = append(batch, map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tx_submit"})
	}
	good := cborReq(t, "tx_submit", CBORSubmitParams{Tx: []byte{1}})
	tests := []struct {
		name   string
		body   []byte
		status int
		code   int
		want   string
	}{
		{"empty body", nil, 200, -32700, "empty body"},
		{"truncated", good[:len(good)-3], 200, -32700, "malformed CBOR"},
		{"data after the item", append(append([]byte{}, good...), 0x00), 200, -32700, "data after"},
		{"invalid UTF-8", mustCBOR(t, map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tx_\xff"}), 200, -32700, "UTF-8"},
		{"indefinite length", []byte{0xbf, 0xff}, 200, -32600, "indefinite"},
		{"tag", append([]byte{0xc1}, good...), 200, -32600, "tag"},
		{"undefined", []byte{0xf7}, 200, -32600, "simple value"},
		{"too deep", deep, 200, -32600, "nested too deep"},
		{"batch over the limit", mustCBOR(t, batch), 200, -32600, "batch too large"},
		{"empty batch", []byte{0x80}, 200, -32600, "empty batch"},
		{"entry not a map", mustCBOR(t, []any{1}), 200, -32600, "not a JSON-RPC call"},
		{"unknown key", mustCBOR(t, map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tx_submit", "Method": "x"}), 200, -32600, "unknown key"},
		{"repeated key", []byte{0xa3, 0x67, 'j', 's', 'o', 'n', 'r', 'p', 'c', 0x63, '2', '.', '0', 0x62, 'i', 'd', 0x01, 0x62, 'i', 'd', 0x02}, 200, -32600, "repeated key"},
		{"non-text key", mustCBOR(t, map[any]any{"jsonrpc": "2.0", 1: 1, "method": "tx_submit"}), 200, -32600, "not a text string"},
		{"wrong version", mustCBOR(t, map[string]any{"jsonrpc": "1.0", "id": 1, "method": "tx_submit"}), 200, -32600, `"2.0"`},
		{"no method", mustCBOR(t, map[string]any{"jsonrpc": "2.0", "id": 1}), 200, -32600, "no \"method\""},
		{"id of the wrong type", mustCBOR(t, map[string]any{"jsonrpc": "2.0", "id": []int{1}, "method": "tx_submit"}), 200, -32600, `"id"`},
		{"float id", mustCBOR(t, map[string]any{"jsonrpc": "2.0", "id": 1.5, "method": "tx_submit"}), 200, -32600, `"id"`},
		{"JSON-only method", cborReq(t, "chain_head"), 200, -32601, "JSON only"},
		{"unknown method", cborReq(t, "tx_steal"), 200, -32601, "does not exist"},
		{"long method", cborReq(t, strings.Repeat("m", 3000)), 200, -32600, "method name too long"},
		{"body over the limit", mustCBOR(t, map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tx_submit", "params": []any{CBORSubmitParams{Tx: make([]byte, 1<<20)}}}), 413, -32600, "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, ct, b := h.postCBOR(tt.body)
			if status != tt.status || ct != ContentTypeCBOR {
				t.Fatalf("status %d %q, want %d CBOR: %x", status, ct, tt.status, b)
			}
			r := oneCBOR(t, b)
			if r.Error == nil || r.Error.Code != tt.code || !strings.Contains(r.Error.Message, tt.want) {
				t.Fatalf("error %+v, want %d naming %q", r.Error, tt.code, tt.want)
			}
		})
	}
	t.Run("a notification gets no reply", func(t *testing.T) {
		status, _, b := h.postCBOR(mustCBOR(t, map[string]any{"jsonrpc": "2.0", "method": "tx_submit", "params": []any{CBORSubmitParams{Tx: []byte{1}}}}))
		if status != 200 || len(b) != 0 {
			t.Fatalf("status %d, reply %x", status, b)
		}
	})
}

// checkOnlyLedger checks txs as the node would but never commits them.
type checkOnlyLedger struct{ *chainLedger }

func (l checkOnlyLedger) Submit(ctx context.Context, tx *types.Tx) (types.Hash, error) {
	_, err := l.SubmitAndWait(ctx, tx)
	return tx.Hash(), err
}

func (l checkOnlyLedger) SubmitAndWait(_ context.Context, tx *types.Tx) (Receipt, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.c.Exec.CheckTx(l.c.Store, tx, l.c.Now); err != nil {
		return Receipt{}, err
	}
	return Receipt{}, ErrBusy
}

// FuzzCBORRequest feeds arbitrary bodies to the CBOR path: no input may
// panic, and every reply is one CBOR response or a batch of them.
func FuzzCBORRequest(f *testing.F) {
	h := newHarness(f)
	c := h.l.c
	// Admit nothing: a committing ledger would call the chain's test
	// helpers from inside the fuzz target.
	s, err := NewServer(checkOnlyLedger{h.l}, ServerConfig{MaxBodyBytes: 1 << 20, BatchLimit: 100, BatchResponseBytes: 1 << 20, MaxTxBytes: 16 << 10, WaitTimeout: time.Second})
	if err != nil {
		f.Fatal(err)
	}
	handler := s.Handler()
	f.Add(cborReq(f, "tx_submit", CBORSubmitParams{Tx: c.Tx("doctor456", chaintest.Audit("p1", "doctor456")).Encode()}))
	f.Add(cborReq(f, "tx_submitBatch", CBORSubmitBatchParams{Txs: [][]byte{{0xa1, 0x01}, {}}, Wait: true}))
	f.Add(mustCBOR(f, []any{map[string]any{"jsonrpc": "2.0", "id": "x", "method": "tx_submit", "params": []any{map[string]any{"tx": []byte{1}}}}}))
	f.Add(cborReq(f, "chain_head"))
	f.Add([]byte{0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0xbf, 0xff})
	f.Add([]byte{0xa1, 0x66, 'p', 'a', 'r', 'a', 'm', 's', 0x81, 0xa1, 0x63, 't', 'x', 's', 0x9a, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		req.Header.Set("Content-Type", ContentTypeCBOR)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		b := rec.Body.Bytes()
		if rec.Code >= 500 {
			t.Fatalf("status %d: %x", rec.Code, b)
		}
		if len(b) == 0 {
			return // notifications only
		}
		var one CBORResponse
		var many []CBORResponse
		if CBORDecMode.Unmarshal(b, &one) != nil && CBORDecMode.Unmarshal(b, &many) != nil {
			t.Fatalf("reply is not CBOR responses: %x", b)
		}
	})
}

// TestCBORBatchParams decodes tx_submitBatch params: the txs are slices of
// the body, not copies; anything but an array of byte strings is refused
// with the element named; a count over MaxSubmitBatch sizes nothing.
func TestCBORBatchParams(t *testing.T) {
	tests := []struct {
		name  string
		body  []byte
		txs   int
		error string
	}{
		{"two txs", mustCBOR(t, map[string]any{"txs": [][]byte{{1, 2}, {3}}, "wait": true}), 2, ""},
		{"no txs", mustCBOR(t, map[string]any{"txs": [][]byte{}}), 0, ""},
		{"a text element", mustCBOR(t, map[string]any{"txs": []any{[]byte{1}, "AQ=="}}), 0, "txs[1]: want a byte string, got a string"},
		{"txs not an array", mustCBOR(t, map[string]any{"txs": []byte{1}}), 0, "txs: want an array of byte strings, got a byte string"},
		{"unknown key", mustCBOR(t, map[string]any{"txs": [][]byte{{1}}, "Wait": true}), 0, `unknown key "Wait"`},
		{"repeated key", []byte{0xa2, 0x63, 't', 'x', 's', 0x80, 0x63, 't', 'x', 's', 0x80}, 0, `key "txs" repeated`},
		{"a key that is not a string", []byte{0xa1, 0x01, 0x80}, 0, "keys must be strings, got a number"},
		{"not a map", []byte{0x80}, 0, "want an object, got an array"},
		{"wait not a boolean", mustCBOR(t, map[string]any{"txs": [][]byte{{1}}, "wait": 1}), 0, "wait: want a boolean, got a number"},
		{"lying count", []byte{0xa1, 0x63, 't', 'x', 's', 0x9a, 0xff, 0xff, 0xff, 0xff}, 0, "malformed CBOR"},
		{"lying length", []byte{0xa1, 0x63, 't', 'x', 's', 0x81, 0x5a, 0xff, 0xff, 0xff, 0xff}, 0, "malformed CBOR"},
		{"lying map count", []byte{0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 0, "malformed CBOR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p SubmitBatchParams
			err := p.unmarshalCBOR(tt.body)
			if tt.error == "" {
				if err != nil || len(p.raw) != tt.txs {
					t.Fatalf("%v, %d txs", err, len(p.raw))
				}
				for _, r := range p.raw {
					if i := bytes.Index(tt.body, r.b); len(r.b) > 0 && (i < 0 || &tt.body[i] != &r.b[0]) {
						t.Fatal("tx copied, not sliced from the body")
					}
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.error) {
				t.Fatalf("err %v, want %q", err, tt.error)
			}
		})
	}
}

// TestCBORBatchResponseLimit: once a batch's responses pass
// rpc.batch_response_bytes, the calls not yet run get -32003, as in JSON.
func TestCBORBatchResponseLimit(t *testing.T) {
	h := newHarness(t)
	s, err := NewServer(h.l, ServerConfig{MaxBodyBytes: 1 << 20, BatchLimit: 100, BatchResponseBytes: 100, MaxTxBytes: 16 << 10, WaitTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var batch []any
	for i := range 4 {
		batch = append(batch, map[string]any{"jsonrpc": "2.0", "id": i, "method": "tx_submit", "params": []any{CBORSubmitParams{Tx: []byte{0xa1, 0x01}}}})
	}
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(mustCBOR(t, batch)))
	req.Header.Set("Content-Type", ContentTypeCBOR)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	var rs []CBORResponse
	if err := CBORDecMode.Unmarshal(rec.Body.Bytes(), &rs); err != nil || len(rs) != 4 {
		t.Fatalf("reply %x: %v", rec.Body.Bytes(), err)
	}
	if rs[0].Error == nil || rs[0].Error.Code != CodeInvalidParams || rs[3].Error == nil || rs[3].Error.Code != -32003 {
		t.Fatalf("first %+v, last %+v", rs[0].Error, rs[3].Error)
	}
	for i, r := range rs {
		var id int
		if CBORDecMode.Unmarshal(r.ID, &id) != nil || id != i {
			t.Fatalf("response %d has id %x", i, r.ID)
		}
	}
}
