package node

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/medchain/medchain/chain/chaintest"
	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/store"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/node/config"
)

const day = 24 * time.Hour

// retentionChain commits one block a day for days days after the genesis;
// each holds a treatment event, a research event and a patient_erase, all
// stored redacted (the erasure, by a clinician, is rejected but stays in the
// block), and a plain audit event. Block h has time Start + h days.
func retentionChain(t *testing.T, days int) *chaintest.Chain {
	t.Helper()
	c := chaintest.New(t)
	c.Register("doctor456", types.KindPerson, types.RoleClinician) // height 1
	ps := types.NewPseudonym([types.PseudonymSize]byte{7})
	redact := func(p types.Payload) *types.Tx {
		tx := c.Tx("doctor456", p)
		r, err := types.Redact(tx, tx.Hash(), p, ps, []byte("sealed: personal fields"))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for d := 2; d <= days; d++ {
		c.Now = chaintest.Start.Add(time.Duration(d) * day).UnixMilli()
		research := chaintest.Audit("patient123", "doctor456")
		research.Purpose = "Research" // compared without case
		c.Commit(redact(chaintest.Audit("patient123", "doctor456")), redact(research),
			redact(&types.PatientErase{Patient: "patient123", Reason: "gdpr-art17"}), c.Tx("doctor456", chaintest.Audit("patient999", "doctor456")))
	}
	return c
}

// testPruner prunes c's store with the given periods, reading the time from *now.
func testPruner(t *testing.T, c *chaintest.Chain, auditDays, researchDays, batch int, now *time.Time) *pruner {
	p, _ := testPrunerReg(t, c, auditDays, researchDays, batch, now)
	return p
}

func testPrunerReg(t *testing.T, c *chaintest.Chain, auditDays, researchDays, batch int, now *time.Time) (*pruner, *prometheus.Registry) {
	t.Helper()
	cfg := config.DefaultRetention()
	cfg.AuditLogsDays, cfg.ResearchDataDays, cfg.PruneBatchBlocks = auditDays, researchDays, batch
	reg := prometheus.NewRegistry()
	p, err := newPruner(func(fn func(*store.Store) error) error { return fn(c.Store) }, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	p.now = func() time.Time { return *now }
	p.paced = false // no waits between steps in tests
	return p, reg
}

// metric returns the value of the counter or gauge name{pass}.
func metric(t *testing.T, reg *prometheus.Registry, name, pass string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "pass" && l.GetValue() == pass {
					if c := m.GetCounter(); c != nil {
						return c.GetValue()
					}
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no metric %s{pass=%q}", name, pass)
	return 0
}

// pruned reports, for the block at height, whether each of its redacted
// txs (treatment, research, erasure) has its sealed payload pruned.
func prunedAt(t *testing.T, s *store.Store, height uint64) [3]bool {
	t.Helper()
	b, err := s.Block(height)
	if err != nil {
		t.Fatal(err)
	}
	var out [3]bool
	for i := range out {
		out[i] = b.Txs[i].Redaction.Pruned()
	}
	return out
}

func TestPrunerAppliesEachPeriodToItsKindOnly(t *testing.T) {
	c := retentionChain(t, 20)
	now := chaintest.Start.Add(20*day + time.Hour)
	p, reg := testPrunerReg(t, c, 7, 12, 4, &now)
	if err := p.runOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Audit cutoff: day 13 + 1h, so blocks of days 2-13 (heights 2-13);
	// research cutoff: day 8 + 1h, heights 2-8; erasures: never.
	for h := uint64(2); h <= 20; h++ {
		want := [3]bool{h <= 13, h <= 8, false}
		if got := prunedAt(t, c.Store, h); got != want {
			t.Fatalf("height %d: pruned (treatment, research, erasure) = %v, want %v", h, got, want)
		}
	}
	// Readers: the trail reports pruned entries, and opens the others' copies.
	page, err := state.Trail(c.Store, c.Store, state.TrailQuery{ID: types.NewPseudonym([types.PseudonymSize]byte{7}), Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != 2*19 {
		t.Fatalf("trail has %d entries", len(page.Entries))
	}
	for _, e := range page.Entries {
		research := e.Record.Purpose != "treatment"
		wantPruned := e.Height <= 13 && !research || e.Height <= 8 && research
		if e.Pruned != wantPruned || (e.Sealed == nil) != wantPruned || !e.Redacted {
			t.Fatalf("height %d (%s): pruned %v, sealed %q", e.Height, e.Record.Purpose, e.Pruned, e.Sealed)
		}
	}
	st := p.Status(now)
	if st.Err != nil || st.LastError != "" || st.LastRun.IsZero() || len(st.Passes) != 3 {
		t.Fatalf("status %+v", st)
	}
	if a := st.Passes[0]; a.Pass != "audit" || a.PrunedUpTo != 13 || a.PrunedTxs != 12 || a.NextHeight != 14 || !a.NextTime.Equal(chaintest.Start.Add(14*day)) {
		t.Fatalf("audit pass status %+v", a)
	}
	if r := st.Passes[1]; r.Pass != "research" || r.PrunedUpTo != 8 || r.PrunedTxs != 7 || r.Days != 12 {
		t.Fatalf("research pass status %+v", r)
	}
	if got := metric(t, reg, "medchain_retention_pruned_txs_total", "audit"); got != 12 {
		t.Fatalf("pruned txs metric %v", got)
	}
	if got := metric(t, reg, "medchain_retention_pruned_height", "research"); got != 8 {
		t.Fatalf("pruned height metric %v", got)
	}

	// A day later each pass takes one more block; verification still passes.
	now = now.Add(day)
	if err := p.runOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := prunedAt(t, c.Store, 14); got != [3]bool{true, false, false} {
		t.Fatalf("height 14 a day later: %v", got)
	}
	if got := prunedAt(t, c.Store, 9); got != [3]bool{true, true, false} {
		t.Fatalf("height 9 a day later: %v", got)
	}
}

// TestPrunerResumesWhereItStopped: a run stopped after its first step (the
// node closing) leaves its mark; a new pruner, as after a restart, goes on
// from the next block and prunes exactly what one run would have.
func TestPrunerResumesWhereItStopped(t *testing.T) {
	c := retentionChain(t, 12)
	now := chaintest.Start.Add(40 * day)
	p := testPruner(t, c, 7, 3650, 3, &now)
	ctx, cancel := context.WithCancel(context.Background())
	var steps []store.PruneResult
	p.step = func(_ string, res store.PruneResult) { steps = append(steps, res); cancel() }
	// The head is at day 12: a clock at day 40 is past maxClockAhead, so the
	// runs take now as an operator's trusted time (RunRetention).
	if err := p.runAt(ctx, now, true); !errors.Is(err, context.Canceled) {
		t.Fatalf("stopped run: %v", err)
	}
	if len(steps) != 1 || steps[0].From != 1 || steps[0].To != 3 {
		t.Fatalf("steps before the stop: %+v", steps)
	}
	if st := p.Status(now); st.LastError == "" || st.Passes[0].PrunedUpTo != 3 {
		t.Fatalf("status after the stop: %+v", st)
	}

	again := testPruner(t, c, 7, 3650, 3, &now)
	steps = nil
	again.step = func(_ string, res store.PruneResult) { steps = append(steps, res) }
	if err := again.runAt(context.Background(), now, true); err != nil {
		t.Fatal(err)
	}
	if len(steps) == 0 || steps[0].From != 4 {
		t.Fatalf("the restarted pruner began at %+v, want height 4", steps)
	}
	for h := uint64(2); h <= 12; h++ {
		if got := prunedAt(t, c.Store, h); got != [3]bool{true, false, false} {
			t.Fatalf("height %d: %v", h, got)
		}
	}
	if st := again.Status(now); st.Passes[0].PrunedTxs != 11 || st.Passes[0].NextHeight != 0 {
		t.Fatalf("audit pass after the restart: %+v", st.Passes[0])
	}
}

// TestPrunerOffDoesNotRun: with prune_interval 0 Run returns at once and
// prunes nothing; the status says the pruner is off.
func TestPrunerOffDoesNotRun(t *testing.T) {
	c := retentionChain(t, 5)
	now := chaintest.Start.Add(4000 * day)
	p := testPruner(t, c, 7, 7, 8, &now)
	p.cfg.PruneInterval = 0
	p.Run(context.Background())
	if got := prunedAt(t, c.Store, 2); got != [3]bool{} {
		t.Fatalf("pruned with the pruner off: %v", got)
	}
	if st := p.Status(now); st.Enabled || !st.LastRun.IsZero() || st.Passes[0].NextHeight != 1 {
		t.Fatalf("status %+v", st)
	}
}

// TestPrunerPrunesAnErasedPatientAtOnce: the sealed payloads of an erased
// patient's events go at the next run, whatever their age; the erasure tx
// and other patients' events stay; a later erasure is handled by a later
// run from the pass's mark.
func TestPrunerPrunesAnErasedPatientAtOnce(t *testing.T) {
	c := chaintest.New(t)
	c.Register("doctor456", types.KindPerson, types.RoleClinician) // 1
	c.Register("patient123", types.KindPatient, types.RolePatient) // 2
	c.Register("patient777", types.KindPatient, types.RolePatient) // 3
	ps1, ps2, ps3 := types.NewPseudonym([types.PseudonymSize]byte{1}), types.NewPseudonym([types.PseudonymSize]byte{2}), types.NewPseudonym([types.PseudonymSize]byte{3})
	redact := func(signer string, p types.Payload, ps string) *types.Tx {
		tx := c.Tx(signer, p)
		r, err := types.Redact(tx, tx.Hash(), p, ps, []byte("sealed: personal fields"))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	ev := func(ps string) *types.Tx { return redact("doctor456", chaintest.Audit("patient123", "doctor456"), ps) }
	for i := 0; i < 6; i++ { // heights 4-9: events of three pseudonyms
		c.Now += 1000
		c.Commit(ev(ps1), ev(ps2), ev(ps3))
	}
	erase := func(signer, ps string) {
		c.Now += 1000
		b := c.Commit(redact(signer, &types.PatientErase{Patient: signer, Reason: "gdpr-art17"}, ps))
		if !b.Results[0].OK() {
			t.Fatalf("erasure: %s %s", b.Results[0].Code, b.Results[0].Reason)
		}
	}
	erase("patient123", ps1) // height 10

	now := time.UnixMilli(c.Now).Add(time.Hour) // no period has ended
	p := testPruner(t, c, 7, 3650, 8, &now)
	p.introduced = introducedAt(map[string]uint64{ps1: 4, ps2: 4, ps3: 4}) // the keys came with block 4
	var steps int
	p.step = func(pass string, _ store.PruneResult) {
		if pass == erasedPass {
			steps++
		}
	}
	if err := p.runOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	check := func(want [3]bool) {
		t.Helper()
		for h := uint64(4); h <= 9; h++ {
			b, _ := c.Store.Block(h)
			got := [3]bool{b.Txs[0].Redaction.Pruned(), b.Txs[1].Redaction.Pruned(), b.Txs[2].Redaction.Pruned()}
			if got != want {
				t.Fatalf("height %d: pruned %v, want %v", h, got, want)
			}
		}
		b, _ := c.Store.Block(10)
		if b.Txs[0].Redaction.Pruned() {
			t.Fatal("the erasure tx was pruned")
		}
	}
	check([3]bool{true, false, false})
	if steps != 2 { // 6 blocks in steps of at most 4
		t.Fatalf("%d steps, want 2", steps)
	}
	st := p.Status(now)
	if e := st.Passes[2]; e.Pass != erasedPass || e.PrunedUpTo != 10 || e.PrunedTxs != 6 {
		t.Fatalf("erased pass status %+v", e)
	}
	// Nothing new: the next run takes no step.
	steps = 0
	if err := p.runOnce(context.Background()); err != nil || steps != 0 {
		t.Fatalf("idle run: %d steps, %v", steps, err)
	}
	// A later erasure.
	erase("patient777", ps3) // height 11
	if err := p.runOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	check([3]bool{true, false, true})
	if e := p.Status(now).Passes[2]; e.PrunedUpTo != 11 || e.PrunedTxs != 12 {
		t.Fatalf("erased pass status %+v", e)
	}
}
