package client

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestSubmitNothing: an empty submission sends nothing and fails nothing,
// in either encoding (it used to index the first call of an empty CBOR
// batch when the transport failed).
func TestSubmitNothing(t *testing.T) {
	ctx := context.Background()
	// A node that answers the status probe and then fails every request
	// with a proxy's error page.
	probed := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if !probed {
			probed = true
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{}}`)
			return
		}
		http.Error(w, "bad gateway", http.StatusBadGateway)
	}))
	defer srv.Close()
	c, err := Dial(ctx, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if res, errs, err := c.SubmitBatch(ctx, nil, true); err != nil || len(res) != 0 || len(errs) != 0 {
		t.Fatalf("SubmitBatch of nothing: %v %v %v", res, errs, err)
	}
	if items, err := c.SubmitMany(ctx, nil, true); err != nil || len(items) != 0 {
		t.Fatalf("SubmitMany of nothing: %v %v", items, err)
	}
	if _, err := c.cborCall(ctx, nil, true); err == nil {
		t.Fatal("cborCall with no calls: want an error")
	}
}
