package consensus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/types"
)

// TestLeftOutRefusalIsATxErrorThatNamesNoPatient: whatever the cut's reason,
// the waiters of a left-out tx (and the followers told about it) get a
// *state.TxError, so the RPC layer answers a tx rejection with its result
// code rather than an internal error; the erased and unknown patient cases
// carry admission's codes and never the patient id.
func TestLeftOutRefusalIsATxErrorThatNamesNoPatient(t *testing.T) {
	stale := &state.TxError{Code: types.CodeBadSignature, Reason: "stale"}
	cases := []struct {
		name string
		err  error
		code types.ResultCode
	}{
		{"stale signature", stale, types.CodeBadSignature},
		{"wrapped tx error", fmt.Errorf("cut: %w", stale), types.CodeBadSignature},
		{"patient erased", ErrPatientErased, types.CodeConflict},
		{"erasure of an unknown patient", ErrPatientUnknown, types.CodeNotFound},
		{"anything else", errors.New("mrn-123 odd"), types.CodeConflict},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			te := leftOutRefusal(c.err)
			if te == nil || te.Code != c.code || te.Reason == "" {
				t.Fatalf("refusal %+v, want code %s and a reason", te, c.code)
			}
		})
	}
	if te := leftOutRefusal(ErrPatientErased); te.Reason != "the tx's patient is erased: nothing more is recorded about them" {
		t.Fatalf("erased patient reason %q", te.Reason)
	}
}

// TestLeftOutWakesOnlyTheWaitersOfThatTx: a follower told by the leader that
// it left a tx out wakes its waiters of that tx with the leader's refusal,
// at once; waiters of other txs keep waiting; nothing stays registered.
func TestLeftOutWakesOnlyTheWaitersOfThatTx(t *testing.T) {
	n := &Node{waiters: make(map[types.Hash][]chan waitOutcome), done: make(chan struct{})}
	left, other := types.Hash{1}, types.Hash{2}
	a, b := n.addWaiter(left), n.addWaiter(other)
	if err := n.LeftOut(left, &state.TxError{Code: types.CodeConflict, Reason: "the tx's patient is erased"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := n.wait(ctx, left, a)
	var te *state.TxError
	if !errors.As(err, &te) || te.Code != types.CodeConflict || te.Reason != "the tx's patient is erased" {
		t.Fatalf("waiter of the left-out tx got %v, want the leader's refusal", err)
	}
	if _, err := n.wait(ctx, other, b); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiter of another tx got %v, want its own timeout", err)
	}
	if len(n.waiters[left]) != 0 {
		t.Fatalf("left-out tx still has %d waiters", len(n.waiters[left]))
	}
	// No waiter: nothing happens, nothing is kept.
	if err := n.LeftOut(types.Hash{3}, &state.TxError{Code: types.CodeConflict, Reason: "x"}); err != nil || len(n.waiters) != 1 {
		t.Fatalf("left out with no waiter: %v, %d hashes registered", err, len(n.waiters))
	}
}

// TestLeftOutRefusesWhatIsNoRefusal: a nil refusal, and codes that do not
// refuse a tx (ok; replay, whose waiters get the committed copy), are
// refused and wake nobody.
func TestLeftOutRefusesWhatIsNoRefusal(t *testing.T) {
	n := &Node{waiters: make(map[types.Hash][]chan waitOutcome), done: make(chan struct{})}
	h := types.Hash{1}
	ch := n.addWaiter(h)
	for _, r := range []*state.TxError{nil, {Code: types.CodeOK}, {Code: types.CodeReplay, Reason: "already in the chain"}} {
		if err := n.LeftOut(h, r); !errors.Is(err, types.ErrInvalid) {
			t.Errorf("LeftOut(%v) = %v, want types.ErrInvalid", r, err)
		}
	}
	select {
	case o := <-ch:
		t.Fatalf("waiter woken with %v", o.err)
	default:
	}
}

// TestAnswerLeftOutReportsToTheHook: the leader reports each tx it answers
// as left out to Config.LeftOut with the refusal its own waiters got, and
// reports no copy of a tx in flight (which it does not answer either).
func TestAnswerLeftOutReportsToTheHook(t *testing.T) {
	type report struct {
		h  types.Hash
		te *state.TxError
	}
	var got []report
	n := &Node{fsm: newFSMHarness(t).fsm, waiters: make(map[types.Hash][]chan waitOutcome), done: make(chan struct{}), log: slog.New(slog.DiscardHandler),
		cfg: Config{LeftOut: func(h types.Hash, te *state.TxError) { got = append(got, report{h, te}) }}}
	copied, alone := types.Hash{1}, types.Hash{2}
	inflight := []*flight{{ps: []*pending{{hash: copied}}}}
	w := n.addWaiter(alone)
	n.answerLeftOut(map[types.Hash]error{copied: ErrPatientErased, alone: ErrPatientErased}, inflight)
	if len(got) != 1 || got[0].h != alone || got[0].te.Code != types.CodeConflict {
		t.Fatalf("hook got %+v, want one report of the tx with no copy in flight", got)
	}
	o := <-w
	var te *state.TxError
	if !errors.As(o.err, &te) || *te != *got[0].te {
		t.Fatalf("local waiter got %v, the hook %v: want the same refusal", o.err, got[0].te)
	}
}

// TestALeftOutCopyOfACommittedTxIsNotAnswered: a copy of a tx admitted
// while its first copy's block was in flight, and cut after that block
// committed (so no longer in flight), is left out but neither answered nor
// reported: the tx is in the chain, and a refusal would tell the client
// that its committed tx failed.
func TestALeftOutCopyOfACommittedTxIsNotAnswered(t *testing.T) {
	h := newFSMHarness(t)
	tx, err := types.NewTx(h.g.ChainID, "dr", &types.AuditRecord{EventType: "data_access", Patient: "mrn-1", Actor: "dr",
		Action: "view", Purpose: "treatment", Outcome: "success"}, time.UnixMilli(h.now), 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Sign(seededKey(t, 3)); err != nil {
		t.Fatal(err)
	}
	b, _, err := h.ex.AssembleBlock(h.st, h.st, nil, h.now, []*types.Tx{tx}, h.node, seededKey(t, 2))
	if err != nil || !b.Results[0].OK() {
		t.Fatalf("fixture block: %v %+v", err, b.Results)
	}
	if res := h.fsm.Apply(&raft.Log{Index: 10, Data: EncodeBlockEntry(b)}).(*ApplyResult); res.Err != nil {
		t.Fatal(res.Err)
	}
	var reported []types.Hash
	n := &Node{fsm: h.fsm, waiters: make(map[types.Hash][]chan waitOutcome), done: make(chan struct{}), log: slog.New(slog.DiscardHandler),
		cfg: Config{LeftOut: func(h types.Hash, _ *state.TxError) { reported = append(reported, h) }}}
	committed, alone := tx.Hash(), types.Hash{2}
	wc, wa := n.addWaiter(committed), n.addWaiter(alone)
	refusal := &state.TxError{Code: types.CodeBadSignature, Reason: "stale"}
	n.answerLeftOut(map[types.Hash]error{committed: refusal, alone: refusal}, nil)
	if len(reported) != 1 || reported[0] != alone {
		t.Fatalf("reported %v, want only the tx not in the chain", reported)
	}
	if o := <-wa; !errors.Is(o.err, refusal) {
		t.Fatalf("waiter of the tx not in the chain got %v", o.err)
	}
	select {
	case o := <-wc:
		t.Fatalf("waiter of the committed tx answered %v", o.err)
	default:
	}
}
