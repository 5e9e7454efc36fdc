package node_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/node/config"
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

func waitFor(t *testing.T, what string, timeout time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if ok() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s", timeout, what)
}

func suffrage(t *testing.T, c *nodetest.Cluster, id string) string {
	t.Helper()
	l := c.Leader()
	if l < 0 {
		return ""
	}
	servers, err := c.Nodes[l].Consensus().Servers()
	if err != nil {
		return ""
	}
	for _, s := range servers {
		if string(s.ID) == id {
			return s.Suffrage.String()
		}
	}
	return ""
}

// TestJoinApproveRemoveFlow: a node asks to join (signed by its own new
// key), is refused by every member until two of three admins approve, is
// then added as a non-voter, promoted to voter once caught up, takes txs; a
// removal at the same threshold takes it out of Raft and disconnects it, and
// it cannot reconnect.
func TestJoinApproveRemoveFlow(t *testing.T) {
	c := nodetest.StartCluster(t, 3, 3, 2, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	port := nodetest.FreePorts(t, 1)[0]
	base := config.DefaultConfig()
	nodetest.FastConfig(&base)
	base.P2P.Listen = []string{fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port)}
	jr, err := node.Join(node.JoinOptions{DataDir: filepath.Join(t.TempDir(), "node-4"), NodeID: "node-4", Region: "us-east",
		Genesis: c.Nodes[0].Genesis(), Bootstrap: c.Peers, Config: &base})
	if err != nil {
		t.Fatal(err)
	}
	// Submitted through a member's RPC (any node: followers forward).
	res, err := c.Nodes[(c.Leader()+1)%3].Client.Submit(ctx, jr.Tx, true)
	if err != nil || res.Receipt == nil || !res.Receipt.Result.OK() {
		t.Fatalf("join request: %+v %v", res, err)
	}
	n4 := c.StartJoined(jr.Config, "node-4")
	pid4, _ := peer.Decode(jr.PeerID)

	// Pending: no member lets it in.
	time.Sleep(300 * time.Millisecond)
	if s := suffrage(t, c, "node-4"); s != "" {
		t.Fatalf("pending node is in the Raft configuration as %s", s)
	}
	if _, err := n4.P2P().Connect(ctx, c.Nodes[0].P2P().ID()); err == nil {
		t.Fatal("a member accepted a connection from a pending node")
	}
	st, err := c.Nodes[0].Client.ClusterStatus(ctx)
	if err != nil || len(st.Pending) != 1 || st.Pending[0] != "node-4" {
		t.Fatalf("cluster status pending: %+v %v", st, err)
	}

	// Approval from a non-admin is refused and changes nothing.
	if _, err := c.Nodes[0].Client.Signer("doctor456", c.Key("doctor456")).Send(ctx, &types.NodeApprove{NodeID: "node-4"}); err == nil {
		t.Fatal("approval from a clinician accepted")
	}
	// One admin: still pending. Second admin: admitted.
	if r, err := c.Nodes[1].Client.Signer("admin", c.Key("admin")).Send(ctx, &types.NodeApprove{NodeID: "node-4"}); err != nil || !r.Result.OK() {
		t.Fatalf("approve 1: %+v %v", r, err)
	}
	time.Sleep(300 * time.Millisecond)
	if s := suffrage(t, c, "node-4"); s != "" {
		t.Fatalf("node added below the threshold as %s", s)
	}
	if r, err := c.Nodes[2].Client.Signer("admin-2", c.Key("admin-2")).Send(ctx, &types.NodeApprove{NodeID: "node-4"}); err != nil || !r.Result.OK() {
		t.Fatalf("approve 2: %+v %v", r, err)
	}
	waitFor(t, "node-4 promoted to voter", 20*time.Second, func() bool { return suffrage(t, c, "node-4") == "Voter" })
	// Any voter may lead, and a leader needs the cluster data key to cut a
	// block that names a patient: a node votes only once it holds the key.
	if _, err := n4.ClusterKey(); err != nil {
		t.Fatalf("node-4 became a voter without the cluster data key: %v", err)
	}
	c.Nodes = append(c.Nodes, n4)
	if r, err := n4.Client.Signer("doctor456", c.Key("doctor456")).Send(ctx, auditRec(4)); err != nil || !r.Result.OK() {
		t.Fatalf("tx through the new node: %+v %v", r, err)
	}
	c.WaitSameHead(1, 10*time.Second)
	st, err = n4.Client.ClusterStatus(ctx)
	if err != nil || len(st.Members) != 4 {
		t.Fatalf("status from the new node: %+v %v", st, err)
	}
	for _, m := range st.Members {
		if m.Error != "" || m.State == "" {
			t.Fatalf("member %s: %+v", m.NodeID, m)
		}
	}

	// Removal at the threshold: out of Raft, disconnected, refused after.
	rm := func(admin string) {
		if r, err := c.Nodes[0].Client.Signer(admin, c.Key(admin)).Send(ctx, &types.NodeRemove{NodeID: "node-4", Reason: "decommissioned"}); err != nil || !r.Result.OK() {
			t.Fatalf("remove by %s: %+v %v", admin, r, err)
		}
	}
	rm("admin")
	if s := suffrage(t, c, "node-4"); s != "Voter" {
		t.Fatalf("removed below the threshold: %q", s)
	}
	rm("admin-3")
	removedAt := time.Now()
	waitFor(t, "members disconnect node-4", 5*time.Second, func() bool {
		for _, n := range c.Nodes[:3] {
			if _, ok := n.P2P().Authenticated(pid4); ok {
				return false
			}
		}
		return true
	})
	t.Logf("node-4 disconnected by every member %v after the removal committed", time.Since(removedAt).Round(time.Millisecond))
	if time.Since(removedAt) > time.Second+500*time.Millisecond {
		t.Errorf("disconnect took %v, want about a second at most", time.Since(removedAt))
	}
	waitFor(t, "node-4 out of the Raft configuration", 10*time.Second, func() bool { return suffrage(t, c, "node-4") == "" })
	// node-4 may briefly hold its view of the closed connection; once it
	// notices, every reconnection attempt is refused by the members.
	waitFor(t, "node-4 to see the disconnection", 5*time.Second, func() bool {
		_, err := n4.P2P().Connect(ctx, c.Nodes[0].P2P().ID())
		return err != nil
	})
	for i := range 3 {
		if _, err := n4.P2P().Connect(ctx, c.Nodes[i].P2P().ID()); err == nil {
			t.Fatalf("removed node-4 reconnected to node-%d", i+1)
		}
		if _, ok := c.Nodes[i].P2P().Authenticated(pid4); ok {
			t.Fatalf("node-%d authenticated the removed node-4", i+1)
		}
	}
	c.Nodes = c.Nodes[:3]
	c.WaitSameHead(1, 10*time.Second)
}
