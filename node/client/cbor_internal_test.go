package client

import (
	"strings"
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
// order; a single error in place of a batch reply is the whole batch's
// error, for a batch of one call as for a batch of two; a single call's
// error is that call's response.
func TestDecodeCBORReply(t *testing.T) {
	one := []rpc.CBORRequest{{ID: 1}}
	two := []rpc.CBORRequest{{ID: 1}, {ID: 2}}
	r1 := rpc.CBORResponse{JSONRPC: "2.0", ID: cbor.RawMessage{0x01}, Result: cbor.RawMessage{0x0a}}
	r2 := rpc.CBORResponse{JSONRPC: "2.0", ID: cbor.RawMessage{0x02}, Result: cbor.RawMessage{0x0b}}
	e1 := rpc.CBORResponse{JSONRPC: "2.0", ID: cbor.RawMessage{0x01}, Error: &rpc.CBORError{Code: -32010, Message: "tx rejected"}}
	whole := rpc.CBORResponse{JSONRPC: "2.0", ID: cbor.RawMessage{0xf6}, Error: &rpc.CBORError{Code: -32600, Message: "empty batch"}}
	tests := []struct {
		name      string
		reply     any
		calls     []rpc.CBORRequest
		batch     bool
		wantErr   int    // the error's JSON-RPC code; 0: none
		wantMsg   string // else a substring of a client error
		wantFirst byte   // else the first byte of the first result
	}{
		{"batch of two in any order", []rpc.CBORResponse{r2, r1}, two, true, 0, "", 0x0a},
		{"batch of two refused as a whole", whole, two, true, -32600, "", 0},
		{"batch of one refused as a whole", whole, one, true, -32600, "", 0},
		{"batch of two missing a response", []rpc.CBORResponse{r1}, two, true, 0, "no response for call 1", 0},
		{"batch of one answered for another id", []rpc.CBORResponse{r2}, one, true, 0, "no response for call 0", 0},
		{"batch of one", []rpc.CBORResponse{r1}, one, true, 0, "", 0x0a},
		{"batch of one, one call's error", []rpc.CBORResponse{e1}, one, true, 0, "", 0},
		{"single call", r1, one, false, 0, "", 0x0a},
		{"single call's error", whole, one, false, 0, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := decodeCBORReply(mustMarshal(t, tt.reply), tt.calls, tt.batch)
			switch {
			case tt.wantErr != 0:
				if code, _, _ := RPCError(err); err == nil || code != tt.wantErr {
					t.Fatalf("got %+v, %v; want error %d", rs, err, tt.wantErr)
				}
			case tt.wantMsg != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantMsg) {
					t.Fatalf("got %+v, %v; want an error naming %q", rs, err, tt.wantMsg)
				}
			case err != nil || len(rs) != len(tt.calls):
				t.Fatalf("got %+v, %v; want %d responses", rs, err, len(tt.calls))
			case tt.wantFirst != 0 && (rs[0].Error != nil || rs[0].Result[0] != tt.wantFirst):
				t.Fatalf("first response %+v", rs[0])
			case tt.wantFirst == 0 && rs[0].Error == nil:
				t.Fatalf("first response %+v, want its error", rs[0])
			}
		})
	}
}
