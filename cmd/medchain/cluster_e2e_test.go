package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/node/client"
)

// consecutiveFreePorts returns a base port such that base..base+n-1 are free
// on 127.0.0.1 for TCP and UDP (libp2p listens on both) a moment ago.
func consecutiveFreePorts(t *testing.T, n int) int {
	t.Helper()
	for range 200 {
		base := 20000 + rand.IntN(30000)
		ok := true
		var closers []func() error
		for p := base; p < base+n && ok; p++ {
			addr := "127.0.0.1:" + strconv.Itoa(p)
			l, err := net.Listen("tcp", addr)
			if err != nil {
				ok = false
				break
			}
			closers = append(closers, l.Close)
			u, err := net.ListenPacket("udp", addr)
			if err != nil {
				ok = false
				break
			}
			closers = append(closers, u.Close)
		}
		for _, c := range closers {
			_ = c()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no run of free ports found")
	return 0
}

// startClusterNode starts medchain start on one node of a cluster init data
// dir without waiting for readiness (a lone node of three cannot elect a
// leader). Cleanup kills it by PID.
func startClusterNode(t *testing.T, dataDir, rpcURL string, env ...string) *nodeProc {
	t.Helper()
	logf, err := os.OpenFile(filepath.Join(dataDir, "e2e-node.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(medchainBin(t), "start", "--data-dir", dataDir)
	cmd.Env = cleanEnv(env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start node: %v", err)
	}
	n := &nodeProc{t: t, dataDir: dataDir, rpcURL: rpcURL, logPath: logf.Name(), cmd: cmd, done: make(chan struct{})}
	go func() {
		n.waitErr = cmd.Wait()
		logf.Close()
		close(n.done)
	}()
	t.Cleanup(func() {
		if !n.exited() {
			_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
			<-n.done
		}
	})
	return n
}

// clusterLeader asks each live node for cluster status and returns the index
// of the node that every answering node names as leader, or -1.
func clusterLeader(ctx context.Context, nodes []*nodeProc, clients []*client.Client) int {
	leader := ""
	for i, n := range nodes {
		if n == nil || n.exited() {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := clients[i].ClusterStatus(cctx)
		cancel()
		if err != nil || st.Leader == "" || (leader != "" && st.Leader != leader) {
			return -1
		}
		leader = st.Leader
	}
	for i := range nodes {
		if leader == fmt.Sprintf("node-%d", i+1) && nodes[i] != nil && !nodes[i].exited() {
			return i
		}
	}
	return -1
}

// TestClusterLeaderSIGKILLUnderLoad is the chaos test of the cluster issue on
// real processes: three `medchain start` processes from `medchain cluster
// init`; clients write through every node with wait; the leader gets SIGKILL
// mid-load; the survivors elect a leader and keep committing; the killed
// node restarts on its data dir and catches up. Every tx acknowledged as
// committed is then applied exactly once on every node, all three agree on
// the head hash, and each verifies its chain.
func TestClusterLeaderSIGKILLUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("three node processes under load: run without -short (make test-long)")
	}
	const size = 3
	dir := filepath.Join(t.TempDir(), "cluster")
	rpcBase, p2pBase := consecutiveFreePorts(t, size), consecutiveFreePorts(t, size)
	mustCLI(t, nil, "cluster", "init", "--dir", dir, "-n", strconv.Itoa(size),
		"--rpc-port", strconv.Itoa(rpcBase), "--p2p-port", strconv.Itoa(p2pBase), "--chain-id", "e2e-chaos")
	dataDir := func(i int) string { return filepath.Join(dir, fmt.Sprintf("node-%d", i+1)) }
	url := func(i int) string { return fmt.Sprintf("https://127.0.0.1:%d", rpcBase+i) }
	// The gate's login flow has its own tests; this one is about durability
	// across a SIGKILL, so it submits without sessions.
	env := []string{"MEDCHAIN_ZEROTRUST_ENABLED=false"}

	nodes := make([]*nodeProc, size)
	for i := range size {
		nodes[i] = startClusterNode(t, dataDir(i), url(i), env...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for i := range size {
		nodes[i].waitReady(30 * time.Second)
	}
	clients := make([]*client.Client, size)
	for i := range size {
		clients[i] = nodes[i].dial(ctx)
	}
	leader := -1
	for deadline := time.Now().Add(20 * time.Second); leader < 0 && time.Now().Before(deadline); {
		if leader = clusterLeader(ctx, nodes, clients); leader < 0 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if leader < 0 {
		t.Fatal("no leader that all three nodes agree on within 20 s")
	}

	type ack struct {
		hash   types.Hash
		height uint64
	}
	var (
		mu       sync.Mutex
		acked    []ack
		sent     = map[types.Hash]bool{}
		rejected []string
		seq      int
	)
	var live sync.Map // node index -> true while its process runs
	for i := range size {
		live.Store(i, true)
	}
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			i := w % size
			s := nodes[i].signer(clients[i], "doctor456")
			for loadCtx.Err() == nil {
				if up, _ := live.Load(i); up != true {
					time.Sleep(20 * time.Millisecond)
					continue
				}
				mu.Lock()
				seq++
				p := auditPayload(seq)
				mu.Unlock()
				tx, err := s.Build(p)
				if err != nil {
					t.Errorf("build tx: %v", err)
					return
				}
				mu.Lock()
				sent[tx.Hash()] = true
				mu.Unlock()
				cctx, ccancel := context.WithTimeout(loadCtx, 5*time.Second)
				r, err := clients[i].Submit(cctx, tx, true)
				ccancel()
				if err != nil || r.Status != "committed" || r.Receipt == nil {
					time.Sleep(20 * time.Millisecond) // its node is down or between leaders
					continue
				}
				mu.Lock()
				if r.Receipt.Result.OK() {
					acked = append(acked, ack{tx.Hash(), r.Receipt.Height})
				} else {
					rejected = append(rejected, fmt.Sprintf("%s: %s %s", tx.Hash(), r.Receipt.Result.Code, r.Receipt.Result.Reason))
				}
				mu.Unlock()
			}
		})
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	waitAcks := func(n int, limit time.Duration) {
		for deadline := time.Now().Add(limit); count() < n && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
	}

	waitAcks(150, 15*time.Second)
	atKill := count()
	if atKill < 50 {
		t.Fatalf("only %d txs acknowledged before the kill: the load did not run", atKill)
	}
	live.Store(leader, false)
	killedAt := time.Now()
	nodes[leader].kill9()
	newLeader := -1
	for time.Since(killedAt) < 15*time.Second && newLeader < 0 {
		if newLeader = clusterLeader(ctx, nodes, clients); newLeader < 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if newLeader < 0 {
		t.Fatal("no new leader within 15 s of the SIGKILL")
	}
	t.Logf("node-%d killed with %d txs acknowledged; node-%d leads after %v", leader+1, atKill, newLeader+1, time.Since(killedAt).Round(time.Millisecond))
	waitAcks(atKill+100, 15*time.Second)
	if got := count(); got <= atKill {
		t.Fatalf("no tx committed after the leader's SIGKILL (%d acknowledged before, %d after)", atKill, got)
	}

	nodes[leader] = startClusterNode(t, dataDir(leader), url(leader), env...)
	nodes[leader].waitReady(30 * time.Second)
	clients[leader] = nodes[leader].dial(ctx)
	live.Store(leader, true)
	waitAcks(count()+50, 10*time.Second)
	stopLoad()
	wg.Wait()

	// All three reach one head.
	var heads [size]*struct {
		height uint64
		hash   types.Hash
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		same := true
		for i := range size {
			h, err := clients[i].Head(ctx)
			if err != nil {
				same = false
				break
			}
			heads[i] = &struct {
				height uint64
				hash   types.Hash
			}{h.Height, h.Hash}
			if heads[i].height != heads[0].height || heads[i].hash != heads[0].hash {
				same = false
			}
		}
		if same {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the nodes did not reach one head within 30 s: %+v %+v %+v", heads[0], heads[1], heads[2])
		}
		time.Sleep(100 * time.Millisecond)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(rejected) > 0 {
		t.Errorf("%d txs of the load were recorded as rejected, want none; first: %s", len(rejected), rejected[0])
	}
	height := heads[0].height
	for i := range size {
		applied := map[types.Hash]int{}
		for h := uint64(1); h <= height; h++ {
			b, err := clients[i].Block(ctx, h, true)
			if err != nil {
				t.Fatalf("node-%d chain_block %d: %v", i+1, h, err)
			}
			for j, tx := range b.Txs {
				if b.Results[j].OK() {
					applied[tx.Hash]++
				}
			}
		}
		for _, a := range acked {
			if k := applied[a.hash]; k != 1 {
				t.Errorf("node-%d: acknowledged tx %s (receipt height %d) is applied %d times, want exactly 1", i+1, a.hash, a.height, k)
			}
		}
		for h, k := range applied {
			if k > 1 {
				t.Errorf("node-%d: tx %s is applied %d times (a replay)", i+1, h, k)
			}
			if !sent[h] {
				t.Errorf("node-%d: block holds tx %s, which the load never sent", i+1, h)
			}
		}
		v := cli(t, nil, "verify", "--rpc", url(i), "--data-dir", dataDir(i))
		if v.code != 0 {
			t.Errorf("medchain verify on node-%d after the chaos: exit %d\n%s", i+1, v.code, v)
		}
	}
	t.Logf("%d txs acknowledged, all applied exactly once on all %d nodes; head %d", len(acked), size, height)
}
