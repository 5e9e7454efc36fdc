package consensus_test

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/consensus"
	"github.com/medchain/medchain/consensus/consensustest"
)

// bigAudit is an audit record of about 4 KB of details, so that a block of
// 128 of them (signed: about 7.5 KB each) is a Raft entry of about 1 MB.
func bigAudit(i int) *types.AuditRecord {
	p := consensustest.Audit("dr-1", fmt.Sprintf("patient-%d", i%1000), i)
	p.Details = map[string]string{}
	for k := range 4 {
		p.Details[fmt.Sprintf("note%d", k)] = strings.Repeat(string(rune('a'+(i+k)%26)), 1000)
	}
	return p
}

// TestStartupTimeAgainstLogLength measures how long a restarted node takes
// to lead again (Ready: its log replayed and its term-start barrier applied)
// against the number of ~1 MB blocks in its Raft log, with the production
// snapshot settings (DefaultConfig). It runs only with
// MEDCHAIN_STARTUP_BLOCKS set, e.g. MEDCHAIN_STARTUP_BLOCKS=250,500,1000
// (cumulative: the chain grows to each count in turn).
func TestStartupTimeAgainstLogLength(t *testing.T) {
	spec := os.Getenv("MEDCHAIN_STARTUP_BLOCKS")
	if spec == "" {
		t.Skip("set MEDCHAIN_STARTUP_BLOCKS=250,500,1000 to measure start-up time against the Raft log length")
	}
	var counts []int
	for _, s := range strings.Split(spec, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			t.Fatalf("MEDCHAIN_STARTUP_BLOCKS: %q", s)
		}
		counts = append(counts, n)
	}
	const perBlock = 128
	c := consensustest.New(t, consensustest.Options{LogLevel: 12, Configure: func(_ int, cfg *consensus.Config) {
		def := consensus.DefaultConfig(cfg.NodeID, cfg.DataDir)
		cfg.SnapshotThreshold, cfg.TrailingLogs, cfg.SnapshotInterval = def.SnapshotThreshold, def.TrailingLogs, def.SnapshotInterval
		cfg.SnapshotLogBytes = def.SnapshotLogBytes
		if v := os.Getenv("MEDCHAIN_STARTUP_SNAPSHOT_LOG_BYTES"); v != "" { // compare budgets
			b, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("MEDCHAIN_STARTUP_SNAPSHOT_LOG_BYTES: %v", err)
			}
			cfg.SnapshotLogBytes = b
		}
		cfg.MaxBlockTxs, cfg.MaxBlockDelay, cfg.MempoolSize = perBlock, 50*time.Millisecond, 4*perBlock
		cfg.Store.Sync = false // building the chain is not what is measured
	}})
	n := c.WaitLeader(10 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Hour)
	defer cancel()
	dr := c.RegisterClinician(ctx, n, "dr-1", 7)
	seq := 0
	for _, want := range counts {
		build := time.Now()
		for n.Height() < uint64(want) {
			txs := make([]*types.Tx, perBlock)
			var wg sync.WaitGroup
			for w := range 2 {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					for i := w; i < perBlock; i += 2 {
						txs[i] = c.SignTx("dr-1", dr, bigAudit(seq+i))
					}
				}(w)
			}
			wg.Wait()
			seq += perBlock
			_, errs := n.SubmitBatchAndWait(ctx, txs)
			for _, err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
		}
		st := n.Store()
		t.Logf("built to height %d (raft last index %d, applied index %d) in %v", n.Height(), n.Raft().LastIndex(), st.AppliedIndex(), time.Since(build).Round(time.Millisecond))
		var times []time.Duration
		if path := os.Getenv("MEDCHAIN_STARTUP_PROFILE"); path != "" { // CPU profile of the restarts only
			f, err := os.Create(fmt.Sprintf("%s.%d", path, want))
			if err != nil {
				t.Fatal(err)
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				t.Fatal(err)
			}
			defer f.Close()
		}
		for range 3 {
			c.Stop(0)
			start := time.Now()
			c.Start(0)
			n = c.WaitLeader(30 * time.Minute)
			times = append(times, time.Since(start))
		}
		pprof.StopCPUProfile()
		t.Logf("blocks %d: restart to ready %v %v %v (median %v); last snapshot index %s", want, times[0].Round(time.Millisecond), times[1].Round(time.Millisecond),
			times[2].Round(time.Millisecond), median(times).Round(time.Millisecond), n.Raft().Stats()["last_snapshot_index"])
	}
	// What the other side of the trade-off costs: one snapshot of this store.
	start := time.Now()
	if err := n.Snapshot(); err != nil {
		t.Fatal(err)
	}
	t.Logf("a snapshot at height %d took %v", n.Height(), time.Since(start).Round(time.Millisecond))
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2]
}
