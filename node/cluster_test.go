package node_test

import (
	"context"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/node/nodetest"
	"github.com/medchain/medchain/node/rpc"
)

func auditRec(i int) *types.AuditRecord {
	return &types.AuditRecord{EventType: "data_access", Patient: "patient123", Actor: "doctor456", Action: "view_record",
		Purpose: "treatment", Outcome: "success", Details: map[string]string{"n": string(rune('a' + i%26))}}
}

// TestClusterReplicatesSameChain: a tx submitted with wait on any node
// (followers forward to the leader) commits, and all three nodes reach the
// same head hash, state hash and log root at the same height.
func TestClusterReplicatesSameChain(t *testing.T) {
	if testing.Short() && testing.Verbose() {
		t.Log("3 nodes over libp2p on 127.0.0.1")
	}
	c := nodetest.StartCluster(t, 3, 1, 1, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i, n := range c.Nodes {
		s := n.Client.Signer("doctor456", c.Key("doctor456"))
		r, err := s.Send(ctx, auditRec(i))
		if err != nil {
			t.Fatalf("submit on node %d: %v", i+1, err)
		}
		if !r.Result.OK() {
			t.Fatalf("node %d: %+v", i+1, r.Result)
		}
	}
	h := c.WaitSameHead(1, 10*time.Second)
	t.Logf("all nodes at height %d", h)
	// Linearizable read on a follower sees the three events.
	f := (c.Leader() + 1) % 3
	page, err := c.Nodes[f].Client.Trail(ctx, rpc.TrailParams{Patient: "patient123", Consistency: rpc.ConsistencyLinearizable})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != 3 {
		t.Fatalf("follower linearizable trail: %d entries, want 3", len(page.Entries))
	}
}
