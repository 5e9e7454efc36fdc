package client

import (
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/medchain/medchain/node/rpc"
)

func TestWantSegment(t *testing.T) {
	cborBody := func(v any) []byte {
		b, err := cbor.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tx := make([]byte, 3000) // a tx's bytes before and between the methods
	for i := range tx {
		tx[i] = byte(i)
	}
	for _, tc := range []struct {
		name string
		body []byte
		cbor bool
		want string
	}{
		{"JSON clinical call", []byte(`{"jsonrpc":"2.0","id":1,"method":"audit_trail","params":[{}]}`), false, "clinical"},
		{"JSON public call", []byte(`{"jsonrpc":"2.0","id":1,"method":"tx_submit","params":[{}]}`), false, "public"},
		{"JSON mixed batch", []byte(`[{"method":"tx_submit"},{"method":"audit_trail"}]`), false, ""},
		{"JSON session method", []byte(`{"method":"session_status"}`), false, ""},
		{"CBOR tx_submitBatch", cborBody(rpc.CBORRequest{JSONRPC: "2.0", ID: 1, Method: "tx_submitBatch", Params: []any{map[string]any{"txs": [][]byte{tx}}}}), true, "public"},
		{"CBOR batch of submits", cborBody([]rpc.CBORRequest{{JSONRPC: "2.0", ID: 1, Method: "tx_submit", Params: []any{map[string]any{"tx": tx}}}, {JSONRPC: "2.0", ID: 2, Method: "tx_submit"}}), true, "public"},
		{"CBOR body read as JSON finds nothing", cborBody(rpc.CBORRequest{JSONRPC: "2.0", ID: 1, Method: "tx_submit"}), false, ""},
		{"truncated CBOR", cborBody(rpc.CBORRequest{JSONRPC: "2.0", ID: 1, Method: "tx_submit"})[:12], true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := wantSegment(tc.body, tc.cbor); got != tc.want {
				t.Fatalf("wantSegment = %q, want %q", got, tc.want)
			}
		})
	}
}
