package p2p

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/medchain/medchain/chain/codec"
)

// batchPair starts a leader whose batch handler answers each tx with its
// SHA-256, refusing txs that start with "bad", and a follower (observer).
func batchPair(t *testing.T, configure func(*Config)) (leader, follower *testNode, calls *atomic.Int64) {
	reg := &MemRegistry{}
	leader = startNode(t, reg, nil, "leader", 1, RoleVoter, configure)
	follower = startNode(t, reg, nil, "follower", 2, RoleObserver, configure)
	calls = new(atomic.Int64)
	leader.SetTxBatchHandler(func(ctx context.Context, from peer.ID, raws [][]byte) []TxOutcome {
		calls.Add(1)
		out := make([]TxOutcome, len(raws))
		for i, raw := range raws {
			if from != follower.ID() {
				out[i].Err = "unexpected sender"
				continue
			}
			if bytes.HasPrefix(raw, []byte("bad")) {
				out[i].Err = "chain: tx signature does not verify"
				continue
			}
			h := sha256.Sum256(raw)
			out[i].Result = h[:]
		}
		return out
	})
	return leader, follower, calls
}

// TestTxBatchForwardingAnswersEachTx: one round trip carries the whole batch
// and each tx gets its own outcome; a bad tx in the middle refuses only that tx.
func TestTxBatchForwardingAnswersEachTx(t *testing.T) {
	leader, follower, calls := batchPair(t, nil)
	ctx := ctxT(t, 10*time.Second)
	raws := make([][]byte, 250)
	for i := range raws {
		raws[i] = bytes.Repeat([]byte{byte(i)}, 3900)
	}
	raws[7] = []byte("bad tx")
	start := time.Now()
	out, err := follower.ForwardTxs(ctx, leader.ID(), raws)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("batch of %d txs (~1 MB) forwarded in %v, dial and handshake included", len(raws), time.Since(start))
	if calls.Load() != 1 {
		t.Fatalf("handler called %d times for one batch", calls.Load())
	}
	if len(out) != len(raws) {
		t.Fatalf("%d outcomes for %d txs", len(out), len(raws))
	}
	for i, o := range out {
		if i == 7 {
			if o.OK() || !strings.Contains(o.Err, "signature does not verify") {
				t.Fatalf("bad tx: outcome %+v", o)
			}
			continue
		}
		want := sha256.Sum256(raws[i])
		if !o.OK() || !bytes.Equal(o.Result, want[:]) {
			t.Fatalf("tx %d: outcome %+v, want its hash", i, o)
		}
	}
}

func TestTxBatchForwardingRefusesBadBatchesLocally(t *testing.T) {
	leader, follower, calls := batchPair(t, func(c *Config) { c.MaxTxBytes = 1024; c.MaxBatchBytes = 8 << 10 })
	ctx := ctxT(t, 10*time.Second)
	tests := []struct {
		name string
		raws [][]byte
		want error
	}{
		{"no txs", nil, nil},
		{"an empty tx", [][]byte{[]byte("a"), {}}, nil},
		{"a tx over MaxTxBytes", [][]byte{make([]byte, 1025)}, ErrTooLarge},
		{"a batch over MaxBatchBytes", bytes.Fields(bytes.Repeat([]byte(strings.Repeat("x", 1000)+" "), 9)), ErrTooLarge},
		{"more than MaxTxBatch txs", bytes.Fields(bytes.Repeat([]byte("x "), MaxTxBatch+1)), ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := follower.ForwardTxs(ctx, leader.ID(), tt.raws)
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("got %v, want a refusal (%v)", err, tt.want)
			}
		})
	}
	if calls.Load() != 0 {
		t.Fatal("a refused batch reached the leader's handler")
	}
}

// TestTxBatchReceiverChecksEachTx: a sender that ignores its limits gets a
// per-tx refusal for the oversized or empty tx, and a batch-level refusal for
// a frame over MaxBatchBytes, refused before allocation.
func TestTxBatchReceiverChecksEachTx(t *testing.T) {
	leader, follower, calls := batchPair(t, func(c *Config) { c.MaxTxBytes = 1024; c.MaxBatchBytes = 8 << 10 })
	ctx := ctxT(t, 10*time.Second)
	send := func(frame []byte, announce int) txBatchResponse {
		t.Helper()
		s, _, err := follower.openStream(ctx, leader.ID(), TxBatchProtocol)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if announce > 0 {
			s.Write([]byte{byte(announce >> 24), byte(announce >> 16), byte(announce >> 8), byte(announce)})
			s.Write(frame)
		} else if err := writeFrame(s, frame); err != nil {
			t.Fatal(err)
		}
		s.CloseWrite()
		s.SetReadDeadline(time.Now().Add(3 * time.Second))
		b, err := readFrame(s, maxBatchResponse)
		if err != nil {
			t.Fatal(err)
		}
		var resp txBatchResponse
		if err := codec.Unmarshal(b, &resp); err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := send(codec.MustMarshal(txBatchRequest{Txs: [][]byte{[]byte("good"), make([]byte, 1025), {}, []byte("bad")}}), 0)
	if resp.Error != "" || len(resp.Outcomes) != 4 {
		t.Fatalf("answer %+v", resp)
	}
	if !resp.Outcomes[0].OK() || !strings.Contains(resp.Outcomes[1].Err, ErrTooLarge.Error()) ||
		!strings.Contains(resp.Outcomes[2].Err, "empty") || resp.Outcomes[3].OK() {
		t.Fatalf("outcomes %+v", resp.Outcomes)
	}
	if calls.Load() != 1 {
		t.Fatalf("handler calls %d, want 1", calls.Load())
	}
	resp = send(make([]byte, 64), 1<<20) // announces 1 MiB
	if !strings.Contains(resp.Error, ErrTooLarge.Error()) {
		t.Fatalf("oversized frame answered %+v", resp)
	}
	resp = send([]byte("not cbor"), 0)
	if resp.Error == "" || len(resp.Outcomes) != 0 {
		t.Fatalf("garbage answered %+v", resp)
	}
	resp = send(codec.MustMarshal(txBatchRequest{}), 0)
	if !strings.Contains(resp.Error, "no txs") {
		t.Fatalf("empty batch answered %+v", resp)
	}
}

func TestTxBatchHandlerMissingOrWrongCount(t *testing.T) {
	reg := &MemRegistry{}
	leader := startNode(t, reg, nil, "leader", 1, RoleVoter, nil)
	follower := startNode(t, reg, nil, "follower", 2, RoleVoter, nil)
	ctx := ctxT(t, 10*time.Second)
	if _, err := follower.ForwardTxs(ctx, leader.ID(), [][]byte{[]byte("tx")}); err == nil {
		t.Fatal("a node without a batch handler accepted a batch")
	}
	leader.SetTxBatchHandler(func(context.Context, peer.ID, [][]byte) []TxOutcome { return nil })
	if _, err := follower.ForwardTxs(ctx, leader.ID(), [][]byte{[]byte("tx")}); !errors.Is(err, ErrRemote) {
		t.Fatalf("handler answering no outcomes: %v, want ErrRemote", err)
	}
	leader.SetTxBatchHandler(func(_ context.Context, _ peer.ID, raws [][]byte) []TxOutcome {
		return []TxOutcome{{Result: bytes.Repeat([]byte{1}, maxTxResult+1)}, {Err: strings.Repeat("e", 4096)}, {}}
	})
	out, err := follower.ForwardTxs(ctx, leader.ID(), [][]byte{[]byte("a"), []byte("b"), []byte("c")})
	if err != nil {
		t.Fatal(err)
	}
	if out[0].OK() || out[1].OK() || len(out[1].Err) > maxErrorLen || out[2].OK() {
		t.Fatalf("outcomes over the limits were not replaced: %+v", out)
	}
}

func TestDecodeTxBatchResponse(t *testing.T) {
	h := bytes.Repeat([]byte{1}, 32)
	tests := []struct {
		name string
		resp txBatchResponse
		want int
		ok   bool
	}{
		{"one outcome per tx", txBatchResponse{Outcomes: []TxOutcome{{Result: h}, {Err: "no"}}}, 2, true},
		{"too few outcomes", txBatchResponse{Outcomes: []TxOutcome{{Result: h}}}, 2, false},
		{"too many outcomes", txBatchResponse{Outcomes: []TxOutcome{{Result: h}, {Result: h}}}, 1, false},
		{"batch refused", txBatchResponse{Error: "consensus: not the leader"}, 1, false},
		{"refusal with outcomes", txBatchResponse{Error: "x", Outcomes: []TxOutcome{{Result: h}}}, 1, false},
		{"outcome without result or error", txBatchResponse{Outcomes: []TxOutcome{{}}}, 1, false},
		{"result too large", txBatchResponse{Outcomes: []TxOutcome{{Result: make([]byte, maxTxResult+1)}}}, 1, false},
		{"error too long", txBatchResponse{Outcomes: []TxOutcome{{Err: strings.Repeat("e", maxErrorLen+1)}}}, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := decodeTxBatchResponse(codec.MustMarshal(tt.resp), tt.want)
			if (err == nil) != tt.ok {
				t.Fatalf("err %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrRemote) {
				t.Fatalf("error %v does not wrap ErrRemote", err)
			}
			if tt.ok && len(out) != tt.want {
				t.Fatalf("%d outcomes, want %d", len(out), tt.want)
			}
		})
	}
	if _, err := decodeTxBatchResponse([]byte{0xff}, 1); err == nil {
		t.Fatal("garbage accepted")
	}
}

func FuzzDecodeTxBatchRequest(f *testing.F) {
	f.Add(codec.MustMarshal(txBatchRequest{Txs: [][]byte{[]byte("a"), {}}}))
	f.Add(codec.MustMarshal(txBatchRequest{}))
	f.Add([]byte{0xa1, 0x01, 0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}) // huge announced array
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		txs, err := decodeTxBatchRequest(b)
		if err != nil {
			return
		}
		if len(txs) == 0 || len(txs) > MaxTxBatch {
			t.Fatalf("accepted a batch of %d txs", len(txs))
		}
	})
}

func FuzzDecodeTxBatchResponse(f *testing.F) {
	h := bytes.Repeat([]byte{1}, 32)
	f.Add(codec.MustMarshal(txBatchResponse{Outcomes: []TxOutcome{{Result: h}, {Err: "no"}}}), 2)
	f.Add(codec.MustMarshal(txBatchResponse{Error: "refused"}), 1)
	f.Add([]byte{0xa1, 0x01, 0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 3)
	f.Fuzz(func(t *testing.T, b []byte, want int) {
		if want < 1 || want > MaxTxBatch {
			return
		}
		out, err := decodeTxBatchResponse(b, want)
		if err != nil {
			return
		}
		if len(out) != want {
			t.Fatalf("%d outcomes accepted for %d txs", len(out), want)
		}
		for _, o := range out {
			if o.OK() && len(o.Result) == 0 {
				t.Fatal("accepted an outcome with neither result nor error")
			}
		}
	})
}
