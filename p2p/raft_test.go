package p2p

import (
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// listFSM records applied entries in order.
type listFSM struct {
	mu   sync.Mutex
	data []string
}

func (f *listFSM) Apply(l *raft.Log) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.data = append(f.data, string(l.Data))
	return len(f.data)
}

func (f *listFSM) Snapshot() (raft.FSMSnapshot, error) { return nil, fmt.Errorf("not supported") }
func (f *listFSM) Restore(io.ReadCloser) error         { return fmt.Errorf("not supported") }

func (f *listFSM) snapshot() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.data...)
}

func TestRaftReplicatesOverStreamLayerToVotersAndObservers(t *testing.T) {
	reg := &MemRegistry{}
	// Three voters and one observer, which Raft replicates to as a non-voter.
	roles := []Role{RoleVoter, RoleVoter, RoleVoter, RoleObserver}
	var nodes []*testNode
	var servers []raft.Server
	for i, role := range roles {
		nd := startNode(t, reg, nil, fmt.Sprintf("n%d", i), byte(i+1), role, nil)
		nodes = append(nodes, nd)
		suffrage := raft.Voter
		if role == RoleObserver {
			suffrage = raft.Nonvoter
		}
		servers = append(servers, raft.Server{Suffrage: suffrage, ID: raft.ServerID(nd.rec.NodeID), Address: nd.RaftAddress()})
	}
	var rafts []*raft.Raft
	var fsms []*listFSM
	for i, nd := range nodes {
		cfg := raft.DefaultConfig()
		cfg.LocalID = raft.ServerID(nd.rec.NodeID)
		cfg.HeartbeatTimeout = 300 * time.Millisecond
		cfg.ElectionTimeout = 300 * time.Millisecond
		cfg.LeaderLeaseTimeout = 150 * time.Millisecond
		cfg.CommitTimeout = 5 * time.Millisecond
		cfg.LogOutput = io.Discard
		tr := raft.NewNetworkTransport(nd.RaftStreamLayer(), 3, 2*time.Second, io.Discard)
		store := raft.NewInmemStore()
		fsm := &listFSM{}
		r, err := raft.NewRaft(cfg, fsm, store, store, raft.NewInmemSnapshotStore(), tr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Shutdown().Error() })
		if i == 0 {
			if err := r.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil {
				t.Fatal(err)
			}
		}
		rafts = append(rafts, r)
		fsms = append(fsms, fsm)
	}
	var leader *raft.Raft
	took := eventually(t, 10*time.Second, "leader elected", func() bool {
		for _, r := range rafts {
			if r.State() == raft.Leader {
				leader = r
				return true
			}
		}
		return false
	})
	t.Logf("leader elected after %v", took)

	const entries = 200
	start := time.Now()
	var futures []raft.ApplyFuture
	for i := range entries {
		futures = append(futures, leader.Apply(fmt.Appendf(nil, "entry-%d", i), 5*time.Second))
	}
	for i, f := range futures {
		if err := f.Error(); err != nil {
			t.Fatalf("apply %d: %v", i, err)
		}
	}
	t.Logf("%d entries committed in %v (%.0f entries/s, pipelined)", entries, time.Since(start), entries/time.Since(start).Seconds())
	eventually(t, 5*time.Second, "every node applied every entry", func() bool {
		for _, f := range fsms {
			if len(f.snapshot()) != entries {
				return false
			}
		}
		return true
	})
	want := fsms[0].snapshot()
	for i, f := range fsms {
		got := f.snapshot()
		for j := range want {
			if got[j] != want[j] || got[j] != fmt.Sprintf("entry-%d", j) {
				t.Fatalf("node %d entry %d = %q, want %q", i, j, got[j], want[j])
			}
		}
	}
	// Every Raft link (leader to follower) is an authenticated one, both ways.
	addr, _ := leader.LeaderWithID()
	for _, a := range nodes {
		if a.RaftAddress() != addr {
			continue
		}
		for _, b := range nodes {
			if a == b {
				continue
			}
			_, ab := a.Authenticated(b.ID())
			_, ba := b.Authenticated(a.ID())
			if !ab || !ba {
				t.Errorf("raft link %s-%s not mutually authenticated (%v, %v)", a.rec.NodeID, b.rec.NodeID, ab, ba)
			}
		}
	}
}
