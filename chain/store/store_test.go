package store

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/types"
)

// TestCommittedChainSurvivesReopen commits sequences of blocks of real signed
// txs with state writes, then checks every read API before and after a reopen
// against what was committed.
func TestCommittedChainSurvivesReopen(t *testing.T) {
	tests := []struct {
		name  string
		sizes []int // txs per block
	}{
		{"one empty block", []int{0}},
		{"one tx", []int{1}},
		{"mixed", []int{3, 0, 5, 1, 8}},
		{"power of two boundaries", []int{1, 1, 2, 4, 8}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := vfs.NewMem()
			s := openTest(t, fs, "db", TestOptions())
			c := newChain(t, s)
			ref := state.NewMemView()
			var blocks []*types.Block
			n := uint64(0)
			for bi, size := range tc.sizes {
				txs := make([]*types.Tx, size)
				for i := range txs {
					n++
					txs[i] = signedTx(t, c.key, n)
				}
				writes := []state.Write{
					{Key: fmt.Appendf(nil, "k/%03d", bi), Value: fmt.Appendf(nil, "v%d", bi)},
					{Key: []byte("counter"), Value: fmt.Appendf(nil, "%d", bi)},
				}
				if bi > 0 {
					writes = append(writes, state.Write{Key: fmt.Appendf(nil, "k/%03d", bi-1), Delete: true})
				}
				state.SortWrites(writes)
				b := c.block(txs)
				c.commit(b, writes)
				ref.Apply(writes, b.TxHashes())
				blocks = append(blocks, b)
			}
			check := func(s *Store) {
				t.Helper()
				head, ok := s.Head()
				last := blocks[len(blocks)-1]
				if !ok || head.Hash() != last.Hash() || s.HeadHash() != last.Hash() || s.Height() != uint64(len(blocks)) {
					t.Fatalf("head = %+v, %v; want height %d", head, ok, len(blocks))
				}
				if got := s.AppliedIndex(); got != c.raft {
					t.Fatalf("applied index %d, want %d", got, c.raft)
				}
				if got := s.LogSize(); got != uint64(len(c.leaves)) {
					t.Fatalf("log size %d, want %d", got, len(c.leaves))
				}
				for _, b := range blocks {
					h := b.Header.Height
					got, err := s.Block(h)
					if err != nil || got.Hash() != b.Hash() || !bytes.Equal(got.Encode(), b.Encode()) {
						t.Fatalf("block %d: %v", h, err)
					}
					raw, err := s.RawBlock(h)
					if err != nil || !bytes.Equal(raw, b.Encode()) {
						t.Fatalf("raw block %d: %v", h, err)
					}
					if got, err := s.BlockByHash(b.Hash()); err != nil || got.Header.Height != h {
						t.Fatalf("block by hash %d: %v", h, err)
					}
					for i, tx := range b.Txs {
						th := tx.Hash()
						got, res, height, idx, err := s.Tx(th)
						if err != nil || height != h || idx != uint32(i) || got.Hash() != th ||
							!bytes.Equal(got.Encode(), tx.Encode()) || res.Code != types.CodeOK || !bytes.Equal(res.Data, b.Results[i].Data) {
							t.Fatalf("tx %d of block %d: %v (at %d/%d)", i, h, err, height, idx)
						}
						if ok, err := s.HasTx(th); !ok || err != nil {
							t.Fatalf("HasTx(%s) = %v, %v", th, ok, err)
						}
						leaf, err := s.LeafIndex(th)
						if err != nil || c.leaves[leaf] != th {
							t.Fatalf("leaf index of %s: %d, %v", th, leaf, err)
						}
					}
				}
				for k, v := range ref.KV {
					got, ok, err := s.Get([]byte(k))
					if err != nil || !ok || string(got) != string(v) {
						t.Fatalf("Get(%q) = %q, %v, %v; want %q", k, got, ok, err, v)
					}
				}
				if _, ok, err := s.Get(fmt.Appendf(nil, "k/%03d", len(blocks)-2)); ok || err != nil {
					t.Fatalf("deleted key still present (err %v)", err)
				}
				if ok, err := s.HasTx(types.HashBytes([]byte("never"))); ok || err != nil {
					t.Fatalf("HasTx of an unknown hash = %v, %v", ok, err)
				}
				_, err := s.Block(uint64(len(blocks) + 1))
				wantErr(t, err, ErrNotFound)
				_, err = s.BlockByHash(types.Hash{1})
				wantErr(t, err, ErrNotFound)
				_, _, _, _, err = s.Tx(types.Hash{2})
				wantErr(t, err, ErrNotFound)
				root, err := s.LogRoot(s.LogSize())
				if err != nil || root != head.LogRoot || root != types.MerkleRoot(c.leaves) {
					t.Fatalf("log root %s, %v; header %s", root, err, head.LogRoot)
				}
				if err := s.CheckIntegrity(); err != nil {
					t.Fatal(err)
				}
			}
			check(s)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = openTest(t, fs, "db", TestOptions())
			defer s.Close()
			check(s)
		})
	}
}

func TestEmptyStore(t *testing.T) {
	s := newTestStore(t)
	if _, ok := s.Head(); ok {
		t.Fatal("head before the first block")
	}
	if s.LogSize() != 0 || s.AppliedIndex() != 0 {
		t.Fatal("empty store has a log or an applied index")
	}
	root, err := s.LogRoot(0)
	if err != nil || root != types.MerkleRoot(nil) {
		t.Fatalf("empty root %s, %v", root, err)
	}
	_, err = s.Genesis()
	wantErr(t, err, ErrNotFound)
	_, err = s.LogRoot(1)
	wantErr(t, err, ErrOutOfRange)
}

// TestRefusedCommitWritesNothing proves that every refusal leaves the store
// byte for byte unchanged, in memory and on disk.
func TestRefusedCommitWritesNothing(t *testing.T) {
	s := newTestStore(t)
	c := newChain(t, s)
	c.commit(c.block([]*types.Tx{fakeTx(1), fakeTx(2)}), nil)
	c.commit(c.block([]*types.Tx{fakeTx(3)}), nil)

	mutate := func(f func(b *types.Block)) *types.Block {
		b := c.block([]*types.Tx{fakeTx(4), fakeTx(5), fakeTx(6)})
		f(b)
		return b
	}
	tests := []struct {
		name    string
		commit  Commit
		wantErr error
	}{
		{"height repeats the head", Commit{Block: mutate(func(b *types.Block) { b.Header.Height-- }), AppliedIndex: 100}, ErrNotNext},
		{"height skips one", Commit{Block: mutate(func(b *types.Block) { b.Header.Height++ }), AppliedIndex: 100}, ErrNotNext},
		{"prev hash is not the head", Commit{Block: mutate(func(b *types.Block) { b.Header.PrevHash[0] ^= 1 }), AppliedIndex: 100}, ErrNotNext},
		{"applied index goes back", Commit{Block: mutate(func(*types.Block) {}), AppliedIndex: c.raft - 1}, ErrNotNext},
		{"log size too small", Commit{Block: mutate(func(b *types.Block) { b.Header.LogSize-- }), AppliedIndex: 100}, ErrLogMismatch},
		{"log size too large", Commit{Block: mutate(func(b *types.Block) { b.Header.LogSize++ }), AppliedIndex: 100}, ErrLogMismatch},
		{"log root differs", Commit{Block: mutate(func(b *types.Block) { b.Header.LogRoot[31] ^= 1 }), AppliedIndex: 100}, ErrLogMismatch},
		{"txs reordered", Commit{Block: mutate(func(b *types.Block) { b.Txs[0], b.Txs[1] = b.Txs[1], b.Txs[0] }), AppliedIndex: 100}, ErrLogMismatch},
		{"tx missing", Commit{Block: mutate(func(b *types.Block) { b.Txs, b.Results = b.Txs[1:], b.Results[1:] }), AppliedIndex: 100}, ErrLogMismatch},
		{"results shorter than txs", Commit{Block: mutate(func(b *types.Block) { b.Results = b.Results[1:] }), AppliedIndex: 100}, ErrInvalidBlock},
		{"nil tx", Commit{Block: mutate(func(b *types.Block) { b.Txs[2] = nil }), AppliedIndex: 100}, ErrInvalidBlock},
		{"nil block", Commit{AppliedIndex: 100}, ErrInvalidBlock},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := dump(t, s)
			head, _ := s.Head()
			size, applied := s.LogSize(), s.AppliedIndex()
			tc.commit.Writes = []state.Write{{Key: []byte("x"), Value: []byte("y")}}
			wantErr(t, s.Commit(tc.commit), tc.wantErr)
			if err := sameDump(before, dump(t, s)); err != nil {
				t.Fatalf("refused commit wrote: %v", err)
			}
			if h, _ := s.Head(); h != head || s.LogSize() != size || s.AppliedIndex() != applied {
				t.Fatal("refused commit changed the in-memory head, log or applied index")
			}
		})
	}
	// The store still accepts the right block afterwards.
	c.commit(c.block([]*types.Tx{fakeTx(4)}), nil)
}

func TestFirstBlockMustStartTheChain(t *testing.T) {
	s := newTestStore(t)
	c := newChain(t, s)
	b := c.block(nil)
	b.Header.Height = 0
	wantErr(t, s.Commit(Commit{Block: b}), ErrNotNext)
	b = c.block(nil)
	b.Header.PrevHash = types.Hash{9}
	wantErr(t, s.Commit(Commit{Block: b}), ErrNotNext)
	c.commit(c.block(nil), nil)
}

// TestReplayKeepsFirstLocation proves invariant 4: a tx hash that appears
// again (a replay, or twice in one block) stays indexed at its first
// occurrence, while every copy is a log leaf.
func TestReplayKeepsFirstLocation(t *testing.T) {
	s := newTestStore(t)
	c := newChain(t, s)
	a, b := fakeTx(1), fakeTx(2)
	c.commit(c.block([]*types.Tx{a, fakeTx(3)}), nil)

	blk := c.block([]*types.Tx{fakeTx(4), a, b, b})
	blk.Results[1].Code = types.CodeReplay
	blk.Results[3].Code = types.CodeReplay
	c.commit(blk, nil)
	if s.LogSize() != 6 {
		t.Fatalf("log size %d, want 6", s.LogSize())
	}
	for _, tc := range []struct {
		tx     *types.Tx
		height uint64
		index  uint32
		leaf   uint64
	}{{a, 1, 0, 0}, {b, 2, 2, 4}} {
		h, i, err := s.TxLocation(tc.tx.Hash())
		leaf, err2 := s.LeafIndex(tc.tx.Hash())
		if err != nil || err2 != nil || h != tc.height || i != tc.index || leaf != tc.leaf {
			t.Fatalf("tx %d at %d/%d leaf %d (%v, %v); want %d/%d leaf %d", tc.tx.Nonce, h, i, leaf, err, err2, tc.height, tc.index, tc.leaf)
		}
	}
	// A replay-coded tx that is in fact new is indexed: the code is a hint
	// to skip a write, never a reason to lose a tx.
	n := fakeTx(9)
	blk = c.block([]*types.Tx{n})
	blk.Results[0].Code = types.CodeReplay
	c.commit(blk, nil)
	if h, _, err := s.TxLocation(n.Hash()); err != nil || h != 3 {
		t.Fatalf("new tx coded as replay: height %d, %v", h, err)
	}
}

// TestScanMatchesNaiveReference compares Scan with a sorted map over random
// bounds, both directions and early stops.
func TestScanMatchesNaiveReference(t *testing.T) {
	s := newTestStore(t)
	c := newChain(t, s)
	rng := rand.New(rand.NewPCG(1, 2))
	ref := map[string]string{}
	for range 5 {
		var ws []state.Write
		for range 40 {
			k := fmt.Sprintf("%c/%02d", 'a'+rng.IntN(4), rng.IntN(30))
			if rng.IntN(4) == 0 {
				ws = append(ws, state.Write{Key: []byte(k), Delete: true})
				delete(ref, k)
			} else {
				v := fmt.Sprint(rng.Int())
				ws = append(ws, state.Write{Key: []byte(k), Value: []byte(v)})
				ref[k] = v
			}
		}
		// Later writes to the same key win, as in one batch.
		c.commit(c.block(nil), ws)
	}
	keys := slices.Sorted(maps.Keys(ref))
	bound := func() []byte {
		if rng.IntN(5) == 0 {
			return nil
		}
		return fmt.Appendf(nil, "%c/%02d", 'a'+rng.IntN(5), rng.IntN(32))
	}
	for range 300 {
		start, end, reverse, limit := bound(), bound(), rng.IntN(2) == 0, 1+rng.IntN(40)
		var want []string
		for _, k := range keys {
			if (start == nil || k >= string(start)) && (end == nil || k < string(end)) {
				want = append(want, k+"="+ref[k])
			}
		}
		if reverse {
			slices.Reverse(want)
		}
		want = want[:min(limit, len(want))]
		var got []string
		err := s.Scan(start, end, reverse, func(k, v []byte) bool {
			got = append(got, string(k)+"="+string(v))
			return len(got) < limit
		})
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("Scan(%q, %q, %v) limit %d = %v, %v; want %v", start, end, reverse, limit, got, err, want)
		}
	}
}

func TestGenesis(t *testing.T) {
	fs := vfs.NewMem()
	s := openTest(t, fs, "db", TestOptions())
	ws := []state.Write{{Key: []byte("iadmin"), Value: []byte("record")}}
	if err := s.SetGenesis([]byte("genesis-1"), ws); err != nil {
		t.Fatal(err)
	}
	if err := s.SetGenesis([]byte("genesis-1"), ws); err != nil {
		t.Fatalf("same genesis again: %v", err)
	}
	wantErr(t, s.SetGenesis([]byte("genesis-2"), nil), ErrGenesisMismatch)
	if g, err := s.Genesis(); err != nil || string(g) != "genesis-1" {
		t.Fatalf("genesis %q, %v", g, err)
	}
	if v, ok, err := s.Get([]byte("iadmin")); err != nil || !ok || string(v) != "record" {
		t.Fatalf("genesis state: %q %v %v", v, ok, err)
	}
	// Block 1 must link to the genesis, before and after a reopen.
	for _, reopen := range []bool{false, true} {
		if reopen {
			s.Close()
			s = openTest(t, fs, "db", TestOptions())
		}
		b := &types.Block{Header: types.Header{Height: 1}}
		b.Header.LogSize, b.Header.LogRoot, _ = s.LogRootAfter(nil)
		wantErr(t, s.Commit(Commit{Block: b}), ErrNotNext)
	}
	b := &types.Block{Header: types.Header{Height: 1, PrevHash: types.HashBytes([]byte("genesis-1"))}}
	b.Header.LogSize, b.Header.LogRoot, _ = s.LogRootAfter(nil)
	if err := s.Commit(Commit{Block: b}); err != nil {
		t.Fatalf("block linked to genesis: %v", err)
	}
}

func TestAppliedIndexNeverMovesBack(t *testing.T) {
	fs := vfs.NewMem()
	s := openTest(t, fs, "db", TestOptions())
	for _, tc := range []struct {
		set     uint64
		wantErr error
		want    uint64
	}{{5, nil, 5}, {5, nil, 5}, {4, ErrNotNext, 5}, {9, nil, 9}, {0, ErrNotNext, 9}} {
		if err := s.SetAppliedIndex(tc.set); !errors.Is(err, tc.wantErr) {
			t.Fatalf("SetAppliedIndex(%d) = %v, want %v", tc.set, err, tc.wantErr)
		}
		if got := s.AppliedIndex(); got != tc.want {
			t.Fatalf("after SetAppliedIndex(%d): %d, want %d", tc.set, got, tc.want)
		}
	}
	s.Close()
	s = openTest(t, fs, "db", TestOptions())
	defer s.Close()
	if s.AppliedIndex() != 9 {
		t.Fatalf("applied index after reopen %d, want 9", s.AppliedIndex())
	}
}

func TestClosedStoreRefusesCalls(t *testing.T) {
	s := openTest(t, vfs.NewMem(), "db", TestOptions())
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wantErr(t, s.Close(), ErrClosed)
	_, _, err := s.Get([]byte("k"))
	wantErr(t, err, ErrClosed)
	_, err = s.HasTx(types.Hash{})
	wantErr(t, err, ErrClosed)
	wantErr(t, s.Commit(Commit{}), ErrClosed)
	_, err = s.InclusionProof(0, 1)
	wantErr(t, err, ErrClosed)
	wantErr(t, s.Flush(), ErrClosed)
}

func TestOptionsValidateNamesEveryField(t *testing.T) {
	err := Options{CacheSize: -1, DisableWAL: true, Sync: true, MemTableSize: 10}.Validate()
	for _, field := range []string{"CacheSize", "Sync", "MemTableSize"} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Fatalf("Validate() = %v; want it to name %s", err, field)
		}
	}
	for _, o := range []Options{{}, DefaultOptions(), TestOptions(), {DisableWAL: true}} {
		if err := o.Validate(); err != nil {
			t.Fatalf("%+v: %v", o, err)
		}
	}
	if _, err := Open("db", Options{FS: vfs.NewMem(), CacheSize: -1}); err == nil {
		t.Fatal("Open accepted invalid options")
	}
}

// TestSnapshotIsAPointInTime: a snapshot keeps serving the chain as it was
// when taken, while commits continue, and refuses writes.
func TestSnapshotIsAPointInTime(t *testing.T) {
	fs := vfs.NewMem()
	s := openTest(t, fs, "db", TestOptions())
	if err := s.SetGenesis([]byte("g"), []state.Write{{Key: []byte("k"), Value: []byte("v1")}}); err != nil {
		t.Fatal(err)
	}
	commit := func(prev types.Hash, height uint64, v string) *types.Block {
		b := &types.Block{Header: types.Header{Height: height, PrevHash: prev}}
		b.Header.LogSize, b.Header.LogRoot, _ = s.LogRootAfter(nil)
		if err := s.Commit(Commit{Block: b, Writes: []state.Write{{Key: []byte("k"), Value: []byte(v)}}, AppliedIndex: height}); err != nil {
			t.Fatal(err)
		}
		return b
	}
	b1 := commit(types.HashBytes([]byte("g")), 1, "v2")
	snap, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	commit(b1.Hash(), 2, "v3")
	if h, _ := snap.Head(); h.Height != 1 {
		t.Fatalf("snapshot head %d, want 1", h.Height)
	}
	if v, _, _ := snap.Get([]byte("k")); string(v) != "v2" {
		t.Fatalf("snapshot sees %q, want v2", v)
	}
	if _, err := snap.RawBlock(2); !errors.Is(err, ErrNotFound) {
		t.Fatalf("snapshot sees block 2: %v", err)
	}
	if v, _, _ := s.Get([]byte("k")); string(v) != "v3" {
		t.Fatalf("store sees %q, want v3", v)
	}
	wantErr(t, snap.SetAppliedIndex(9), ErrReadOnly)
	wantErr(t, snap.Commit(Commit{Block: b1}), ErrReadOnly)
	if err := snap.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestCommitWithRawAndHashesStoresTheSame: a commit that passes the block's
// encoding and tx hashes (the FSM's path) writes exactly what a commit that
// computes them writes; a hash list of the wrong length writes nothing.
func TestCommitWithRawAndHashesStoresTheSame(t *testing.T) {
	a, b := newTestStore(t), newTestStore(t)
	ca, cb := newChain(t, a), newChain(t, b)
	for h := range 3 {
		txs := []*types.Tx{fakeTx(uint64(10 * h)), fakeTx(uint64(10*h + 1)), fakeTx(uint64(10*h + 2))}
		ws := []state.Write{{Key: []byte(fmt.Sprintf("k%d", h)), Value: []byte("v")}}
		ca.commit(ca.block(txs), ws)
		blk := cb.block(txs)
		before := dump(t, b)
		wantErr(t, b.Commit(Commit{Block: blk, Writes: ws, AppliedIndex: uint64(2 * (h + 1)), TxHashes: blk.TxHashes()[1:]}), ErrInvalidBlock)
		if err := sameDump(before, dump(t, b)); err != nil {
			t.Fatalf("rejected commit wrote: %v", err)
		}
		if err := b.Commit(Commit{Block: blk, Writes: ws, AppliedIndex: uint64(2 * (h + 1)), TxHashes: blk.TxHashes(), Raw: blk.Encode()}); err != nil {
			t.Fatal(err)
		}
	}
	if err := sameDump(dump(t, a), dump(t, b)); err != nil {
		t.Fatal(err)
	}
}
