package store

import (
	"bytes"
	"container/list"
	"sync"
	"sync/atomic"
)

// Defaults for the state read cache.
const (
	// DefaultStateCacheEntries is how many state reads the cache keeps: at
	// most 32 MiB of values (8192 of the largest cached), in practice far
	// less (an identity is about 2 KB, an absence nothing).
	DefaultStateCacheEntries = 8192
	// stateCacheMaxValue is the largest value the cache keeps, in bytes.
	stateCacheMaxValue = 4 << 10
)

// stateCache keeps the most recent state and vault reads, values and
// absences alike, keyed by store key, so the reads every tx repeats (its
// signer's identity at admission and again in the block, the erasure record
// of its patient, which is absent, and its patient's pseudonym mapping) cost
// a map lookup instead of a Pebble Get through every memtable and level.
//
// It answers exactly what Pebble holds. The store is the only writer, and
// every write goes through begin/end, which drop the keys written; a read
// that raced with a write never fills the cache:
//
//   - gen is odd while a write is in flight. A reader notes gen before its
//     Pebble read and fills the cache only if gen is still that even value,
//     checked under mu;
//   - a writer makes gen odd, drops its keys (under mu), commits, drops them
//     again and makes gen even. So a value read before the commit is either
//     filled before the first drop (and dropped) or refused.
//
// Snapshots do not use it.
type stateCache struct {
	max int
	gen atomic.Uint64

	mu sync.Mutex // guards the following
	ll *list.List // of *stateEntry, most recent first
	m  map[string]*list.Element
}

type stateEntry struct {
	key   string
	val   []byte
	found bool
}

func newStateCache(max int) *stateCache {
	if max <= 0 {
		return nil
	}
	return &stateCache{max: max, ll: list.New(), m: make(map[string]*list.Element)}
}

// lookup returns a copy of the cached read of key, and the generation a
// reader that misses must pass to fill. ok is false on a miss.
func (c *stateCache) lookup(key []byte) (val []byte, found, ok bool, gen uint64) {
	gen = c.gen.Load()
	c.mu.Lock()
	defer c.mu.Unlock()
	e, hit := c.m[string(key)]
	if !hit {
		return nil, false, false, gen
	}
	c.ll.MoveToFront(e)
	ent := e.Value.(*stateEntry)
	if !ent.found {
		return nil, false, true, gen
	}
	return bytes.Clone(ent.val), true, true, gen
}

// fill records a read of key made after lookup returned gen, unless a write
// began since (or was in flight then). val is copied.
func (c *stateCache) fill(gen uint64, key, val []byte, found bool) {
	if gen&1 == 1 || len(val) > stateCacheMaxValue {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen.Load() != gen {
		return
	}
	if e, ok := c.m[string(key)]; ok {
		c.ll.Remove(e)
		delete(c.m, string(key))
	}
	ent := &stateEntry{key: string(key), found: found}
	if found {
		ent.val = bytes.Clone(val)
	}
	c.m[ent.key] = c.ll.PushFront(ent)
	for c.ll.Len() > c.max {
		last := c.ll.Back()
		c.ll.Remove(last)
		delete(c.m, last.Value.(*stateEntry).key)
	}
}

// begin marks a write in flight; end must follow, whatever the write's
// outcome. Writers are serialised by the store's writeMu.
func (c *stateCache) begin() { c.gen.Add(1) }

// end marks the write done.
func (c *stateCache) end() { c.gen.Add(1) }

// drop forgets the reads of keys (store keys).
func (c *stateCache) drop(keys [][]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		if e, ok := c.m[string(k)]; ok {
			c.ll.Remove(e)
			delete(c.m, string(k))
		}
	}
}

// purge forgets every read (a raw write may have changed any key).
func (c *stateCache) purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ll.Init()
	clear(c.m)
}
