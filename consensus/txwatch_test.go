package consensus_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/consensus/consensustest"
)

// TestTxWatchMissesNoOutcomeThatComesBeforeTheWait: a follower registers
// its waiters (WatchTxs) before it forwards txs, so the leader's left-out
// report, which stores nothing, still reaches a Wait that starts after it;
// a WaitTx that starts after the report misses it and waits for its
// timeout. A tx committed between the watch and the wait gets its receipt.
func TestTxWatchMissesNoOutcomeThatComesBeforeTheWait(t *testing.T) {
	c := consensustest.New(t, consensustest.Options{})
	n := c.WaitLeader(10 * time.Second)
	ctx := ctxT(t)
	dr := c.RegisterClinician(ctx, n, "dr-1", 7)
	tx := c.SignTx("dr-1", dr, consensustest.Audit("dr-1", "patient-1", 1))
	left := types.Hash{0xaa}
	refusal := &state.TxError{Code: types.CodeConflict, Reason: "the tx's patient is erased: nothing more is recorded about them"}

	w := n.WatchTxs([]types.Hash{left, tx.Hash()})
	defer w.Close()
	if err := n.LeftOut(left, refusal); err != nil {
		t.Fatal(err)
	}
	if _, err := n.SubmitAndWait(ctx, tx); err != nil {
		t.Fatal(err)
	}
	_, err := w.Wait(ctx, 0)
	var te *state.TxError
	if !errors.As(err, &te) || *te != *refusal {
		t.Fatalf("watched tx left out before the wait: %v, want the refusal", err)
	}
	r, err := w.Wait(ctx, 1)
	if err != nil || r.TxHash != tx.Hash() || !r.Result.OK() {
		t.Fatalf("watched tx committed before the wait: %+v %v", r, err)
	}

	// Without a watch, a report that comes first is lost to a later wait.
	late := types.Hash{0xbb}
	if err := n.LeftOut(late, refusal); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := n.WaitTx(short, late); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitTx after the report: %v, want its timeout", err)
	}
}
