package store

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/types"
)

const testChainID = "test-chain"

// testKey derives a deterministic ML-DSA-65 key from seed.
func testKey(t testing.TB, seed byte) *crypto.PrivateKey {
	t.Helper()
	var s [32]byte
	s[0] = seed
	k, err := crypto.GenerateKey(crypto.MLDSA65, rand.NewChaCha8(s))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// signedTx returns a real audit tx signed by key; n makes it unique.
func signedTx(t testing.TB, key *crypto.PrivateKey, n uint64) *types.Tx {
	t.Helper()
	p := &types.AuditRecord{EventType: "data_access", Patient: fmt.Sprintf("patient%d", n%7), Actor: "doctor456",
		Action: "view_record", Purpose: "treatment", Outcome: "success", Resource: fmt.Sprintf("Observation/%d", n)}
	tx, err := types.NewTx(testChainID, "dr-1", p, time.UnixMilli(1_700_000_000_000+int64(n)), n)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Sign(key); err != nil {
		t.Fatal(err)
	}
	return tx
}

// fakeTx returns a tiny unsigned tx with a unique hash: the store does not
// check signatures, and log tests need many leaves cheaply.
func fakeTx(n uint64) *types.Tx {
	return &types.Tx{ChainID: testChainID, Type: types.TxAuditRecord, Signer: "dr-1", Timestamp: 1, Nonce: n, Payload: []byte{0xa0}}
}

// chain builds valid next blocks for a store, the way a proposer would.
type chain struct {
	t         testing.TB
	s         *Store
	key       *crypto.PrivateKey
	leaves    []types.Hash // every tx hash committed, in log order
	committed []*types.Block
	raft      uint64
}

func newChain(t testing.TB, s *Store) *chain {
	return &chain{t: t, s: s, key: testKey(t, 7)}
}

// block returns the next block for txs, its header committing to the log.
func (c *chain) block(txs []*types.Tx) *types.Block {
	c.t.Helper()
	head, ok := c.s.Head()
	b := &types.Block{Txs: txs, Results: make([]types.Result, len(txs))}
	b.Header.ChainID = testChainID
	b.Header.Height = 1
	if ok {
		b.Header.Height = head.Height + 1
		b.Header.PrevHash = head.Hash()
		b.Header.Time = head.Time + 1
	}
	hashes := b.TxHashes()
	for i := range b.Results {
		b.Results[i] = types.Result{Code: types.CodeOK, Data: []byte{byte(i)}}
	}
	b.Header.TxRoot = types.TxRoot(b.Txs, hashes)
	b.Header.ResultsHash = types.ResultsHash(b.Results)
	size, root, err := c.s.LogRootAfter(hashes)
	if err != nil {
		c.t.Fatal(err)
	}
	b.Header.LogSize, b.Header.LogRoot = size, root
	b.Header.Proposer = "node-1"
	if err := b.Sign(c.key); err != nil {
		c.t.Fatal(err)
	}
	return b
}

// commit commits b with writes and records its leaves.
func (c *chain) commit(b *types.Block, writes []state.Write) {
	c.t.Helper()
	c.raft += 2
	if err := c.s.Commit(Commit{Block: b, Writes: writes, AppliedIndex: c.raft}); err != nil {
		c.t.Fatalf("commit height %d: %v", b.Header.Height, err)
	}
	c.leaves = append(c.leaves, b.TxHashes()...)
	c.committed = append(c.committed, b)
}

// fakeBlocks commits blocks of fake txs until the log has n leaves.
func (c *chain) fakeBlocks(n, perBlock int, rng *rand.Rand) {
	c.t.Helper()
	for len(c.leaves) < n {
		k := min(n-len(c.leaves), 1+rng.IntN(perBlock))
		txs := make([]*types.Tx, k)
		for i := range txs {
			txs[i] = fakeTx(uint64(len(c.leaves) + i))
		}
		c.commit(c.block(txs), nil)
	}
}

func openTest(t testing.TB, fs vfs.FS, dir string, opts Options) *Store {
	t.Helper()
	opts.FS = fs
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	return s
}

func newTestStore(t testing.TB) *Store {
	t.Helper()
	s := openTest(t, vfs.NewMem(), "db", TestOptions())
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// dump returns every stored key and value, for "nothing was written" checks.
func dump(t testing.TB, s *Store) map[string]string {
	t.Helper()
	m := make(map[string]string)
	if err := s.ScanRaw(nil, func(k, v []byte) bool {
		m[string(k)] = string(v)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return m
}

func sameDump(a, b map[string]string) error {
	if len(a) != len(b) {
		return fmt.Errorf("%d keys, then %d", len(a), len(b))
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return fmt.Errorf("key %s changed", describeKey([]byte(k)))
		}
	}
	return nil
}

func wantErr(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("got error %v, want %v", err, target)
	}
}
