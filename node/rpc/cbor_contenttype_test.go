package rpc

import (
	"bytes"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestCBORContentTypeRefusalsAreInTheEncodingAsked: a request whose
// Content-Type names application/cbor asked for CBOR and gets its answer
// in CBOR, a 415 for a media type with a parameter (parsable or not)
// included, with or without the gate; a request that did not name it gets
// the JSON path's 415, never a CBOR body.
func TestCBORContentTypeRefusalsAreInTheEncodingAsked(t *testing.T) {
	h := newHarness(t)
	g := newGated(t, h, nil, 100, 1<<20)
	plain, err := NewServer(h.l, ServerConfig{MaxBodyBytes: 1 << 20, BatchLimit: 100, BatchResponseBytes: 1 << 20, MaxTxBytes: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	body := cborReq(t, "tx_submit", CBORSubmitParams{Tx: []byte{0xa1, 0x01}})
	tests := []struct {
		contentType string
		wantStatus  int
		wantCBOR    bool   // else a reply that is not CBOR
		wantMsg     string // in a CBOR refusal
	}{
		{"application/cbor", http.StatusOK, true, ""},
		{"Application/CBOR", http.StatusOK, true, ""},
		{"application/cbor; charset", http.StatusUnsupportedMediaType, true, "takes no parameters"},
		{"application/cbor;;", http.StatusUnsupportedMediaType, true, "takes no parameters"},
		{"application/cbor; x=\"unterminated", http.StatusUnsupportedMediaType, true, "takes no parameters"},
		{"application/cbor; x=1", http.StatusUnsupportedMediaType, true, "takes no parameters"},
		{"application/json; charset", http.StatusUnsupportedMediaType, false, ""},
		{"not a media type;;", http.StatusUnsupportedMediaType, false, ""},
		{"application/cbor-seq", http.StatusUnsupportedMediaType, false, ""},
	}
	for _, srv := range []struct {
		name  string
		s     *Server
		token string
	}{{"no gate", plain, ""}, {"gate", g.s, g.token}} {
		for _, tt := range tests {
			t.Run(srv.name+"/"+tt.contentType, func(t *testing.T) {
				req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
				req.Header.Set("Content-Type", tt.contentType)
				if srv.token != "" {
					req.Header.Set("Authorization", "Bearer "+srv.token)
				}
				rec := httptest.NewRecorder()
				srv.s.Handler().ServeHTTP(rec, req)
				mt, _, _ := mime.ParseMediaType(rec.Header().Get("Content-Type"))
				if rec.Code != tt.wantStatus || (mt == ContentTypeCBOR) != tt.wantCBOR {
					t.Fatalf("HTTP %d %q: %q; want %d, CBOR %v", rec.Code, rec.Header().Get("Content-Type"), rec.Body.Bytes(), tt.wantStatus, tt.wantCBOR)
				}
				if !tt.wantCBOR {
					return
				}
				r := oneCBOR(t, rec.Body.Bytes())
				if r.Error == nil {
					t.Fatalf("no error: %+v", r)
				}
				if tt.wantMsg != "" && (r.Error.Code != -32600 || !strings.Contains(r.Error.Message, tt.wantMsg)) {
					t.Fatalf("error %d %q, want -32600 naming %q", r.Error.Code, r.Error.Message, tt.wantMsg)
				}
			})
		}
	}
}
