package nodetest

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/node/client"
	"github.com/medchain/medchain/node/config"
)

// Cluster is N in-process nodes replicating one chain over real libp2p
// connections on 127.0.0.1 (node.InitCluster: genesis node records, Raft
// over p2p, dev identities). Nodes[i] is nil while node i is stopped.
type Cluster struct {
	t       testing.TB
	Dir     string
	Configs []config.Config
	Nodes   []*Node
	Peers   []string // full multiaddrs of the initial nodes
}

// FreePorts returns n TCP ports on 127.0.0.1 that were free a moment ago.
// They are drawn below the kernel's ephemeral range (32768-60999 on Linux):
// a port the kernel handed out and took back can be handed out again at
// once as the local end of any outgoing connection (and the tests make
// many), so between this check and the node's own listen it was often
// taken ("address already in use"). Below the range only another listener
// can take it.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for tries := 0; len(ports) < n; tries++ {
		if tries > 1000 {
			t.Fatalf("no free port found in %d tries", tries)
		}
		port := 20000 + rand.IntN(12000)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue // taken: draw another
		}
		ls = append(ls, l)
		ports = append(ports, port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// FastConfig shortens the timeouts of a cluster node's config for tests.
func FastConfig(c *config.Config) {
	c.RPC.Listen = "127.0.0.1:0"
	c.Consensus.MaxBlockDelay = config.Duration(2 * time.Millisecond)
	c.Store.CacheMB = 16
	c.P2P.ReauthenticationInterval = config.Duration(30 * time.Second)
	allowTestLoad(c)
}

// StartCluster initializes an n-node chain (admins admins, approval
// threshold threshold) and starts every node; it returns once one leads.
func StartCluster(t testing.TB, n, admins, threshold int, configure func(i int, c *config.Config)) *Cluster {
	t.Helper()
	dir := t.TempDir()
	ports := FreePorts(t, n)
	res, err := node.InitCluster(node.ClusterInitOptions{Dir: dir, N: n, Dev: true, Algorithm: crypto.MLDSA65,
		Admins: admins, Threshold: threshold, P2PPorts: ports,
		Configure: func(i int, c *config.Config) {
			FastConfig(c)
			if configure != nil {
				configure(i, c)
			}
		}})
	if err != nil {
		t.Fatalf("init cluster: %v", err)
	}
	c := &Cluster{t: t, Dir: dir, Configs: res.Configs, Nodes: make([]*Node, n), Peers: res.Peers}
	for i := range n {
		c.Start(i)
	}
	c.WaitLeader(20 * time.Second)
	return c
}

// Start starts (or restarts) node i on its data dir.
func (c *Cluster) Start(i int) *Node {
	c.t.Helper()
	c.Nodes[i] = startNode(c.t, c.Configs[i], fmt.Sprintf("node-%d", i+1), "", c.Dir)
	return c.Nodes[i]
}

// StartNode opens a node with its own transport (p2p when configured),
// serves JSON-RPC and dials a client; it does not wait for a leader.
func StartNode(t testing.TB, cfg config.Config, name string) *Node {
	t.Helper()
	return startNode(t, cfg, name, "", "")
}

// StartJoined starts a node that joined the cluster (node.Join) with
// StartNode; its clients sign with the cluster's dev keys (node 1's), since
// a joined node's data dir holds only its own.
func (c *Cluster) StartJoined(cfg config.Config, name string) *Node {
	c.t.Helper()
	return startNode(c.t, cfg, name, filepath.Join(c.Dir, "node-1", node.KeysDir), c.Dir)
}

func startNode(t testing.TB, cfg config.Config, name, keyDir, secretDir string) *Node {
	t.Helper()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})).With("n", name)
	n, err := node.Open(cfg, node.Options{Logger: log})
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	if err := n.Listen(); err != nil {
		n.Close()
		t.Fatalf("listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tn := &Node{Node: n, Config: cfg, URL: n.RPCURL(), cancel: cancel, done: make(chan error, 1), keyDir: keyDir, secretDir: secretDir}
	go func() { tn.done <- n.Run(ctx) }()
	dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer dcancel()
	cl, err := client.Dial(dctx, tn.URL, tn.ClientOptions()...)
	if err != nil {
		tn.Stop()
		t.Fatal(err)
	}
	tn.Client = cl
	t.Cleanup(func() { tn.Stop() })
	return tn
}

// Stop stops node i (a clean close; for the tests a crash of the process
// is the same: Raft and the store are durable at every acknowledged commit).
func (c *Cluster) Stop(i int) {
	c.t.Helper()
	if c.Nodes[i] != nil {
		c.Nodes[i].Stop()
		c.Nodes[i] = nil
	}
}

// Leader returns the index of the node that leads and is ready, or -1.
func (c *Cluster) Leader() int {
	for i, n := range c.Nodes {
		if n != nil && n.Consensus().Ready() {
			return i
		}
	}
	return -1
}

// WaitLeader waits until a node leads and every running node knows a leader.
func (c *Cluster) WaitLeader(timeout time.Duration) int {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if l := c.Leader(); l >= 0 {
			all := true
			for _, n := range c.Nodes {
				if n != nil && !n.Status().Ready {
					all = false
				}
			}
			if all {
				return l
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("no leader within %v", timeout)
	return -1
}

// Key loads a shared (admin or demo) key from node 0's data dir.
func (c *Cluster) Key(id string) *crypto.PrivateKey {
	c.t.Helper()
	k, err := crypto.LoadKey(filepath.Join(c.Dir, "node-1", node.KeysDir, id+".key"))
	if err != nil {
		c.t.Fatal(err)
	}
	return k
}

// WaitSameHead waits until every running node has the same height (at least
// min), head hash, state hash and log root, and returns the height.
func (c *Cluster) WaitSameHead(min uint64, timeout time.Duration) uint64 {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		var ref string
		var h uint64
		same := true
		for _, n := range c.Nodes {
			if n == nil {
				continue
			}
			hd, ok := n.Consensus().Store().Head()
			if !ok {
				same = false
				break
			}
			s := fmt.Sprintf("%d/%s/%s/%d/%s", hd.Height, hd.Hash(), hd.StateHash, hd.LogSize, hd.LogRoot)
			if ref == "" {
				ref, h = s, hd.Height
			} else if s != ref {
				same = false
				last = ref + " vs " + s
			}
		}
		if same && h >= min {
			return h
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("nodes did not converge within %v: %s", timeout, last)
	return 0
}
