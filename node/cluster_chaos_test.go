package node_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/node/client"
	"github.com/medchain/medchain/node/nodetest"
)

// TestLeaderKilledUnderLoadLosesNoAcknowledgedTx: clients write through all
// three nodes; the leader is closed abruptly mid-load; a new leader is
// elected, the old one restarts and catches up, and every tx acknowledged as
// committed is in the chain of every node, applied exactly once.
func TestLeaderKilledUnderLoadLosesNoAcknowledgedTx(t *testing.T) {
	c := nodetest.StartCluster(t, 3, 1, 1, nil)
	key := c.Key("doctor456")
	clients := make([]*client.Client, 3)
	for i, n := range c.Nodes {
		cl, err := client.Dial(context.Background(), n.URL, n.ClientOptions()...)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		clients[i] = cl
	}
	var mu sync.Mutex
	var acked []types.Hash
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			s := clients[w%3].Signer("doctor456", key)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				r, err := s.Send(ctx, auditRec(w*100000+i))
				cancel()
				if err != nil {
					time.Sleep(20 * time.Millisecond) // its node is down or between leaders
					continue
				}
				mu.Lock()
				acked = append(acked, r.TxHash)
				mu.Unlock()
			}
		})
	}
	time.Sleep(800 * time.Millisecond)
	l := c.Leader()
	killedAt := time.Now()
	c.Stop(l)
	newLeader := -1
	for time.Since(killedAt) < 10*time.Second && newLeader < 0 {
		newLeader = c.Leader()
		time.Sleep(5 * time.Millisecond)
	}
	if newLeader < 0 {
		t.Fatal("no new leader within 10s")
	}
	t.Logf("node-%d killed; node-%d leads after %v", l+1, newLeader+1, time.Since(killedAt).Round(time.Millisecond))
	time.Sleep(800 * time.Millisecond)
	c.Start(l)
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(acked) < 20 {
		t.Fatalf("only %d txs acknowledged: the load did not run", len(acked))
	}
	height := c.WaitSameHead(1, 20*time.Second)
	for i, n := range c.Nodes {
		for _, h := range acked {
			if _, err := n.Consensus().Receipt(h); err != nil {
				t.Fatalf("node-%d: acknowledged tx %s lost: %v", i+1, h, err)
			}
		}
	}
	// Exactly once: count OK occurrences in the blocks of one node.
	seen := map[types.Hash]int{}
	st := c.Nodes[newLeader].Consensus().Store()
	for ht := uint64(1); ht <= height; ht++ {
		b, err := st.Block(ht)
		if err != nil {
			t.Fatal(err)
		}
		for i, tx := range b.Txs {
			if b.Results[i].OK() {
				seen[tx.Hash()]++
			}
		}
	}
	for _, h := range acked {
		if seen[h] != 1 {
			t.Fatalf("acknowledged tx %s applied %d times", h, seen[h])
		}
	}
	t.Logf("%d acknowledged txs, all present once on 3 nodes at height %d", len(acked), height)
}

// TestFollowerRidesOutAnElection: a tx submitted with wait through a
// follower right after the leader stops is held by the follower until a new
// leader takes it (forwardPatience), and commits: the client sees no
// -32014 unavailable for an election, whichever node wins it (the follower
// itself included, which then admits the tx instead of forwarding it).
func TestFollowerRidesOutAnElection(t *testing.T) {
	c := nodetest.StartCluster(t, 3, 1, 1, nil)
	l := c.Leader()
	f := (l + 1) % 3
	cl, err := client.Dial(context.Background(), c.Nodes[f].URL, c.Nodes[f].ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	s := cl.Signer("doctor456", c.Key("doctor456"))
	c.Stop(l)
	stopped := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := s.Send(ctx, auditRec(1))
	if err != nil {
		t.Fatalf("submitted through node-%d %v after the leader stopped: %v", f+1, time.Since(stopped).Round(time.Millisecond), err)
	}
	if !r.Result.OK() {
		t.Fatalf("result %+v", r.Result)
	}
	t.Logf("committed at height %d, %v after the leader stopped", r.Height, time.Since(stopped).Round(time.Millisecond))
}
