package consensus_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/consensus"
	"github.com/medchain/medchain/consensus/consensustest"
)

// BenchmarkCommitSignedAudit is the node's share of `medchain bench` without
// the client and without JSON-RPC: one node with the production block and
// store settings (fsynced Raft log, synced Pebble commits), b.N pre-signed
// audit txs submitted by 1,024 concurrent SubmitAndWait callers (about what
// 16 clients with batches of 250 keep in flight). It reports committed tx/s
// and the process CPU time per committed tx (user+system, signing excluded).
//
// The sub-benchmarks set MaxBlocksInFlight (1: one block at a time).
//
//	go test -run '^$' -bench CommitSignedAudit -benchtime 40000x ./consensus/
func BenchmarkCommitSignedAudit(b *testing.B) {
	for _, inflight := range []int{1, 2} {
		b.Run(fmt.Sprintf("inflight=%d", inflight), func(b *testing.B) { benchCommitSignedAudit(b, inflight, nil) })
	}
}

func benchCommitSignedAudit(b *testing.B, inflight int, key consensus.ClusterKey) {
	c := consensustest.New(b, consensustest.Options{Configure: func(_ int, cfg *consensus.Config) {
		d := consensus.DefaultConfig(cfg.NodeID, cfg.DataDir)
		cfg.MaxBlockTxs, cfg.MaxBlockDelay, cfg.MempoolSize, cfg.Store = d.MaxBlockTxs, d.MaxBlockDelay, d.MempoolSize, d.Store
		cfg.CommitTimeout, cfg.ApplyTimeout = d.CommitTimeout, d.ApplyTimeout
		cfg.MaxBlocksInFlight = inflight
		cfg.ClusterKey = key
	}})
	n := c.WaitLeader(10 * time.Second)
	ctx := context.Background()
	signer := c.RegisterClinician(ctx, n, "dr-bench", 7)
	txs := make([]*types.Tx, b.N)
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(txs); i += workers {
				txs[i] = c.SignTx("dr-bench", signer, consensustest.Audit("dr-bench", fmt.Sprintf("bench-patient-%d", i%1000), i))
			}
		}()
	}
	wg.Wait()
	h0 := n.Height()
	cpu0 := cpuTime()
	b.ResetTimer()
	var next, ok atomic.Int64
	for range 1024 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(txs) {
					return
				}
				r, err := n.SubmitAndWait(ctx, txs[i])
				if err != nil {
					b.Error(err)
					return
				}
				if r.Result.OK() {
					ok.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	el := b.Elapsed()
	b.StopTimer()
	cpu := cpuTime() - cpu0
	if int(ok.Load()) != len(txs) {
		b.Fatalf("%d of %d txs committed", ok.Load(), len(txs))
	}
	b.ReportMetric(float64(len(txs))/el.Seconds(), "tx/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(len(txs)), "cpu-µs/tx")
	b.ReportMetric(float64(len(txs))/float64(max(n.Height()-h0, 1)), "tx/block")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
