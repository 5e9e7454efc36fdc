package node_test

import (
	"context"
	"crypto/rand"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/node/client"
	"github.com/medchain/medchain/node/nodetest"
	"github.com/medchain/medchain/node/rpc"
	"github.com/medchain/medchain/p2p"
)

// headOf returns node i's head hash.
func headOf(c *nodetest.Cluster, i int) types.Hash {
	h, _ := c.Nodes[i].Consensus().Store().Head()
	return h.Hash()
}

// outsider starts a libp2p peer that knows the cluster's genesis node
// records (so it will dial them) and signs handshakes with key as nodeID.
func outsider(t *testing.T, c *nodetest.Cluster, nodeID string, key *crypto.PrivateKey) *p2p.Node {
	t.Helper()
	reg := &p2p.MemRegistry{}
	recs, err := c.Nodes[0].Nodes()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		pid, err := peer.Decode(r.PeerID)
		if err != nil {
			t.Fatal(err)
		}
		reg.Put(p2p.NodeRecord{NodeID: r.NodeID, PeerID: pid, PublicKey: r.PublicKey, Role: p2p.RoleVoter, Addrs: r.Addrs})
	}
	cfg := p2p.TestConfig(c.Nodes[0].Genesis().ChainID, nodeID)
	pn, err := p2p.New(cfg, key, reg)
	if err != nil {
		t.Fatal(err)
	}
	// The outsider believes it is admitted: it lists itself, as an attacker would.
	reg.Put(p2p.NodeRecord{NodeID: nodeID, PeerID: pn.ID(), PublicKey: key.Public(), Role: p2p.RoleVoter})
	t.Cleanup(func() { pn.Close() })
	return pn
}

// TestClusterRefusesAttacks: each attack on a running 3-node cluster is
// refused and leaves the chain unchanged. The replayed or stale handshake
// transcript is covered at the p2p layer (p2p TestReplayedOrStaleHandshakeIsRefused,
// TestNonceCacheRefusesReplayUntilExpiry); a removed node reconnecting by
// TestJoinApproveRemoveFlow.
func TestClusterRefusesAttacks(t *testing.T) {
	c := nodetest.StartCluster(t, 3, 1, 1, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if r, err := c.Nodes[0].Client.Signer("doctor456", c.Key("doctor456")).Send(ctx, auditRec(0)); err != nil || !r.Result.OK() {
		t.Fatalf("warm-up tx: %+v %v", r, err)
	}
	height := c.WaitSameHead(1, 10*time.Second)
	before := headOf(c, 0)
	l := c.Leader()
	leaderPID := c.Nodes[l].P2P().ID()

	t.Run("peer with a valid libp2p key but no admission", func(t *testing.T) {
		k, _ := crypto.GenerateKey(crypto.MLDSA65, rand.Reader)
		pn := outsider(t, c, "intruder", k)
		if _, err := pn.Connect(ctx, leaderPID); err == nil {
			t.Fatal("an unadmitted peer connected")
		}
		if _, err := pn.ForwardTx(ctx, leaderPID, []byte{1, 2, 3}); err == nil {
			t.Fatal("an unadmitted peer forwarded a tx")
		}
	})

	t.Run("peer presenting another node's record", func(t *testing.T) {
		k, err := crypto.LoadKey(filepath.Join(c.Dir, "node-2", node.KeysDir, "node.key"))
		if err != nil {
			t.Fatal(err)
		}
		// node-2's ML-DSA key and node id, but its own libp2p identity.
		pn := outsider(t, c, "node-2", k)
		if _, err := pn.Connect(ctx, leaderPID); err == nil {
			t.Fatal("a peer claiming node-2's record connected")
		}
	})

	t.Run("join request with a bad signature", func(t *testing.T) {
		k, _ := crypto.GenerateKey(crypto.MLDSA65, rand.Reader)
		j := &types.NodeJoin{NodeID: "node-9", PublicKey: k.Public(), PeerID: "12D3KooWbad", Role: types.NodeRoleVoter}
		tx, _ := types.NewTx(c.Nodes[0].Genesis().ChainID, "node-9", j, time.Now(), 1)
		other, _ := crypto.GenerateKey(crypto.MLDSA65, rand.Reader)
		if err := tx.Sign(other); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			_, err := c.Nodes[i].Client.Submit(ctx, tx, true)
			if code, data, _ := client.RPCError(err); err == nil || code != rpc.CodeTxRejected {
				t.Fatalf("node-%d: bad join signature: %v (code %d, %v)", i+1, err, code, data)
			}
		}
		if r, _ := state.GetNode(c.Nodes[l].Consensus().Store(), "node-9"); r != nil {
			t.Fatal("a join with a bad signature created a record")
		}
	})

	t.Run("approval from a non-admin", func(t *testing.T) {
		_, err := c.Nodes[0].Client.Signer("doctor456", c.Key("doctor456")).Send(ctx, &types.NodeApprove{NodeID: "node-2"})
		if code, _, _ := client.RPCError(err); code != rpc.CodeTxRejected {
			t.Fatalf("clinician approval: %v", err)
		}
	})

	t.Run("forwarded tx that fails verification on the leader", func(t *testing.T) {
		f := (l + 1) % 3
		tx, err := c.Nodes[f].Client.Signer("doctor456", c.Key("doctor456")).Build(auditRec(7))
		if err != nil {
			t.Fatal(err)
		}
		tx.Signature.Sig[3] ^= 0x40 // a follower would catch it; send it straight over p2p
		_, err = c.Nodes[f].P2P().ForwardTx(ctx, leaderPID, tx.Encode())
		if !errors.Is(err, p2p.ErrRemote) {
			t.Fatalf("leader accepted a forwarded tx with a bad signature: %v", err)
		}
		if c.Nodes[l].Consensus().Pending(tx.Hash()) {
			t.Fatal("the bad tx is in the leader's mempool")
		}
		if _, err := c.Nodes[f].P2P().ForwardTx(ctx, leaderPID, []byte("not a tx")); !errors.Is(err, p2p.ErrRemote) {
			t.Fatalf("leader accepted garbage: %v", err)
		}
	})

	time.Sleep(200 * time.Millisecond)
	if h := c.WaitSameHead(height, 5*time.Second); h != height || headOf(c, 0) != before {
		t.Fatalf("an attack changed the chain: height %d -> %d", height, h)
	}
}
