package store

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"

	"github.com/medchain/medchain/chain/types"
)

// cloneRange returns a copy of r that can be appended to without touching r.
func cloneRange(f *compact.RangeFactory, r *compact.Range) *compact.Range {
	c, err := f.NewRange(r.Begin(), r.End(), slices.Clone(r.Hashes()))
	if err != nil {
		panic(fmt.Sprintf("store: copy of a valid compact range: %v", err)) // broken invariant
	}
	return c
}

// rootOf returns the RFC 6962 root of a compact range that starts at 0.
func rootOf(r *compact.Range) types.Hash {
	if r.End() == 0 {
		return types.Hash(types.LogHasher.EmptyRoot())
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		panic(fmt.Sprintf("store: root of a range from 0: %v", err)) // broken invariant
	}
	return types.Hash(root)
}

func (s *Store) currentBorder() *compact.Range {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.border
}

// LogSize returns the number of leaves in the global log.
func (s *Store) LogSize() uint64 { return s.currentBorder().End() }

// LogRootAfter returns the log size and root after appending leaves (tx
// hashes) to the log as it is now. It writes nothing: the proposer uses it to
// fill Header.LogSize and Header.LogRoot.
func (s *Store) LogRootAfter(leaves []types.Hash) (size uint64, root types.Hash, err error) {
	if err := s.enter(); err != nil {
		return 0, types.Hash{}, err
	}
	defer s.exit()
	r := cloneRange(s.rf, s.currentBorder())
	for _, l := range leaves {
		if err := r.Append(types.LogHasher.HashLeaf(l[:]), nil); err != nil {
			return 0, types.Hash{}, fmt.Errorf("store: append to log: %w", err)
		}
	}
	return r.End(), rootOf(r), nil
}

// node reads the stored hash of log node id. A missing node below the log
// size is corruption.
func (s *Store) node(id compact.NodeID) ([]byte, error) {
	key := NodeKey(id.Level, id.Index)
	v, found, err := s.get(key)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, corrupt(key, fmt.Errorf("missing"))
	}
	if len(v) != hashSize {
		return nil, corrupt(key, fmt.Errorf("hash is %d bytes, want %d", len(v), hashSize))
	}
	return v, nil
}

func (s *Store) nodes(ids []compact.NodeID) ([][]byte, error) {
	hs := make([][]byte, len(ids))
	for i, id := range ids {
		h, err := s.node(id)
		if err != nil {
			return nil, err
		}
		hs[i] = h
	}
	return hs, nil
}

// loadRange builds the compact range [0, size) from stored perfect-subtree nodes.
func (s *Store) loadRange(size uint64) (*compact.Range, error) {
	hs, err := s.nodes(compact.RangeNodes(0, size, nil))
	if err != nil {
		return nil, err
	}
	r, err := s.rf.NewRange(0, size, hs)
	if err != nil {
		return nil, fmt.Errorf("%w: log border at size %d: %v", ErrCorrupt, size, err)
	}
	return r, nil
}

// LogRoot returns the root of the log when it had size leaves, from at most
// 64 stored nodes.
func (s *Store) LogRoot(size uint64) (types.Hash, error) {
	if err := s.enter(); err != nil {
		return types.Hash{}, err
	}
	defer s.exit()
	cur := s.currentBorder()
	switch {
	case size > cur.End():
		return types.Hash{}, fmt.Errorf("%w: size %d, log has %d", ErrOutOfRange, size, cur.End())
	case size == cur.End():
		return rootOf(cur), nil
	}
	r, err := s.loadRange(size)
	if err != nil {
		return types.Hash{}, err
	}
	return rootOf(r), nil
}

// LeafIndex returns the log leaf index of the first occurrence of a tx.
func (s *Store) LeafIndex(txHash types.Hash) (uint64, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.exit()
	loc, err := s.txLoc(txHash)
	return loc.Leaf, err
}

// InclusionProof returns the RFC 6962 inclusion proof of leaf index in the
// log of the given size (index < size <= LogSize), from stored nodes.
func (s *Store) InclusionProof(index, size uint64) ([]types.Hash, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.exit()
	if n := s.LogSize(); size > n || index >= size {
		return nil, fmt.Errorf("%w: inclusion of %d in size %d, log has %d", ErrOutOfRange, index, size, n)
	}
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrOutOfRange, err)
	}
	return s.proof(nodes)
}

// ConsistencyProof returns the RFC 6962 consistency proof between the log at
// size1 and at size2 (size1 <= size2 <= LogSize), from stored nodes. It is
// empty when size1 is 0 or equals size2.
func (s *Store) ConsistencyProof(size1, size2 uint64) ([]types.Hash, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.exit()
	if n := s.LogSize(); size2 > n || size1 > size2 {
		return nil, fmt.Errorf("%w: consistency %d..%d, log has %d", ErrOutOfRange, size1, size2, n)
	}
	nodes, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrOutOfRange, err)
	}
	return s.proof(nodes)
}

func (s *Store) proof(nodes proof.Nodes) ([]types.Hash, error) {
	hs, err := s.nodes(nodes.IDs)
	if err != nil {
		return nil, err
	}
	hs, err = nodes.Rehash(hs, types.LogHasher.HashChildren)
	if err != nil {
		return nil, fmt.Errorf("store: rehash proof: %w", err)
	}
	out := make([]types.Hash, len(hs))
	for i, h := range hs {
		out[i] = types.Hash(h)
	}
	return out, nil
}

// LogNode returns the stored hash of the perfect subtree (level, index); level
// 0 holds leaf hashes. A missing or malformed node is ErrCorrupt.
func (s *Store) LogNode(level uint, index uint64) (types.Hash, error) {
	if err := s.enter(); err != nil {
		return types.Hash{}, err
	}
	defer s.exit()
	v, err := s.node(compact.NewNodeID(level, index))
	if err != nil {
		return types.Hash{}, err
	}
	return types.Hash(v), nil
}

// LogRootAfterPending is LogRootAfter for a proposer that builds on a block
// still in flight: pending are that block's tx hashes and pendingSize the
// log size its header commits to. Whether or not that block has been
// committed when the border is read, the result is the log after it plus
// leaves. A log that is at neither point (another block took the height) is
// ErrNotNext.
func (s *Store) LogRootAfterPending(pendingSize uint64, pending, leaves []types.Hash) (size uint64, root types.Hash, err error) {
	if err := s.enter(); err != nil {
		return 0, types.Hash{}, err
	}
	defer s.exit()
	r := cloneRange(s.rf, s.currentBorder()) // one consistent border: Commit replaces it, never edits it
	switch end := r.End(); {
	case end == pendingSize:
	case uint64(len(pending)) <= pendingSize && end == pendingSize-uint64(len(pending)):
		leaves = append(slices.Clip(pending), leaves...)
	default:
		return 0, types.Hash{}, fmt.Errorf("%w: log has %d leaves; the pending block ends at %d with %d", ErrNotNext, end, pendingSize, len(pending))
	}
	for _, l := range leaves {
		if err := r.Append(types.LogHasher.HashLeaf(l[:]), nil); err != nil {
			return 0, types.Hash{}, fmt.Errorf("store: append to log: %w", err)
		}
	}
	return r.End(), rootOf(r), nil
}

// LogNodeCursor reads stored log nodes in increasing index order per level,
// with one forward iterator per level instead of a point read per node: for
// a reader that walks the log from the start, such as verification. Each
// level's indexes must be asked in increasing order. Close it when done.
type LogNodeCursor struct {
	s   *Store
	its map[uint]*pebble.Iterator
}

// LogNodeCursor returns a cursor over the stored log nodes.
func (s *Store) LogNodeCursor() *LogNodeCursor {
	return &LogNodeCursor{s: s, its: map[uint]*pebble.Iterator{}}
}

// Node returns the stored hash of node (level, index); a missing or
// malformed node is ErrCorrupt.
func (c *LogNodeCursor) Node(level uint, index uint64) (types.Hash, error) {
	if err := c.s.enter(); err != nil {
		return types.Hash{}, err
	}
	defer c.s.exit()
	it, ok := c.its[level]
	if !ok {
		var err error
		it, err = c.s.r.NewIter(&pebble.IterOptions{LowerBound: NodeKey(level, 0), UpperBound: NodeKey(level+1, 0)})
		if err != nil {
			return types.Hash{}, fmt.Errorf("store: log level %d: %w", level, err)
		}
		c.its[level] = it
	}
	key := NodeKey(level, index)
	if !it.SeekGE(key) || !bytes.Equal(it.Key(), key) {
		if err := it.Error(); err != nil {
			return types.Hash{}, fmt.Errorf("store: read %s: %w", describeKey(key), err)
		}
		return types.Hash{}, corrupt(key, fmt.Errorf("missing"))
	}
	v := it.Value()
	if len(v) != hashSize {
		return types.Hash{}, corrupt(key, fmt.Errorf("hash is %d bytes, want %d", len(v), hashSize))
	}
	return types.Hash(v), nil
}

// Close releases the iterators.
func (c *LogNodeCursor) Close() error {
	var first error
	for _, it := range c.its {
		if err := it.Close(); err != nil && first == nil {
			first = err
		}
	}
	c.its = nil
	return first
}
