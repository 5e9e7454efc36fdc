package consensus_test

import (
	"errors"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/medchain/medchain/chain/store"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/consensus"
	"github.com/medchain/medchain/consensus/consensustest"
)

func TestSnapshotRestoreIntoFreshNodeGivesSameHeadAndState(t *testing.T) {
	c := consensustest.New(t, consensustest.Options{N: 2, Started: 1, Configure: func(_ int, cfg *consensus.Config) {
		cfg.TrailingLogs = 1 // compact so the new node must install the snapshot
		cfg.MaxBlockTxs = 5
		// Installing a snapshot takes a while on a loaded machine: with the
		// harness's 100 ms timeouts the leader stepped down mid-install.
		cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = time.Second, time.Second, 500*time.Millisecond
	}})
	ctx := ctxT(t)
	n := c.WaitLeader(10 * time.Second)
	dr := c.RegisterClinician(ctx, n, "dr-1", 7)
	var hs []types.Hash
	for i := range 30 {
		h, err := n.Submit(ctx, c.SignTx("dr-1", dr, consensustest.Audit("dr-1", "p-snap", i)))
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	for _, h := range hs {
		if _, err := n.WaitTx(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.Snapshot(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	height := n.Height()
	fresh := c.Join(1)
	c.WaitHeight(height, 10*time.Second)
	c.EnsureSameState()
	// Raft records the installed snapshot's index just after the restore
	// that WaitHeight may already have seen: poll it briefly.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		got := fresh.Raft().Stats()["last_snapshot_index"]
		if got != "0" && got != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("fresh node caught up without a snapshot (last_snapshot_index %q)", got)
		}
	}
	var first uint64
	fresh.WithStore(func(st *store.Store) error {
		// The fresh node got the history from the snapshot, not by replay:
		// its store holds block 1 although the leader's log no longer does.
		b, err := st.Block(1)
		if err != nil {
			t.Fatalf("block 1 on the fresh node: %v", err)
		}
		first = b.Header.Height
		return nil
	})
	if first != 1 {
		t.Fatal("fresh node lacks block 1")
	}
	// It keeps applying after the restore, through the new store. With two
	// voters the leader may step down while the new one installs the
	// snapshot: retry the same tx on whichever node leads.
	tx := c.SignTx("dr-1", dr, consensustest.Audit("dr-1", "p-snap", 99))
	var r consensus.Receipt
	for {
		var err error
		r, err = c.WaitLeader(10*time.Second).SubmitAndWait(ctx, tx)
		if err == nil {
			break
		}
		if !errors.Is(err, consensus.ErrNotLeader) && !errors.Is(err, consensus.ErrUncertain) || ctx.Err() != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.WaitHeight(r.Height, 10*time.Second)
	c.EnsureSameState()
}

// TestCrashLosesNoAcknowledgedTx runs the store without syncing on a
// crashable memory filesystem, "crashes" it (keeping only synced data), and
// restarts on the durable Raft log: Raft re-delivers, the FSM re-applies what
// the store lost and every acknowledged tx is in the chain once. It runs with
// the production store (no Pebble WAL: the crash keeps only flushed
// memtables) and with an unsynced WAL.
func TestCrashLosesNoAcknowledgedTx(t *testing.T) {
	for _, tc := range []struct {
		name string
		wal  bool
	}{{"no WAL", false}, {"unsynced WAL", true}} {
		t.Run(tc.name, func(t *testing.T) { testCrashLosesNoAcknowledgedTx(t, tc.wal) })
	}
}

func testCrashLosesNoAcknowledgedTx(t *testing.T, wal bool) {
	mem := vfs.NewCrashableMem()
	c := consensustest.New(t, consensustest.Options{Configure: func(_ int, cfg *consensus.Config) {
		cfg.Store.FS = mem
		cfg.Store.Sync = false
		cfg.Store.DisableWAL = !wal
	}})
	ctx := ctxT(t)
	n := c.WaitLeader(10 * time.Second)
	dr := c.RegisterClinician(ctx, n, "dr-1", 7)
	acked := map[types.Hash]bool{}
	for i := range 40 {
		r, err := n.SubmitAndWait(ctx, c.SignTx("dr-1", dr, consensustest.Audit("dr-1", "p-crash", i)))
		if err != nil || !r.Result.OK() {
			t.Fatalf("tx %d: %v %+v", i, err, r)
		}
		acked[r.TxHash] = true
	}
	before := n.Height()
	crashed := mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0})
	c.Stop(0)
	probe, err := store.Open(c.Configs[0].StoreDir(), store.Options{FS: crashed})
	if err != nil {
		t.Fatal(err)
	}
	lost := probe.Height()
	probe.Close()
	if lost >= before {
		t.Fatalf("the crash lost nothing (height %d of %d): the test proves nothing", lost, before)
	}
	t.Logf("crash kept height %d of %d; raft re-delivers the rest", lost, before)
	crashed = crashed.CrashClone(vfs.CrashCloneCfg{}) // the probe wrote; start from the crash image again
	c.Configs[0].Store.FS = crashed
	c.Start(0)
	n = c.WaitLeader(10 * time.Second)
	c.WaitHeight(before, 10*time.Second)
	n.WithStore(func(st *store.Store) error {
		_, ok := countChain(t, st)
		for h := range acked {
			if !ok[h] {
				t.Fatalf("acknowledged tx %s lost in the crash", h)
			}
		}
		if len(ok) != len(acked)+1 {
			t.Fatalf("%d txs applied ok, want %d", len(ok), len(acked)+1)
		}
		return nil
	})
}
