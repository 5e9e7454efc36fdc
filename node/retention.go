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
	"github.com/medchain/medchain/node/compliance"
	"github.com/medchain/medchain/node/config"
)

// The retention pruner (docs/ARCHITECTURE.md, "Retention"). Each node
// prunes by its own clock; nothing here is consensus. For every block older
// than a kind's retention period it removes from the stored block body the
// sealed payloads of that kind (store.Prune): the signed audit events with
// their personal fields, sealed with the patient's key. The hash chain,
// headers, tx hashes, the log, the redacted payloads in clear and every
// proof stay. Kinds:
//
//	pass      txs                                          period
//	audit     audit_record whose purpose is not research   retention.audit_logs_days
//	research  audit_record whose purpose is research       retention.research_data_days
//	erased    audit_record of an erased patient            at once (the key is destroyed)
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

// erasedPass prunes the sealed payloads of an erased patient's audit
// events at once: they are unreadable since the erasure destroyed the key.
// Its mark is the height up to which every erasure was handled.
const erasedPass = "erased"

// erasedChunkBlocks bounds the blocks one step of the erased pass rewrites.
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
	// paced: after each step the pruner waits as long as the step took, so
	// a long pass uses at most half of a core and of the disk beside block
	// apply (tests turn it off).
	paced bool

	mu sync.Mutex // guards the following
	// lastRun is when the last run ended, lastErr its error.
	lastRun time.Time
	lastErr error
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
	return &pruner{withStore: withStore, cfg: cfg, now: time.Now, log: log, m: m, paced: true}, nil
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

// runOnce runs every pass to its cutoff (now minus its period), one bounded
// step at a time, each under WithStore (a snapshot restore waits for a
// step, never for a pass). It stops early when ctx is done; every pass
// resumes from its mark on the next run.
func (p *pruner) runOnce(ctx context.Context) error { return p.runAt(ctx, p.now()) }

// runAt is runOnce with the cutoffs computed from now.
func (p *pruner) runAt(ctx context.Context, now time.Time) error {
	err := p.run(ctx, now)
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

func (p *pruner) run(ctx context.Context, now time.Time) error {
	for _, ps := range retentionPasses {
		days := ps.days(p.cfg)
		cutoff := now.Add(-time.Duration(days) * 24 * time.Hour)
		run := store.PruneRun{Name: ps.name, Before: cutoff.UnixMilli(), MaxBlocks: p.cfg.PruneBatchBlocks,
			Select: func(_ *types.Header, _ int, _ *types.Tx, pl types.Payload) bool { return ps.sel(pl) }}
		start, lastLog := p.now(), p.now()
		var total store.PruneResult
		var span heightSpan // the heights this run rewrote, compacted at the end
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
			if res.Rewritten > 0 {
				span.add(res.From, res.To)
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
			if p.paced {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(time.Since(stepStart)):
				}
			}
			if t := p.now(); t.Sub(lastLog) >= progressEvery {
				lastLog = t
				p.log.Info("retention: pruning", "pass", ps.name, "up_to_height", res.Mark.Height, "blocks", total.Blocks, "pruned", total.Txs, "bytes", total.Bytes)
			}
		}
		if err := p.compact(ctx, ps.name, span); err != nil {
			return err
		}
		if total.Blocks > 0 {
			p.log.Info("retention: pruned", "pass", ps.name, "period_days", days, "cutoff", cutoff.UTC().Format(time.RFC3339),
				"from_height", total.From, "to_height", total.To, "blocks", total.Blocks, "pruned", total.Txs, "bytes", total.Bytes,
				"pruned_in_all", total.Mark.Txs, "took", p.now().Sub(start).Round(time.Millisecond))
		}
	}
	return p.pruneErased(ctx)
}

// pruneErased runs the erased pass: for every erasure recorded above its
// mark, in height order, it prunes the sealed payloads of the erased
// pseudonym's audit events (found through the patient trail, which the
// erasure leaves in state), a few blocks a step; the mark moves to an
// erasure's height once every erasure at that height is done, so a stopped
// run redoes at most one height's erasures (already pruned txs are skipped).
// The patient_erase tx itself is not in the trail and is never pruned.
func (p *pruner) pruneErased(ctx context.Context) error {
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
	for i, e := range todo {
		if err := ctx.Err(); err != nil {
			return err
		}
		var locs []store.TxAt
		if types.IsPseudonym(e.Patient) { // an erasure in clear has no sealed payloads
			err := p.withStore(func(st *store.Store) error {
				for cursor := ""; ; {
					page, err := state.Trail(st, st, state.TrailQuery{ID: e.Patient, Cursor: cursor, Limit: state.MaxTrailLimit})
					if err != nil {
						return err
					}
					for _, en := range page.Entries {
						if en.Redacted && !en.Pruned {
							locs = append(locs, store.TxAt{Height: en.Height, Index: en.Index})
						}
					}
					if cursor = page.Next; cursor == "" {
						return nil
					}
				}
			})
			if err != nil {
				return fmt.Errorf("retention: pass %s: erasure %s: %w", erasedPass, e.TxHash, err)
			}
		}
		after := mark.Height // the mark moves once this height's erasures are all done
		if i == len(todo)-1 || todo[i+1].Height > e.Height {
			after = e.Height
		}
		pruned := 0
		var span heightSpan
		for len(locs) > 0 || after > mark.Height {
			chunk := chunkByBlocks(locs, erasedChunkBlocks)
			locs = locs[len(chunk):]
			to := mark.Height
			if len(locs) == 0 {
				to = after
			}
			var res store.PruneResult
			err := p.withStore(func(st *store.Store) error {
				var err error
				res, err = st.PruneTxs(erasedPass, chunk, to)
				return err
			})
			if err != nil {
				return fmt.Errorf("retention: pass %s: erasure %s: %w", erasedPass, e.TxHash, err)
			}
			mark = res.Mark
			pruned += res.Txs
			if res.Rewritten > 0 {
				span.add(res.From, res.To)
			}
			p.m.txs.WithLabelValues(erasedPass).Add(float64(res.Txs))
			p.m.bytes.WithLabelValues(erasedPass).Add(float64(res.Bytes))
			p.m.height.WithLabelValues(erasedPass).Set(float64(res.Mark.Height))
			if p.step != nil {
				p.step(erasedPass, res)
			}
			if len(locs) == 0 {
				break
			}
		}
		if err := p.compact(ctx, erasedPass, span); err != nil {
			return err
		}
		if pruned > 0 {
			p.log.Info("retention: pruned an erased patient's sealed payloads", "pass", erasedPass, "erasure_tx", e.TxHash, "erasure_height", e.Height, "pruned", pruned)
		}
	}
	return nil
}

// heightSpan is the smallest range of heights holding every one added.
type heightSpan struct{ from, to uint64 }

func (h *heightSpan) add(from, to uint64) {
	if h.from == 0 || from < h.from {
		h.from = from
	}
	h.to = max(h.to, to)
}

// compact has the store compact the block bodies and copies of the heights
// a pass rewrote (store.CompactPruned), so what it pruned leaves the live
// sstables now rather than at some later compaction.
func (p *pruner) compact(ctx context.Context, pass string, span heightSpan) error {
	if span.from == 0 {
		return nil
	}
	err := p.withStore(func(st *store.Store) error { return st.CompactPruned(ctx, span.from, span.to) })
	if err != nil {
		return fmt.Errorf("retention: pass %s: compact heights [%d, %d]: %w", pass, span.from, span.to, err)
	}
	return nil
}

// chunkByBlocks returns the longest prefix of locs that names at most n
// distinct blocks.
func chunkByBlocks(locs []store.TxAt, n int) []store.TxAt {
	seen := map[uint64]bool{}
	for i, l := range locs {
		if !seen[l.Height] && len(seen) == n {
			return locs[:i]
		}
		seen[l.Height] = true
	}
	return locs
}

// Status reads the pruner's state for the compliance report: each pass's
// period, cutoff at now, mark and the oldest block it has not visited yet.
func (p *pruner) Status(now time.Time) compliance.RetentionEvidence {
	if p == nil {
		return compliance.RetentionEvidence{} // no pruner: nothing observed, which never passes
	}
	ev := compliance.RetentionEvidence{Enabled: p.cfg.PruneInterval != 0, IntervalSeconds: int64(p.cfg.PruneInterval.D() / time.Second),
		NotStored: retentionNotStored}
	p.mu.Lock()
	ev.LastRun = p.lastRun
	if p.lastErr != nil {
		ev.LastError = p.lastErr.Error()
	}
	p.mu.Unlock()
	var errs []error
	for _, ps := range retentionPasses {
		days := ps.days(p.cfg)
		st := compliance.RetentionPass{Pass: ps.name, Field: ps.field, Governs: ps.governs, Days: days,
			Cutoff: now.Add(-time.Duration(days) * 24 * time.Hour).UTC()}
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
	er := compliance.RetentionPass{Pass: erasedPass, Governs: "sealed payloads of erased patients' audit events, at once (unreadable since the erasure destroyed the key)"}
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
// future prunes data before its period ends. The store runs one pruning
// step at a time, so the background pruner may run meanwhile.
func (n *Node) RunRetention(ctx context.Context, at time.Time) error {
	return n.pruner.runAt(ctx, at)
}

// RetentionStatus returns the retention pruner's state at now, as the
// compliance report shows it.
func (n *Node) RetentionStatus(now time.Time) compliance.RetentionEvidence {
	return n.pruner.Status(now)
}
