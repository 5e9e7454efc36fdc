package consensustest

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/store"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/consensus"
)

// ChainID is the harness chain's id.
const ChainID = "medchain-test"

// Key returns the deterministic ML-DSA-65 key for seed.
func Key(t testing.TB, seed uint64) *crypto.PrivateKey {
	t.Helper()
	var s [32]byte
	s[0], s[1] = byte(seed), byte(seed>>8)
	s[31] = 0x6d
	k, err := crypto.GenerateKey(crypto.MLDSA65, rand.NewChaCha8(s))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// NodeID names node i.
func NodeID(i int) string { return fmt.Sprintf("node-%d", i+1) }

// Options configure a Cluster.
type Options struct {
	// N is the number of nodes; default 1. Node 0 is bootstrapped as the only
	// voter; the others join and are added as voters once it leads.
	N int
	// Started is how many nodes New starts (default N); start the others
	// with Join, e.g. to make them catch up from a snapshot.
	Started int
	// Configure edits each node's config (after TestConfig).
	Configure func(i int, c *consensus.Config)
	// LogLevel for t.Log output; default slog.LevelWarn.
	LogLevel slog.Level
	// RPCTimeout bounds one in-memory Raft RPC; a snapshot install may take
	// ten times as long. Default 500ms (raft's in-memory transport default);
	// raise it for snapshots of gigabytes.
	RPCTimeout time.Duration
}

// Cluster is a running in-process cluster.
type Cluster struct {
	t        testing.TB
	Genesis  *state.Genesis
	AdminKey *crypto.PrivateKey
	NodeKeys []*crypto.PrivateKey
	Configs  []consensus.Config
	Nodes    []*consensus.Node // nil while a node is stopped
	addrs    []raft.ServerAddress
	trans    []*raft.InmemTransport
	timeout  time.Duration
	log      *slog.Logger
	mu       sync.Mutex
	nonce    atomic.Uint64
}

// AdminID is the genesis admin's identity id.
const AdminID = "admin-1"

// Genesis returns the harness genesis: AdminID with admin key seed 1 and n
// node identities (role "node") with key seeds 100+i.
func Genesis(t testing.TB, n int) (*state.Genesis, *crypto.PrivateKey, []*crypto.PrivateKey) {
	admin := Key(t, 1)
	g := &state.Genesis{ChainID: ChainID, Time: time.Now().Add(-time.Hour).UnixMilli(), Params: state.DefaultParams(),
		Identities: []types.IdentityRegister{{ID: AdminID, Kind: types.KindPerson, Name: "Genesis Admin", Roles: []string{types.RoleAdmin}, PublicKey: admin.Public()}}}
	keys := make([]*crypto.PrivateKey, n)
	for i := range n {
		keys[i] = Key(t, uint64(100+i))
		g.Identities = append(g.Identities, types.IdentityRegister{ID: NodeID(i), Kind: types.KindNode, Roles: []string{types.RoleNode}, PublicKey: keys[i].Public()})
	}
	return g, admin, keys
}

// New starts a cluster and waits for a leader.
func New(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.N == 0 {
		opts.N = 1
	}
	if opts.Started == 0 {
		opts.Started = opts.N
	}
	if opts.LogLevel == 0 {
		opts.LogLevel = slog.LevelWarn
	}
	if opts.RPCTimeout == 0 {
		opts.RPCTimeout = 500 * time.Millisecond
	}
	g, admin, keys := Genesis(t, opts.N)
	c := &Cluster{t: t, Genesis: g, AdminKey: admin, NodeKeys: keys, Nodes: make([]*consensus.Node, opts.N),
		addrs: make([]raft.ServerAddress, opts.N), trans: make([]*raft.InmemTransport, opts.N), timeout: opts.RPCTimeout}
	c.log = slog.New(slog.NewTextHandler(newTestWriter(t), &slog.HandlerOptions{Level: opts.LogLevel}))
	for i := range opts.N {
		cfg := consensus.TestConfig(NodeID(i), t.TempDir())
		cfg.Logger = c.log.With("node", NodeID(i))
		cfg.Join = i > 0
		if opts.Configure != nil {
			opts.Configure(i, &cfg)
		}
		c.Configs = append(c.Configs, cfg)
		c.addrs[i] = raft.ServerAddress(fmt.Sprintf("inmem-%s-%d", NodeID(i), time.Now().UnixNano()))
	}
	if err := consensus.Bootstrap(c.Configs[0], c.addrs[0]); err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	t.Cleanup(c.Close)
	c.Start(0)
	c.WaitLeader(10 * time.Second)
	for i := 1; i < opts.Started; i++ {
		c.Join(i)
	}
	return c
}

// Join starts node i (which has no Raft state) and adds it as a voter.
func (c *Cluster) Join(i int) *consensus.Node {
	c.t.Helper()
	n := c.Start(i)
	if err := c.WaitLeader(10*time.Second).AddVoter(NodeID(i), string(c.addrs[i]), 10*time.Second); err != nil {
		c.t.Fatalf("add voter %s: %v", NodeID(i), err)
	}
	return n
}

// JoinNonvoter starts node i (which has no Raft state) and adds it as a
// non-voter: it catches up without being part of the quorum, as the node
// layer adds new nodes.
func (c *Cluster) JoinNonvoter(i int) *consensus.Node {
	c.t.Helper()
	n := c.Start(i)
	if err := c.WaitLeader(10*time.Second).AddNonvoter(NodeID(i), string(c.addrs[i]), 10*time.Second); err != nil {
		c.t.Fatalf("add non-voter %s: %v", NodeID(i), err)
	}
	return n
}

// Start starts (or restarts) node i on a fresh transport with its address.
func (c *Cluster) Start(i int) *consensus.Node {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.Nodes[i] != nil {
		c.t.Fatalf("%s is running", NodeID(i))
	}
	_, tr := raft.NewInmemTransportWithTimeout(c.addrs[i], c.timeout)
	for j, other := range c.trans {
		if j != i && other != nil && c.Nodes[j] != nil {
			tr.Connect(c.addrs[j], other)
			other.Connect(c.addrs[i], tr)
		}
	}
	c.trans[i] = tr
	n, err := consensus.New(c.Configs[i], c.Genesis, c.NodeKeys[i], tr)
	if err != nil {
		c.t.Fatalf("start %s: %v", NodeID(i), err)
	}
	c.Nodes[i] = n
	return n
}

// Stop closes node i (a clean shutdown).
func (c *Cluster) Stop(i int) {
	c.t.Helper()
	c.mu.Lock()
	n := c.Nodes[i]
	c.Nodes[i] = nil
	c.mu.Unlock()
	if n == nil {
		return
	}
	if err := n.Close(); err != nil {
		c.t.Errorf("close %s: %v", NodeID(i), err)
	}
	for j, other := range c.trans {
		if j != i && other != nil {
			other.Disconnect(c.addrs[i])
		}
	}
}

// Restart stops and starts node i on the same data dir.
func (c *Cluster) Restart(i int) *consensus.Node {
	c.t.Helper()
	c.Stop(i)
	return c.Start(i)
}

// Close stops every node.
func (c *Cluster) Close() {
	for i := range c.Nodes {
		c.Stop(i)
	}
}

// Running returns the running nodes.
func (c *Cluster) Running() []*consensus.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*consensus.Node
	for _, n := range c.Nodes {
		if n != nil {
			out = append(out, n)
		}
	}
	return out
}

// WaitLeader waits until a running node leads and returns it.
func (c *Cluster) WaitLeader(timeout time.Duration) *consensus.Node {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, n := range c.Running() {
			if n.Ready() { // leading, and the term-start barrier has applied
				return n
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.t.Fatalf("no leader within %v", timeout)
	return nil
}

// WaitHeight waits until every running node has height >= h.
func (c *Cluster) WaitHeight(h uint64, timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		ok := true
		for _, n := range c.Running() {
			if n.Height() < h {
				ok = false
			}
		}
		if ok {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, n := range c.Running() {
		c.t.Logf("height %d", n.Height())
	}
	c.t.Fatalf("not all nodes reached height %d within %v", h, timeout)
}

// EnsureSameState checks that every running node at the same height has the
// same head (hash, state hash, log root), the same applied log size and the
// same state, key by key. It first waits for the nodes to reach the highest
// height among them.
func (c *Cluster) EnsureSameState() {
	c.t.Helper()
	var top uint64
	for _, n := range c.Running() {
		top = max(top, n.Height())
	}
	c.WaitHeight(top, 10*time.Second)
	type snap struct {
		head  types.Header
		size  uint64
		state []byte
	}
	var ref *snap
	for i, n := range c.Running() {
		var s snap
		err := n.WithStore(func(st *store.Store) error {
			s.head, _ = st.Head()
			s.size = st.LogSize()
			var buf bytes.Buffer
			err := st.Scan(nil, nil, false, func(k, v []byte) bool {
				fmt.Fprintf(&buf, "%x=%x\n", k, v)
				return true
			})
			s.state = buf.Bytes()
			return err
		})
		if err != nil {
			c.t.Fatalf("read node %d: %v", i, err)
		}
		if ref == nil {
			ref = &s
			continue
		}
		if s.head.Height != ref.head.Height {
			continue // moved on meanwhile; compare only equal heights
		}
		if s.head.Hash() != ref.head.Hash() || s.head.StateHash != ref.head.StateHash || s.head.LogRoot != ref.head.LogRoot || s.size != ref.size {
			c.t.Fatalf("node %d head differs at height %d: %s vs %s", i, s.head.Height, s.head.Hash(), ref.head.Hash())
		}
		if !bytes.Equal(s.state, ref.state) {
			c.t.Fatalf("node %d state differs at height %d", i, s.head.Height)
		}
	}
}

// SignTx builds a tx from signer with payload p stamped now, signs it with
// key and returns it. Nonces are unique within the cluster.
func (c *Cluster) SignTx(signer string, key *crypto.PrivateKey, p types.Payload) *types.Tx {
	c.t.Helper()
	tx, err := types.NewTx(ChainID, signer, p, time.Now(), c.nonce.Add(1))
	if err != nil {
		c.t.Fatal(err)
	}
	if err := tx.Sign(key); err != nil {
		c.t.Fatal(err)
	}
	return tx
}

// RegisterClinician registers identity id with role clinician, signed by the
// genesis admin, waits for its commit and returns its key.
func (c *Cluster) RegisterClinician(ctx context.Context, leader *consensus.Node, id string, seed uint64) *crypto.PrivateKey {
	c.t.Helper()
	k := Key(c.t, seed)
	tx := c.SignTx(AdminID, c.AdminKey, &types.IdentityRegister{ID: id, Kind: types.KindPerson, Roles: []string{types.RoleClinician}, PublicKey: k.Public()})
	r, err := leader.SubmitAndWait(ctx, tx)
	if err != nil {
		c.t.Fatalf("register %s: %v", id, err)
	}
	if !r.Result.OK() {
		c.t.Fatalf("register %s: %s: %s", id, r.Result.Code, r.Result.Reason)
	}
	return k
}

// Audit returns an audit-record payload by actor for patient.
func Audit(actor, patient string, i int) *types.AuditRecord {
	return &types.AuditRecord{EventType: "data_access", Patient: patient, Actor: actor, Action: "view_record",
		Purpose: "treatment", Outcome: "success", Resource: fmt.Sprintf("Observation/%d", i)}
}

// testWriter sends log lines to t.Log until the test ends.
type testWriter struct {
	t    testing.TB
	mu   sync.Mutex
	done bool
}

func newTestWriter(t testing.TB) *testWriter {
	w := &testWriter{t: t}
	t.Cleanup(func() { w.mu.Lock(); w.done = true; w.mu.Unlock() })
	return w
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}
