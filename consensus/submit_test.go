package consensus_test

import (
	"errors"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/consensus"
	"github.com/medchain/medchain/consensus/consensustest"
)

// TestSubmitBatchAnswersEachTx: a batch is checked tx by tx; the good txs
// commit, each bad one gets the error Submit would give it, a committed tx
// gets its receipt, and a duplicate in the batch commits once.
func TestSubmitBatchAnswersEachTx(t *testing.T) {
	c := consensustest.New(t, consensustest.Options{})
	n := c.WaitLeader(10 * time.Second)
	ctx := ctxT(t)
	dr := c.RegisterClinician(ctx, n, "dr-1", 7)
	committed := c.SignTx("dr-1", dr, consensustest.Audit("dr-1", "p", 1000))
	r0, err := n.SubmitAndWait(ctx, committed)
	if err != nil {
		t.Fatal(err)
	}
	badSig := c.SignTx("dr-1", dr, consensustest.Audit("dr-1", "p", 1001))
	badSig.Signature.Sig[5] ^= 1
	unknown := c.SignTx("nobody", dr, consensustest.Audit("nobody", "p", 0))
	dup := c.SignTx("dr-1", dr, consensustest.Audit("dr-1", "p", 1002))
	var txs []*types.Tx
	for i := range 40 {
		txs = append(txs, c.SignTx("dr-1", dr, consensustest.Audit("dr-1", "p", i)))
	}
	txs = append(txs, badSig, unknown, nil, committed, dup, dup)
	receipts, errs := n.SubmitBatchAndWait(ctx, txs)
	if len(receipts) != len(txs) || len(errs) != len(txs) {
		t.Fatalf("%d receipts and %d errors for %d txs", len(receipts), len(errs), len(txs))
	}
	for i := range 40 {
		if errs[i] != nil || !receipts[i].Result.OK() || receipts[i].TxHash != txs[i].Hash() {
			t.Fatalf("tx %d: %+v %v", i, receipts[i], errs[i])
		}
	}
	var te *state.TxError
	if !errors.As(errs[40], &te) || te.Code != types.CodeBadSignature {
		t.Fatalf("bad signature: %v", errs[40])
	}
	if !errors.As(errs[41], &te) || te.Code != types.CodeUnknownSigner {
		t.Fatalf("unknown signer: %v", errs[41])
	}
	if !errors.Is(errs[42], types.ErrInvalid) {
		t.Fatalf("nil tx: %v", errs[42])
	}
	if errs[43] != nil || !sameReceipt(receipts[43], r0) {
		t.Fatalf("committed tx: %+v %v, want its receipt %+v", receipts[43], errs[43], r0)
	}
	if errs[44] != nil || errs[45] != nil || !sameReceipt(receipts[44], receipts[45]) {
		t.Fatalf("duplicate: %+v %v / %+v %v", receipts[44], errs[44], receipts[45], errs[45])
	}
	if n.Pending(badSig.Hash()) || n.Pending(unknown.Hash()) {
		t.Fatal("a refused tx is in the mempool")
	}
	// The batch kept its order: its txs' positions in the chain increase.
	for i := 1; i < 40; i++ {
		a, b := receipts[i-1], receipts[i]
		if b.Height < a.Height || (b.Height == a.Height && b.Index <= a.Index) {
			t.Fatalf("tx %d at %d/%d after tx %d at %d/%d", i, b.Height, b.Index, i-1, a.Height, a.Index)
		}
	}
	hs := []types.Hash{txs[0].Hash(), txs[39].Hash()}
	rs, werrs := n.WaitTxs(ctx, hs)
	if werrs[0] != nil || werrs[1] != nil || !sameReceipt(rs[0], receipts[0]) || !sameReceipt(rs[1], receipts[39]) {
		t.Fatalf("WaitTxs: %+v %v", rs, werrs)
	}
}

func TestSubmitBatchFullMempoolReturnsErrBusyPerTx(t *testing.T) {
	c := consensustest.New(t, consensustest.Options{})
	ctx := ctxT(t)
	n := c.WaitLeader(10 * time.Second)
	dr := c.RegisterClinician(ctx, n, "dr-1", 7)
	n = reconfigure(c, func(cfg *consensus.Config) { cfg.MempoolSize, cfg.MaxBlockDelay = 3, time.Hour })
	var txs []*types.Tx
	for i := range 5 {
		txs = append(txs, c.SignTx("dr-1", dr, consensustest.Audit("dr-1", "p", i)))
	}
	_, errs := n.SubmitBatch(ctx, txs)
	for i, err := range errs {
		if (i < 3) != (err == nil) || (i >= 3 && !errors.Is(err, consensus.ErrBusy)) {
			t.Fatalf("tx %d: %v (mempool of 3)", i, err)
		}
	}
	_, errs = n.SubmitBatch(ctx, txs[3:])
	for _, err := range errs {
		if !errors.Is(err, consensus.ErrBusy) {
			t.Fatalf("full mempool: %v, want ErrBusy", err)
		}
	}
}

func sameReceipt(a, b consensus.Receipt) bool {
	return a.TxHash == b.TxHash && a.Height == b.Height && a.Index == b.Index && a.BlockHash == b.BlockHash && a.Result.Code == b.Result.Code
}
