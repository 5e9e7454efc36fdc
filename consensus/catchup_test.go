package consensus_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/consensus"
	"github.com/medchain/medchain/consensus/consensustest"
)

// TestFarBehindNodeCatchesUpFromSnapshot measures the catch-up of a new node
// on a long chain (docs/BENCHMARKS.md, "## Cluster"): the leader commits
// MEDCHAIN_CATCHUP_TXS signed audit txs (default 100,000; `make
// catchup-bench` runs 1,000,000), snapshots, compacts its Raft log to 8
// entries, and a fresh node joins as a non-voter: it must install the
// snapshot, then replay what follows. The test reports the time to build the
// chain, the snapshot's size on disk and the catch-up time, and checks that
// the new node's head hash, state hash, log size and log root equal the
// leader's. Long: skipped under -short.
func TestFarBehindNodeCatchesUpFromSnapshot(t *testing.T) {
	if testing.Short() {
		t.Skip("long: builds a chain of MEDCHAIN_CATCHUP_TXS txs (make catchup-bench)")
	}
	total := 100_000
	if v := os.Getenv("MEDCHAIN_CATCHUP_TXS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("MEDCHAIN_CATCHUP_TXS=%q: want a positive number", v)
		}
		total = n
	}
	// A snapshot of a million txs is gigabytes: give its install time.
	c := consensustest.New(t, consensustest.Options{N: 2, Started: 1, RPCTimeout: 2 * time.Minute, Configure: func(_ int, cfg *consensus.Config) {
		def := consensus.DefaultConfig(cfg.NodeID, cfg.DataDir)
		cfg.MaxBlockTxs, cfg.MaxBlockDelay, cfg.MempoolSize = def.MaxBlockTxs, def.MaxBlockDelay, def.MempoolSize
		cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = time.Second, time.Second, 500*time.Millisecond
		cfg.ApplyTimeout = time.Minute
		cfg.TrailingLogs = 8 // the new node cannot replay from the start
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Hour)
	defer cancel()
	leader := c.WaitLeader(10 * time.Second)
	dr := c.RegisterClinician(ctx, leader, "dr-1", 7)

	// Sign in chunks on every core just ahead of submission (tx timestamps
	// must stay inside the replay window), submit each chunk as one batch.
	const chunk = 2000
	chunks := make(chan []*types.Tx, 4)
	go signChunks(ctx, c, dr, total, chunk, chunks)
	start := time.Now()
	var last types.Hash
	submitted := 0
	for txs := range chunks {
		for len(txs) > 0 {
			_, errs := leader.SubmitBatch(ctx, txs)
			var retry []*types.Tx
			for i, err := range errs {
				switch {
				case err == nil:
				case errors.Is(err, consensus.ErrBusy):
					retry = append(retry, txs[i])
				default:
					t.Fatalf("tx %d: %v", submitted+i, err)
				}
			}
			submitted += len(txs) - len(retry)
			last = txs[len(txs)-1].Hash()
			if len(retry) > 0 {
				time.Sleep(20 * time.Millisecond)
			}
			txs = retry
		}
		if submitted%100_000 < chunk {
			t.Logf("%d txs admitted after %v, height %d", submitted, time.Since(start).Round(time.Second), leader.Height())
		}
	}
	if ctx.Err() != nil {
		t.Fatal(ctx.Err())
	}
	if _, err := leader.WaitTx(ctx, last); err != nil {
		t.Fatal(err)
	}
	built := time.Since(start)
	height := leader.Height()
	t.Logf("built %d txs in %d blocks in %v (%.0f tx/s, one node, fsync on)", total, height, built.Round(time.Second), float64(total)/built.Seconds())

	t0 := time.Now()
	if err := leader.Snapshot(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	snapTook := time.Since(t0)
	snapBytes := dirSize(t, filepath.Join(c.Configs[0].RaftDir(), "snapshots"))
	storeBytes := dirSize(t, c.Configs[0].StoreDir())
	t.Logf("snapshot of height %d: %v, %.1f MiB on disk (store %.1f MiB)", height, snapTook.Round(time.Millisecond),
		float64(snapBytes)/(1<<20), float64(storeBytes)/(1<<20))

	t0 = time.Now()
	fresh := c.JoinNonvoter(1)
	for fresh.Height() < height {
		if time.Since(t0) > time.Hour {
			t.Fatalf("fresh node at height %d of %d after an hour", fresh.Height(), height)
		}
		time.Sleep(10 * time.Millisecond)
	}
	caught := time.Since(t0)
	// Raft records the installed snapshot's index just after the restore:
	// poll it briefly.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		got := fresh.Raft().Stats()["last_snapshot_index"]
		if got != "0" && got != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("fresh node caught up without installing a snapshot (last_snapshot_index %q)", got)
		}
	}
	lh, fh := leader.Store().Head()
	hh, _ := fresh.Store().Head()
	if !fh || hh.Height != lh.Height || hh.Hash() != lh.Hash() || hh.StateHash != lh.StateHash || hh.LogRoot != lh.LogRoot ||
		fresh.Store().LogSize() != leader.Store().LogSize() {
		t.Fatalf("fresh node head %d %s (state %s, log %d %s) differs from the leader's %d %s (state %s, log %d %s)",
			hh.Height, hh.Hash(), hh.StateHash, fresh.Store().LogSize(), hh.LogRoot,
			lh.Height, lh.Hash(), lh.StateHash, leader.Store().LogSize(), lh.LogRoot)
	}
	t.Logf("fresh node caught up %d txs (height %d) in %v: head %s, state %s, log size %d, log root %s equal the leader's",
		total, hh.Height, caught.Round(time.Millisecond), hh.Hash(), hh.StateHash, leader.Store().LogSize(), hh.LogRoot)
}

// signChunks signs total audit txs by dr-1 in chunks of size on every core
// and sends them to out, in order; it closes out when done or ctx ends.
func signChunks(ctx context.Context, c *consensustest.Cluster, key *crypto.PrivateKey, total, size int, out chan<- []*types.Tx) {
	defer close(out)
	for base := 0; base < total; base += size {
		n := min(size, total-base)
		txs := make([]*types.Tx, n)
		var wg sync.WaitGroup
		workers := runtime.GOMAXPROCS(0)
		for w := range workers {
			wg.Go(func() {
				for i := w; i < n; i += workers {
					txs[i] = c.SignTx("dr-1", key, consensustest.Audit("dr-1", "p-"+strconv.Itoa((base+i)%5000), base+i))
				}
			})
		}
		wg.Wait()
		select {
		case out <- txs:
		case <-ctx.Done():
			return
		}
	}
}

// dirSize returns the bytes of the regular files under dir.
func dirSize(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			n += info.Size()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
