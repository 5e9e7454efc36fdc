package consensus

import (
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/store"
	"github.com/medchain/medchain/chain/types"
)

// TestFSMRefusesABlockPrunedAtBirth: a new block must carry every redacted
// tx's sealed payload, as a proposer seals it. A block whose redaction
// arrives with only the payload's digest ("pruned at birth"), with both, or
// with a sealed payload over the chain's bound is rejected deterministically
// (ErrRejected, nothing stored but the applied index), on followers and on
// the proposer's own apply alike; the same block with its sealed payload
// commits.
func TestFSMRefusesABlockPrunedAtBirth(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(r *types.Redaction)
		want   string // "" commits
	}{
		{"sealed", func(*types.Redaction) {}, ""},
		{"pruned at birth", func(r *types.Redaction) { *r = r.PruneSealed() }, "without its sealed payload"},
		{"sealed payload and its digest", func(r *types.Redaction) { r.SealedHash = r.SealedDigest() }, "both"},
		{"sealed payload over the bound", func(r *types.Redaction) {
			r.Sealed = make([]byte, types.MaxSealedLen(types.DefaultMaxTxBytes)+1)
		}, "sealed payload of"},
	}
	for _, c := range cases {
		for _, own := range []bool{false, true} {
			name := c.name + "/follower"
			if own {
				name = c.name + "/own proposal"
			}
			t.Run(name, func(t *testing.T) {
				h := newFSMHarness(t)
				b, out := h.redactedBlock(t, c.mutate)
				entry := EncodeBlockEntry(b)
				if own {
					h.fsm.cacheProposal(b.Hash(), &proposal{entry: entry, block: b, hashes: b.TxHashes(), out: out})
				}
				res := h.fsm.Apply(&raft.Log{Index: 10, Data: entry}).(*ApplyResult)
				if c.want == "" {
					if res.Err != nil || res.Height != 1 {
						t.Fatalf("a block carrying its sealed payload: %+v", res)
					}
					return
				}
				if !errors.Is(res.Err, ErrRejected) || !strings.Contains(res.Err.Error(), c.want) {
					t.Fatalf("apply: %v, want ErrRejected mentioning %q", res.Err, c.want)
				}
				if h.fsm.Halted() {
					t.Fatalf("a refused block halted the FSM: %v", h.fsm.Err())
				}
				if _, ok := h.st.Head(); ok {
					t.Fatal("the refused block was stored")
				}
				if got := h.st.AppliedIndex(); got != 10 {
					t.Fatalf("applied index %d, want 10 (past the rejected entry)", got)
				}
				// The same entry again (another node, a replay): the same answer.
				res = h.fsm.Apply(&raft.Log{Index: 11, Data: entry}).(*ApplyResult)
				if !errors.Is(res.Err, ErrRejected) {
					t.Fatalf("re-applied: %v, want ErrRejected", res.Err)
				}
			})
		}
	}
}

type fsmHarness struct {
	g    *state.Genesis
	ex   *state.Executor
	st   *store.Store
	fsm  *FSM
	now  int64
	node string
}

func newFSMHarness(t *testing.T) *fsmHarness {
	t.Helper()
	now := time.Now().UnixMilli()
	g := &state.Genesis{ChainID: "fsm-redaction", Time: now - time.Hour.Milliseconds(), Params: state.DefaultParams(),
		Identities: []types.IdentityRegister{
			{ID: "admin", Kind: types.KindPerson, Roles: []string{types.RoleAdmin}, PublicKey: seededKey(t, 1).Public()},
			{ID: "node-1", Kind: types.KindNode, Roles: []string{types.RoleNode}, PublicKey: seededKey(t, 2).Public()},
			{ID: "dr", Kind: types.KindPerson, Roles: []string{types.RoleClinician}, PublicKey: seededKey(t, 3).Public()},
		}}
	ex, st, opts := openGenesis(t, g)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	return &fsmHarness{g: g, ex: ex, st: st, fsm: newFSM(st, "db", opts, ex, false, log, nopMetrics{}), now: now, node: "node-1"}
}

// redactedBlock returns block 1 holding one redacted audit event, its
// redaction changed by mutate before the header is computed and signed (so
// everything but the redaction is valid), and its outcome.
func (h *fsmHarness) redactedBlock(t *testing.T, mutate func(*types.Redaction)) (*types.Block, *state.Outcome) {
	t.Helper()
	tx, err := types.NewTx(h.g.ChainID, "dr", &types.AuditRecord{EventType: "data_access", Patient: "mrn-1", Actor: "dr",
		Action: "view", Purpose: "treatment", Outcome: "success", Resource: "Observation/1"}, time.UnixMilli(h.now), 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Sign(seededKey(t, 3)); err != nil {
		t.Fatal(err)
	}
	pl, err := tx.DecodePayload()
	if err != nil {
		t.Fatal(err)
	}
	rtx, err := types.Redact(tx, tx.Hash(), pl, types.NewPseudonym([types.PseudonymSize]byte{4}), make([]byte, len(tx.Payload)+37))
	if err != nil {
		t.Fatal(err)
	}
	mutate(rtx.Redaction)
	b, out, err := h.ex.AssembleBlock(h.st, h.st, nil, h.now, []*types.Tx{rtx}, h.node, seededKey(t, 2))
	if err != nil {
		t.Fatal(err)
	}
	if !b.Results[0].OK() {
		t.Fatalf("fixture: the redacted event is rejected by the executor: %+v", b.Results[0])
	}
	return b, out
}
