package rpc

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/chaintest"
	"github.com/medchain/medchain/chain/types"
)

// batchLedger is chainLedger with the BatchLedger extension: it records
// each call and answers tx by tx through the plain methods.
type batchLedger struct {
	*chainLedger
	calls [][]*types.Tx
	waits []bool
}

func (l *batchLedger) SubmitBatch(ctx context.Context, txs []*types.Tx, wait bool) []BatchResult {
	l.calls, l.waits = append(l.calls, txs), append(l.waits, wait)
	out := make([]BatchResult, len(txs))
	for i, tx := range txs {
		if wait {
			r, err := l.SubmitAndWait(ctx, tx)
			out[i] = BatchResult{Hash: tx.Hash(), Receipt: r, Err: err}
			continue
		}
		h, err := l.Submit(ctx, tx)
		out[i] = BatchResult{Hash: h, Err: err}
	}
	return out
}

// TestSubmitBatchUsesBatchLedgerOnce: with a BatchLedger, tx_submitBatch
// hands every decodable tx over in one call (the undecodable one keeps its
// own error) and maps each result to its item, with and without wait.
func TestSubmitBatchUsesBatchLedgerOnce(t *testing.T) {
	c := chaintest.New(t)
	c.Register("doctor456", types.KindPerson, types.RoleClinician)
	l := &batchLedger{chainLedger: &chainLedger{c: c}}
	s, err := NewServer(l, ServerConfig{MaxBodyBytes: 1 << 20, BatchLimit: 100, BatchResponseBytes: 1 << 20, MaxTxBytes: 16 << 10, WaitTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	h := &harness{t: t, l: l.chainLedger, srv: srv}
	for _, wait := range []bool{true, false} {
		l.calls, l.waits = nil, nil
		good := c.Tx("doctor456", chaintest.Audit("patient123", "doctor456"))
		bad := c.Tx("mallory", chaintest.Audit("p", "mallory"))
		r := h.call("tx_submitBatch", SubmitBatchParams{Txs: []string{enc(good), "!!", enc(bad)}, Wait: wait})
		var items []BatchItem
		if r.Error != nil || json.Unmarshal(r.Result, &items) != nil || len(items) != 3 {
			t.Fatalf("wait=%v: %s %+v", wait, r.Result, r.Error)
		}
		if len(l.calls) != 1 || len(l.calls[0]) != 2 || l.waits[0] != wait {
			t.Fatalf("wait=%v: BatchLedger calls %d (txs %v, wait %v), want one call with the 2 decodable txs", wait, len(l.calls), l.calls, l.waits)
		}
		want := map[bool]string{true: "committed", false: "pending"}[wait]
		if items[0].Error != nil || items[0].Status != want || *items[0].TxHash != good.Hash() || (wait && items[0].Receipt == nil) {
			t.Fatalf("wait=%v: good tx %+v", wait, items[0])
		}
		if items[1].Error == nil || items[1].Error.Code != CodeInvalidParams || items[2].Error == nil || items[2].Error.Code != CodeTxRejected {
			t.Fatalf("wait=%v: bad txs %+v %+v", wait, items[1].Error, items[2].Error)
		}
	}
}
