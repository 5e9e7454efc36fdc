package state

import (
	"fmt"
	"strings"
	"testing"

	"github.com/medchain/medchain/chain/types"
)

// TestPruningNeverChangesReExecution: a node prunes sealed payloads by its
// own clock (types.Redaction.PruneSealed), and chain verification
// re-executes the pruned blocks, so nothing the executor checks may depend
// on the sealed bytes: the same block gives the same results and state hash
// before and after. Each case is a redacted tx whose signed form the leader
// admitted; it is accepted both times (from the finding of review 5: the
// size check counted the sealed payload, and CheckBasic bounded it by a
// constant a larger genesis limit exceeds).
func TestPruningNeverChangesReExecution(t *testing.T) {
	cases := []struct {
		name       string
		details    int                           // bytes of free text in the signed event (at most 4096)
		maxTxBytes func(signed *types.Tx) int    // the genesis limit
		sealed     func(signed *types.Tx) []byte // what the leader seals
		mutate     func(r *types.Redaction)      // a stored form the FSM refuses, still executed the same
		wantOK     bool
	}{
		{
			// The signed tx fits with a few bytes to spare; with its sealed
			// payload counted it would not.
			name: "tx near the limit", details: 3000,
			maxTxBytes: func(s *types.Tx) int { return s.SizeBound() + 16 },
			sealed:     func(s *types.Tx) []byte { return make([]byte, len(s.Payload)+37) },
			wantOK:     true,
		},
		{
			// A genesis limit above the default admits txs whose sealed
			// payloads are longer than the default bound on them.
			name: "sealed payload over the default bound", details: 10,
			maxTxBytes: func(*types.Tx) int { return 2 * types.DefaultMaxTxBytes },
			sealed:     func(*types.Tx) []byte { return make([]byte, types.MaxSealedLen(0)+100) },
			wantOK:     true,
		},
		{
			name: "sealed payload and its hash both stored", details: 10,
			maxTxBytes: func(*types.Tx) int { return types.DefaultMaxTxBytes },
			sealed:     func(s *types.Tx) []byte { return make([]byte, len(s.Payload)+37) },
			mutate:     func(r *types.Redaction) { r.SealedHash = r.SealedDigest() },
			wantOK:     true,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			ev := audit("patient-1", "doctor456")
			ev.Details = map[string]string{}
			for i := 0; c.details > 0; i++ {
				n := min(c.details, types.MaxTextLen)
				ev.Details[fmt.Sprintf("note%d", i)] = strings.Repeat("x", n)
				c.details -= n
			}
			f.keys["doctor456"] = key(10)
			probe := f.tx("doctor456", ev)
			g := *f.ex.Genesis()
			g.Params.MaxTxBytes = c.maxTxBytes(probe)
			if err := g.Validate(); err != nil {
				t.Fatal(err)
			}
			ex, err := NewExecutor(&g)
			if err != nil {
				t.Fatal(err)
			}
			f.ex, f.view = ex, NewMemView()
			ws, h := ex.GenesisState()
			f.view.Apply(ws, nil)
			f.state = h
			f.register("doctor456", types.KindPerson, 10, types.RoleClinician)

			tx := f.tx("doctor456", ev)
			if err := ex.AdmitTxHash(nil, f.view, tx, tx.Hash(), f.nowMs); err != nil {
				t.Fatalf("the leader does not admit the signed tx: %v", err)
			}
			pl, err := tx.DecodePayload()
			if err != nil {
				t.Fatal(err)
			}
			rtx, err := types.Redact(tx, tx.Hash(), pl, types.NewPseudonym([types.PseudonymSize]byte{1}), c.sealed(tx))
			if err != nil {
				t.Fatal(err)
			}
			if c.mutate != nil {
				c.mutate(rtx.Redaction)
			}
			pruned := *rtx
			red := rtx.Redaction.PruneSealed()
			pruned.Redaction = &red
			if rtx.BodyHash() != pruned.BodyHash() {
				t.Fatal("pruning changed the body hash")
			}
			bc := BlockContext{Height: f.height + 1, Time: f.nowMs}
			hs := []types.Hash{tx.Hash()}
			before, err := ex.ExecuteBlock(f.view, f.state, bc, []*types.Tx{rtx}, ExecOptions{TxHashes: hs})
			if err != nil {
				t.Fatal(err)
			}
			after, err := ex.ExecuteBlock(f.view, f.state, bc, []*types.Tx{&pruned}, ExecOptions{TxHashes: hs})
			if err != nil {
				t.Fatal(err)
			}
			if types.ResultsHash(before.Results) != types.ResultsHash(after.Results) || before.StateHash != after.StateHash {
				t.Fatalf("re-executing the block after pruning gives other results or state: as committed %+v, pruned %+v", before.Results[0], after.Results[0])
			}
			if got := before.Results[0].OK(); got != c.wantOK {
				t.Fatalf("result %+v, want ok=%v", before.Results[0], c.wantOK)
			}
		})
	}
}

// TestRedactedTxOverTheLimitIsRejectedTheSameWayPruned: the size check still
// applies to a redacted tx, on its clear part, and refuses it the same way
// before and after pruning.
func TestRedactedTxOverTheLimitIsRejectedTheSameWayPruned(t *testing.T) {
	f := newFixture(t)
	f.register("doctor456", types.KindPerson, 10, types.RoleClinician)
	ev := audit("patient-1", "doctor456")
	ev.Action = strings.Repeat("a", 200) // kept in clear by redaction
	tx := f.tx("doctor456", ev)
	g := *f.ex.Genesis()
	g.Params.MaxTxBytes = 1024
	ex, err := NewExecutor(&g)
	if err != nil {
		t.Fatal(err)
	}
	pl, _ := tx.DecodePayload()
	rtx, err := types.Redact(tx, tx.Hash(), pl, types.NewPseudonym([types.PseudonymSize]byte{2}), make([]byte, 64))
	if err != nil {
		t.Fatal(err)
	}
	if rtx.SizeBound() <= rtx.SizeLimit(1024) {
		t.Fatalf("fixture: the redacted tx (%d) must be over its limit (%d)", rtx.SizeBound(), rtx.SizeLimit(1024))
	}
	pruned := *rtx
	red := rtx.Redaction.PruneSealed()
	pruned.Redaction = &red
	bc := BlockContext{Height: f.height + 1, Time: f.nowMs}
	for _, x := range []*types.Tx{rtx, &pruned} {
		out, err := ex.ExecuteBlock(f.view, f.state, bc, []*types.Tx{x}, ExecOptions{TxHashes: []types.Hash{tx.Hash()}})
		if err != nil {
			t.Fatal(err)
		}
		if r := out.Results[0]; r.Code != types.CodeInvalidPayload || !strings.Contains(r.Reason, "limit") {
			t.Fatalf("pruned=%v: result %+v, want invalid_payload naming the limit", x.Redaction.Pruned(), r)
		}
	}
}
