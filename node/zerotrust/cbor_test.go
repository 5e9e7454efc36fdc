package zerotrust

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

func cborOf(t testing.TB, v any) []byte {
	t.Helper()
	b, err := cbor.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func cborCall(method string, params ...any) map[string]any {
	return map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
}

// nestedCBOR is params holding arrays nested to total depth d (the call
// map being depth 1), like nested's JSON.
func nestedCBOR(d int) []byte {
	b := []byte{0xa4, 0x67, 'j', 's', 'o', 'n', 'r', 'p', 'c', 0x63, '2', '.', '0', 0x62, 'i', 'd', 0x01,
		0x66, 'm', 'e', 't', 'h', 'o', 'd', 0x62, 'm', '1', 0x66, 'p', 'a', 'r', 'a', 'm', 's'}
	for range d - 1 {
		b = append(b, 0x81)
	}
	return append(b, 0x01)
}

// TestScanCBORRequest checks the CBOR scanner's verdicts and the calls it
// reads, with the same limits as the JSON scanner's tests.
func TestScanCBORRequest(t *testing.T) {
	const maxDepth, maxBatch = 10, 100
	many := make([]any, 101)
	for i := range many {
		many[i] = cborCall("chain_head")
	}
	tests := []struct {
		name    string
		body    []byte
		err     error  // nil: accepted
		callErr string // accepted, but not calls
		methods []string
		patient string
		id      string
	}{
		{"single call", cborOf(t, cborCall("chain_head")), nil, "", []string{"chain_head"}, "", "1"},
		{"text id", cborOf(t, map[string]any{"jsonrpc": "2.0", "id": "a\"b", "method": "m"}), nil, "", []string{"m"}, "", `"a\"b"`},
		{"negative id", cborOf(t, map[string]any{"jsonrpc": "2.0", "id": -5, "method": "m"}), nil, "", []string{"m"}, "", "-5"},
		{"null id", cborOf(t, map[string]any{"jsonrpc": "2.0", "id": nil, "method": "m"}), nil, "", []string{"m"}, "", "null"},
		{"notification", cborOf(t, map[string]any{"jsonrpc": "2.0", "method": "m"}), nil, "", []string{"m"}, "", ""},
		{"patient hint", cborOf(t, cborCall("audit_trail", map[string]any{"patient": "patient123", "limit": 5})), nil, "", []string{"audit_trail"}, "patient123", "1"},
		{"batch", cborOf(t, []any{cborCall("a"), cborCall("b")}), nil, "", []string{"a", "b"}, "", "1"},
		{"depth at the limit", nestedCBOR(10), nil, "", []string{"m1"}, "", "1"},
		{"one too deep", nestedCBOR(11), ErrCBORDepth, "", nil, "", ""},
		{"1,000 deep", nestedCBOR(1000), ErrCBORDepth, "", nil, "", ""},
		{"batch over the limit", cborOf(t, many), ErrBatchTooLarge, "", nil, "", ""},
		{"lying batch count", []byte{0x9b, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}, ErrBatchTooLarge, "", nil, "", ""},
		{"lying map count", []byte{0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, ErrMalformedCBOR, "", nil, "", ""},
		{"lying string length", []byte{0xa1, 0x7a, 0xff, 0xff, 0xff, 0xff}, ErrMalformedCBOR, "", nil, "", ""},
		{"empty", nil, ErrMalformedCBOR, "", nil, "", ""},
		{"truncated head", []byte{0x19, 0x01}, ErrMalformedCBOR, "", nil, "", ""},
		{"reserved info", []byte{0x1c}, ErrMalformedCBOR, "", nil, "", ""},
		{"lone break", []byte{0xff}, ErrMalformedCBOR, "", nil, "", ""},
		{"trailing data", append(cborOf(t, cborCall("m")), 0xf6), ErrMalformedCBOR, "", nil, "", ""},
		{"bad UTF-8", cborOf(t, cborCall("m\xff")), ErrMalformedCBOR, "", nil, "", ""},
		{"two-byte simple below 32", []byte{0xf8, 0x10}, ErrMalformedCBOR, "", nil, "", ""},
		{"indefinite map", []byte{0xbf, 0xff}, ErrCBORUnsupported, "", nil, "", ""},
		{"indefinite string", []byte{0x5f, 0x41, 0x00, 0xff}, ErrCBORUnsupported, "", nil, "", ""},
		{"tag", []byte{0xc0, 0x60}, ErrCBORUnsupported, "", nil, "", ""},
		{"undefined", []byte{0xf7}, ErrCBORUnsupported, "", nil, "", ""},
		{"not a map", cborOf(t, 7), nil, "not a JSON-RPC call object", nil, "", ""},
		{"batch entry not a map", cborOf(t, []any{cborCall("a"), "x"}), nil, "entry 1 is not", nil, "", ""},
		{"unknown key", cborOf(t, map[string]any{"jsonrpc": "2.0", "id": 1, "method": "a", "Method": "b"}), nil, "unknown key", nil, "", ""},
		{"repeated method", []byte{0xa3, 0x67, 'j', 's', 'o', 'n', 'r', 'p', 'c', 0x63, '2', '.', '0', 0x66, 'm', 'e', 't', 'h', 'o', 'd', 0x61, 'a', 0x66, 'm', 'e', 't', 'h', 'o', 'd', 0x61, 'b'}, nil, "repeated key", nil, "", ""},
		{"integer key", cborOf(t, map[any]any{"jsonrpc": "2.0", "method": "a", 2: 1}), nil, "not a text string", nil, "", ""},
		{"method not text", cborOf(t, map[string]any{"jsonrpc": "2.0", "method": []byte("a")}), nil, "not a text string", nil, "", ""},
		{"no method", cborOf(t, map[string]any{"jsonrpc": "2.0", "id": 1}), nil, `no "method"`, nil, "", ""},
		{"wrong version", cborOf(t, map[string]any{"jsonrpc": "1.0", "method": "a"}), nil, `"2.0"`, nil, "", ""},
		{"float id", cborOf(t, map[string]any{"jsonrpc": "2.0", "id": 1.5, "method": "a"}), nil, `"id"`, nil, "", ""},
		{"id beyond int64", cborOf(t, map[string]any{"jsonrpc": "2.0", "id": uint64(1) << 63, "method": "a"}), nil, `"id"`, nil, "", ""},
		{"id at the length limit", cborOf(t, map[string]any{"jsonrpc": "2.0", "id": strings.Repeat("<", MaxCBORIDBytes), "method": "a"}), nil, "", []string{"a"}, "", `"` + strings.Repeat(`\u003c`, MaxCBORIDBytes) + `"`},
		{"id over the length limit", cborOf(t, map[string]any{"jsonrpc": "2.0", "id": strings.Repeat("<", MaxCBORIDBytes+1), "method": "a"}), nil, `"id"`, nil, "", ""},
		{"empty method", cborOf(t, map[string]any{"jsonrpc": "2.0", "id": 1, "method": ""}), nil, `"method" is empty`, nil, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ScanCBORRequest(tt.body, maxDepth, maxBatch)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !r.CBOR {
				t.Fatal("request not marked CBOR")
			}
			if tt.callErr != "" {
				if r.CallErr == nil || !strings.Contains(r.CallErr.Error(), tt.callErr) {
					t.Fatalf("CallErr %v, want %q", r.CallErr, tt.callErr)
				}
				return
			}
			if r.CallErr != nil {
				t.Fatal(r.CallErr)
			}
			var got []string
			for _, c := range r.Calls {
				got = append(got, c.Method)
			}
			if strings.Join(got, ",") != strings.Join(tt.methods, ",") || r.Calls[0].Patient != tt.patient || string(r.Calls[0].ID) != tt.id {
				t.Fatalf("calls %+v", r.Calls)
			}
			if tt.id != "" && tt.id != "null" && !json.Valid(r.Calls[0].ID) {
				t.Fatalf("id %s is not JSON", r.Calls[0].ID)
			}
		})
	}
}

// TestCBORDepthMatchesJSON: the same structure is as deep in both
// encodings, so one max_json_depth limits both alike.
func TestCBORDepthMatchesJSON(t *testing.T) {
	for d := 1; d <= 12; d++ {
		var v any = 1
		for range d - 1 {
			v = []any{v}
		}
		call := map[string]any{"jsonrpc": "2.0", "id": 1, "method": "m", "params": v}
		if d == 1 {
			call = map[string]any{"jsonrpc": "2.0", "id": 1, "method": "m"}
		}
		js, _ := json.Marshal([]any{call})
		_, jerr := ScanRequest(js, 8, 10)
		_, cerr := ScanCBORRequest(cborOf(t, []any{call}), 8, 10)
		if (jerr == nil) != (cerr == nil) {
			t.Fatalf("depth %d: JSON %v, CBOR %v", d+1, jerr, cerr)
		}
	}
}

// FuzzScanCBORRequest checks the scanner against fxamacker/cbor as the
// reference: whatever it accepts is well-formed CBOR without indefinite
// lengths or tags, within the depth and batch limits, and it never panics.
func FuzzScanCBORRequest(f *testing.F) {
	f.Add(nestedCBOR(3))
	f.Add(cborOf(f, []any{cborCall("a", map[string]any{"patient": "p"}), cborCall("b")}))
	f.Add([]byte{0xbf, 0xff})
	f.Add([]byte{0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0xf9, 0x7e, 0x00})
	const maxDepth, maxBatch = 10, 100
	ref, err := cbor.DecOptions{MaxNestedLevels: maxDepth, IndefLength: cbor.IndefLengthForbidden, TagsMd: cbor.TagsForbidden,
		MaxArrayElements: 1 << 20, MaxMapPairs: 1 << 20}.DecMode()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ScanCBORRequest(body, maxDepth, maxBatch)
		if err != nil {
			if !errors.Is(err, ErrMalformedCBOR) && !errors.Is(err, ErrCBORUnsupported) && !errors.Is(err, ErrCBORDepth) && !errors.Is(err, ErrBatchTooLarge) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if err := ref.Wellformed(body); err != nil {
			t.Fatalf("accepted %x, the reference refuses: %v", body, err)
		}
		if r.Batch && len(r.Calls) > maxBatch {
			t.Fatalf("accepted a batch of %d", len(r.Calls))
		}
		for _, c := range r.Calls {
			if c.ID != nil && !json.Valid(c.ID) {
				t.Fatalf("id %q is not JSON", c.ID)
			}
		}
	})
}

func TestMiddlewareCBOR(t *testing.T) {
	cfg := DefaultConfig().Request // max body 10 MiB, depth 10, batch 100
	var scanned *Request
	h := NewValidator(cfg).Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scanned = RequestFrom(r.Context())
		w.WriteHeader(http.StatusOK)
	}))
	ok := cborOf(t, cborCall("tx_submit", map[string]any{"tx": []byte{1, 2, 3}}))
	many := make([]any, 101)
	for i := range many {
		many[i] = cborCall("tx_submit")
	}
	tests := []struct {
		name   string
		ct     string
		body   []byte
		status int
		code   int
	}{
		{"valid", ContentTypeCBOR, ok, 200, 0},
		{"parameters on the CBOR type", ContentTypeCBOR + "; charset=utf-8", ok, 415, -32600},
		{"CBOR body declared JSON", "application/json", ok, 400, -32700},
		{"oversize body", ContentTypeCBOR, cborOf(t, cborCall("tx_submit", map[string]any{"tx": make([]byte, 10<<20)})), 413, -32600},
		{"nested 1,000 deep", ContentTypeCBOR, nestedCBOR(1000), 400, -32600},
		{"batch of 101 calls", ContentTypeCBOR, cborOf(t, many), 400, -32600},
		{"malformed", ContentTypeCBOR, ok[:len(ok)-1], 400, -32700},
		{"indefinite length", ContentTypeCBOR, []byte{0xbf, 0xff}, 400, -32600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scanned = nil
			req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(tt.body))
			req.Header.Set("Content-Type", tt.ct)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			if tt.status == 200 {
				if scanned == nil || !scanned.CBOR || len(scanned.Calls) != 1 || scanned.Calls[0].Method != "tx_submit" {
					t.Fatalf("handler's context holds %+v", scanned)
				}
				return
			}
			if scanned != nil {
				t.Fatal("refused request reached the handler")
			}
			var resp struct {
				Error struct{ Code int } `cbor:"error" json:"error"`
			}
			b, _ := io.ReadAll(rec.Body)
			var err error
			if rec.Header().Get("Content-Type") == ContentTypeCBOR {
				err = cbor.Unmarshal(b, &resp)
			} else {
				err = json.Unmarshal(b, &resp)
			}
			if err != nil || resp.Error.Code != tt.code {
				t.Fatalf("reply %x (%s): code %d, want %d", b, rec.Header().Get("Content-Type"), resp.Error.Code, tt.code)
			}
		})
	}
}
