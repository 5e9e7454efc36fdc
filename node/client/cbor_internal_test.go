package client

import (
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/medchain/medchain/node/rpc"
)

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := cbor.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCBORGateRefusal: the session transport finds the gate's refusals in
// CBOR replies, single or batched, with their data, as in JSON ones.
func TestCBORGateRefusal(t *testing.T) {
	data := mustMarshal(t, map[string]any{"reason": "segment", "method_segment": "clinical"})
	refusal := func(code int, d []byte) rpc.CBORResponse {
		return rpc.CBORResponse{JSONRPC: "2.0", ID: cbor.RawMessage{0x01}, Error: &rpc.CBORError{Code: code, Message: "no", Data: d}}
	}
	ok := rpc.CBORResponse{JSONRPC: "2.0", ID: cbor.RawMessage{0x02}, Result: cbor.RawMessage{0xf5}}
	tests := []struct {
		name string
		body []byte
		code int // 0: none found
		seg  string
	}{
		{"reauth", mustMarshal(t, refusal(rpc.CodeReauthRequired, nil)), rpc.CodeReauthRequired, ""},
		{"segment in a batch", mustMarshal(t, []rpc.CBORResponse{ok, refusal(rpc.CodeForbidden, data)}), rpc.CodeForbidden, "clinical"},
		{"forbidden for policy", mustMarshal(t, refusal(rpc.CodeForbidden, mustMarshal(t, map[string]any{"reason": "policy"}))), 0, ""},
		{"a tx error", mustMarshal(t, refusal(rpc.CodeTxRejected, nil)), 0, ""},
		{"a result", mustMarshal(t, ok), 0, ""},
		{"garbage", []byte{0xff}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := cborGateRefusal(tt.body)
			if tt.code == 0 {
				if e != nil {
					t.Fatalf("found %+v", e)
				}
				return
			}
			if e == nil || e.Code != tt.code {
				t.Fatalf("got %+v, want code %d", e, tt.code)
			}
			if tt.seg != "" && string(e.Data) != `{"method_segment":"clinical","reason":"segment"}` {
				t.Fatalf("data %s", e.Data)
			}
		})
	}
}

// TestDecodeCBORReply: a batch reply is matched to the calls by id, in any
// order; a single error to a batch is the whole batch's error.
func TestDecodeCBORReply(t *testing.T) {
	calls := []rpc.CBORRequest{{ID: 1}, {ID: 2}}
	r1 := rpc.CBORResponse{JSONRPC: "2.0", ID: cbor.RawMessage{0x01}, Result: cbor.RawMessage{0x0a}}
	r2 := rpc.CBORResponse{JSONRPC: "2.0", ID: cbor.RawMessage{0x02}, Result: cbor.RawMessage{0x0b}}
	rs, err := decodeCBORReply(mustMarshal(t, []rpc.CBORResponse{r2, r1}), calls)
	if err != nil || rs[0].Result[0] != 0x0a || rs[1].Result[0] != 0x0b {
		t.Fatalf("%+v %v", rs, err)
	}
	whole := rpc.CBORResponse{JSONRPC: "2.0", ID: cbor.RawMessage{0xf6}, Error: &rpc.CBORError{Code: -32600, Message: "empty batch"}}
	if _, err := decodeCBORReply(mustMarshal(t, whole), calls); err == nil {
		t.Fatal("a batch refused as a whole decoded")
	} else if code, _, _ := RPCError(err); code != -32600 {
		t.Fatalf("code %d", code)
	}
	if _, err := decodeCBORReply(mustMarshal(t, []rpc.CBORResponse{r1}), calls); err == nil {
		t.Fatal("a missing response went unnoticed")
	}
}
