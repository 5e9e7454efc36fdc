package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/types"
)

// storeGet is the reference answer: the state key read from Pebble.
func storeGet(t *testing.T, s *Store, k []byte) ([]byte, bool) {
	t.Helper()
	v, found, err := s.get(StateKey(k))
	if err != nil {
		t.Fatal(err)
	}
	return v, found
}

// TestStateGetAnswersExactlyWhatPebbleHolds interleaves commits that set and
// delete state and vault keys, raw and vault writes, snapshots and a reopen
// with Gets and VaultGets, and checks each against a direct Pebble read, with
// the cache on, tiny (always evicting) and off.
func TestStateGetAnswersExactlyWhatPebbleHolds(t *testing.T) {
	tests := []struct {
		name    string
		entries int
	}{
		{"cache on", 0},
		{"cache of 4 entries", 4},
		{"cache off", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := vfs.NewMem()
			opts := TestOptions()
			opts.StateCacheEntries = tt.entries
			s := openTest(t, fs, "db", opts)
			rng := rand.New(rand.NewPCG(31, uint64(tt.entries+10)))
			key := func() []byte { return fmt.Appendf(nil, "k%02d", rng.IntN(40)) }
			c := newChain(t, s)
			check := func(stage string, s *Store, n int) {
				t.Helper()
				for range n {
					k := key()
					got, found, err := s.Get(k)
					if err != nil {
						t.Fatal(err)
					}
					want, wantFound := storeGet(t, s, k)
					if found != wantFound || !bytes.Equal(got, want) {
						t.Fatalf("%s: Get(%s) = %q, %v; Pebble holds %q, %v", stage, k, got, found, want, wantFound)
					}
					if found && len(got) > 0 {
						got[0] ^= 0xff // the caller owns it: the cache must not change
					}
					got, found, err = s.VaultGet(k)
					if err != nil {
						t.Fatal(err)
					}
					want, wantFound, err = s.get(VaultKey(k))
					if err != nil {
						t.Fatal(err)
					}
					if found != wantFound || !bytes.Equal(got, want) {
						t.Fatalf("%s: VaultGet(%s) = %q, %v; Pebble holds %q, %v", stage, k, got, found, want, wantFound)
					}
				}
			}
			for round := range 30 {
				check(fmt.Sprintf("round %d", round), s, 40)
				var ws []state.Write
				for range rng.IntN(8) {
					if rng.IntN(3) == 0 {
						ws = append(ws, state.Write{Key: key(), Delete: true})
					} else {
						ws = append(ws, state.Write{Key: key(), Value: fmt.Appendf(nil, "v%d-%d", round, rng.IntN(1000))})
					}
				}
				state.SortWrites(ws)
				ws = dedupWrites(ws)
				var vs []state.Write // the vault: mappings set, erasures delete
				for range rng.IntN(4) {
					if rng.IntN(2) == 0 {
						vs = append(vs, state.Write{Key: key(), Delete: true})
					} else {
						vs = append(vs, state.Write{Key: key(), Value: fmt.Appendf(nil, "wrapped-%d", round)})
					}
				}
				state.SortWrites(vs)
				vs = dedupWrites(vs)
				blk := c.block([]*types.Tx{fakeTx(uint64(round))})
				c.raft += 2
				if err := s.Commit(Commit{Block: blk, Writes: ws, Vault: vs, AppliedIndex: c.raft}); err != nil {
					t.Fatal(err)
				}
				c.leaves = append(c.leaves, blk.TxHashes()...)
				switch round % 10 {
				case 3:
					if err := s.RawSetUnsafe(StateKey(key()), []byte("raw")); err != nil {
						t.Fatal(err)
					}
				case 4:
					if err := s.VaultSet(key(), []byte("progress")); err != nil {
						t.Fatal(err)
					}
				case 6:
					if err := s.RawDeleteUnsafe(StateKey(key())); err != nil {
						t.Fatal(err)
					}
				case 8:
					snap, err := s.Snapshot()
					if err != nil {
						t.Fatal(err)
					}
					c.commit(c.block(nil), []state.Write{{Key: []byte("k01"), Value: []byte("after the snapshot")}})
					check("snapshot", snap, 40)
					_ = snap.Close()
				}
			}
			_ = s.Close()
			s = openTest(t, fs, "db", opts)
			defer s.Close()
			check("reopened", s, 100)
		})
	}
}

// TestGenesisStateIsNotHiddenByACachedAbsence reads a key before the
// genesis writes it: the cached absence must not outlive SetGenesis.
func TestGenesisStateIsNotHiddenByACachedAbsence(t *testing.T) {
	s := newTestStore(t)
	if _, found, err := s.Get([]byte("k")); found || err != nil {
		t.Fatalf("before genesis: %v %v", found, err)
	}
	if err := s.SetGenesis([]byte("genesis"), []state.Write{{Key: []byte("k"), Value: []byte("g")}}); err != nil {
		t.Fatal(err)
	}
	if v, found, err := s.Get([]byte("k")); !found || err != nil || string(v) != "g" {
		t.Fatalf("after genesis: %q %v %v", v, found, err)
	}
}

// dedupWrites keeps the last write of each key of sorted ws.
func dedupWrites(ws []state.Write) []state.Write {
	out := ws[:0]
	for i, w := range ws {
		if i+1 < len(ws) && bytes.Equal(ws[i+1].Key, w.Key) {
			continue
		}
		out = append(out, w)
	}
	return out
}

// TestStateCacheRefusesAReadThatRacedAWrite walks the interleaving the
// generation counter exists for: a reader misses, reads the old value from
// Pebble, a write of that key commits, then the reader tries to fill.
func TestStateCacheRefusesAReadThatRacedAWrite(t *testing.T) {
	tests := []struct {
		name      string
		write     func(c *stateCache)
		wantCache bool
	}{
		{"no write in between: filled", func(*stateCache) {}, true},
		{"a write committed in between: refused", func(c *stateCache) {
			c.begin()
			c.drop([][]byte{[]byte("k")})
			c.drop([][]byte{[]byte("k")})
			c.end()
		}, false},
		{"a write still in flight: refused", func(c *stateCache) { c.begin() }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newStateCache(8)
			_, _, ok, gen := c.lookup([]byte("k"))
			if ok {
				t.Fatal("empty cache hit")
			}
			tt.write(c)
			c.fill(gen, []byte("k"), []byte("old"), true)
			_, _, ok, _ = c.lookup([]byte("k"))
			if ok != tt.wantCache {
				t.Fatalf("cached: %v, want %v", ok, tt.wantCache)
			}
		})
	}
	// A reader that starts while a write is in flight never fills.
	c := newStateCache(8)
	c.begin()
	_, _, _, gen := c.lookup([]byte("k"))
	c.end()
	c.fill(gen, []byte("k"), []byte("v"), true)
	if _, _, ok, _ := c.lookup([]byte("k")); ok {
		t.Fatal("a read begun during a write was cached")
	}
}

// TestStateGetNeverGoesBackInTime commits increasing versions of one key
// while readers Get it: no reader sees a version older than one it saw, and
// the writer sees its own commit at once.
func TestStateGetNeverGoesBackInTime(t *testing.T) {
	s := newTestStore(t)
	c := newChain(t, s)
	key := []byte("counter")
	version := func(v []byte, found bool) uint64 {
		if !found {
			return 0
		}
		return binary.BigEndian.Uint64(v)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 4)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var last uint64
			for {
				select {
				case <-stop:
					return
				default:
				}
				v, found, err := s.Get(key)
				if err != nil {
					errs <- err
					return
				}
				n := version(v, found)
				if n < last {
					errs <- fmt.Errorf("read version %d after %d", n, last)
					return
				}
				last = n
			}
		}()
	}
	for i := uint64(1); i <= 300; i++ {
		c.commit(c.block(nil), []state.Write{{Key: key, Value: binary.BigEndian.AppendUint64(nil, i)}})
		v, found, err := s.Get(key)
		if err != nil || version(v, found) != i {
			t.Fatalf("after committing version %d the writer reads %d (%v)", i, version(v, found), err)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
