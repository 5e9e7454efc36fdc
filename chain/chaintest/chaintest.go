package chaintest

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/store"
	"github.com/medchain/medchain/chain/types"
)

// ChainID is the chain id of test chains.
const ChainID = "medchain-test"

// Start is the genesis time of test chains.
var Start = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)

// Key returns a deterministic ML-DSA-65 key for seed.
func Key(seed uint64) *crypto.PrivateKey {
	var s [32]byte
	for i := 0; i < 8; i++ {
		s[i] = byte(seed >> (8 * i))
	}
	k, err := crypto.GenerateKey(crypto.MLDSA65, rand.NewChaCha8(s))
	if err != nil {
		panic(err) // a deterministic reader cannot fail
	}
	return k
}

// Chain is a test chain: genesis, keys, executor and store.
type Chain struct {
	tb      testing.TB
	Genesis *state.Genesis
	Keys    map[string]*crypto.PrivateKey
	Exec    *state.Executor
	Store   *store.Store
	FS      vfs.FS
	Dir     string
	// Now is the block and tx time in Unix ms; tests move it forward.
	Now   int64
	nonce uint64
	seed  uint64
}

// New returns a chain with identities "admin" (admin) and "node-1" (node),
// stored on an in-memory filesystem.
func New(tb testing.TB) *Chain {
	tb.Helper()
	c := &Chain{tb: tb, Keys: map[string]*crypto.PrivateKey{}, Now: Start.UnixMilli(), FS: vfs.NewMem(), Dir: "chain", seed: 100}
	c.Keys["admin"] = Key(1)
	c.Keys["node-1"] = Key(2)
	c.Genesis = &state.Genesis{ChainID: ChainID, Time: c.Now, Params: state.DefaultParams(), Identities: []types.IdentityRegister{
		{ID: "admin", Kind: types.KindPerson, Roles: []string{types.RoleAdmin}, PublicKey: c.Keys["admin"].Public()},
		{ID: "node-1", Kind: types.KindNode, Roles: []string{types.RoleNode}, PublicKey: c.Keys["node-1"].Public()},
	}}
	ex, err := state.NewExecutor(c.Genesis)
	if err != nil {
		tb.Fatal(err)
	}
	c.Exec = ex
	opts := store.TestOptions()
	opts.FS = c.FS
	st, err := store.Open(c.Dir, opts)
	if err != nil {
		tb.Fatal(err)
	}
	c.Store = st
	tb.Cleanup(func() { c.Store.Close() })
	ws, _ := ex.GenesisState()
	if err := st.SetGenesis(c.Genesis.Encode(), ws); err != nil {
		tb.Fatal(err)
	}
	return c
}

// Reopen closes and reopens the store (to reload after raw tampering).
func (c *Chain) Reopen() {
	c.tb.Helper()
	c.ReopenWith(store.TestOptions())
}

// ReopenWith closes the store and reopens it on the same files with opts
// (its FS is replaced by the chain's), e.g. to measure with a node's cache
// sizes rather than the small test defaults.
func (c *Chain) ReopenWith(opts store.Options) {
	c.tb.Helper()
	c.Store.Close()
	opts.FS = c.FS
	st, err := store.Open(c.Dir, opts)
	if err != nil {
		c.tb.Fatal(err)
	}
	c.Store = st
}

// Tx returns a tx from signer carrying p, signed with signer's key (an
// unknown signer gets a fresh key that no identity holds).
func (c *Chain) Tx(signer string, p types.Payload) *types.Tx {
	c.nonce++
	tx, err := types.NewTx(ChainID, signer, p, time.UnixMilli(c.Now), c.nonce)
	if err != nil {
		c.tb.Fatal(err)
	}
	k, ok := c.Keys[signer]
	if !ok {
		k = Key(999)
	}
	if err := tx.Sign(k); err != nil {
		c.tb.Fatal(err)
	}
	return tx
}

// Register registers an identity through a committed admin tx and keeps its key.
func (c *Chain) Register(id string, kind types.IdentityKind, roles ...string) {
	c.tb.Helper()
	c.seed++
	c.Keys[id] = Key(c.seed)
	p := &types.IdentityRegister{ID: id, Kind: kind, Roles: roles, PublicKey: c.Keys[id].Public()}
	if kind == types.KindPatient {
		p.Patient = id
	}
	b := c.Commit(c.Tx("admin", p))
	if !b.Results[0].OK() {
		c.tb.Fatalf("register %s: %s %s", id, b.Results[0].Code, b.Results[0].Reason)
	}
}

// Commit executes txs as the next block, signs it as node-1 and commits it.
func (c *Chain) Commit(txs ...*types.Tx) *types.Block {
	c.tb.Helper()
	var prev *types.Header
	if h, ok := c.Store.Head(); ok {
		prev = &h
	}
	b, out, err := c.Exec.AssembleBlock(c.Store, c.Store, prev, c.Now, txs, "node-1", c.Keys["node-1"])
	if err != nil {
		c.tb.Fatal(err)
	}
	if err := c.Store.Commit(store.Commit{Block: b, Writes: out.Writes, AppliedIndex: b.Header.Height}); err != nil {
		c.tb.Fatal(err)
	}
	return b
}

// Audit returns an audit record of actor viewing patient's record for treatment.
func Audit(patient, actor string) *types.AuditRecord {
	return &types.AuditRecord{EventType: "data_access", Patient: patient, Actor: actor, Action: "view_record",
		Purpose: "treatment", Outcome: "success", Resource: "Observation/bp-1"}
}
