package consensus

import (
	"fmt"
	"sync"
	"time"

	"github.com/medchain/medchain/chain/types"
)

// pending is one admitted tx.
type pending struct {
	tx   *types.Tx
	hash types.Hash
	size int       // encoded size (types.Tx.SizeBound)
	at   time.Time // admission time (local clock: proposer only, never in apply)
}

// mempool is a bounded FIFO of admitted txs, deduplicated by tx hash. It is
// safe for concurrent use; ready is signalled (never blocking) on every add.
type mempool struct {
	capacity int
	ready    chan struct{}

	mu sync.Mutex
	// guards the following
	queue []*pending
	index map[types.Hash]struct{}
}

func newMempool(capacity int) *mempool {
	return &mempool{capacity: capacity, ready: make(chan struct{}, 1), index: make(map[types.Hash]struct{})}
}

// add admits p. A tx already waiting is accepted again without a second copy.
// A full pool returns ErrBusy.
func (m *mempool) add(p *pending) error {
	m.mu.Lock()
	if _, dup := m.index[p.hash]; dup {
		m.mu.Unlock()
		return nil
	}
	if len(m.queue) >= m.capacity {
		n := len(m.queue)
		m.mu.Unlock()
		return fmt.Errorf("%w: consensus: mempool full (%d txs), retry later", ErrBusy, n)
	}
	m.queue = append(m.queue, p)
	m.index[p.hash] = struct{}{}
	m.mu.Unlock()
	m.signal()
	return nil
}

// addAll admits ps in order under one lock and returns, per tx, nil or
// ErrBusy (the pool filled up). A tx already waiting, or twice in ps, is
// accepted again without a second copy.
func (m *mempool) addAll(ps []*pending) []error {
	errs := make([]error, len(ps))
	added := false
	m.mu.Lock()
	for i, p := range ps {
		if _, dup := m.index[p.hash]; dup {
			continue
		}
		if len(m.queue) >= m.capacity {
			errs[i] = fmt.Errorf("%w: consensus: mempool full (%d txs), retry later", ErrBusy, len(m.queue))
			continue
		}
		m.queue = append(m.queue, p)
		m.index[p.hash] = struct{}{}
		added = true
	}
	m.mu.Unlock()
	if added {
		m.signal()
	}
	return errs
}

func (m *mempool) signal() {
	select {
	case m.ready <- struct{}{}:
	default:
	}
}

// contains reports whether a tx with hash h is waiting.
func (m *mempool) contains(h types.Hash) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.index[h]
	return ok
}

// take removes up to maxTxs txs (and at most maxBytes of them, but always at
// least one) from the front.
func (m *mempool) take(maxTxs, maxBytes int) []*pending {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, bytes := 0, 0
	for n < len(m.queue) && n < maxTxs {
		if n > 0 && bytes+m.queue[n].size > maxBytes {
			break
		}
		bytes += m.queue[n].size
		n++
	}
	out := make([]*pending, n)
	copy(out, m.queue[:n])
	clear(m.queue[:n])
	m.queue = m.queue[n:]
	if len(m.queue) == 0 {
		m.queue = nil // let the backing array go
	}
	for _, p := range out {
		delete(m.index, p.hash)
	}
	return out
}

// requeue puts txs taken for a block that did not commit back at the front,
// in their order, even past capacity (they were admitted once already).
func (m *mempool) requeue(ps []*pending) {
	if len(ps) == 0 {
		return
	}
	m.mu.Lock()
	keep := make([]*pending, 0, len(ps)+len(m.queue))
	for _, p := range ps {
		if _, dup := m.index[p.hash]; !dup {
			m.index[p.hash] = struct{}{}
			keep = append(keep, p)
		}
	}
	m.queue = append(keep, m.queue...)
	m.mu.Unlock()
	m.signal()
}

// oldest returns the admission time of the first waiting tx.
func (m *mempool) oldest() (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.queue) == 0 {
		return time.Time{}, false
	}
	return m.queue[0].at, true
}

// len returns the number of waiting txs.
func (m *mempool) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.queue)
}
