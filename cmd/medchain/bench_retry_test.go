package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/node/client"
	"github.com/medchain/medchain/node/rpc"
)

// fakeBatchNode answers tx_submitBatch calls with what answer returns for
// the call (0-based) and its txs, decoded back from base64; it counts the
// calls and the txs each carried.
type fakeBatchNode struct {
	mu     sync.Mutex
	calls  int
	sizes  []int
	answer func(call int, txs []*types.Tx) (items []rpc.BatchItem, errCode int)
}

func (f *fakeBatchNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params json.RawMessage `json:"params"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if req.Method == "node_status" { // the client's probe when it dials
		_ = json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": req.ID, "result": map[string]any{"chain_id": "bench"}})
		return
	}
	var params []struct { // not rpc.SubmitBatchParams, whose decoder keeps the txs to itself
		Txs []string `json:"txs"`
	}
	if err := json.Unmarshal(req.Params, &params); err != nil || req.Method != "tx_submitBatch" || len(params) != 1 {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	txs := make([]*types.Tx, len(params[0].Txs))
	for i, s := range params[0].Txs {
		raw, err := base64.StdEncoding.DecodeString(s)
		if err == nil {
			txs[i], err = types.DecodeTx(raw, types.DefaultMaxTxBytes)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	}
	f.mu.Lock()
	call := f.calls
	f.calls++
	f.sizes = append(f.sizes, len(txs))
	f.mu.Unlock()
	items, code := f.answer(call, txs)
	resp := map[string]any{"jsonrpc": "2.0", "id": req.ID}
	if code != 0 {
		resp["error"] = map[string]any{"code": code, "message": "refused by the fake node"}
	} else {
		resp["result"] = items
	}
	_ = json.NewEncoder(w).Encode(resp)
}

func committed(tx *types.Tx) rpc.BatchItem {
	h := tx.Hash()
	return rpc.BatchItem{TxHash: &h, Status: "committed", Receipt: &rpc.Receipt{TxHash: h, Height: 1, Result: types.Result{Code: types.CodeOK}}}
}

func failed(code int) rpc.BatchItem {
	return rpc.BatchItem{Error: &rpc.BatchError{Code: code, Message: "refused"}}
}

// TestSubmitWithRetry: bench --retry sends again exactly the txs refused
// for a transient reason, the same signed txs, until they commit or the
// retry time is up; without --retry, or for a lasting refusal, the first
// answer stands.
func TestSubmitWithRetry(t *testing.T) {
	const n = 4
	part := make([]*types.Tx, n)
	for i := range part {
		part[i] = &types.Tx{ChainID: "bench", Type: types.TxAuditRecord, Signer: "doctor456", Timestamp: int64(1000 + i)}
	}
	allOK := func(txs []*types.Tx) []rpc.BatchItem {
		items := make([]rpc.BatchItem, len(txs))
		for i, tx := range txs {
			items[i] = committed(tx)
		}
		return items
	}
	for _, tc := range []struct {
		name          string
		retry         time.Duration
		answer        func(call int, txs []*types.Tx) ([]rpc.BatchItem, int)
		wantCommitted int
		wantErrCodes  map[int]int // tx index -> final error code
		wantSizes     []int       // txs sent in each call
		moreCalls     bool        // the last size of wantSizes may repeat (the number of retries depends on timing)
		wantRetried   int
		wantLimited   int
	}{
		{name: "every tx committed at once", retry: time.Minute,
			answer:        func(_ int, txs []*types.Tx) ([]rpc.BatchItem, int) { return allOK(txs), 0 },
			wantCommitted: n, wantSizes: []int{n}},
		{name: "no leader, then every tx committed", retry: time.Minute,
			answer: func(call int, txs []*types.Tx) ([]rpc.BatchItem, int) {
				if call == 0 {
					items := make([]rpc.BatchItem, len(txs))
					for i := range items {
						items[i] = failed(rpc.CodeUnavailable)
					}
					return items, 0
				}
				return allOK(txs), 0
			},
			wantCommitted: n, wantSizes: []int{n, n}, wantRetried: n},
		{name: "only the transient ones are sent again", retry: time.Minute,
			answer: func(call int, txs []*types.Tx) ([]rpc.BatchItem, int) {
				items := allOK(txs)
				if call == 0 {
					items[0] = failed(rpc.CodeTxRejected) // lasting: never sent again
					items[1] = failed(rpc.CodeTimeout)
					items[3] = failed(rpc.CodeBusy)
				}
				return items, 0
			},
			wantCommitted: n - 1, wantErrCodes: map[int]int{0: rpc.CodeTxRejected}, wantSizes: []int{n, 2}, wantRetried: 2},
		{name: "without --retry a transient refusal is an error", retry: 0,
			answer: func(_ int, txs []*types.Tx) ([]rpc.BatchItem, int) {
				items := allOK(txs)
				items[2] = failed(rpc.CodeUnavailable)
				return items, 0
			},
			wantCommitted: n - 1, wantErrCodes: map[int]int{2: rpc.CodeUnavailable}, wantSizes: []int{n}},
		{name: "a whole call refused as unavailable is sent again", retry: time.Minute,
			answer: func(call int, txs []*types.Tx) ([]rpc.BatchItem, int) {
				if call == 0 {
					return nil, rpc.CodeUnavailable
				}
				return allOK(txs), 0
			},
			wantCommitted: n, wantSizes: []int{n, n}, wantRetried: n},
		{name: "a whole call refused for a lasting reason is every tx's error", retry: time.Minute,
			answer:       func(int, []*types.Tx) ([]rpc.BatchItem, int) { return nil, rpc.CodeForbidden },
			wantErrCodes: map[int]int{0: rpc.CodeForbidden, 1: rpc.CodeForbidden, 2: rpc.CodeForbidden, 3: rpc.CodeForbidden}, wantSizes: []int{n}},
		{name: "the retry time runs out", retry: 350 * time.Millisecond,
			answer: func(_ int, txs []*types.Tx) ([]rpc.BatchItem, int) {
				items := allOK(txs)
				for i, tx := range txs {
					if tx.Timestamp == part[1].Timestamp { // part[1], wherever it is in this call
						items[i] = failed(rpc.CodeBusy)
					}
				}
				return items, 0
			},
			// pauses of 100 and 200 ms fit in 350 ms (on a slow host only the first), the next 400 ms does not
			wantCommitted: n - 1, wantErrCodes: map[int]int{1: rpc.CodeBusy}, wantSizes: []int{n, 1}, moreCalls: true},
		{name: "a rate-limited call waits and is sent again", retry: 0,
			answer: func(call int, txs []*types.Tx) ([]rpc.BatchItem, int) {
				if call == 0 {
					return nil, rpc.CodeRateLimited
				}
				return allOK(txs), 0
			},
			wantCommitted: n, wantSizes: []int{n, n}, wantLimited: 1},
		{name: "an answer with the wrong number of items is not retried", retry: time.Minute,
			answer:       func(_ int, txs []*types.Tx) ([]rpc.BatchItem, int) { return allOK(txs)[:1], 0 },
			wantErrCodes: map[int]int{0: 0, 1: 0, 2: 0, 3: 0}, wantSizes: []int{n}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := &fakeBatchNode{answer: tc.answer}
			srv := httptest.NewServer(fake)
			defer srv.Close()
			ctx := context.Background()
			cl, err := client.Dial(ctx, srv.URL, client.WithEncoding(client.EncodingJSON))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			out := submitWithRetry(ctx, cl, part, tc.retry)

			ok := 0
			for i, it := range out.items {
				code, wantErr := tc.wantErrCodes[i]
				switch {
				case wantErr && it.Error == nil:
					t.Errorf("tx %d: no error, want code %d", i, code)
				case wantErr && it.Error.Code != code:
					t.Errorf("tx %d: error code %d, want %d", i, it.Error.Code, code)
				case !wantErr && (it.Error != nil || it.Receipt == nil):
					t.Errorf("tx %d: %+v, want a receipt", i, it)
				case !wantErr:
					if *it.TxHash != part[i].Hash() {
						t.Errorf("tx %d: receipt of another tx", i)
					}
					ok++
				}
			}
			if ok != tc.wantCommitted {
				t.Errorf("committed %d, want %d", ok, tc.wantCommitted)
			}
			fake.mu.Lock() // the handler's goroutine wrote them
			all := slices.Clone(fake.sizes)
			fake.mu.Unlock()
			sizes := all
			if tc.moreCalls && len(sizes) > len(tc.wantSizes) {
				for _, n := range sizes[len(tc.wantSizes):] {
					if n != tc.wantSizes[len(tc.wantSizes)-1] {
						t.Fatalf("calls carried %v txs, want %v and more of the last", sizes, tc.wantSizes)
					}
				}
				sizes = sizes[:len(tc.wantSizes)]
			}
			if !slices.Equal(sizes, tc.wantSizes) {
				t.Fatalf("calls carried %v txs, want %v", all, tc.wantSizes)
			}
			if tc.moreCalls {
				tc.wantRetried = len(all) - 1 // one tx in each retry
			}
			if out.retried != tc.wantRetried || out.limited != tc.wantLimited {
				t.Errorf("retried %d, limited %d; want %d, %d", out.retried, out.limited, tc.wantRetried, tc.wantLimited)
			}
		})
	}
}
