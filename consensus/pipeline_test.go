package consensus_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/store"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/consensus"
	"github.com/medchain/medchain/consensus/consensustest"
)

// TestPipelinedProposalsAcrossLeaderChangesLoseNothing runs a three-node
// cluster whose leaders keep two blocks in flight (block N+1 built on N's
// outcome before N applies) under concurrent load with duplicate
// submissions, moving leadership twice in the middle. Followers re-execute
// every block from its entry and halt on any difference, so equal heads and
// state hashes mean the pipelined outcomes equal plain execution; every
// acknowledged tx is in the chain and no tx applies twice.
func TestPipelinedProposalsAcrossLeaderChangesLoseNothing(t *testing.T) {
	c := consensustest.New(t, consensustest.Options{N: 3, Configure: func(_ int, cfg *consensus.Config) {
		cfg.MaxBlockTxs = 8
		cfg.MaxBlockDelay = time.Millisecond
		cfg.MaxBlocksInFlight = 2
		cfg.MempoolSize = 5000
	}})
	ctx := ctxT(t)
	n := c.WaitLeader(10 * time.Second)
	dr := c.RegisterClinician(ctx, n, "dr-1", 7)

	const workers, per = 48, 8
	txs := make([]*types.Tx, workers*per)
	for i := range txs {
		txs[i] = c.SignTx("dr-1", dr, consensustest.Audit("dr-1", fmt.Sprintf("p-pipe-%d", i%7), i))
	}
	var mu sync.Mutex
	acked := map[types.Hash]consensus.Receipt{}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				// every worker also resubmits its neighbour's tx: duplicates
				// land in later blocks, some built on a block still in flight
				for _, tx := range []*types.Tx{txs[w*per+i], txs[((w+1)%workers)*per+i]} {
					for ctx.Err() == nil {
						// A tx requeued on a leader that then lost leadership waits
						// in that node's mempool: like an RPC client (WaitTimeout),
						// give up after a while and retry on the current leader.
						actx, cancel := context.WithTimeout(ctx, time.Second)
						r, err := c.WaitLeader(10*time.Second).SubmitAndWait(actx, tx)
						cancel()
						if err != nil {
							time.Sleep(2 * time.Millisecond) // not leader, uncertain or busy: retry the same tx
							continue
						}
						mu.Lock()
						if prev, ok := acked[tx.Hash()]; ok && (prev.Height != r.Height || prev.Index != r.Index) {
							mu.Unlock()
							t.Errorf("tx %s acknowledged at %d/%d and at %d/%d", tx.Hash(), prev.Height, prev.Index, r.Height, r.Index)
							return
						}
						acked[tx.Hash()] = r
						mu.Unlock()
						break
					}
				}
			}
		}()
	}
	for range 2 {
		time.Sleep(60 * time.Millisecond)
		if err := c.WaitLeader(10 * time.Second).LeadershipTransfer(); err != nil {
			t.Logf("leadership transfer: %v", err)
		}
	}
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatal(ctx.Err())
	}
	leader := c.WaitLeader(10 * time.Second)
	c.WaitHeight(leader.Height(), 10*time.Second)
	c.EnsureSameState()
	for _, node := range c.Running() {
		node.WithStore(func(st *store.Store) error {
			_, ok := countChain(t, st)
			for h, r := range acked {
				if !ok[h] {
					t.Fatalf("acknowledged tx %s (height %d) is not in the chain", h, r.Height)
				}
			}
			if len(acked) != len(txs) {
				t.Fatalf("%d txs acknowledged, want %d", len(acked), len(txs))
			}
			if len(ok) != len(txs)+1 { // plus the clinician registration
				t.Fatalf("%d txs applied ok, want %d", len(ok), len(txs)+1)
			}
			return nil
		})
	}
}
