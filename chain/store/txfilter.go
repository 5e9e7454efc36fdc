package store

import (
	"fmt"
	"hash/maphash"
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"

	"github.com/medchain/medchain/chain/types"
)

// The tx filter answers most HasTx misses from memory. Every new tx is a miss,
// twice (admission and block execution), and a Pebble Get of an absent key
// costs several microseconds under load: it seeks every memtable, every L0
// sublevel and one table per level, and Pebble does not consult L6 filter
// blocks for Get. The filter is a Bloom filter over every key of the tx index:
//
//   - no false negatives: a hash is added before the batch that indexes it
//     commits (Commit, RawSetUnsafe) and at Open every stored tx index key is
//     added, so "absent" from the filter means absent from the store;
//   - a "maybe" (a hit, or a false positive at about 1 %) is answered by Pebble,
//     so HasTx returns exactly what the store holds;
//   - bounded: about txFilterBitsPerKey bits per indexed tx, at most
//     Options.TxFilterBytes; past that bound the filter switches itself off
//     and every HasTx goes to Pebble, as without it, until the store is
//     reopened with a larger bound.
//
// The filter is a list of segments, each a blocked Bloom filter (one 64-byte
// block per key, txFilterProbes bits set in it). When the last segment holds
// its capacity a new one of twice the capacity is appended; a query checks
// every segment. Open sizes the first segment from the log size, so a
// reopened store usually has one segment.

const (
	txFilterBitsPerKey = 12
	txFilterProbes     = 7
	blockWords         = 8 // uint64 words in one 512-bit filter block
)

// txFilterMinKeys is the smallest first segment, in keys (1.5 MiB); tests
// lower it to reach the memory bound cheaply.
var txFilterMinKeys uint64 = 1 << 20

// txFilter is an approximate set of tx hashes without false negatives. It is
// safe for concurrent use: queries never block; add serialises growth.
type txFilter struct {
	seed     maphash.Seed
	maxBytes int64

	mu sync.Mutex // serialises growth in add
	// segs is the current segment list, replaced (never modified) on growth;
	// nil when the filter is switched off.
	segs atomic.Pointer[[]*bloomSegment]
}

// bloomSegment is one blocked Bloom filter of a fixed capacity.
type bloomSegment struct {
	words   []uint64 // blockWords per block, set with atomic OR
	nblocks uint64
	capKeys uint64
	n       atomic.Uint64 // keys added
}

func newBloomSegment(capKeys uint64) *bloomSegment {
	nblocks := (capKeys*txFilterBitsPerKey + 511) / 512
	return &bloomSegment{words: make([]uint64, nblocks*blockWords), nblocks: nblocks, capKeys: capKeys}
}

func (g *bloomSegment) bytes() int64 { return int64(len(g.words)) * 8 }

// block returns the filter block that hash x selects.
func (g *bloomSegment) block(x uint64) []uint64 {
	hi, _ := bits.Mul64(x, g.nblocks)
	return g.words[hi*blockWords : (hi+1)*blockWords : (hi+1)*blockWords]
}

// mix derives the in-block probe bits from x independently of the block choice.
func mix(x uint64) uint64 { return (x ^ x>>31) * 0x9e3779b97f4a7c15 }

func (g *bloomSegment) add(x uint64) {
	blk, y := g.block(x), mix(x)
	for range txFilterProbes {
		bit := y & 511
		atomic.OrUint64(&blk[bit>>6], 1<<(bit&63))
		y >>= 9
	}
	g.n.Add(1)
}

func (g *bloomSegment) mayContain(x uint64) bool {
	blk, y := g.block(x), mix(x)
	for range txFilterProbes {
		bit := y & 511
		if atomic.LoadUint64(&blk[bit>>6])&(1<<(bit&63)) == 0 {
			return false
		}
		y >>= 9
	}
	return true
}

// newTxFilter returns an empty filter sized for about expect keys, or a
// switched-off filter when maxBytes is negative or too small for expect.
func newTxFilter(expect uint64, maxBytes int64) *txFilter {
	f := &txFilter{seed: maphash.MakeSeed(), maxBytes: maxBytes}
	if maxBytes < 0 {
		return f
	}
	capKeys := max(expect*2, txFilterMinKeys)
	if maxKeys := uint64(maxBytes) * 8 / txFilterBitsPerKey; capKeys > maxKeys {
		capKeys = maxKeys
	}
	if capKeys < expect || capKeys == 0 {
		return f
	}
	return f.withFirstSegment(capKeys)
}

// withFirstSegment switches f on with one empty segment of capKeys keys.
func (f *txFilter) withFirstSegment(capKeys uint64) *txFilter {
	segs := []*bloomSegment{newBloomSegment(capKeys)}
	f.segs.Store(&segs)
	return f
}

func (f *txFilter) hash(h types.Hash) uint64 { return maphash.Bytes(f.seed, h[:]) }

// enabled reports whether the filter answers queries (it is not switched off).
func (f *txFilter) enabled() bool { return f.segs.Load() != nil }

// add records h. It must be called before h becomes visible in the store.
func (f *txFilter) add(h types.Hash) {
	p := f.segs.Load()
	if p == nil {
		return
	}
	x := f.hash(h)
	segs := *p
	last := segs[len(segs)-1]
	if last.n.Load() >= last.capKeys {
		if last = f.grow(last); last == nil {
			return
		}
	}
	last.add(x)
}

// grow appends a segment of twice full's capacity unless another add already
// did, and returns the segment to add to: nil when the bound is reached and
// the filter switched itself off.
func (f *txFilter) grow(full *bloomSegment) *bloomSegment {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.segs.Load()
	if p == nil {
		return nil
	}
	segs := *p
	if last := segs[len(segs)-1]; last != full {
		return last
	}
	next := newBloomSegment(full.capKeys * 2)
	total := next.bytes()
	for _, g := range segs {
		total += g.bytes()
	}
	if total > f.maxBytes {
		f.segs.Store(nil) // every HasTx goes to Pebble from now on
		return nil
	}
	grown := append(segs[:len(segs):len(segs)], next)
	f.segs.Store(&grown)
	return next
}

// mayContain reports false only if h was never added (and the filter is on).
func (f *txFilter) mayContain(h types.Hash) bool {
	p := f.segs.Load()
	if p == nil {
		return true
	}
	x := f.hash(h)
	for _, g := range *p {
		if g.mayContain(x) {
			return true
		}
	}
	return false
}

// bytes returns the memory the filter holds.
func (f *txFilter) bytes() int64 {
	p := f.segs.Load()
	if p == nil {
		return 0
	}
	var n int64
	for _, g := range *p {
		n += g.bytes()
	}
	return n
}

// loadTxFilter builds the filter from every key of the tx index in r; logSize
// (the number of log leaves, at least the number of tx index keys) sizes it.
func loadTxFilter(r pebble.Reader, logSize uint64, maxBytes int64) (*txFilter, error) {
	f := newTxFilter(logSize, maxBytes)
	if !f.enabled() {
		return f, nil
	}
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: []byte{PrefixTx}, UpperBound: []byte{PrefixTx + 1}})
	if err != nil {
		return nil, fmt.Errorf("store: load tx filter: %w", err)
	}
	var h types.Hash
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if len(k) != 1+hashSize { // HasTx never asks for such a key
			continue
		}
		copy(h[:], k[1:])
		f.add(h)
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("store: load tx filter: %w", err)
	}
	return f, nil
}
