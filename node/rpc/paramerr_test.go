package rpc

import (
	"strings"
	"testing"
)

// goInternals are fragments of Go's own error wording that must never
// reach a client: type names, struct tags and the decoders' prefixes.
var goInternals = []string{"Go ", "rpc.", "plain", "struct", "[]uint8", "of type", "cbor:", "json:", "keyasint"}

func assertNoGoInternals(t *testing.T, what, msg string) {
	t.Helper()
	for _, s := range goInternals {
		if strings.Contains(msg, s) {
			t.Errorf("%s: message %q quotes Go internals (%q)", what, msg, s)
		}
	}
}

// TestParamsErrorsNameNoGoInternals sends params of the wrong shape to
// JSON methods that take objects and to both CBOR methods: each is refused
// as bad params with the key and the kinds, in words a client reads.
func TestParamsErrorsNameNoGoInternals(t *testing.T) {
	h := newHarness(t)
	jsonCases := []struct{ body, want string }{
		{`{"jsonrpc":"2.0","id":1,"method":"tx_submit","params":[{"tx":5}]}`, "tx: want a string, got a number"},
		{`{"jsonrpc":"2.0","id":1,"method":"tx_submit","params":[{"tx":"AA==","wait":"yes"}]}`, "wait: want a boolean, got a string"},
		{`{"jsonrpc":"2.0","id":1,"method":"tx_submit","params":[[1]]}`, "want an object, got an array"},
		{`{"jsonrpc":"2.0","id":1,"method":"tx_submitBatch","params":[{"txs":5}]}`, "txs: want an array of strings, got a number"},
		{`{"jsonrpc":"2.0","id":1,"method":"tx_submitBatch","params":[{"txs":[5]}]}`, "txs: want a string, got a number"},
		{`{"jsonrpc":"2.0","id":1,"method":"audit_trail","params":[{"patient":5}]}`, "patient: want a string, got a number"},
		{`{"jsonrpc":"2.0","id":1,"method":"audit_trail","params":[{"patient":"p","limit":"ten"}]}`, "limit: want an integer, got a string"},
		{`{"jsonrpc":"2.0","id":1,"method":"audit_trail","params":[{"patient":"p","limit":1.5}]}`, "limit: want an integer, got a number"},
		{`{"jsonrpc":"2.0","id":1,"method":"audit_trail","params":[{"patient":"p","pateint":"x"}]}`, `unknown key "pateint"`},
	}
	for _, tt := range jsonCases {
		_, r := h.post(tt.body)
		if r.Error == nil || r.Error.Code != CodeInvalidParams || !strings.Contains(r.Error.Message, tt.want) {
			t.Errorf("%s: %+v, want %d naming %q", tt.body, r.Error, CodeInvalidParams, tt.want)
			continue
		}
		assertNoGoInternals(t, tt.body, r.Error.Message)
	}
	cborCases := []struct {
		name   string
		method string
		arg    any
		want   string
	}{
		{"tx a number", "tx_submit", map[string]any{"tx": 5}, "tx: want a byte string, got a number"},
		{"tx a string", "tx_submit", map[string]any{"tx": "AA=="}, "tx: want a byte string, got a string"},
		{"wait a string", "tx_submit", map[string]any{"tx": []byte{1}, "wait": "yes"}, "wait: want a boolean, got a string"},
		{"an array", "tx_submit", []any{1}, "want an object, got an array"},
		{"a key not a string", "tx_submit", map[int]any{1: 2}, "keys must be strings, got a number"},
		{"txs a map", "tx_submitBatch", map[string]any{"txs": map[string]any{}}, "txs: want an array of byte strings, got an object"},
		{"txs[0] a boolean", "tx_submitBatch", map[string]any{"txs": []any{true}}, "txs[0]: want a byte string, got a boolean"},
		{"unknown key", "tx_submitBatch", map[string]any{"txs": [][]byte{{1}}, "Wait": true}, `unknown key "Wait"`},
	}
	for _, tt := range cborCases {
		_, _, b := h.postCBOR(cborReq(t, tt.method, tt.arg))
		r := oneCBOR(t, b)
		if r.Error == nil || r.Error.Code != CodeInvalidParams || !strings.Contains(r.Error.Message, tt.want) {
			t.Errorf("%s: %+v, want %d naming %q", tt.name, r.Error, CodeInvalidParams, tt.want)
			continue
		}
		assertNoGoInternals(t, tt.name, r.Error.Message)
	}
}

// FuzzCBORParamsObject: the CBOR params decoders never panic on any bytes,
// and what they refuse they refuse in a client's words.
func FuzzCBORParamsObject(f *testing.F) {
	for _, arg := range []any{
		map[string]any{"tx": []byte{1, 2}, "wait": true},
		map[string]any{"txs": [][]byte{{1}, {2, 3}}, "wait": false},
		map[string]any{"txs": []any{1, "x"}},
		map[int]any{1: 2},
		[]any{1},
	} {
		f.Add(mustCBOR(f, arg))
	}
	f.Add([]byte{0xa1, 0x63, 't', 'x', 's', 0x9a, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		var p SubmitParams
		if err := p.unmarshalCBOR(b); err != nil {
			assertNoGoInternals(t, "tx_submit", err.Error())
		}
		var q SubmitBatchParams
		if err := q.unmarshalCBOR(b); err != nil {
			assertNoGoInternals(t, "tx_submitBatch", err.Error())
		}
	})
}

// TestParamsKeysMatchExactly: every method that takes a params object
// refuses a key it does not take, and a key spelt with other cases than
// its own ("Patient"), which encoding/json alone would accept: the CBOR
// params and the gate's policy hints match keys exactly, so JSON does too.
func TestParamsKeysMatchExactly(t *testing.T) {
	h := newHarness(t)
	for _, tt := range []struct{ method, params, want string }{
		{"tx_submit", `{"tx":"AA==","Wait":true}`, `unknown key "Wait"`},
		{"tx_submitBatch", `{"Txs":["AA=="]}`, `unknown key "Txs"`},
		{"tx_get", `{"Hash":"00"}`, `unknown key "Hash"`},
		{"audit_trail", `{"Patient":"p"}`, `unknown key "Patient"`},
		{"audit_trail", `{"patient":"p","PATIENT":"q"}`, `unknown key "PATIENT"`},
		{"audit_stats", `{"kk":3}`, `unknown key "kk"`},
		{"audit_stats", `{"K":3}`, `unknown key "K"`},
		{"consent_verify", `{"patient":"p","Purpose":"x"}`, `unknown key "Purpose"`},
		{"chain_block", `{"Height":1}`, `unknown key "Height"`},
		{"chain_proof", `{"tx_Hash":"00"}`, `unknown key "tx_Hash"`},
		{"crypto_algorithms", `{"measure":true,"fast":true}`, `unknown key`},
		{"patient_export", `{"patient":"p","formats":"json"}`, `unknown key "formats"`},
		{"patient_erasureStatus", `{"Patient":"p"}`, `unknown key "Patient"`},
		{"fhir_auditTrail", `{"patient":"p","count":1}`, `unknown key "count"`},
		{"contract_get", `{"ID":"c"}`, `unknown key "ID"`},
		{"ehr_status", `{"system":"s"}`, `unknown key "system"`},
	} {
		body := `{"jsonrpc":"2.0","id":1,"method":"` + tt.method + `","params":[` + tt.params + `]}`
		_, r := h.post(body)
		if r.Error != nil && r.Error.Code == CodeMethodNotFound {
			t.Errorf("%s: not served by the test harness", tt.method)
			continue
		}
		if r.Error == nil || r.Error.Code != CodeInvalidParams || !strings.Contains(r.Error.Message, tt.want) {
			t.Errorf("%s %s: %+v, want %d naming %q", tt.method, tt.params, r.Error, CodeInvalidParams, tt.want)
		}
	}
}
