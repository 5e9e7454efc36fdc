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
)

func nested(depth int) string {
	return strings.Repeat("[", depth) + strings.Repeat("]", depth)
}

func batch(n int) string {
	var b strings.Builder
	b.WriteByte('[')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"jsonrpc":"2.0","id":1,"method":"chain_head","params":[]}`)
	}
	b.WriteByte(']')
	return b.String()
}

func TestCheckJSON(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"request", `{"jsonrpc":"2.0","id":1,"method":"audit_trail","params":[{"patient":"p1"}]}`, nil},
		{"scalar", `5`, nil},
		{"depth 10", nested(10), nil},
		{"depth 11", nested(11), ErrJSONDepth},
		{"nested 1,000 deep", nested(1000), ErrJSONDepth},
		{"objects 1,000 deep", strings.Repeat(`{"a":`, 1000) + "1" + strings.Repeat("}", 1000), ErrJSONDepth},
		{"unclosed 1,000 deep", strings.Repeat("[", 1000), ErrJSONDepth},
		{"batch of 100", batch(100), nil},
		{"batch of 101", batch(101), ErrBatchTooLarge},
		{"batch of 10,000", batch(10_000), ErrBatchTooLarge},
		{"batch of scalars", "[" + strings.Repeat("1,", 200) + "1]", ErrBatchTooLarge},
		{"empty", ``, ErrMalformedJSON},
		{"two values", `{} {}`, ErrMalformedJSON},
		{"truncated", `{"a":[1,2`, ErrMalformedJSON},
		{"garbage", `{"a" 1}`, ErrMalformedJSON},
		{"injection string is data", `{"method":"'; DROP TABLE users; --","params":["<script>alert(1)</script>"]}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckJSON(strings.NewReader(tt.in), 10, 100)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

// naiveDepth is the reference: the maximum bracket nesting outside strings.
func naiveDepth(b []byte) int {
	depth, deepest, inStr, esc := 0, 0, false, false
	for _, c := range b {
		switch {
		case esc:
			esc = false
		case inStr && c == '\\':
			esc = true
		case c == '"':
			inStr = !inStr
		case inStr:
		case c == '[' || c == '{':
			depth++
			deepest = max(deepest, depth)
		case c == ']' || c == '}':
			depth--
		}
	}
	return deepest
}

func FuzzCheckJSON(f *testing.F) {
	for _, s := range []string{`{"a":[1,{"b":null}]}`, nested(10), nested(11), nested(1000), batch(3), `"x"`, `[1,2,3]`, `{"k":"[[[["}`, ``, `{} {}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		const maxDepth, maxBatch = 10, 100
		err := CheckJSON(bytes.NewReader(in), maxDepth, maxBatch)
		if err != nil {
			if !errors.Is(err, ErrJSONDepth) && !errors.Is(err, ErrBatchTooLarge) && !errors.Is(err, ErrMalformedJSON) {
				t.Fatalf("unclassified error %v", err)
			}
			if errors.Is(err, ErrJSONDepth) && naiveDepth(in) <= maxDepth {
				t.Fatalf("depth error for depth %d", naiveDepth(in))
			}
			return
		}
		if !json.Valid(in) {
			t.Fatalf("accepted invalid JSON %q", in)
		}
		if d := naiveDepth(in); d > maxDepth {
			t.Fatalf("accepted depth %d", d)
		}
		var top []json.RawMessage
		if json.Unmarshal(in, &top) == nil && len(top) > maxBatch {
			t.Fatalf("accepted batch of %d", len(top))
		}
	})
}

func TestMiddleware(t *testing.T) {
	cfg := DefaultConfig().Request
	var reached []byte
	var scanned *Request
	h := NewValidator(cfg).Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached, _ = io.ReadAll(r.Body)
		scanned = RequestFrom(r.Context())
		w.WriteHeader(http.StatusOK)
	}))
	ok := `{"jsonrpc":"2.0","id":1,"method":"chain_head","params":[]}`
	tests := []struct {
		name   string
		method string
		ct     string
		body   io.Reader
		length int64 // -2: set from body
		status int
		code   int
	}{
		{"valid", http.MethodPost, "application/json", strings.NewReader(ok), -2, 200, 0},
		{"charset utf-8", http.MethodPost, "application/json; charset=utf-8", strings.NewReader(ok), -2, 200, 0},
		{"wrong content type", http.MethodPost, "text/plain", strings.NewReader(ok), -2, 415, -32600},
		{"form content type", http.MethodPost, "application/x-www-form-urlencoded", strings.NewReader(ok), -2, 415, -32600},
		{"no content type", http.MethodPost, "", strings.NewReader(ok), -2, 415, -32600},
		{"latin-1 charset", http.MethodPost, "application/json; charset=iso-8859-1", strings.NewReader(ok), -2, 415, -32600},
		{"no Content-Length", http.MethodPost, "application/json", strings.NewReader(ok), -1, 411, -32600},
		{"oversize body", http.MethodPost, "application/json", strings.NewReader(`"` + strings.Repeat("a", 10<<20) + `"`), -2, 413, -32600},
		{"nested 1,000 deep", http.MethodPost, "application/json", strings.NewReader(nested(1000)), -2, 400, -32600},
		{"batch of 10,000 calls", http.MethodPost, "application/json", strings.NewReader(batch(10_000)), -2, 400, -32600},
		{"malformed", http.MethodPost, "application/json", strings.NewReader(`{"jsonrpc":`), -2, 400, -32700},
		{"GET without body", http.MethodGet, "", nil, 0, 200, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reached, scanned = nil, nil
			req := httptest.NewRequest(tt.method, "/", tt.body)
			if tt.ct != "" {
				req.Header.Set("Content-Type", tt.ct)
			}
			if tt.length != -2 {
				req.ContentLength = tt.length
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			if tt.status == 200 {
				if tt.method == http.MethodPost && string(reached) != ok {
					t.Fatalf("handler got %q", reached)
				}
				if tt.method == http.MethodPost && (scanned == nil || string(scanned.Body) != ok || len(scanned.Calls) != 1 || scanned.Calls[0].Method != "chain_head") {
					t.Fatalf("handler's context holds %+v, want the scanned chain_head call", scanned)
				}
				return
			}
			if reached != nil {
				t.Fatal("refused request reached the handler")
			}
			var resp struct {
				Error struct{ Code int } `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || resp.Error.Code != tt.code {
				t.Fatalf("body %s: code %d, want %d", rec.Body, resp.Error.Code, tt.code)
			}
		})
	}
}

// TestOversizeBodyRefused checks the cap over a real connection, where the
// declared length is the one the client sends and a body without a length
// is chunked.
func TestOversizeBodyRefused(t *testing.T) {
	cfg := DefaultConfig().Request
	cfg.MaxBodyBytes = 1 << 10
	srv := httptest.NewServer(NewValidator(cfg).Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("oversize request reached the handler")
	})))
	defer srv.Close()
	big := `"` + strings.Repeat("a", 2<<10) + `"`
	resp, err := http.Post(srv.URL, "application/json", strings.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("declared oversize: status %d", resp.StatusCode)
	}
	// Chunked (no length): refused for the missing length.
	resp, err = http.Post(srv.URL, "application/json", io.MultiReader(strings.NewReader(big)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusLengthRequired {
		t.Fatalf("chunked: status %d", resp.StatusCode)
	}
	// If the length is not required, the stream is still cut at the cap.
	cfg.RequireContentLength = false
	srv2 := httptest.NewServer(NewValidator(cfg).Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("oversize stream reached the handler")
	})))
	defer srv2.Close()
	resp, err = http.Post(srv2.URL, "application/json", io.MultiReader(strings.NewReader(big)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked oversize: status %d", resp.StatusCode)
	}
}
