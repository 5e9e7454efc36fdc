package consensus_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/store"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/consensus"
	"github.com/medchain/medchain/consensus/consensustest"
)

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestSignedTxsCommitWithResultsAndHeadsAdvance(t *testing.T) {
	c := consensustest.New(t, consensustest.Options{})
	n := c.WaitLeader(10 * time.Second)
	ctx := ctxT(t)
	h0 := n.Height()
	dr := c.RegisterClinician(ctx, n, "dr-1", 7)
	if n.Height() <= h0 {
		t.Fatalf("height did not advance: %d", n.Height())
	}
	blocks, cancel := n.Subscribe(1024)
	defer cancel()

	var hashes []types.Hash
	for i := range 50 {
		tx := c.SignTx("dr-1", dr, consensustest.Audit("dr-1", "patient-1", i))
		h, err := n.Submit(ctx, tx)
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, h)
	}
	for _, h := range hashes {
		r, err := n.WaitTx(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Result.OK() {
			t.Fatalf("tx %s: %s %s", h, r.Result.Code, r.Result.Reason)
		}
	}
	// A tx by an unregistered signer is refused at admission with its code.
	bad := c.SignTx("nobody", dr, consensustest.Audit("nobody", "patient-1", 0))
	var te *state.TxError
	if _, err := n.Submit(ctx, bad); !errors.As(err, &te) || te.Code != types.CodeUnknownSigner {
		t.Fatalf("unregistered signer: got %v", err)
	}
	// Resubmitting a committed tx returns its receipt, not a second copy.
	again := c.SignTx("dr-1", dr, consensustest.Audit("dr-1", "patient-1", 999))
	r1, err := n.SubmitAndWait(ctx, again)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := n.SubmitAndWait(ctx, again)
	if err != nil || r2.Height != r1.Height || r2.Index != r1.Index || r2.BlockHash != r1.BlockHash || r2.TxHash != r1.TxHash {
		t.Fatalf("resubmit: %+v %v, want %+v", r2, err, r1)
	}

	var trail *state.TrailPage
	if err := n.WithStore(func(st *store.Store) error {
		var err error
		trail, err = state.Trail(st, st, state.TrailQuery{ID: "patient-1", Limit: 1000})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(trail.Entries) != 51 {
		t.Fatalf("trail has %d entries, want 51", len(trail.Entries))
	}
	// Subscribers saw the blocks in order.
	var last uint64
	seen := 0
	for len(blocks) > 0 {
		b := <-blocks
		if b.Block.Header.Height != last+1 && last != 0 {
			t.Fatalf("subscriber saw height %d after %d", b.Block.Header.Height, last)
		}
		last = b.Block.Header.Height
		seen += len(b.Block.Txs)
	}
	if seen != 51 {
		t.Fatalf("subscriber saw %d txs, want 51", seen)
	}
	if err := n.LinearizableBarrier(ctx); err != nil {
		t.Fatal(err)
	}
	c.EnsureSameState()
}

// countChain returns the number of txs over all blocks and checks that the
// chain's log size agrees and no tx hash appears twice with an ok result.
func countChain(t *testing.T, live *store.Store) (txs int, ok map[types.Hash]bool) {
	t.Helper()
	// A snapshot: the node may still apply blocks (a late block of requeued
	// duplicates), and the head, the blocks and the log size must be read at
	// one point in time.
	st, err := live.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	head, _ := st.Head()
	ok = map[types.Hash]bool{}
	for h := uint64(1); h <= head.Height; h++ {
		b, err := st.Block(h)
		if err != nil {
			t.Fatal(err)
		}
		for i, tx := range b.Txs {
			txs++
			if b.Results[i].OK() {
				if ok[tx.Hash()] {
					t.Fatalf("tx %s applied twice", tx.Hash())
				}
				ok[tx.Hash()] = true
			}
		}
	}
	if uint64(txs) != st.LogSize() {
		t.Fatalf("blocks hold %d txs, log size is %d", txs, st.LogSize())
	}
	return txs, ok
}

func TestRestartMidLoadLosesNothingAndAppliesOnce(t *testing.T) {
	c := consensustest.New(t, consensustest.Options{})
	ctx := ctxT(t)
	n := c.WaitLeader(10 * time.Second)
	dr := c.RegisterClinician(ctx, n, "dr-1", 7)

	const per = 60
	var mu sync.Mutex
	acked := map[types.Hash]consensus.Receipt{}
	load := func(round int) {
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range per / 4 {
					tx := c.SignTx("dr-1", dr, consensustest.Audit("dr-1", "p-restart", round*1000+w*100+i))
					for {
						node := c.Running()
						if len(node) == 0 {
							time.Sleep(time.Millisecond)
							continue
						}
						r, err := node[0].SubmitAndWait(ctx, tx)
						if err != nil {
							if ctx.Err() != nil {
								return
							}
							time.Sleep(2 * time.Millisecond) // closed or not leader yet: retry the same tx
							continue
						}
						mu.Lock()
						acked[tx.Hash()] = r
						mu.Unlock()
						break
					}
				}
			}()
		}
		wg.Wait()
	}
	done := make(chan struct{})
	go func() { defer close(done); load(0) }()
	time.Sleep(30 * time.Millisecond)
	c.Restart(0) // in the middle of the load
	<-done
	n = c.WaitLeader(10 * time.Second)

	var before types.Header
	var txsBefore int
	n.WithStore(func(st *store.Store) error {
		before, _ = st.Head()
		txsBefore, _ = countChain(t, st)
		return nil
	})
	// A clean restart re-applies nothing: same head, same log.
	n = c.Restart(0)
	n.WithStore(func(st *store.Store) error {
		head, _ := st.Head()
		if head.Hash() != before.Hash() {
			t.Fatalf("restart changed head: %d %s -> %d %s", before.Height, before.Hash(), head.Height, head.Hash())
		}
		return nil
	})
	n = c.WaitLeader(10 * time.Second)
	n.WithStore(func(st *store.Store) error {
		txs, ok := countChain(t, st)
		if txs != txsBefore {
			t.Fatalf("restart re-applied entries: %d txs before, %d after", txsBefore, txs)
		}
		for h, r := range acked {
			if !ok[h] {
				t.Fatalf("acknowledged tx %s (height %d) is not in the chain", h, r.Height)
			}
		}
		if len(acked) != per {
			t.Fatalf("%d txs acknowledged, want %d", len(acked), per)
		}
		// every ok audit tx is one acked tx (plus the clinician registration)
		if len(ok) != per+1 {
			t.Fatalf("%d txs applied ok, want %d", len(ok), per+1)
		}
		return nil
	})
}

func TestTamperedStateHashHaltsInsteadOfCommitting(t *testing.T) {
	c := consensustest.New(t, consensustest.Options{})
	ctx := ctxT(t)
	n := c.WaitLeader(10 * time.Second)
	dr := c.RegisterClinician(ctx, n, "dr-1", 7)
	before := n.Height()

	tx := c.SignTx("dr-1", dr, consensustest.Audit("dr-1", "p", 1))
	b, _, err := n.BuildBlock([]*types.Tx{tx}, time.Now().UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	b.Header.StateHash[0] ^= 0xff
	if err := b.Sign(c.NodeKeys[0]); err != nil { // a validly signed but wrong header
		t.Fatal(err)
	}
	f := n.Raft().Apply(consensus.EncodeBlockEntry(b), 5*time.Second)
	if err := f.Error(); err != nil {
		t.Fatal(err)
	}
	res := f.Response().(*consensus.ApplyResult)
	if !errors.Is(res.Err, consensus.ErrHalted) || !errors.Is(res.Err, consensus.ErrDivergence) {
		t.Fatalf("apply result %v, want ErrHalted wrapping ErrDivergence", res.Err)
	}
	if n.Height() != before {
		t.Fatalf("tampered block committed: height %d -> %d", before, n.Height())
	}
	if !errors.Is(n.Err(), consensus.ErrHalted) {
		t.Fatalf("node error %v, want ErrHalted", n.Err())
	}
	if _, err := n.Submit(ctx, c.SignTx("dr-1", dr, consensustest.Audit("dr-1", "p", 2))); !errors.Is(err, consensus.ErrHalted) {
		t.Fatalf("submit on a halted node: %v, want ErrHalted", err)
	}
	if err := n.Snapshot(); err == nil {
		t.Fatal("a halted node took a snapshot")
	}
}

func TestSecondBlockForAHeightIsRejectedAndItsTxsRetried(t *testing.T) {
	c := consensustest.New(t, consensustest.Options{})
	ctx := ctxT(t)
	n := c.WaitLeader(10 * time.Second)
	dr := c.RegisterClinician(ctx, n, "dr-1", 7)
	n = reconfigure(c, func(cfg *consensus.Config) { cfg.MaxBlockDelay = time.Hour }) // only the test proposes
	before := n.Height()
	txA := c.SignTx("dr-1", dr, consensustest.Audit("dr-1", "p", 1))
	txB := c.SignTx("dr-1", dr, consensustest.Audit("dr-1", "p", 2))
	now := time.Now().UnixMilli()
	a, _, err := n.BuildBlock([]*types.Tx{txA}, now)
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := n.BuildBlock([]*types.Tx{txB}, now)
	if err != nil {
		t.Fatal(err)
	}
	if a.Header.Height != b.Header.Height {
		t.Fatal("blocks built for different heights")
	}
	apply := func(blk *types.Block) *consensus.ApplyResult {
		f := n.Raft().Apply(consensus.EncodeBlockEntry(blk), 5*time.Second)
		if err := f.Error(); err != nil {
			t.Fatal(err)
		}
		return f.Response().(*consensus.ApplyResult)
	}
	if r := apply(a); r.Err != nil || r.Height != before+1 {
		t.Fatalf("first block: %+v", r)
	}
	r := apply(b)
	if !errors.Is(r.Err, consensus.ErrRejected) {
		t.Fatalf("second block for height %d: %v, want ErrRejected", b.Header.Height, r.Err)
	}
	if n.Err() != nil {
		t.Fatalf("a rejected block halted the node: %v", n.Err())
	}
	if n.Height() != before+1 {
		t.Fatalf("height %d, want %d", n.Height(), before+1)
	}
	// Rejection is deterministic: re-applying the same entry rejects it again.
	if r := apply(b); !errors.Is(r.Err, consensus.ErrRejected) {
		t.Fatalf("re-applied: %v", r.Err)
	}
	// The rejected block's tx went back to the proposer's mempool.
	if n.MempoolLen() != 1 {
		t.Fatalf("mempool has %d txs, want the rejected block's 1", n.MempoolLen())
	}
}

func TestMempoolFullReturnsErrBusy(t *testing.T) {
	c := consensustest.New(t, consensustest.Options{})
	ctx := ctxT(t)
	n := c.WaitLeader(10 * time.Second)
	dr := c.RegisterClinician(ctx, n, "dr-1", 7)
	// A tiny mempool that only a long delay would drain.
	n = reconfigure(c, func(cfg *consensus.Config) { cfg.MempoolSize, cfg.MaxBlockDelay = 3, time.Hour })
	for i := range 3 {
		if _, err := n.Submit(ctx, c.SignTx("dr-1", dr, consensustest.Audit("dr-1", "p", i))); err != nil {
			t.Fatal(err)
		}
	}
	_, err := n.Submit(ctx, c.SignTx("dr-1", dr, consensustest.Audit("dr-1", "p", 3)))
	if !errors.Is(err, consensus.ErrBusy) {
		t.Fatalf("got %v, want ErrBusy", err)
	}
	want := "mempool full (3 txs), retry later"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not say %q", err, want)
	}
}

// reconfigure restarts node 0 with edited config.
func reconfigure(c *consensustest.Cluster, edit func(*consensus.Config)) *consensus.Node {
	c.Stop(0)
	edit(&c.Configs[0])
	c.Start(0)
	return c.WaitLeader(10 * time.Second)
}
