package store

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/transparency-dev/merkle/compact"

	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/types"
)

// Store is the chain's Pebble store. It is safe for concurrent use; writes
// (Commit, SetAppliedIndex, SetGenesis) are serialised.
type Store struct {
	db *pebble.DB
	// r is where reads go: db, or for a Snapshot the pinned pebble snapshot.
	r pebble.Reader
	// snap is non-nil for a read-only Snapshot.
	snap   *pebble.Snapshot
	opts   Options
	wo     *pebble.WriteOptions
	blocks *blockLRU
	rf     *compact.RangeFactory
	// state caches recent state and vault reads (nil: off, and in a Snapshot).
	state *stateCache
	// txs holds every tx index key (and perhaps a few more) so HasTx answers
	// most misses from memory; a Snapshot shares its store's filter, a
	// superset of what the snapshot holds.
	txs *txFilter

	// life is held shared by every call for its duration and exclusively by
	// Close, so no call ever reaches a closed Pebble.
	life   sync.RWMutex
	closed bool // guarded by life

	// writeMu serialises writers: it is held for a whole Commit, so the head
	// and border read at its start are still current at its end.
	writeMu sync.Mutex
	// pruneMu serialises Prune calls (prune.go): only Prune rewrites a
	// committed block, one step at a time.
	pruneMu sync.Mutex

	mu sync.RWMutex // guards the following; held only to copy or swap them
	// head is the last committed header, hasHead false before the first block.
	head     types.Header
	headHash types.Hash
	hasHead  bool
	// applied is the Raft applied index stored with the last write.
	applied uint64
	// border is the compact range [0, LogSize): the log's right border. It is
	// replaced, never modified in place, so readers may use a copy of the pointer.
	border *compact.Range
	// genesisHash is SHA-256 of the stored genesis document, the prev hash of
	// block 1 (zero when no genesis is stored).
	genesisHash types.Hash
}

var (
	_ state.View    = (*Store)(nil)
	_ state.Scanner = (*Store)(nil)
)

// Open opens or creates the store in dir and loads the head, the applied
// index and the log border. A store whose head, last block or log border
// disagree is ErrCorrupt.
func Open(dir string, opts Options) (*Store, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	cache := pebble.NewCache(opts.CacheSize)
	defer cache.Unref() // Pebble holds its own reference
	db, err := pebble.Open(dir, opts.pebbleOptions(cache))
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dir, err)
	}
	s := &Store{
		db:     db,
		r:      db,
		opts:   opts,
		wo:     pebble.NoSync,
		blocks: newBlockLRU(opts.BlockLRU),
		rf:     &compact.RangeFactory{Hash: types.LogHasher.HashChildren},
		state:  newStateCache(opts.StateCacheEntries),
	}
	if opts.Sync {
		s.wo = pebble.Sync
	}
	if err := s.load(); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

// load reads the head, applied index and log border and cross-checks them.
func (s *Store) load() error {
	if g, found, err := s.get(MetaKey(metaGenesis)); err != nil {
		return err
	} else if found {
		s.genesisHash = types.HashBytes(g)
	}
	headKey := MetaKey(metaHead)
	raw, found, err := s.get(headKey)
	if err != nil {
		return err
	}
	last, hasBlocks, err := s.lastBlockHeight()
	if err != nil {
		return err
	}
	s.border = s.rf.NewEmptyRange(0)
	if found {
		height, err := decodeU64(raw)
		if err != nil {
			return corrupt(headKey, err)
		}
		if !hasBlocks || last != height {
			return corrupt(headKey, fmt.Errorf("head is height %d but the last stored block is %d (present: %v)", height, last, hasBlocks))
		}
		b, err := s.readBlock(height)
		if err != nil {
			return err
		}
		s.head, s.headHash, s.hasHead = b.Header, b.Hash(), true
		border, err := s.loadRange(b.Header.LogSize)
		if err != nil {
			return err
		}
		if root := rootOf(border); root != b.Header.LogRoot {
			return fmt.Errorf("%w: log border at size %d has root %s, head %d says %s",
				ErrCorrupt, b.Header.LogSize, root, height, b.Header.LogRoot)
		}
		s.border = border
	} else if hasBlocks {
		return corrupt(headKey, fmt.Errorf("missing, but block %d is stored", last))
	}
	if s.txs, err = loadTxFilter(s.db, s.head.LogSize, s.opts.TxFilterBytes); err != nil {
		return err
	}
	appliedKey := MetaKey(metaApplied)
	raw, found, err = s.get(appliedKey)
	if err != nil {
		return err
	}
	if found {
		if s.applied, err = decodeU64(raw); err != nil {
			return corrupt(appliedKey, err)
		}
	}
	return nil
}

func (s *Store) lastBlockHeight() (uint64, bool, error) {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{PrefixBlock}, UpperBound: []byte{PrefixBlock + 1}})
	if err != nil {
		return 0, false, fmt.Errorf("store: iterate blocks: %w", err)
	}
	defer it.Close()
	if !it.Last() {
		return 0, false, it.Error()
	}
	k := it.Key()
	if len(k) != 9 {
		return 0, false, corrupt(k, fmt.Errorf("block key has %d bytes, want 9", len(k)))
	}
	h, _ := decodeU64(k[1:])
	return h, true, nil
}

// Close closes the store after in-flight calls return. Later calls return ErrClosed.
func (s *Store) Close() error {
	s.life.Lock()
	defer s.life.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.closed = true
	if s.snap != nil {
		if err := s.snap.Close(); err != nil {
			return fmt.Errorf("store: close snapshot: %w", err)
		}
		return nil
	}
	if s.opts.DisableWAL {
		// Without a WAL the memtables are the only copy of the last writes:
		// a clean close keeps them (a crash leaves them to the Raft log).
		if err := s.db.Flush(); err != nil {
			_ = s.db.Close()
			return fmt.Errorf("store: close: flush: %w", err)
		}
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// enter marks a call in flight; every successful enter is paired with exit.
func (s *Store) enter() error {
	s.life.RLock()
	if s.closed {
		s.life.RUnlock()
		return ErrClosed
	}
	return nil
}

func (s *Store) exit() { s.life.RUnlock() }

// enterWrite is enter for calls that write: a Snapshot refuses them.
func (s *Store) enterWrite() error {
	if s.snap != nil {
		return ErrReadOnly
	}
	return s.enter()
}

// Snapshot returns a read-only view of the store as of now: its reads (state,
// blocks, tx index, log, head) all come from one point in time, whatever
// commits follow, so a long reader such as chain verification sees a
// consistent chain. Writes on it return ErrReadOnly. Close it when done, and
// before closing s.
func (s *Store) Snapshot() (*Store, error) {
	if err := s.enterWrite(); err != nil {
		return nil, err
	}
	defer s.exit()
	s.writeMu.Lock() // no commit in flight: the snapshot and the head agree
	defer s.writeMu.Unlock()
	snap := s.db.NewSnapshot()
	s.mu.RLock()
	defer s.mu.RUnlock()
	// No state cache (it follows the live store) and no shared block cache:
	// Prune rewrites committed blocks, so a snapshot's blocks and the live
	// store's may differ.
	return &Store{db: s.db, r: snap, snap: snap,
		opts: s.opts, wo: s.wo, blocks: newBlockLRU(0), rf: s.rf, txs: s.txs,
		head: s.head, headHash: s.headHash, hasHead: s.hasHead, applied: s.applied, border: s.border, genesisHash: s.genesisHash}, nil
}

// get reads key and returns a copy of its value.
func (s *Store) get(key []byte) ([]byte, bool, error) {
	v, closer, err := s.r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, readErr(key, err)
	}
	out := bytes.Clone(v)
	if out == nil {
		out = []byte{}
	}
	if err := closer.Close(); err != nil { // a separated value is read lazily: its errors come here
		return nil, false, readErr(key, err)
	}
	return out, true, nil
}

// readErr wraps a failed read of key: a checksum failure Pebble reports in
// an sstable or blob file (a flipped byte on disk) is ErrCorrupt naming the
// record, like any other record that does not decode.
func readErr(key []byte, err error) error {
	if pebble.IsCorruptionError(err) {
		return corrupt(key, err)
	}
	return fmt.Errorf("store: read %s: %w", describeKey(key), err)
}

// Get returns the state value at key. It implements state.View. Recent
// reads are answered from the read cache (statecache.go), which holds
// exactly what Pebble does.
func (s *Store) Get(key []byte) ([]byte, bool, error) {
	if err := s.enter(); err != nil {
		return nil, false, err
	}
	defer s.exit()
	return s.cachedGet(StateKey(key))
}

// cachedGet is get through the read cache, for state and vault keys.
func (s *Store) cachedGet(key []byte) ([]byte, bool, error) {
	if s.state == nil {
		return s.get(key)
	}
	v, found, ok, gen := s.state.lookup(key)
	if ok {
		return v, found, nil
	}
	v, found, err := s.get(key)
	if err == nil {
		s.state.fill(gen, key, v, found)
	}
	return v, found, err
}

// writeState commits a batch that may change state or vault keys, keeping
// the read cache exact: keys are the store keys the batch writes, nil means
// "any key" (the whole cache is dropped).
func (s *Store) writeState(b *pebble.Batch, keys [][]byte, wo *pebble.WriteOptions) error {
	if s.state == nil {
		return b.Commit(wo)
	}
	s.state.begin()
	defer s.state.end()
	forget := func() {
		if keys == nil {
			s.state.purge()
		} else {
			s.state.drop(keys)
		}
	}
	forget()
	defer forget()
	return b.Commit(wo)
}

// HasTx reports whether a tx with hash h is in a committed block. It
// implements state.View. Most misses are answered by the in-memory tx filter
// without reading Pebble; every "yes" is read from Pebble.
func (s *Store) HasTx(h types.Hash) (bool, error) {
	if err := s.enter(); err != nil {
		return false, err
	}
	defer s.exit()
	if !s.txs.mayContain(h) {
		return false, nil
	}
	key := TxKey(h)
	v, closer, err := s.r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, readErr(key, err)
	}
	n := len(v)
	if err := closer.Close(); err != nil {
		return false, readErr(key, err)
	}
	if n != txLocSize {
		return false, corrupt(key, fmt.Errorf("tx location is %d bytes, want %d", n, txLocSize))
	}
	return true, nil
}

// Scan calls fn for each state key in [start, end) in ascending order, or
// descending when reverse is set, until fn returns false. A nil start is the
// first state key, a nil end is past the last. The slices passed to fn are
// valid only during the call. It implements state.Scanner.
func (s *Store) Scan(start, end []byte, reverse bool, fn func(k, v []byte) bool) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.exit()
	if end != nil && bytes.Compare(start, end) >= 0 {
		return nil
	}
	upper := []byte{PrefixState + 1}
	if end != nil {
		upper = StateKey(end)
	}
	return s.iterate(StateKey(start), upper, reverse, 1, fn)
}

// ScanRaw calls fn for every stored key with the given prefix (nil: every key)
// and its value, in key order, until fn returns false. It is for verification
// and repair tools; keys are in the layout documented in doc.go. The slices
// passed to fn are valid only during the call.
func (s *Store) ScanRaw(prefix []byte, fn func(k, v []byte) bool) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.exit()
	return s.iterate(prefix, prefixEnd(prefix), false, 0, fn)
}

// iterate runs fn over [lower, upper) (upper nil: unbounded), stripping strip
// leading bytes from each key.
func (s *Store) iterate(lower, upper []byte, reverse bool, strip int, fn func(k, v []byte) bool) error {
	it, err := s.r.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return fmt.Errorf("store: iterate: %w", err)
	}
	step := it.Next
	ok := it.First()
	if reverse {
		step = it.Prev
		ok = it.Last()
	}
	for ; ok; ok = step() {
		v, err := it.ValueAndErr()
		if err != nil {
			_ = it.Close()
			return readErr(it.Key(), err)
		}
		if !fn(it.Key()[strip:], v) {
			break
		}
	}
	if err := it.Close(); err != nil {
		if pebble.IsCorruptionError(err) {
			return fmt.Errorf("%w: scan from %s: %v", ErrCorrupt, describeKey(lower), err)
		}
		return fmt.Errorf("store: iterate: %w", err)
	}
	return nil
}

// prefixEnd returns the smallest key greater than every key with prefix p,
// or nil when there is none.
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// SetGenesis stores the genesis document and the state it creates, in one
// batch. Storing the same document again is a no-op; a different one is
// ErrGenesisMismatch. Once it is stored, block 1 must have PrevHash equal to
// SHA-256(raw).
func (s *Store) SetGenesis(raw []byte, writes []state.Write) error {
	if err := s.enterWrite(); err != nil {
		return err
	}
	defer s.exit()
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	key := MetaKey(metaGenesis)
	old, found, err := s.get(key)
	if err != nil {
		return err
	}
	if found {
		if !bytes.Equal(old, raw) {
			return fmt.Errorf("%w (%d bytes stored, %d given)", ErrGenesisMismatch, len(old), len(raw))
		}
		return nil
	}
	if s.hasHead {
		return fmt.Errorf("%w: the store already holds blocks", ErrNotNext)
	}
	batch := s.db.NewBatch()
	defer batch.Close()
	if err := batch.Set(key, raw, nil); err != nil {
		return fmt.Errorf("store: write genesis: %w", err)
	}
	for _, w := range writes {
		sk := StateKey(w.Key)
		var err error
		if w.Delete {
			err = batch.Delete(sk, nil)
		} else {
			err = batch.Set(sk, w.Value, nil)
		}
		if err != nil {
			return fmt.Errorf("store: write genesis state: %w", err)
		}
	}
	if err := s.writeDurable(batch); err != nil {
		return fmt.Errorf("store: write genesis: %w", err)
	}
	s.mu.Lock()
	s.genesisHash = types.HashBytes(raw)
	s.mu.Unlock()
	return nil
}

// Genesis returns the stored genesis document, or ErrNotFound.
func (s *Store) Genesis() ([]byte, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.exit()
	v, found, err := s.get(MetaKey(metaGenesis))
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("%w: genesis", ErrNotFound)
	}
	return v, nil
}

// SetAppliedIndex records a Raft index whose entry is not a block. An index
// below the stored one is ErrNotNext; the same index is a no-op.
func (s *Store) SetAppliedIndex(i uint64) error {
	if err := s.enterWrite(); err != nil {
		return err
	}
	defer s.exit()
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.RLock()
	cur := s.applied
	s.mu.RUnlock()
	if i < cur {
		return fmt.Errorf("%w: applied index %d is below the stored %d", ErrNotNext, i, cur)
	}
	if i == cur {
		return nil
	}
	if err := s.db.Set(MetaKey(metaApplied), encodeU64(i), s.wo); err != nil {
		return fmt.Errorf("store: write applied index: %w", err)
	}
	s.mu.Lock()
	s.applied = i
	s.mu.Unlock()
	return nil
}

// AppliedIndex returns the last Raft index written with Commit or SetAppliedIndex.
func (s *Store) AppliedIndex() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.applied
}

// Head returns the last committed header; false before the first block.
func (s *Store) Head() (types.Header, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.head, s.hasHead
}

// HeadHash returns the hash of the last committed header (zero before the first block).
func (s *Store) HeadHash() types.Hash {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.headHash
}

// Height returns the head height (0 before the first block).
func (s *Store) Height() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.head.Height
}

// RawBlock returns the stored encoding of the block at height, or ErrNotFound.
func (s *Store) RawBlock(height uint64) ([]byte, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.exit()
	return s.rawBlock(height)
}

func (s *Store) rawBlock(height uint64) ([]byte, error) {
	raw, found, err := s.get(BlockKey(height))
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("%w: block at height %d", ErrNotFound, height)
	}
	return raw, nil
}

// Block returns the block at height: ErrNotFound if absent, ErrCorrupt (naming
// the height) if its bytes do not decode to a block of that height. Recent
// blocks come from a cache of decoded blocks shared between callers: the
// returned block must not be modified.
func (s *Store) Block(height uint64) (*types.Block, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.exit()
	return s.cachedBlock(height)
}

// cachedBlock returns the decoded block at height through the block cache.
func (s *Store) cachedBlock(height uint64) (*types.Block, error) {
	if b, ok := s.blocks.get(height); ok {
		return b, nil
	}
	gen := s.blocks.generation()
	b, err := s.readBlock(height)
	if err != nil {
		return nil, err
	}
	s.blocks.addFrom(gen, height, b) // not if Prune rewrote blocks meanwhile
	return b, nil
}

func (s *Store) readBlock(height uint64) (*types.Block, error) {
	raw, err := s.rawBlock(height)
	if err != nil {
		return nil, err
	}
	b, err := decodeBlock(height, raw)
	if err != nil {
		return nil, corrupt(BlockKey(height), err)
	}
	return b, nil
}

// BlockByHash returns the block whose header hashes to h.
func (s *Store) BlockByHash(h types.Hash) (*types.Block, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.exit()
	key := BlockHashKey(h)
	raw, found, err := s.get(key)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("%w: block %s", ErrNotFound, h)
	}
	height, err := decodeU64(raw)
	if err != nil {
		return nil, corrupt(key, err)
	}
	b, err := s.readBlock(height)
	if err != nil {
		return nil, err
	}
	if got := b.Hash(); got != h {
		return nil, corrupt(key, fmt.Errorf("points at height %d, whose block hash is %s", height, got))
	}
	return b, nil
}

// TxLocation returns the height and position of the block that first
// included the tx with hash h.
func (s *Store) TxLocation(h types.Hash) (height uint64, index uint32, err error) {
	if err := s.enter(); err != nil {
		return 0, 0, err
	}
	defer s.exit()
	loc, err := s.txLoc(h)
	return loc.Height, loc.Index, err
}

func (s *Store) txLoc(h types.Hash) (txLoc, error) {
	key := TxKey(h)
	raw, found, err := s.get(key)
	if err != nil {
		return txLoc{}, err
	}
	if !found {
		return txLoc{}, fmt.Errorf("%w: tx %s", ErrNotFound, h)
	}
	loc, err := decodeTxLoc(raw)
	if err != nil {
		return txLoc{}, corrupt(key, err)
	}
	return loc, nil
}

// Tx returns the tx with hash h, its result, and the height and index of the
// block that first included it. The tx is checked against h, so a tampered
// index or block is ErrCorrupt, never a wrong answer.
func (s *Store) Tx(h types.Hash) (*types.Tx, types.Result, uint64, uint32, error) {
	if err := s.enter(); err != nil {
		return nil, types.Result{}, 0, 0, err
	}
	defer s.exit()
	loc, err := s.txLoc(h)
	if err != nil {
		return nil, types.Result{}, 0, 0, err
	}
	b, err := s.cachedBlock(loc.Height)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			err = corrupt(TxKey(h), fmt.Errorf("points at missing block %d", loc.Height))
		}
		return nil, types.Result{}, 0, 0, err
	}
	if int(loc.Index) >= len(b.Txs) {
		return nil, types.Result{}, 0, 0, corrupt(TxKey(h), fmt.Errorf("points at tx %d of block %d, which has %d", loc.Index, loc.Height, len(b.Txs)))
	}
	tx := b.Txs[loc.Index]
	if got := tx.Hash(); got != h {
		return nil, types.Result{}, 0, 0, corrupt(TxKey(h), fmt.Errorf("tx %d of block %d hashes to %s", loc.Index, loc.Height, got))
	}
	cp := *tx
	cp.Payload = bytes.Clone(tx.Payload)
	cp.Signature.Sig = bytes.Clone(tx.Signature.Sig)
	res := b.Results[loc.Index]
	res.Data = bytes.Clone(res.Data)
	return &cp, res, loc.Height, loc.Index, nil
}

// Flush makes every write so far durable: a synced WAL write, or with
// DisableWAL a memtable flush. Raft may compact its log up to the applied
// index once Flush returns.
func (s *Store) Flush() error {
	if err := s.enterWrite(); err != nil {
		return err
	}
	defer s.exit()
	var err error
	if s.opts.DisableWAL {
		err = s.db.Flush()
	} else {
		err = s.db.LogData(nil, pebble.Sync)
	}
	if err != nil {
		return fmt.Errorf("store: flush: %w", err)
	}
	return nil
}

// Checkpoint writes a consistent copy of the store to dir (which must not
// exist) on the store's filesystem, after flushing the memtables, for Raft
// snapshots. Open(dir) opens the copy.
func (s *Store) Checkpoint(dir string) error {
	if err := s.enterWrite(); err != nil {
		return err
	}
	defer s.exit()
	if err := s.db.Flush(); err != nil {
		return fmt.Errorf("store: checkpoint: flush: %w", err)
	}
	if err := s.db.Checkpoint(dir, pebble.WithFlushedWAL()); err != nil {
		return fmt.Errorf("store: checkpoint %s: %w", dir, err)
	}
	return nil
}

// RawSetUnsafe writes value under the raw key, bypassing every check. It is
// for tamper tests and repair tools only: the in-memory head and log border
// are not updated (reopen the store to reload them).
func (s *Store) RawSetUnsafe(key, value []byte) error {
	if len(key) == 1+hashSize && key[0] == PrefixTx {
		s.txs.add(types.Hash(key[1:])) // before the key is visible
	}
	return s.rawWrite(func(b *pebble.Batch) error { return b.Set(key, value, nil) })
}

// RawDeleteUnsafe deletes the raw key, bypassing every check. Like
// RawSetUnsafe it is for tamper tests and repair tools only.
func (s *Store) RawDeleteUnsafe(key []byte) error {
	return s.rawWrite(func(b *pebble.Batch) error { return b.Delete(key, nil) })
}

func (s *Store) rawWrite(op func(*pebble.Batch) error) error {
	if err := s.enterWrite(); err != nil {
		return err
	}
	defer s.exit()
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	b := s.db.NewBatch()
	defer b.Close()
	if err := op(b); err != nil {
		return fmt.Errorf("store: raw write: %w", err)
	}
	if err := s.writeDurable(b); err != nil {
		return fmt.Errorf("store: raw write: %w", err)
	}
	s.blocks.purge()
	return nil
}

// writeDurable commits b so that it survives a crash on its own, whatever the
// options: a synced WAL write, or with DisableWAL a memtable flush. It is for
// the rare writes no Raft entry can replay (the genesis, node-local vault
// records, repairs); blocks go through Commit. The caller holds writeMu.
func (s *Store) writeDurable(b *pebble.Batch) error {
	if !s.opts.DisableWAL {
		return s.writeState(b, nil, pebble.Sync)
	}
	if err := s.writeState(b, nil, pebble.NoSync); err != nil {
		return err
	}
	return s.db.Flush()
}

// TxIndexEntry returns a tx's whole index record in one read: the height and
// position of its first occurrence and its leaf in the global log.
func (s *Store) TxIndexEntry(h types.Hash) (height uint64, index uint32, leaf uint64, err error) {
	if err := s.enter(); err != nil {
		return 0, 0, 0, err
	}
	defer s.exit()
	loc, err := s.txLoc(h)
	return loc.Height, loc.Index, loc.Leaf, err
}
