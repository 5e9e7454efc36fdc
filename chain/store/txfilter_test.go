package store

import (
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/medchain/medchain/chain/types"
)

func randomHash(rng *rand.Rand) types.Hash {
	var h types.Hash
	for i := 0; i < len(h); i += 8 {
		v := rng.Uint64()
		for j := range 8 {
			h[i+j] = byte(v >> (8 * j))
		}
	}
	return h
}

// TestTxFilterHasNoFalseNegatives adds hashes across segment growth and
// checks every one is still reported, and that fresh hashes are mostly not.
func TestTxFilterHasNoFalseNegatives(t *testing.T) {
	tests := []struct {
		name     string
		firstCap uint64
		keys     int
		segments int
		maxFP    float64
	}{
		{"one segment", 1 << 14, 10_000, 1, 0.02},
		{"grown to four segments", 1 << 10, 10_000, 4, 0.06},
		{"empty", 1 << 10, 0, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(tt.keys)))
			f := (&txFilter{seed: maphash.MakeSeed(), maxBytes: 1 << 30}).withFirstSegment(tt.firstCap)
			added := make([]types.Hash, tt.keys)
			for i := range added {
				added[i] = randomHash(rng)
				f.add(added[i])
			}
			for i, h := range added {
				if !f.mayContain(h) {
					t.Fatalf("hash %d of %d was added but the filter says absent", i, len(added))
				}
			}
			if got := len(*f.segs.Load()); got != tt.segments {
				t.Fatalf("%d segments, want %d", got, tt.segments)
			}
			fp := 0
			const probes = 100_000
			for range probes {
				if f.mayContain(randomHash(rng)) {
					fp++
				}
			}
			if rate := float64(fp) / probes; rate > tt.maxFP {
				t.Fatalf("false positive rate %.4f, want at most %.4f", rate, tt.maxFP)
			}
		})
	}
}

// TestTxFilterSwitchesOffAtItsBound grows a filter past its memory bound: it
// must then answer "maybe" for everything (HasTx falls back to Pebble), never
// "absent" for something it was given.
func TestTxFilterSwitchesOffAtItsBound(t *testing.T) {
	tests := []struct {
		name     string
		maxBytes int64
		expect   uint64
		on       bool
	}{
		{"negative bound: off", -1, 0, false},
		{"bound too small for the log at open: off", 1 << 10, 1 << 20, false},
		{"default bound: on", DefaultTxFilterBytes, 1000, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newTxFilter(tt.expect, tt.maxBytes)
			if f.enabled() != tt.on {
				t.Fatalf("enabled %v, want %v", f.enabled(), tt.on)
			}
			if !tt.on && (!f.mayContain(types.Hash{1}) || f.bytes() != 0) {
				t.Fatal("a switched-off filter must say maybe and hold no memory")
			}
		})
	}
	// Growth past the bound switches it off.
	f := (&txFilter{seed: maphash.MakeSeed(), maxBytes: 3 * (1 << 10) * txFilterBitsPerKey / 8}).withFirstSegment(1 << 10)
	rng := rand.New(rand.NewPCG(3, 3))
	var added []types.Hash
	for range 4 << 10 {
		h := randomHash(rng)
		f.add(h)
		added = append(added, h)
	}
	if f.enabled() {
		t.Fatalf("filter of %d bytes still on past its bound of %d", f.bytes(), f.maxBytes)
	}
	for _, h := range added {
		if !f.mayContain(h) {
			t.Fatal("switched-off filter said absent")
		}
	}
}

// storeHasTx is the reference answer: the tx index key read from Pebble.
func storeHasTx(t *testing.T, s *Store, h types.Hash) bool {
	t.Helper()
	_, found, err := s.get(TxKey(h))
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// TestHasTxAnswersExactlyWhatTheStoreHolds checks HasTx against a direct
// Pebble read of the tx index for committed, raw-written, raw-deleted and
// never-seen hashes, after a reopen (the filter rebuilt from disk), on a
// snapshot and on a checkpoint, with the filter on, grown past its bound and
// off.
func TestHasTxAnswersExactlyWhatTheStoreHolds(t *testing.T) {
	defer func(old uint64) { txFilterMinKeys = old }(txFilterMinKeys)
	txFilterMinKeys = 1 << 10
	tests := []struct {
		name     string
		maxBytes int64
		on       bool // after 3,000 txs
	}{
		{"filter on", 0, true},
		{"filter grown past its bound", 2000, false},
		{"filter off", -1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := vfs.NewMem()
			opts := TestOptions()
			opts.TxFilterBytes = tt.maxBytes
			s := openTest(t, fs, "db", opts)
			c := newChain(t, s)
			rng := rand.New(rand.NewPCG(9, 9))
			c.fakeBlocks(3000, 500, rng)
			if s.txs.enabled() != tt.on {
				t.Fatalf("filter on: %v, want %v", s.txs.enabled(), tt.on)
			}
			injected := randomHash(rng)
			if err := s.RawSetUnsafe(TxKey(injected), txLoc{Height: 1}.encode()); err != nil {
				t.Fatal(err)
			}
			if err := s.RawDeleteUnsafe(TxKey(c.leaves[7])); err != nil {
				t.Fatal(err)
			}
			probes := append([]types.Hash{injected}, c.leaves...)
			for range 3000 {
				probes = append(probes, randomHash(rng))
			}
			check := func(stage string, s *Store) {
				t.Helper()
				for i, h := range probes {
					got, err := s.HasTx(h)
					if err != nil {
						t.Fatalf("%s: HasTx: %v", stage, err)
					}
					if want := storeHasTx(t, s, h); got != want {
						t.Fatalf("%s: probe %d: HasTx %v, the store holds %v", stage, i, got, want)
					}
				}
			}
			check("live", s)
			snap, err := s.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			c.fakeBlocks(len(c.leaves)+100, 100, rng) // after the snapshot
			probes = append(probes, c.leaves[len(c.leaves)-100:]...)
			check("snapshot", snap)
			check("live after the snapshot", s)
			if err := snap.Close(); err != nil {
				t.Fatal(err)
			}
			if err := s.Checkpoint("cp"); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = openTest(t, fs, "db", opts)
			check("reopened", s)
			_ = s.Close()
			cp := openTest(t, fs, "cp", opts)
			check("checkpoint", cp)
			_ = cp.Close()
		})
	}
}

// TestHasTxSeesEveryCommittedTx runs HasTx for the txs of every returned
// Commit while later blocks commit: a committed tx is never reported absent.
func TestHasTxSeesEveryCommittedTx(t *testing.T) {
	s := newTestStore(t)
	c := newChain(t, s)
	var published atomic.Int64
	var mu sync.Mutex // guards leaves snapshots handed to the reader
	stop := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		defer close(errc)
		rng := rand.New(rand.NewPCG(5, 5))
		for {
			select {
			case <-stop:
				return
			default:
			}
			n := int(published.Load())
			if n == 0 {
				continue
			}
			mu.Lock()
			h := c.leaves[rng.IntN(n)]
			mu.Unlock()
			ok, err := s.HasTx(h)
			if err != nil || !ok {
				errc <- fmt.Errorf("committed tx %s: HasTx %v, %v", h, ok, err)
				return
			}
		}
	}()
	rng := rand.New(rand.NewPCG(6, 6))
	for range 200 {
		k := 1 + rng.IntN(50)
		txs := make([]*types.Tx, k)
		mu.Lock()
		for i := range txs {
			txs[i] = fakeTx(uint64(len(c.leaves) + i))
		}
		mu.Unlock()
		b := c.block(txs)
		mu.Lock()
		c.commit(b, nil)
		n := len(c.leaves)
		mu.Unlock()
		published.Store(int64(n))
	}
	close(stop)
	if err, failed := <-errc; failed {
		t.Fatal(err)
	}
}
