package node

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/store"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/consensus"
	"github.com/medchain/medchain/node/compliance"
	"github.com/medchain/medchain/node/config"
)

// The retention pruner (docs/ARCHITECTURE.md, "Retention"). Each node
// prunes by its own clock, checked against the head block's time
// (maxClockAhead); nothing here is consensus. For every block older
// than a kind's retention period it removes from the stored block body the
// sealed payloads of that kind (store.Prune): the signed audit events with
// their personal fields, sealed with the patient's key. The hash chain,
// headers, tx hashes, the log, the redacted payloads in clear and every
// proof stay. Kinds:
//
//	pass      txs                                          period
//	audit     audit_record whose purpose is not research   retention.audit_logs_days
//	research  audit_record whose purpose is research       retention.research_data_days
//	erased    any redacted tx of an erased patient         at once (the key is destroyed)
//	          (audit, consent, contract call, identity)
//	(none)    patient_erase: the record of an erasure      never pruned
//
// medical_data_days and api_logs_days govern nothing the node stores (see
// config.Retention); the status says so.

// ResearchPurpose is the audit purpose whose events follow
// retention.research_data_days (compared without case).
const ResearchPurpose = "research"

// retentionPass is one kind of prunable data.
type retentionPass struct {
	name    string // the store pass (its mark)
	field   string // the config field of its period
	governs string
	days    func(config.Retention) int
	sel     func(p types.Payload) bool
}

var retentionPasses = []retentionPass{
	{name: "audit", field: "audit_logs_days", governs: "sealed payloads (personal fields) of audit events, research events aside",
		days: func(r config.Retention) int { return r.AuditLogsDays },
		sel: func(p types.Payload) bool {
			a, ok := p.(*types.AuditRecord)
			return ok && !strings.EqualFold(a.Purpose, ResearchPurpose)
		}},
	{name: "research", field: "research_data_days", governs: "sealed payloads (personal fields) of audit events whose purpose is research",
		days: func(r config.Retention) int { return r.ResearchDataDays },
		sel: func(p types.Payload) bool {
			a, ok := p.(*types.AuditRecord)
			return ok && strings.EqualFold(a.Purpose, ResearchPurpose)
		}},
}

// erasedPass prunes the sealed payloads of an erased patient's redacted
// txs at once: they are unreadable since the erasure destroyed the key.
// Its mark is the height up to which every erasure was handled.
const erasedPass = "erased"

// erasedChunkBlocks bounds the blocks one step of the erased pass scans
// (and rewrites).
const erasedChunkBlocks = 4

// retentionNotStored are the periods that govern nothing the node stores.
var retentionNotStored = []compliance.RetentionNote{
	{Field: "medical_data_days", Note: "the node stores no medical data: clinical records stay in the EHR; the FHIR references audit events carry are in their sealed payloads, pruned by audit_logs_days or research_data_days"},
	{Field: "api_logs_days", Note: "the node keeps no API or RPC request log of its own: requests are logged through slog to the operator's log pipeline, which this period is for; gate sessions leave the session journal when they expire"},
}

// pruner runs the retention passes over the node's store in bounded steps.
// Run is its lifecycle; runOnce is one run of every pass, for tests.
type pruner struct {
	withStore func(func(*store.Store) error) error
	cfg       config.Retention
	now       func() time.Time
	log       *slog.Logger
	m         *prunerMetrics
	// step, when set, is called after each committed step (tests stop a
	// run there).
	step func(pass string, res store.PruneResult)
	// compacted, when set, is called after each compaction step that
	// compacted something (tests).
	compacted func(pass string, res store.CompactResult)
	// paced: after each step the pruner waits as long as the step took, so
	// a long pass uses at most half of a core and of the disk beside block
	// apply (tests turn it off).
	paced bool
	// compactBytes bounds one compaction step (store.CompactPending; 0:
	// store.DefaultCompactBytes).
	compactBytes int64
	// erasedChunk is how many blocks one step of the erased pass scans
	// (0: erasedChunkBlocks).
	erasedChunk uint64
	// introduced returns the height at which the key of the patient
	// recorded under pseudonym was introduced (known false: st cannot
	// tell); consensus.KeyIntroduced, which tests replace.
	introduced func(st *store.Store, pseudonym string) (height uint64, known bool, err error)
	// scanned, when set, is called after each step of the erased pass with
	// the erasure height and the blocks the step scanned (tests).
	scanned func(height, from, to uint64)

	mu sync.Mutex // guards the following
	// lastRun is when the last run ended, lastErr its error.
	lastRun time.Time
	lastErr error
	// skipped is why the last run skipped the passes by period ("": it
	// did not; see maxClockAhead).
	skipped string
}

type prunerMetrics struct {
	txs, bytes *prometheus.CounterVec
	height     *prometheus.GaugeVec
	lastRun    prometheus.Gauge
	failures   prometheus.Counter
}

func newPrunerMetrics(reg prometheus.Registerer) (*prunerMetrics, error) {
	m := &prunerMetrics{
		txs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "medchain_retention_pruned_txs_total",
			Help: "Sealed payloads this node pruned under its retention policy, by pass, since start."}, []string{"pass"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "medchain_retention_pruned_bytes_total",
			Help: "Sealed payload bytes removed from block bodies, by pass, since start."}, []string{"pass"}),
		height: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "medchain_retention_pruned_height",
			Help: "Height up to which a retention pass has visited every block."}, []string{"pass"}),
		lastRun: prometheus.NewGauge(prometheus.GaugeOpts{Name: "medchain_retention_last_run_timestamp_seconds",
			Help: "When the retention pruner last finished a run (Unix seconds)."}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "medchain_retention_runs_failed_total",
			Help: "Retention pruner runs that stopped on an error."}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.txs, m.bytes, m.height, m.lastRun, m.failures} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("node: retention metrics: %w", err)
			}
		}
	}
	return m, nil
}

func newPruner(withStore func(func(*store.Store) error) error, cfg config.Retention, log *slog.Logger, reg prometheus.Registerer) (*pruner, error) {
	m, err := newPrunerMetrics(reg)
	if err != nil {
		return nil, err
	}
	return &pruner{withStore: withStore, cfg: cfg, now: time.Now, log: log, m: m, paced: true, introduced: consensus.KeyIntroduced}, nil
}

// Run prunes at once, then every cfg.PruneInterval, until ctx is done. A
// run that fails is logged and retried at the next tick.
func (p *pruner) Run(ctx context.Context) {
	if p.cfg.PruneInterval == 0 {
		return
	}
	t := time.NewTicker(p.cfg.PruneInterval.D())
	defer t.Stop()
	for {
		if err := p.runOnce(ctx); err != nil && ctx.Err() == nil {
			p.log.Error("retention: pruning failed; retrying at the next run", "err", err, "next_in", p.cfg.PruneInterval.D())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// progressEvery spaces the progress lines of a long pass.
const progressEvery = 10 * time.Second

// maxClockAhead bounds how far the node's clock may run ahead of the head
// block's time before the pruner stops trusting it. Block time is stamped
// by the proposer and agreed by the cluster; the local clock is not. A
// cutoff is min(now, head time + maxClockAhead) minus the period, so a
// clock ahead by any amount prunes at most maxClockAhead early; and when
// the clock is further ahead than that the passes by period skip the run
// (a Warn line, and Skipped in the pruner's state). A chain idle that long
// (blocks are cut only for txs) skips too, until its next block: seven
// days tolerates a quiet week-end or holiday while keeping a wrong clock's
// damage to a sliver of periods counted in years.
const maxClockAhead = 7 * 24 * time.Hour

// runOnce runs every pass to its cutoff (now minus its period, with now
// checked against the head block's time: maxClockAhead), one bounded step
// at a time, each under WithStore (a snapshot restore waits for a step,
// never for a pass). It stops early when ctx is done; every pass resumes
// from its mark on the next run.
func (p *pruner) runOnce(ctx context.Context) error { return p.runAt(ctx, p.now(), false) }

// runAt is runOnce with the cutoffs computed from now; trusted skips the
// clock check (an operator's explicit time, RunRetention).
func (p *pruner) runAt(ctx context.Context, now time.Time, trusted bool) error {
	err := p.run(ctx, now, trusted)
	p.mu.Lock()
	p.lastRun, p.lastErr = p.now(), err
	p.mu.Unlock()
	if err != nil {
		p.m.failures.Inc()
	} else {
		p.m.lastRun.Set(float64(p.now().Unix()))
	}
	return err
}

// clockCheck is the verdict on now against the head block's time.
type clockCheck struct {
	base    time.Time // what the cutoffs are computed from
	skipped string    // why the passes by period skip the run; "" when they do not
}

// checkClock compares now with the head block's time: the cutoffs start
// from min(now, head time + maxClockAhead), and a now further ahead than
// that skips the passes by period. A store without blocks has nothing to
// prune, so now stands.
func (p *pruner) checkClock(now time.Time, trusted bool) (clockCheck, error) {
	if trusted {
		return clockCheck{base: now}, nil
	}
	var head types.Header
	var ok bool
	if err := p.withStore(func(st *store.Store) error { head, ok = st.Head(); return nil }); err != nil {
		return clockCheck{}, fmt.Errorf("retention: read the head: %w", err)
	}
	if !ok {
		return clockCheck{base: now}, nil
	}
	limit := head.BlockTime().Add(maxClockAhead)
	if !now.After(limit) {
		return clockCheck{base: now}, nil
	}
	return clockCheck{base: limit, skipped: fmt.Sprintf(
		"the clock (%s) is %s ahead of the head block's time (block %d, %s), more than the %s the pruner trusts: a clock set ahead would prune payloads before their period ends; the passes by period wait for the clock to be fixed or the chain to move",
		now.UTC().Format(time.RFC3339), now.Sub(head.BlockTime()).Round(time.Second), head.Height,
		head.BlockTime().UTC().Format(time.RFC3339), maxClockAhead)}, nil
}

// run runs every pass, each independently of the others' errors (joined);
// only a done ctx stops it early.
func (p *pruner) run(ctx context.Context, now time.Time, trusted bool) error {
	var errs []error
	clock, err := p.checkClock(now, trusted)
	if err != nil {
		errs = append(errs, err)
		clock.skipped = "the head block's time could not be read to check the clock: " + err.Error()
	}
	p.mu.Lock()
	p.skipped = clock.skipped
	p.mu.Unlock()
	if clock.skipped != "" {
		p.log.Warn("retention: skipping the passes by period", "reason", clock.skipped)
	}
	for _, ps := range retentionPasses {
		if clock.skipped == "" {
			errs = append(errs, p.runPass(ctx, ps, clock.base))
		}
		// What a stopped or failed earlier run rewrote is compacted even
		// when this run skips the pass.
		errs = append(errs, p.compactPending(ctx, ps.name))
		if err := ctx.Err(); err != nil {
			return errors.Join(append(slices.DeleteFunc(errs, func(e error) bool { return errors.Is(e, err) }), err)...)
		}
	}
	errs = append(errs, p.pruneErased(ctx))
	return errors.Join(errs...)
}

// runPass runs one pass by period to its cutoff (base minus its period).
func (p *pruner) runPass(ctx context.Context, ps retentionPass, base time.Time) error {
	days := ps.days(p.cfg)
	cutoff := base.Add(-time.Duration(days) * 24 * time.Hour)
	run := store.PruneRun{Name: ps.name, Before: cutoff.UnixMilli(), MaxBlocks: p.cfg.PruneBatchBlocks,
		Select: func(_ *types.Header, _ int, _ *types.Tx, pl types.Payload) bool { return ps.sel(pl) }}
	start, lastLog := p.now(), p.now()
	var total store.PruneResult
	for first := true; ; first = false {
		if err := ctx.Err(); err != nil {
			return err
		}
		var res store.PruneResult
		stepStart := time.Now()
		err := p.withStore(func(st *store.Store) error {
			var err error
			res, err = st.Prune(run)
			return err
		})
		if err != nil {
			return fmt.Errorf("retention: pass %s: %w", ps.name, err)
		}
		if first {
			total.From = res.From
		}
		total.To, total.Mark = res.To, res.Mark
		total.Blocks += res.Blocks
		total.Txs += res.Txs
		total.Bytes += res.Bytes
		p.m.txs.WithLabelValues(ps.name).Add(float64(res.Txs))
		p.m.bytes.WithLabelValues(ps.name).Add(float64(res.Bytes))
		p.m.height.WithLabelValues(ps.name).Set(float64(res.Mark.Height))
		if p.step != nil && res.Blocks > 0 {
			p.step(ps.name, res)
		}
		if res.Done {
			break
		}
		if err := p.pace(ctx, stepStart); err != nil {
			return err
		}
		if t := p.now(); t.Sub(lastLog) >= progressEvery {
			lastLog = t
			p.log.Info("retention: pruning", "pass", ps.name, "up_to_height", res.Mark.Height, "blocks", total.Blocks, "pruned", total.Txs, "bytes", total.Bytes)
		}
	}
	if total.Blocks > 0 {
		p.log.Info("retention: pruned", "pass", ps.name, "period_days", days, "cutoff", cutoff.UTC().Format(time.RFC3339),
			"from_height", total.From, "to_height", total.To, "blocks", total.Blocks, "pruned", total.Txs, "bytes", total.Bytes,
			"pruned_in_all", total.Mark.Txs, "took", p.now().Sub(start).Round(time.Millisecond))
	}
	return nil
}

// pace waits, when the pruner is paced, as long as the step that began at
// stepStart took.
func (p *pruner) pace(ctx context.Context, stepStart time.Time) error {
	if !p.paced {
		return ctx.Err()
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Since(stepStart)):
		return nil
	}
}

// pruneErased runs the erased pass: for every erasure recorded above its
// mark, in height order, it prunes the sealed payloads of every redacted
// tx that names the erased pseudonym (audit events, consents, contract
// calls, identity registrations and delegations; applied or rejected by
// the executor, the erasure's own block included), but the patient_erase
// itself, which is never pruned. It finds them by scanning the blocks from
// the height the patient's key was introduced at (no tx names the
// pseudonym below it; height 1 when the vault cannot tell, see scanStart)
// to the erasure height, the erasures of one height together, a few blocks
// a step, each step under its own WithStore. Each step records in the
// pass's mark, in the batch that prunes, how far the scan went (the scan
// cursor), so a stopped run resumes after the last block it scanned; the
// mark moves to the erasures' height once their scan is done. It never
// prunes above an erasure's height: chain/verify accepts a payload pruned
// above every mark only when its patient was erased at that height or
// later. Each height's pruning is compacted before the next height's, and
// a compaction a stopped run left is done first.
func (p *pruner) pruneErased(ctx context.Context) error {
	if err := p.compactPending(ctx, erasedPass); err != nil {
		return err
	}
	var mark store.PruneMark
	var todo []state.Erasure
	err := p.withStore(func(st *store.Store) error {
		var err error
		if mark, err = st.PruneMarkOf(erasedPass); err != nil {
			return err
		}
		return state.ScanErasures(st, func(e *state.Erasure) bool {
			if e.Height > mark.Height {
				todo = append(todo, *e)
			}
			return true
		})
	})
	if err != nil {
		return fmt.Errorf("retention: pass %s: %w", erasedPass, err)
	}
	slices.SortFunc(todo, func(a, b state.Erasure) int { return cmp.Compare(a.Height, b.Height) })
	for len(todo) > 0 {
		n := 1
		for n < len(todo) && todo[n].Height == todo[0].Height {
			n++
		}
		if err := p.pruneErasedAt(ctx, &mark, todo[:n]); err != nil {
			return err
		}
		todo = todo[n:]
	}
	return nil
}

// pruneErasedAt scans for and prunes the redacted txs of the erasures es,
// all at one height, from the lowest height their keys were introduced at
// (or from the mark's scan cursor, when a stopped run left one for this
// height), and moves *mark to their height.
func (p *pruner) pruneErasedAt(ctx context.Context, mark *store.PruneMark, es []state.Erasure) error {
	height := es[0].Height
	erased := map[string]bool{}
	from := height + 1 // nothing to scan: erasures in clear have no sealed payloads
	for _, e := range es {
		if !types.IsPseudonym(e.Patient) {
			continue
		}
		start, err := p.scanStart(e.Patient, height)
		if err != nil {
			return fmt.Errorf("retention: pass %s: erasure %s: %w", erasedPass, e.TxHash, err)
		}
		erased[e.Patient] = true
		from = min(from, start)
	}
	scanFrom, resumed := from, false
	if c := mark.Cursor(); c.For == height && c.To >= from && len(erased) > 0 {
		from, resumed = c.To+1, true // a stopped run scanned up to c.To
	}
	chunk := cmp.Or(p.erasedChunk, erasedChunkBlocks)
	pruned := 0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		last := min(from+chunk-1, height)
		markTo, cursor := mark.Height, store.ScanCursor{For: height, To: last}
		if last >= height {
			markTo, cursor = height, store.ScanCursor{}
		}
		var res store.PruneResult
		stepStart := time.Now()
		err := p.withStore(func(st *store.Store) error {
			var locs []store.TxAt
			for h := from; h <= last; h++ {
				b, err := st.Block(h)
				if err != nil {
					return err
				}
				for j, tx := range b.Txs {
					if namesErased(tx, erased) {
						locs = append(locs, store.TxAt{Height: h, Index: uint32(j)})
					}
				}
			}
			var err error
			res, err = st.PruneTxsScanned(erasedPass, locs, markTo, cursor)
			return err
		})
		if err != nil {
			return fmt.Errorf("retention: pass %s: erasures at height %d: %w", erasedPass, height, err)
		}
		*mark = res.Mark
		pruned += res.Txs
		p.m.txs.WithLabelValues(erasedPass).Add(float64(res.Txs))
		p.m.bytes.WithLabelValues(erasedPass).Add(float64(res.Bytes))
		p.m.height.WithLabelValues(erasedPass).Set(float64(res.Mark.Height))
		if p.scanned != nil && from <= last {
			p.scanned(height, from, last)
		}
		if p.step != nil && res.Blocks > 0 {
			p.step(erasedPass, res)
		}
		if last >= height {
			break
		}
		if err := p.pace(ctx, stepStart); err != nil {
			return err
		}
		from = last + 1
	}
	if err := p.compactPending(ctx, erasedPass); err != nil {
		return err
	}
	if pruned > 0 || resumed {
		txs := make([]string, len(es))
		for i, e := range es {
			txs[i] = e.TxHash.String()
		}
		p.log.Info("retention: pruned erased patients' sealed payloads", "pass", erasedPass, "erasure_txs", txs, "erasure_height", height,
			"scanned_from", scanFrom, "resumed", resumed, "pruned", pruned)
	}
	return nil
}

// namesErased reports whether tx is a redacted tx naming a pseudonym of
// erased whose sealed payload is still stored and may go with the
// patient's erasure: any redactable type but patient_erase, the record of
// the erasure. A tx whose payload does not decode is skipped (the store
// keeps it as it is).
func namesErased(tx *types.Tx, erased map[string]bool) bool {
	if tx.Redaction == nil || tx.Redaction.Pruned() || tx.Type == types.TxPatientErase {
		return false
	}
	pl, err := tx.DecodePayload()
	return err == nil && erased[types.PatientOf(pl)]
}

// scanStart returns the height from which the erased pass scans for the
// redacted txs of pseudonym, erased at height: the height its key was
// introduced at (consensus.KeyIntroduced), below which no tx names it.
// When the vault cannot tell (a key mapped before it recorded heights, a
// corrupt record: logged) it is 1: scanning the whole chain is slow, never
// wrong.
func (p *pruner) scanStart(pseudonym string, height uint64) (uint64, error) {
	var introduced uint64
	var known bool
	err := p.withStore(func(st *store.Store) error {
		var err error
		introduced, known, err = p.introduced(st, pseudonym)
		return err
	})
	switch {
	case errors.Is(err, store.ErrCorrupt):
		p.log.Warn("retention: the height the erased patient's key was introduced at is unreadable; scanning from height 1", "pass", erasedPass, "pseudonym", pseudonym, "err", err)
		return 1, nil
	case err != nil:
		return 0, err
	case !known || introduced == 0 || introduced > height:
		return 1, nil
	}
	return introduced, nil
}

// compactPending has the store compact the block bodies and copies the
// pass rewrote and has not compacted yet (store.CompactPending, the span
// its mark carries), one bounded step per WithStore, so what it pruned
// leaves the live sstables now rather than at some later compaction, even
// when the run that pruned it stopped before compacting.
func (p *pruner) compactPending(ctx context.Context, pass string) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var res store.CompactResult
		stepStart := time.Now()
		err := p.withStore(func(st *store.Store) error {
			var err error
			res, err = st.CompactPending(ctx, pass, p.compactBytes)
			return err
		})
		if err != nil {
			return fmt.Errorf("retention: pass %s: compact: %w", pass, err)
		}
		if p.compacted != nil && res.From != 0 {
			p.compacted(pass, res)
		}
		if res.Done {
			return nil
		}
		if err := p.pace(ctx, stepStart); err != nil {
			return err
		}
	}
}

// Status reads the pruner's state for the compliance report: each pass's
// period, cutoff at now (bounded by the head block's time, as a run's is),
// mark and the oldest block it has not visited yet, and whether the last
// run skipped the passes by period (Skipped).
func (p *pruner) Status(now time.Time) compliance.RetentionEvidence {
	if p == nil {
		return compliance.RetentionEvidence{} // no pruner: nothing observed, which never passes
	}
	ev := compliance.RetentionEvidence{Enabled: p.cfg.PruneInterval != 0, IntervalSeconds: int64(p.cfg.PruneInterval.D() / time.Second),
		NotStored: retentionNotStored}
	p.mu.Lock()
	ev.LastRun, ev.Skipped = p.lastRun, p.skipped
	if p.lastErr != nil {
		ev.LastError = p.lastErr.Error()
	}
	p.mu.Unlock()
	var errs []error
	clock, err := p.checkClock(now, false)
	if err != nil {
		errs = append(errs, err)
		clock.base = now
	}
	for _, ps := range retentionPasses {
		days := ps.days(p.cfg)
		st := compliance.RetentionPass{Pass: ps.name, Field: ps.field, Governs: ps.governs, Days: days,
			Cutoff: clock.base.Add(-time.Duration(days) * 24 * time.Hour).UTC()}
		err := p.withStore(func(s *store.Store) error {
			m, err := s.PruneMarkOf(ps.name)
			if err != nil {
				return err
			}
			st.PrunedUpTo, st.PrunedTxs, st.PrunedBytes = m.Height, m.Txs, m.Bytes
			if m.Height >= s.Height() {
				return nil
			}
			b, err := s.Block(m.Height + 1)
			if err != nil {
				return err
			}
			st.NextHeight, st.NextTime = b.Header.Height, b.Header.BlockTime()
			return nil
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("pass %s: %w", ps.name, err))
		}
		ev.Passes = append(ev.Passes, st)
	}
	er := compliance.RetentionPass{Pass: erasedPass, Governs: "sealed payloads of every redacted tx (audit events, consents, contract calls, identity registrations, delegations) naming an erased patient, from the block that introduced the patient's key to the erasure, at once (unreadable since the erasure destroyed the key)"}
	if err := p.withStore(func(s *store.Store) error {
		m, err := s.PruneMarkOf(erasedPass)
		er.PrunedUpTo, er.PrunedTxs, er.PrunedBytes = m.Height, m.Txs, m.Bytes
		return err
	}); err != nil {
		errs = append(errs, fmt.Errorf("pass %s: %w", erasedPass, err))
	}
	ev.Passes = append(ev.Passes, er)
	ev.Err = errors.Join(errs...)
	return ev
}

// RunRetention runs every retention pass once, as the background pruner
// does, but with the cutoffs computed from at instead of the clock (each
// pass prunes the blocks older than at minus its period), and returns when
// it is done or ctx is. It is for tests and operators' tools: an at in the
// future prunes data before its period ends (at is trusted: it is not
// checked against the head block's time as the clock is). The store runs one pruning
// step at a time, so the background pruner may run meanwhile.
func (n *Node) RunRetention(ctx context.Context, at time.Time) error {
	return n.pruner.runAt(ctx, at, true)
}

// RetentionStatus returns the retention pruner's state at now, as the
// compliance report shows it.
func (n *Node) RetentionStatus(now time.Time) compliance.RetentionEvidence {
	return n.pruner.Status(now)
}
