package store

import (
	"container/list"
	"sync"

	"github.com/medchain/medchain/chain/types"
)

// blockLRU keeps the most recently read decoded blocks for Tx lookups. Cached
// blocks are never handed out: callers get copies of what they ask for.
type blockLRU struct {
	max int

	mu sync.Mutex // guards the following
	ll *list.List // of *lruEntry, most recent first
	m  map[uint64]*list.Element
	// gen counts the rewrites of committed blocks (Prune, prune.go).
	gen uint64
}

type lruEntry struct {
	height uint64
	block  *types.Block
}

func newBlockLRU(max int) *blockLRU {
	return &blockLRU{max: max, ll: list.New(), m: make(map[uint64]*list.Element)}
}

func (c *blockLRU) get(height uint64) (*types.Block, bool) {
	if c.max <= 0 {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[height]
	if !ok {
		return nil, false
	}
	c.ll.MoveToFront(e)
	return e.Value.(*lruEntry).block, true
}

func (c *blockLRU) add(height uint64, b *types.Block) {
	if c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.addLocked(height, b)
}

func (c *blockLRU) addLocked(height uint64, b *types.Block) {
	if e, ok := c.m[height]; ok {
		e.Value.(*lruEntry).block = b
		c.ll.MoveToFront(e)
		return
	}
	c.m[height] = c.ll.PushFront(&lruEntry{height, b})
	for c.ll.Len() > c.max {
		last := c.ll.Back()
		c.ll.Remove(last)
		delete(c.m, last.Value.(*lruEntry).height)
	}
}

func (c *blockLRU) purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++ // a raw write may have changed a block: reads in flight are not cached
	c.ll.Init()
	clear(c.m)
}
