package client_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/node/client"
	"github.com/medchain/medchain/node/config"
	"github.com/medchain/medchain/node/nodetest"
	"github.com/medchain/medchain/node/rpc"
)

// TestSubmitEncodingsAgree submits through a gated node with each
// encoding: Submit, SubmitBatch and SubmitMany give the same results
// (committed, receipts that match tx_get) and the same errors, and a CBOR
// session recovers from the gate's reauthentication demand like a JSON one.
func TestSubmitEncodingsAgree(t *testing.T) {
	n := nodetest.Start(t, func(c *config.Config) {
		c.ZeroTrust.Enabled = true
		c.ZeroTrust.ReauthInterval = config.Duration(2 * time.Second)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	key := n.Key(t, "doctor456")
	for _, enc := range []client.Encoding{client.EncodingCBOR, client.EncodingJSON} {
		t.Run(enc.String(), func(t *testing.T) {
			opts := append(n.ClientOptions(), client.WithEncoding(enc), client.WithLogin(client.Login{Identity: "doctor456", Key: key}))
			c, err := client.Dial(ctx, n.URL, opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if c.Encoding() != enc {
				t.Fatalf("encoding %v", c.Encoding())
			}
			s := c.Signer("doctor456", key)
			audit := func(i int) *types.Tx {
				tx, err := s.Build(&types.AuditRecord{EventType: "data_access", Patient: fmt.Sprintf("p-%s-%d", enc, i), Actor: "doctor456",
					Action: "view_record", Purpose: "treatment", Outcome: "success"})
				if err != nil {
					t.Fatal(err)
				}
				return tx
			}
			check := func(what string, tx *types.Tx, r *rpc.SubmitResult) {
				t.Helper()
				if r.TxHash != tx.Hash() || r.Status != "committed" || r.Receipt == nil || !r.Receipt.Result.OK() || r.Receipt.TxHash != tx.Hash() {
					t.Fatalf("%s: %+v", what, r)
				}
				got, err := c.Tx(ctx, tx.Hash())
				if err != nil || got.Status != "committed" || *got.Height != r.Receipt.Height {
					t.Fatalf("%s: tx_get %+v %v", what, got, err)
				}
			}
			tx := audit(0)
			r, err := c.Submit(ctx, tx, true)
			if err != nil {
				t.Fatal(err)
			}
			check("Submit", tx, r)
			// Resubmitting is harmless: the same receipt.
			if r2, err := c.Submit(ctx, tx, true); err != nil || r2.Receipt == nil || r2.Receipt.Height != r.Receipt.Height || r2.Receipt.BlockHash != r.Receipt.BlockHash {
				t.Fatalf("resubmission: %+v %v", r2, err)
			}
			// A forged signature is refused with the code and data of the JSON path.
			forged := audit(9)
			forged.Signature.Sig[7] ^= 1
			if _, err := c.Submit(ctx, forged, true); err == nil {
				t.Fatal("forged tx accepted")
			} else if code, data, _ := client.RPCError(err); code != rpc.CodeTxRejected || fmt.Sprint(data) != "map[code:bad_signature reason:"+data.(map[string]any)["reason"].(string)+"]" {
				t.Fatalf("forged: code %d data %v (%v)", code, data, err)
			}

			txs := []*types.Tx{audit(1), audit(2)}
			res, errs, err := c.SubmitBatch(ctx, txs, true)
			if err != nil || errs[0] != nil || errs[1] != nil {
				t.Fatalf("SubmitBatch: %v %v", err, errs)
			}
			check("SubmitBatch 0", txs[0], &res[0])
			check("SubmitBatch 1", txs[1], &res[1])

			time.Sleep(2100 * time.Millisecond) // past the reauthentication interval
			more := []*types.Tx{audit(3), forged, audit(4)}
			items, err := c.SubmitMany(ctx, more, true)
			if err != nil || len(items) != 3 {
				t.Fatalf("SubmitMany after the reauthentication interval: %v", err)
			}
			for _, i := range []int{0, 2} {
				if items[i].Error != nil {
					t.Fatalf("item %d: %+v", i, items[i].Error)
				}
				check(fmt.Sprintf("SubmitMany %d", i), more[i], &rpc.SubmitResult{TxHash: *items[i].TxHash, Status: items[i].Status, Receipt: items[i].Receipt})
			}
			if items[1].Error == nil || items[1].Error.Code != rpc.CodeTxRejected {
				t.Fatalf("forged item: %+v", items[1])
			}
		})
	}
}

// TestSubmitFallsBackToJSON: a node that refuses application/cbor (HTTP
// 415, as one without the CBOR path does) gets the submission in JSON, and
// every later one too, without another CBOR attempt.
func TestSubmitFallsBackToJSON(t *testing.T) {
	n := nodetest.Start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	target, err := url.Parse(n.URL)
	if err != nil {
		t.Fatal(err)
	}
	hc, err := client.HTTPClient(n.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = hc.Transport
	var refused atomic.Int32
	old := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/cbor") {
			refused.Add(1)
			http.Error(w, "unsupported content type", http.StatusUnsupportedMediaType)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer old.Close()
	key := n.Key(t, "doctor456")
	c, err := client.Dial(ctx, old.URL, n.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := c.Signer("doctor456", key)
	for i := range 2 {
		tx, err := s.Build(&types.AuditRecord{EventType: "data_access", Patient: fmt.Sprintf("p-old-%d", i), Actor: "doctor456",
			Action: "view_record", Purpose: "treatment", Outcome: "success"})
		if err != nil {
			t.Fatal(err)
		}
		r, err := c.Submit(ctx, tx, true)
		if err != nil || r.Status != "committed" || r.TxHash != tx.Hash() {
			t.Fatalf("submission %d through a node without CBOR: %+v %v", i, r, err)
		}
	}
	if got := refused.Load(); got != 1 {
		t.Fatalf("%d CBOR attempts, want 1", got)
	}
}
