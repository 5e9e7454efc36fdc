package node

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/chaintest"
	"github.com/medchain/medchain/chain/store"
	"github.com/medchain/medchain/chain/types"
)

// TestPrunerDistrustsAClockFarAheadOfTheChain: the cutoffs start from
// min(now, head block time + maxClockAhead); a clock further ahead than
// that prunes nothing by period (it would prune every payload older than a
// false cutoff, irrecoverably), logs a warning and says so in the pruner's
// state, while an operator's explicit time (RunRetention) is trusted.
func TestPrunerDistrustsAClockFarAheadOfTheChain(t *testing.T) {
	const headDay = 20 // retentionChain(20): block h at day h, head 20
	for _, tc := range []struct {
		name    string
		now     time.Duration // after chaintest.Start
		trusted bool
		// audit (7 days) and research (12 days) pruned up to these heights
		auditTo, researchTo uint64
		skipped             bool
	}{
		{"clock an hour after the head", headDay*day + time.Hour, false, 13, 8, false},
		{"clock six days after the head (a quiet week)", (headDay + 6) * day, false, 18, 13, false},
		{"clock ten years ahead", headDay*day + 3650*day, false, 0, 0, true},
		{"clock eight days ahead", (headDay + 8) * day, false, 0, 0, true},
		{"operator's time ten years ahead (trusted)", headDay*day + 3650*day, true, 20, 20, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := retentionChain(t, headDay)
			now := chaintest.Start.Add(tc.now)
			p := testPruner(t, c, 7, 12, 64, &now)
			var logs bytes.Buffer
			p.log = slog.New(slog.NewTextHandler(&logs, nil))
			var err error
			if tc.trusted {
				err = p.runAt(context.Background(), now, true)
			} else {
				err = p.runOnce(context.Background())
			}
			if err != nil {
				t.Fatal(err)
			}
			for h := uint64(2); h <= headDay; h++ {
				want := [3]bool{h <= tc.auditTo, h <= tc.researchTo, false}
				if got := prunedAt(t, c.Store, h); got != want {
					t.Fatalf("height %d: pruned (treatment, research, erasure) = %v, want %v", h, got, want)
				}
			}
			st := p.Status(now)
			if (st.Skipped != "") != tc.skipped || st.LastError != "" {
				t.Fatalf("skipped %q, last error %q", st.Skipped, st.LastError)
			}
			warned := strings.Contains(logs.String(), "level=WARN") && strings.Contains(logs.String(), "skipping the passes by period")
			if warned != tc.skipped {
				t.Fatalf("warning logged %v, want %v: %s", warned, tc.skipped, logs.String())
			}
			if tc.skipped {
				if !strings.Contains(st.Skipped, "ahead of the head block's time (block 20") {
					t.Fatalf("skipped %q does not say why", st.Skipped)
				}
				// The status shows the cutoff a run would use: from the
				// head's time plus the skew, not from the clock.
				if want := chaintest.Start.Add(headDay*day + maxClockAhead - 7*day); !st.Passes[0].Cutoff.Equal(want) {
					t.Fatalf("audit cutoff %v, want %v", st.Passes[0].Cutoff, want)
				}
			}
		})
	}
}

// TestPrunerSkipStateClearsOnceTheClockIsBack: a run with the clock fixed
// (or the chain caught up) prunes again and clears Skipped.
func TestPrunerSkipStateClearsOnceTheClockIsBack(t *testing.T) {
	c := retentionChain(t, 20)
	now := chaintest.Start.Add(3650 * day)
	p := testPruner(t, c, 7, 12, 64, &now)
	if err := p.runOnce(context.Background()); err != nil || p.Status(now).Skipped == "" {
		t.Fatalf("first run: %v, status %+v", err, p.Status(now))
	}
	now = chaintest.Start.Add(20*day + time.Hour)
	if err := p.runOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := p.Status(now); st.Skipped != "" || st.Passes[0].PrunedUpTo != 13 {
		t.Fatalf("status after the clock was fixed: %+v", st)
	}
}

// TestPrunerCompactsWhatAStoppedRunRewrote: a run stopped right after a
// step rewrote bodies (the node closing, a failure) leaves the heights
// still to compact in the pass's mark; the next run compacts them first,
// so no old body is left to the bottom sstables.
func TestPrunerCompactsWhatAStoppedRunRewrote(t *testing.T) {
	for _, tc := range []struct {
		name      string
		pass      string
		auditDays int
		from, to  uint64 // heights the stopped step rewrote
	}{
		// Audit period 0: every block is past it (the chain spans seconds);
		// steps of 3 blocks, the second rewrites heights 4 to 6.
		{"audit pass stopped after a step", "audit", 0, 4, 6},
		// Steps of 2 blocks from the consent at height 3.
		{"erased pass stopped between its step and its compaction", erasedPass, 3650, 3, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := erasedChain(t)
			now := time.UnixMilli(c.Now).Add(time.Hour)
			p := testPruner(t, c, tc.auditDays, 3650, 3, &now)
			p.erasedChunk = 2
			ctx, cancel := context.WithCancel(context.Background())
			p.step = func(pass string, res store.PruneResult) {
				if pass == tc.pass && res.Rewritten > 0 {
					cancel()
				}
			}
			var compacted [][2]uint64
			p.compacted = func(pass string, res store.CompactResult) {
				if pass == tc.pass {
					compacted = append(compacted, [2]uint64{res.From, res.To})
				}
			}
			if err := p.runOnce(ctx); !errors.Is(err, context.Canceled) {
				t.Fatalf("stopped run: %v", err)
			}
			m, err := c.Store.PruneMarkOf(tc.pass)
			if err != nil || m.CompactFrom != tc.from || m.CompactTo != tc.to || len(compacted) != 0 {
				t.Fatalf("after the stop: mark %+v, compacted %v, %v", m, compacted, err)
			}

			again := testPruner(t, c, tc.auditDays, 3650, 3, &now)
			again.compacted = p.compacted
			if err := again.runOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
			// The next run's compaction covers the stopped run's heights
			// (with whatever it rewrote itself).
			for h := tc.from; h <= tc.to; h++ {
				if !slices.ContainsFunc(compacted, func(r [2]uint64) bool { return r[0] <= h && h <= r[1] }) {
					t.Fatalf("the next run compacted %v, not height %d", compacted, h)
				}
			}
			for _, pass := range []string{"audit", "research", erasedPass} {
				if m, _ := c.Store.PruneMarkOf(pass); m.CompactFrom != 0 {
					t.Fatalf("pass %s still owes compaction: %+v", pass, m)
				}
			}
		})
	}
}

// TestPrunerRunsEveryPassWhenOneFails: a pass that fails (here: its mark
// is corrupt) does not keep the others from running; the run's error
// names it and the last error in the state says so.
func TestPrunerRunsEveryPassWhenOneFails(t *testing.T) {
	for _, bad := range []string{"audit", "research"} {
		t.Run(bad, func(t *testing.T) {
			c := erasedChain(t)
			if err := c.Store.RawSetUnsafe(store.MetaKey("prune/"+bad), []byte("not a mark")); err != nil {
				t.Fatal(err)
			}
			now := time.UnixMilli(c.Now).Add(time.Hour)
			p := testPruner(t, c, 0, 0, 64, &now) // both periods over
			err := p.runOnce(context.Background())
			if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), "pass "+bad) {
				t.Fatalf("run: %v", err)
			}
			if st := p.Status(now); !strings.Contains(st.LastError, "pass "+bad) {
				t.Fatalf("last error %q", st.LastError)
			}
			// The other pass by period visited every block, and the erased
			// pass ran.
			other := map[string]string{"audit": "research", "research": "audit"}[bad]
			if m, _ := c.Store.PruneMarkOf(other); m.Height != c.Store.Height() {
				t.Fatalf("pass %s mark %+v, head %d", other, m, c.Store.Height())
			}
			if m, _ := c.Store.PruneMarkOf(erasedPass); m.Height != 6 {
				t.Fatalf("erased pass mark %+v", m)
			}
		})
	}
}

// TestPrunerHoldsTheStoreOneStepAtATime: every step of a pass, of its
// compaction and of the erased pass's scan runs under a WithStore of its
// own, so a snapshot restore (which takes the store exclusively) waits for
// one step, never for a pass or its whole compaction.
func TestPrunerHoldsTheStoreOneStepAtATime(t *testing.T) {
	c := erasedChain(t)
	now := time.UnixMilli(c.Now).Add(time.Hour)
	p := testPruner(t, c, 0, 3650, 1, &now)
	p.compactBytes = 1 // one height a compaction step
	p.erasedChunk = 1
	calls, inside := 0, false
	p.withStore = func(fn func(*store.Store) error) error {
		calls++
		inside = true
		defer func() { inside = false }()
		return fn(c.Store)
	}
	lastCall := 0
	var prunes, compacts int
	seen := func(kind string) {
		if inside {
			t.Fatalf("%s step reported inside WithStore", kind)
		}
		if calls == lastCall {
			t.Fatalf("two steps (the second a %s step) in one WithStore", kind)
		}
		lastCall = calls
	}
	p.step = func(string, store.PruneResult) { prunes++; seen("prune") }
	p.compacted = func(_ string, res store.CompactResult) {
		compacts++
		seen("compaction")
		if res.To-res.From > 0 {
			t.Fatalf("a compaction step took heights %d-%d with a one-byte budget", res.From, res.To)
		}
	}
	if err := p.runOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Audit: 11 blocks visited one a step; compaction of its heights 4-7
	// one height a step; erased: the consent at height 3.
	if prunes < 12 || compacts < 5 {
		t.Fatalf("%d prune steps, %d compaction steps", prunes, compacts)
	}
}

// TestPrunerPrunesEveryRedactedTxOfAnErasedPatient: the erased pass prunes
// the sealed payload of every redacted tx naming the erased pseudonym up
// to the erasure's height, whatever its type and whether the executor
// applied it, rejected it or rejected it because the erasure came first in
// the block (a tx cut while the erasure was in flight); it keeps the
// erasure itself, other patients' txs, and what lies above the erasure
// (chain/verify accepts a pruned payload above every mark only up to its
// patient's erasure height).
func TestPrunerPrunesEveryRedactedTxOfAnErasedPatient(t *testing.T) {
	c := erasedChain(t)
	now := time.UnixMilli(c.Now).Add(time.Hour) // no period has ended
	p := testPruner(t, c, 3650, 3650, 8, &now)
	if err := p.runOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		height uint64
		index  int
		pruned bool
	}{
		{"consent grant before the first audit event", 3, 0, true},
		{"applied audit event", 4, 0, true},
		{"audit event the executor rejected", 4, 1, true},
		{"another patient's event", 4, 2, false},
		{"applied audit event, next block", 5, 0, true},
		{"the erasure itself", 6, 0, false},
		{"event cut after the erasure in its block (rejected)", 6, 1, true},
		{"event of the patient a block later (rejected), above the erasure", 7, 0, false},
		{"another patient's event after the erasure", 7, 1, false},
	} {
		b, err := c.Store.Block(tc.height)
		if err != nil {
			t.Fatal(err)
		}
		if got := b.Txs[tc.index].Redaction.Pruned(); got != tc.pruned {
			t.Errorf("%s (tx %d of block %d): pruned %v, want %v", tc.name, tc.index, tc.height, got, tc.pruned)
		}
		_, copyLeft, err := c.Store.SealedPayload(tc.height, uint32(tc.index))
		if err != nil || copyLeft == tc.pruned {
			t.Errorf("%s: sealed copy left %v, %v", tc.name, copyLeft, err)
		}
	}
	if m, _ := c.Store.PruneMarkOf(erasedPass); m.Height != 6 || m.Txs != 5 {
		t.Fatalf("erased pass mark %+v", m)
	}
}

// erasedChain commits, after registering doctor456 (1) and patient123 (2):
//
//	3  consent_grant of patient123 (ps1)
//	4  audit event of ps1 (doctor, applied); audit event of ps1 signed by
//	   the patient (no audit role: rejected); audit event of ps2 (applied)
//	5  audit event of ps1 (applied)
//	6  patient_erase of patient123 (ps1); audit event of ps1 (cut while the
//	   erasure was in flight: rejected)
//	7  audit event of ps1 (rejected: erased); audit event of ps2
//	8-11 idle blocks (no patient)
//
// All redacted txs carry a sealed payload; the events are seconds apart.
func erasedChain(t *testing.T) *chaintest.Chain {
	t.Helper()
	c := chaintest.New(t)
	c.Register("doctor456", types.KindPerson, types.RoleClinician) // 1
	c.Register("patient123", types.KindPatient, types.RolePatient) // 2
	ps1, ps2 := types.NewPseudonym([types.PseudonymSize]byte{1}), types.NewPseudonym([types.PseudonymSize]byte{2})
	redact := func(signer string, p types.Payload, ps string) *types.Tx {
		tx := c.Tx(signer, p)
		r, err := types.Redact(tx, tx.Hash(), p, ps, []byte("sealed: personal fields"))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	commit := func(txs ...*types.Tx) *types.Block { c.Now += 1000; return c.Commit(txs...) }
	commit(redact("patient123", &types.ConsentGrant{Patient: "patient123", ConsentType: "data_sharing", Granted: true,
		Scope: types.ConsentScope{Purposes: []string{"treatment"}}}, ps1)) // 3
	b := commit(redact("doctor456", chaintest.Audit("patient123", "doctor456"), ps1),
		redact("patient123", chaintest.Audit("patient123", "doctor456"), ps1),
		redact("doctor456", chaintest.Audit("patient777", "doctor456"), ps2)) // 4
	if !b.Results[0].OK() || b.Results[1].OK() || !b.Results[2].OK() {
		t.Fatalf("block 4 results %+v", b.Results)
	}
	commit(redact("doctor456", chaintest.Audit("patient123", "doctor456"), ps1)) // 5
	if b := commit(redact("patient123", &types.PatientErase{Patient: "patient123", Reason: "gdpr-art17"}, ps1),
		redact("doctor456", chaintest.Audit("patient123", "doctor456"), ps1)); !b.Results[0].OK() || b.Results[1].OK() { // 6
		t.Fatalf("block 6 results %+v", b.Results)
	}
	if b := commit(redact("doctor456", chaintest.Audit("patient123", "doctor456"), ps1),
		redact("doctor456", chaintest.Audit("patient777", "doctor456"), ps2)); b.Results[0].OK() { // 7
		t.Fatalf("an event of the erased pseudonym was applied: %+v", b.Results[0])
	}
	for range 4 { // 8-11
		commit(c.Tx("doctor456", chaintest.Audit("patient999", "doctor456")))
	}
	return c
}
