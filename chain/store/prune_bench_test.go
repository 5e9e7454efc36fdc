package store

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/types"
)

// Pruning benchmarks: realistic blocks (signed txs of about 3.9 KB), half of
// their txs audit events stored redacted with a sealed payload of
// benchSealedLen bytes, on the real filesystem with the production options
// (synced writes).
const (
	benchBlocks    = 128
	benchBlockTxs  = 100
	benchSealedLen = 400
)

// redactedBlockTxs returns n realistic txs, every other one redacted.
func redactedBlockTxs(b *testing.B, first uint64, n int) []*types.Tx {
	txs := realisticTxs(b, first, n)
	sealed := bytes.Repeat([]byte{0xA5}, benchSealedLen)
	for i := 0; i < n; i += 2 {
		tx := txs[i]
		p, err := tx.DecodePayload()
		if err != nil {
			b.Fatal(err)
		}
		r, err := types.Redact(tx, tx.Hash(), p, types.NewPseudonym([types.PseudonymSize]byte{byte(i)}), sealed)
		if err != nil {
			b.Fatal(err)
		}
		txs[i] = r
	}
	return txs
}

// prunableStore commits blocks realistic blocks to a new store on disk.
func prunableStore(b *testing.B, blocks int) (*Store, *chain) {
	opts := DefaultOptions()
	s, err := Open(b.TempDir(), opts)
	if err != nil {
		b.Fatal(err)
	}
	c := newChain(b, s)
	for h := 0; h < blocks; h++ {
		c.commit(c.block(redactedBlockTxs(b, uint64(h*benchBlockTxs), benchBlockTxs)), nil)
	}
	return s, c
}

func pruneAll(_ *types.Header, _ int, _ *types.Tx, _ types.Payload) bool { return true }

// BenchmarkPrune measures a whole pruning pass over benchBlocks blocks
// (every sealed payload goes), in steps of each batch size; it reports
// blocks/s and sealed payloads/s, and apart (not in ns/op) how long the
// CompactPruned that follows the pass took.
func BenchmarkPrune(b *testing.B) {
	for _, batch := range []int{16, 64, 256} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			var blocks, txs int
			var took, compact time.Duration
			for b.Loop() {
				b.StopTimer()
				s, _ := prunableStore(b, benchBlocks)
				b.StartTimer()
				start := time.Now()
				for {
					res, err := s.Prune(PruneRun{Name: "bench", Before: 1 << 40, MaxBlocks: batch, Select: pruneAll})
					if err != nil {
						b.Fatal(err)
					}
					blocks += res.Blocks
					txs += res.Txs
					if res.Done {
						break
					}
				}
				took += time.Since(start)
				b.StopTimer()
				cstart := time.Now()
				if err := s.CompactPruned(context.Background(), 1, benchBlocks); err != nil {
					b.Fatal(err)
				}
				compact += time.Since(cstart)
				s.Close()
				b.StartTimer()
			}
			if blocks != b.N*benchBlocks || txs != b.N*benchBlocks*benchBlockTxs/2 {
				b.Fatalf("pruned %d blocks and %d txs in %d passes", blocks, txs, b.N)
			}
			b.ReportMetric(float64(blocks)/took.Seconds(), "blocks/s")
			b.ReportMetric(float64(txs)/took.Seconds(), "payloads/s")
			b.ReportMetric(float64(compact.Milliseconds())/float64(b.N), "compact-ms") // CompactPruned after the pass, untimed above
		})
	}
}

// BenchmarkCommitWhilePruning measures Commit of 1,000-tx blocks with no
// pruning, during a pruning pass (batches of 64) rewriting 256 old blocks
// back to back, and during one paced as the node's pruner paces it (after
// each step it waits as long as the step took): the commit latency's median
// and 99th percentile show how long block apply waits for the pruner. With
// pruning, only the commits that overlapped the pass count (reported as
// "overlapped"); run it with enough iterations to cover the pass, e.g.
// -benchtime 60x.
func BenchmarkCommitWhilePruning(b *testing.B) {
	for _, mode := range []string{"off", "back-to-back", "paced"} {
		pruning, paced := mode != "off", mode == "paced"
		b.Run("pruning="+mode, func(b *testing.B) {
			s, c := prunableStore(b, 2*benchBlocks)
			defer s.Close()
			var active atomic.Bool
			var wg sync.WaitGroup
			defer wg.Wait() // before the store closes
			if pruning {
				active.Store(true)
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer active.Store(false)
					for {
						start := time.Now()
						res, err := s.Prune(PruneRun{Name: "bench", Before: 1 << 40, MaxBlocks: 64, Select: pruneAll})
						if err != nil {
							b.Error(err)
							return
						}
						if res.Done {
							return
						}
						if paced {
							time.Sleep(time.Since(start))
						}
					}
				}()
			}
			var lat []time.Duration
			next := uint64(10_000_000)
			for b.Loop() {
				b.StopTimer()
				blk := c.block(realisticTxs(b, next, 1000))
				next += 1000
				b.StartTimer()
				start := time.Now()
				c.raft += 2
				if err := s.Commit(Commit{Block: blk, AppliedIndex: c.raft}); err != nil {
					b.Fatal(err)
				}
				if d := time.Since(start); !pruning || active.Load() {
					lat = append(lat, d)
				}
			}
			wg.Wait()
			if len(lat) == 0 {
				b.Fatal("no commit overlapped the pruning pass: raise -benchtime")
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[(len(lat)*99)/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
			b.ReportMetric(float64(len(lat)), "overlapped")
		})
	}
}

// compactBenchBlocks is the pass BenchmarkCompactPending compacts: long
// enough for its sstables to exceed a compaction step's budget.
const compactBenchBlocks = 1024

// BenchmarkCompactPending measures the compaction a pass owes after
// pruning compactBenchBlocks blocks (every sealed payload), in three ways:
// one CompactPruned of the whole span after the pass, as the pruner did
// before ("whole-span"); CompactPending steps of DefaultCompactBytes after
// the pass, as the node's pruner does now ("steps-at-end"); and
// CompactPending steps whenever the pass has rewritten 128 blocks since the
// last, and at its end ("every-128-blocks": a pruner that compacted during
// its pass, which measured worse). Each compaction call is what a
// snapshot restore (and the readers queued behind it) may wait for: it
// reports the longest ("longest-ms"), the calls and the total compaction
// time per pass (the prune steps are not counted).
func BenchmarkCompactPending(b *testing.B) {
	for _, mode := range []string{"whole-span", "steps-at-end", "every-128-blocks"} {
		b.Run(mode, func(b *testing.B) {
			var longest, total time.Duration
			calls := 0
			timed := func(f func() bool) {
				for done := false; !done; {
					start := time.Now()
					done = f()
					d := time.Since(start)
					longest, total, calls = max(longest, d), total+d, calls+1
				}
			}
			pending := func(s *Store) func() bool {
				return func() bool {
					res, err := s.CompactPending(context.Background(), "bench", 0)
					if err != nil {
						b.Fatal(err)
					}
					return res.Done
				}
			}
			for b.Loop() { // ns/op counts building the store too: read the metrics
				s, _ := prunableStore(b, compactBenchBlocks)
				owed := 0
				for {
					res, err := s.Prune(PruneRun{Name: "bench", Before: 1 << 40, MaxBlocks: 64, Select: pruneAll})
					if err != nil {
						b.Fatal(err)
					}
					if res.Done {
						break
					}
					if owed += res.Rewritten; mode == "every-128-blocks" && owed >= 128 {
						owed = 0
						timed(pending(s))
					}
				}
				switch mode {
				case "whole-span":
					timed(func() bool {
						if err := s.CompactPruned(context.Background(), 1, compactBenchBlocks); err != nil {
							b.Fatal(err)
						}
						return true
					})
				default:
					timed(pending(s))
				}
				s.Close()
			}
			b.ReportMetric(float64(longest.Microseconds())/1000, "longest-ms")
			b.ReportMetric(float64(calls)/float64(b.N), "calls")
			b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "total-ms")
		})
	}
}

// BenchmarkErasedScanStep measures one step of the erased pass's scan (4
// blocks of benchBlockTxs realistic txs read and every payload decoded, as
// node's namesErased does), with and without the cursor write that
// PruneTxsScanned adds to each step (nothing to prune: the common step of
// a long scan), under the node's FSM store options (no WAL, no sync) and
// with synced writes. It reports ns/op per step; the ratio of the two
// variants is the cursor's cost.
func BenchmarkErasedScanStep(b *testing.B) {
	const chunk = 4
	for _, o := range []struct {
		name string
		opts func() Options
	}{
		{"fsm-options", func() Options { o := DefaultOptions(); o.Sync, o.DisableWAL = false, true; return o }},
		{"synced", DefaultOptions},
	} {
		for _, cursor := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/cursor=%v", o.name, cursor), func(b *testing.B) {
				s, err := Open(b.TempDir(), o.opts())
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				c := newChain(b, s)
				for h := 0; h < benchBlocks; h++ {
					c.commit(c.block(redactedBlockTxs(b, uint64(h*benchBlockTxs), benchBlockTxs)), nil)
				}
				head := s.Height()
				from := uint64(1)
				for b.Loop() {
					last := min(from+chunk-1, head-1)
					for h := from; h <= last; h++ {
						blk, err := s.Block(h)
						if err != nil {
							b.Fatal(err)
						}
						for _, tx := range blk.Txs {
							if _, err := tx.DecodePayload(); err != nil {
								b.Fatal(err)
							}
						}
					}
					if cursor {
						if _, err := s.PruneTxsScanned("bench", nil, 0, ScanCursor{For: head, To: last}); err != nil {
							b.Fatal(err)
						}
					}
					if from = last + 1; from >= head {
						from = 1
					}
				}
			})
		}
	}
}
