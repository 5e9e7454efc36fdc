package consensus_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/consensus"
	"github.com/medchain/medchain/consensus/consensustest"
)

// TestSnapshotLogBytesBoundsTheLogARestartReplays: with SnapshotLogBytes set
// and the entry-count threshold out of reach, a snapshot follows as soon as
// the block entries since the last one reach that many bytes (not at the
// next SnapshotInterval, here an hour away), so the log a restart replays
// stays bounded by size; the node restarts from it and serves. Without it
// (0) no snapshot is taken.
func TestSnapshotLogBytesBoundsTheLogARestartReplays(t *testing.T) {
	const budget = types.DefaultMaxTxBytes // the smallest allowed: MaxBlockBytes
	for _, tc := range []struct {
		name     string
		logBytes int64
		wantSnap bool
	}{
		{"byte budget", budget, true},
		{"off", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := consensustest.New(t, consensustest.Options{Configure: func(_ int, cfg *consensus.Config) {
				cfg.MaxBlockBytes = budget
				cfg.SnapshotLogBytes = tc.logBytes
				cfg.MaxBlockTxs = 4
			}})
			n := c.WaitLeader(10 * time.Second)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			dr := c.RegisterClinician(ctx, n, "dr-1", 7)
			// Each signed audit tx is about 4 KB: 40 of them pass the budget.
			for i := range 40 {
				if _, err := n.SubmitAndWait(ctx, c.SignTx("dr-1", dr, consensustest.Audit("dr-1", "patient-1", i))); err != nil {
					t.Fatal(err)
				}
			}
			snapIndex := func() uint64 {
				v, _ := strconv.ParseUint(n.Raft().Stats()["last_snapshot_index"], 10, 64)
				return v
			}
			deadline := time.Now().Add(10 * time.Second)
			for tc.wantSnap && snapIndex() == 0 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			got := snapIndex()
			if tc.wantSnap != (got > 0) {
				t.Fatalf("last snapshot index %d after %d blocks, want a snapshot: %v", got, n.Height(), tc.wantSnap)
			}
			h := n.Height()
			n = c.Restart(0)
			n = c.WaitLeader(10 * time.Second)
			if n.Height() != h {
				t.Fatalf("height %d after restart, want %d", n.Height(), h)
			}
			if _, err := n.SubmitAndWait(ctx, c.SignTx("dr-1", dr, consensustest.Audit("dr-1", "patient-1", 1000))); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestConfigRefusesASnapshotLogBytesBelowABlock: a byte budget smaller than
// one block would snapshot after every block.
func TestConfigRefusesASnapshotLogBytesBelowABlock(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    int64
		ok   bool
	}{{"off", 0, true}, {"one block", consensus.DefaultMaxBlockBytes, true}, {"default", 1 << 30, true},
		{"below a block", consensus.DefaultMaxBlockBytes - 1, false}, {"negative", -1, false}} {
		cfg := consensus.DefaultConfig("node-1", t.TempDir())
		cfg.SnapshotLogBytes = tc.v
		if err := cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate: %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}
