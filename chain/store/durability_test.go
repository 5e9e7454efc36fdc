package store

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/types"
)

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// TestCrashKeepsEverySyncedCommit crashes a memory filesystem after each
// commit, keeping only what was synced, and proves that with Sync every
// block committed before the crash is there, with its state and applied
// index, and the store opens consistently.
func TestCrashKeepsEverySyncedCommit(t *testing.T) {
	fs := vfs.NewCrashableMem()
	s := openTest(t, fs, "db", TestOptions())
	defer s.Close()
	c := newChain(t, s)
	var crashes []*vfs.MemFS
	for h := range 8 {
		txs := []*types.Tx{fakeTx(uint64(2 * h)), fakeTx(uint64(2*h + 1))}
		c.commit(c.block(txs), []state.Write{{Key: fmt.Appendf(nil, "h%d", h), Value: []byte("v")}})
		crashes = append(crashes, fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0}))
	}
	for i, cfs := range crashes {
		height := uint64(i + 1)
		r := openTest(t, cfs, "db", TestOptions())
		head, ok := r.Head()
		if !ok || head.Height != height || r.AppliedIndex() != 2*height || r.LogSize() != 2*height {
			t.Fatalf("crash after block %d: head %d (%v), applied %d, log %d", height, head.Height, ok, r.AppliedIndex(), r.LogSize())
		}
		for j := range 2 * height {
			if ok, err := r.HasTx(c.leaves[j]); !ok || err != nil {
				t.Fatalf("crash after block %d: tx %d lost (%v)", height, j, err)
			}
		}
		if _, ok, _ := r.Get(fmt.Appendf(nil, "h%d", i)); !ok {
			t.Fatalf("crash after block %d: its state write is lost", height)
		}
		if err := r.CheckIntegrity(); err != nil {
			t.Fatal(err)
		}
		r.Close()
	}
}

// TestCrashWithoutSync shows the crash harness is real: without Sync an
// unflushed commit is lost, and Flush makes it durable (the contract the
// FSM's Raft snapshot relies on). DisableWAL needs Flush too.
func TestCrashWithoutSync(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  Options
		flush bool
		want  uint64 // head height after the crash
	}{
		{"no sync, no flush", Options{BlockLRU: 1}, false, 1},
		{"no sync, flush", Options{BlockLRU: 1}, true, 3},
		{"no WAL, flush", Options{DisableWAL: true}, true, 3},
		{"no WAL, no flush", Options{DisableWAL: true}, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := vfs.NewCrashableMem()
			synced := TestOptions()
			synced.DisableWAL = tc.opts.DisableWAL
			synced.Sync = !tc.opts.DisableWAL
			s := openTest(t, fs, "db", synced)
			c := newChain(t, s)
			if !tc.opts.DisableWAL {
				c.commit(c.block([]*types.Tx{fakeTx(0)}), nil) // synced: survives
			}
			s.Close()
			s = openTest(t, fs, "db", tc.opts)
			defer s.Close()
			c.s = s
			for h := uint64(len(c.leaves)); h < 3; h++ {
				c.commit(c.block([]*types.Tx{fakeTx(10 + h)}), nil)
			}
			if tc.flush {
				if err := s.Flush(); err != nil {
					t.Fatal(err)
				}
			}
			r := openTest(t, fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0}), "db", TestOptions())
			defer r.Close()
			head, _ := r.Head()
			if head.Height != tc.want {
				t.Fatalf("head after crash %d, want %d", head.Height, tc.want)
			}
		})
	}
}

// TestNoWALKeepsWhatCloseAndVaultSetWrote: without a WAL a clean Close
// flushes the memtables, and the writes no Raft entry can replay (genesis,
// VaultSet) are flushed at once, so a crash right after them keeps them.
func TestNoWALKeepsWhatCloseAndVaultSetWrote(t *testing.T) {
	fs := vfs.NewCrashableMem()
	opts := TestOptions()
	opts.Sync, opts.DisableWAL = false, true
	g := openTest(t, fs, "g", opts)
	if err := g.SetGenesis([]byte("genesis"), nil); err != nil {
		t.Fatal(err)
	}
	s := openTest(t, fs, "db", opts)
	c := newChain(t, s)
	for h := range 3 {
		c.commit(c.block([]*types.Tx{fakeTx(uint64(h))}), nil)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, fs, "db", opts)
	if err := s.VaultSet([]byte("progress"), []byte("v1")); err != nil {
		t.Fatal(err)
	}
	c.s = s
	c.commit(c.block([]*types.Tx{fakeTx(10)}), nil) // unflushed: the crash loses it
	r := openTest(t, fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0}), "db", opts)
	defer r.Close()
	if head, _ := r.Head(); head.Height != 3 {
		t.Fatalf("head after close and crash %d, want 3", head.Height)
	}
	crashedG := openTest(t, fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0}), "g", opts)
	defer crashedG.Close()
	if raw, err := crashedG.Genesis(); err != nil || string(raw) != "genesis" {
		t.Fatalf("genesis after crash %q, %v", raw, err)
	}
	if v, ok, err := r.VaultGet([]byte("progress")); err != nil || !ok || string(v) != "v1" {
		t.Fatalf("vault record after crash: %q %v %v, want v1", v, ok, err)
	}
	s.Close()
	g.Close()
}

// TestCorruptionIsDetectedAndLocated tampers with stored bytes and proves each
// tampering is ErrCorrupt naming the record, never a wrong answer.
func TestCorruptionIsDetectedAndLocated(t *testing.T) {
	setup := func(t *testing.T) (*Store, *chain, vfs.FS) {
		fs := vfs.NewMem()
		s := openTest(t, fs, "db", TestOptions())
		c := newChain(t, s)
		for h := range 3 {
			c.commit(c.block([]*types.Tx{fakeTx(uint64(2 * h)), fakeTx(uint64(2*h + 1))}), nil)
		}
		return s, c, fs
	}
	t.Run("garbage block", func(t *testing.T) {
		s, c, _ := setup(t)
		defer s.Close()
		if err := s.RawSetUnsafe(BlockKey(2), []byte{0xff, 0x00}); err != nil {
			t.Fatal(err)
		}
		_, err := s.Block(2)
		wantCorrupt(t, err, "height 2")
		_, _, _, _, err = s.Tx(c.leaves[2])
		wantCorrupt(t, err, "height 2")
		_, err = s.BlockByHash(mustBlockHash(t, c, 2))
		wantCorrupt(t, err, "height 2")
		wantCorrupt(t, s.CheckIntegrity(), "height 2")
		if _, err := s.Block(1); err != nil {
			t.Fatalf("block 1 is intact: %v", err)
		}
	})
	t.Run("block moved to another height", func(t *testing.T) {
		s, _, _ := setup(t)
		defer s.Close()
		raw, _ := s.RawBlock(1)
		if err := s.RawSetUnsafe(BlockKey(2), raw); err != nil {
			t.Fatal(err)
		}
		_, err := s.Block(2)
		wantCorrupt(t, err, "height 2")
	})
	t.Run("tx index points at another tx", func(t *testing.T) {
		s, c, _ := setup(t)
		defer s.Close()
		if err := s.RawSetUnsafe(TxKey(c.leaves[0]), txLoc{Height: 1, Index: 1, Leaf: 0}.encode()); err != nil {
			t.Fatal(err)
		}
		_, _, _, _, err := s.Tx(c.leaves[0])
		wantCorrupt(t, err, "tx index "+c.leaves[0].String())
	})
	t.Run("truncated tx index", func(t *testing.T) {
		s, c, _ := setup(t)
		defer s.Close()
		if err := s.RawSetUnsafe(TxKey(c.leaves[3]), []byte{1, 2}); err != nil {
			t.Fatal(err)
		}
		_, err := s.HasTx(c.leaves[3])
		wantCorrupt(t, err, "tx index")
		_, _, err = s.TxLocation(c.leaves[3])
		wantCorrupt(t, err, "tx index")
	})
	t.Run("block hash index points elsewhere", func(t *testing.T) {
		s, c, _ := setup(t)
		defer s.Close()
		h := mustBlockHash(t, c, 3)
		if err := s.RawSetUnsafe(BlockHashKey(h), encodeU64(1)); err != nil {
			t.Fatal(err)
		}
		_, err := s.BlockByHash(h)
		wantCorrupt(t, err, "block hash index")
	})
	for _, tc := range []struct {
		name string
		key  []byte
		val  []byte // nil deletes
		want string
	}{
		{"border node tampered", NodeKey(2, 0), make([]byte, 32), "log border"},
		{"border node deleted", NodeKey(1, 2), nil, "log node (1, 2)"},
		{"head points past the last block", MetaKey(metaHead), encodeU64(4), `meta "head"`},
		{"head missing", MetaKey(metaHead), nil, `meta "head"`},
		{"head block garbage", BlockKey(3), []byte("junk"), "height 3"},
		{"applied index truncated", MetaKey(metaApplied), []byte{1}, `meta "applied"`},
	} {
		t.Run("open refuses: "+tc.name, func(t *testing.T) {
			s, _, fs := setup(t)
			var err error
			if tc.val == nil {
				err = s.RawDeleteUnsafe(tc.key)
			} else {
				err = s.RawSetUnsafe(tc.key, tc.val)
			}
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			o := TestOptions()
			o.FS = fs
			_, err = Open("db", o)
			wantCorrupt(t, err, tc.want)
		})
	}
}

func mustBlockHash(t *testing.T, c *chain, h uint64) types.Hash {
	t.Helper()
	for _, b := range c.committed {
		if b.Header.Height == h {
			return b.Hash()
		}
	}
	t.Fatalf("no block %d", h)
	return types.Hash{}
}

func wantCorrupt(t *testing.T, err error, names string) {
	t.Helper()
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), names) {
		t.Fatalf("got %v; want ErrCorrupt naming %q", err, names)
	}
}

// TestCheckpointOpensAsACopy proves a checkpoint is a consistent, independent
// store: it has everything committed before it and nothing after.
func TestCheckpointOpensAsACopy(t *testing.T) {
	fs := vfs.NewMem()
	opts := TestOptions()
	opts.Sync = false // the checkpoint must not depend on synced commits
	s := openTest(t, fs, "db", opts)
	defer s.Close()
	c := newChain(t, s)
	for h := range 4 {
		c.commit(c.block([]*types.Tx{fakeTx(uint64(h))}), []state.Write{{Key: []byte("k"), Value: fmt.Appendf(nil, "%d", h)}})
	}
	if err := s.Checkpoint("snap"); err != nil {
		t.Fatal(err)
	}
	if err := s.Checkpoint("snap"); err == nil {
		t.Fatal("checkpoint overwrote an existing directory")
	}
	c.commit(c.block([]*types.Tx{fakeTx(99)}), []state.Write{{Key: []byte("k"), Value: []byte("later")}})

	cp := openTest(t, fs, "snap", TestOptions())
	defer cp.Close()
	head, _ := cp.Head()
	if head.Height != 4 || cp.AppliedIndex() != 8 || cp.LogSize() != 4 {
		t.Fatalf("checkpoint head %d applied %d log %d", head.Height, cp.AppliedIndex(), cp.LogSize())
	}
	if v, _, _ := cp.Get([]byte("k")); !bytes.Equal(v, []byte("3")) {
		t.Fatalf("checkpoint state k = %q, want 3", v)
	}
	if ok, _ := cp.HasTx(fakeTx(99).Hash()); ok {
		t.Fatal("checkpoint sees a later tx")
	}
	if err := cp.CheckIntegrity(); err != nil {
		t.Fatal(err)
	}
}
