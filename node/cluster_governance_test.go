package node_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/node/client"
	"github.com/medchain/medchain/node/nodetest"
	"github.com/medchain/medchain/node/rpc"
)

// TestRemovalThatWouldLoseQuorumIsRefused: with one of three voters down,
// removing a live voter would leave two voters of which one answers, so the
// removal is refused at submission with the reason, on the leader and on a
// follower, and nothing changes on chain; removing the voter that is down
// leaves a live quorum and goes through.
func TestRemovalThatWouldLoseQuorumIsRefused(t *testing.T) {
	c := nodetest.StartCluster(t, 3, 1, 1, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	l := c.Leader()
	down := (l + 2) % 3
	live := (l + 1) % 3
	downID, liveID := c.Configs[down].Node.ID, c.Configs[live].Node.ID
	c.Stop(down)

	for _, via := range []int{l, live} {
		_, err := c.Nodes[via].Client.Signer("admin", c.Key("admin")).Send(ctx, &types.NodeRemove{NodeID: liveID, Reason: "test"})
		code, _, _ := client.RPCError(err)
		if code != rpc.CodeTxRejected || !strings.Contains(err.Error(), "quorum needs 2") {
			t.Fatalf("removing live %s through node %d with %s down: %v (code %d), want a refusal naming the quorum", liveID, via+1, downID, err, code)
		}
	}
	// A tx_submitBatch carrying the removal refuses it alone.
	rmTx, err := c.Nodes[l].Client.Signer("admin", c.Key("admin")).Build(&types.NodeRemove{NodeID: liveID})
	if err != nil {
		t.Fatal(err)
	}
	okTx, err := c.Nodes[l].Client.Signer("doctor456", c.Key("doctor456")).Build(auditRec(1))
	if err != nil {
		t.Fatal(err)
	}
	items, err := c.Nodes[l].Client.SubmitMany(ctx, []*types.Tx{okTx, rmTx}, true)
	if err != nil {
		t.Fatal(err)
	}
	if items[0].Error != nil || items[1].Error == nil || items[1].Error.Code != rpc.CodeTxRejected {
		t.Fatalf("batch with a refused removal: %+v / %+v", items[0], items[1].Error)
	}
	if r, _ := state.GetNode(c.Nodes[l].Consensus().Store(), liveID); r == nil || r.Status != state.NodeAdmitted || len(r.Removals) != 0 {
		t.Fatalf("a refused removal changed %s's record: %+v", liveID, r)
	}

	// Removing the node that is down leaves two live voters of two.
	r, err := c.Nodes[l].Client.Signer("admin", c.Key("admin")).Send(ctx, &types.NodeRemove{NodeID: downID, Reason: "lost disk"})
	if err != nil || !r.Result.OK() {
		t.Fatalf("removing the stopped voter %s: %+v %v", downID, r, err)
	}
	waitFor(t, downID+" out of the Raft configuration", 15*time.Second, func() bool {
		return c.Leader() >= 0 && suffrage(t, c, downID) == "" && suffrage(t, c, liveID) == "Voter"
	})
}
