package store

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"

	"github.com/transparency-dev/merkle/compact"

	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/types"
)

// Commit is everything one block changes.
type Commit struct {
	// Block is the block to append; its header's LogSize and LogRoot must be
	// what LogRootAfter(Block.TxHashes()) returned.
	Block *types.Block
	// Writes are the state changes the executor produced for Block.
	Writes []state.Write
	// AppliedIndex is the Raft index of the entry carrying Block; it must not
	// be below the stored applied index.
	AppliedIndex uint64
	// TxHashes, when set, are Block.TxHashes() as the caller already computed
	// them (one per tx, in order); nil computes them.
	TxHashes []types.Hash
	// Raw, when set, is the encoding of Block the caller already holds (the
	// Raft entry's body); it is stored as is. Nil encodes Block.
	Raw []byte
	// Vault are writes to the pseudonym vault (vault.go) that travel with
	// Block: keys relative to PrefixVault, outside the state and its hash.
	Vault []state.Write
}

// logNode is a log node Commit writes.
type logNode struct {
	level uint
	index uint64
	hash  types.Hash
}

// txIndexEntry is a tx index record Commit writes.
type txIndexEntry struct {
	hash types.Hash
	loc  txLoc
}

// Commit appends c.Block to the chain in one atomic Pebble batch: the block
// by height, block hash -> height, tx hash -> (height, index, leaf), the new
// log nodes, c.Writes, the head and the applied index. A block that does not
// extend the head is ErrNotNext; one whose header does not commit to the log
// is ErrLogMismatch; one that cannot be stored as is (nil txs, results
// that do not match, a redacted tx without its sealed payload) is
// ErrInvalidBlock; in these cases nothing is written. Any other error means
// the write failed and the caller must stop (fail closed).
func (s *Store) Commit(c Commit) error {
	if err := s.enterWrite(); err != nil {
		return err
	}
	defer s.exit()
	b := c.Block
	if b == nil {
		return fmt.Errorf("%w: nil block", ErrInvalidBlock)
	}
	if len(b.Txs) != len(b.Results) {
		return fmt.Errorf("%w: height %d has %d txs but %d results", ErrInvalidBlock, b.Header.Height, len(b.Txs), len(b.Results))
	}
	for i, tx := range b.Txs {
		if tx == nil {
			return fmt.Errorf("%w: height %d: tx %d is nil", ErrInvalidBlock, b.Header.Height, i)
		}
		if tx.Redaction != nil && tx.Redaction.Pruned() {
			// Only Prune removes sealed payloads, from committed blocks
			// (invariant 11); the consensus FSM refuses such a block first.
			return fmt.Errorf("%w: height %d: tx %d is redacted without its sealed payload", ErrInvalidBlock, b.Header.Height, i)
		}
	}

	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.RLock()
	hasHead, head, headHash, applied, border := s.hasHead, s.head.Height, s.headHash, s.applied, s.border
	genesisHash := s.genesisHash
	s.mu.RUnlock()

	h := &b.Header
	wantHeight, wantPrev := uint64(1), genesisHash
	if hasHead {
		wantHeight, wantPrev = head+1, headHash
	}
	if h.Height != wantHeight {
		return fmt.Errorf("%w: height %d, want %d", ErrNotNext, h.Height, wantHeight)
	}
	if h.PrevHash != wantPrev {
		return fmt.Errorf("%w: height %d has prev hash %s, want %s", ErrNotNext, h.Height, h.PrevHash, wantPrev)
	}
	if c.AppliedIndex < applied {
		return fmt.Errorf("%w: height %d: applied index %d is below the stored %d", ErrNotNext, h.Height, c.AppliedIndex, applied)
	}

	txHashes := c.TxHashes
	if txHashes == nil {
		txHashes = b.TxHashes()
	} else if len(txHashes) != len(b.Txs) {
		return fmt.Errorf("%w: height %d has %d txs but %d tx hashes", ErrInvalidBlock, b.Header.Height, len(b.Txs), len(txHashes))
	}
	raw := c.Raw
	if raw == nil {
		raw = b.Encode()
	}
	sealedBytes := 0
	for _, tx := range b.Txs {
		if tx.Redaction != nil {
			sealedBytes += len(tx.Redaction.Sealed) + sealedKeySize + 8
		}
	}
	batch := s.db.NewBatchWithSize(len(raw) + sealedBytes + len(txHashes)*(2*(nodeKeySize+hashSize)+1+hashSize+txLocSize+16) + 256)
	defer batch.Close()

	// The batch is built in key order ('b', 'h', 'm', 'n', 'r', 's', 't', 'v'):
	// Pebble inserts a batch into its memtable skiplist in batch order and
	// reuses the last insert position, so sorted keys skip most of the
	// search that random tx hashes would each pay.
	var setErr error
	set := func(k, v []byte) {
		if err := batch.Set(k, v, nil); err != nil && setErr == nil {
			setErr = err
		}
	}
	del := func(k []byte) {
		if err := batch.Delete(k, nil); err != nil && setErr == nil {
			setErr = err
		}
	}

	// The log: append the leaves to a copy of the border, keeping every node
	// the compact range completes.
	next := cloneRange(s.rf, border)
	nodes := make([]logNode, 0, 2*len(txHashes)+64)
	visit := func(id compact.NodeID, hash []byte) {
		n := logNode{level: id.Level, index: id.Index}
		copy(n.hash[:], hash)
		nodes = append(nodes, n)
	}
	firstLeaf := next.End()
	for _, th := range txHashes {
		if err := next.Append(types.LogHasher.HashLeaf(th[:]), visit); err != nil {
			return fmt.Errorf("store: append to log: %w", err) // a broken invariant of our own border
		}
	}
	root := rootOf(next)
	if h.LogSize != next.End() || h.LogRoot != root {
		return fmt.Errorf("%w: height %d says size %d root %s; appending %d txs gives size %d root %s",
			ErrLogMismatch, h.Height, h.LogSize, h.LogRoot, len(txHashes), next.End(), root)
	}

	// Tx index: first occurrence wins (invariant 4). Only txs the executor
	// marked as replays can already be indexed, so only they cost a read.
	seen := make(map[types.Hash]struct{}, len(txHashes))
	index := make([]txIndexEntry, 0, len(txHashes))
	for i, th := range txHashes {
		if _, dup := seen[th]; dup {
			continue
		}
		seen[th] = struct{}{}
		if b.Results[i].Code == types.CodeReplay {
			_, found, err := s.get(TxKey(th))
			if err != nil {
				return err
			}
			if found {
				continue
			}
		}
		index = append(index, txIndexEntry{hash: th, loc: txLoc{Height: h.Height, Index: uint32(i), Leaf: firstLeaf + uint64(i)}})
	}

	blockHash := b.Hash()
	set(BlockKey(h.Height), raw)
	set(BlockHashKey(blockHash), encodeU64(h.Height))
	set(MetaKey(metaApplied), encodeU64(c.AppliedIndex))
	set(MetaKey(metaHead), encodeU64(h.Height))

	slices.SortFunc(nodes, func(a, b logNode) int {
		return cmp.Or(cmp.Compare(a.level, b.level), cmp.Compare(a.index, b.index))
	})
	key := make([]byte, 0, 64)
	for _, n := range nodes {
		key = appendNodeKey(key[:0], n.level, n.index)
		set(key, n.hash[:])
	}

	// Copies of the sealed payloads of redacted txs, for the audit trail's
	// readers (prune.go); a pruned payload has none.
	for i, tx := range b.Txs {
		if tx.Redaction != nil && len(tx.Redaction.Sealed) != 0 {
			key = appendSealedKey(key[:0], h.Height, uint32(i))
			set(key, tx.Redaction.Sealed)
		}
	}

	// State writes (the executor sorts them).
	for _, w := range c.Writes {
		key = append(append(key[:0], PrefixState), w.Key...)
		if w.Delete {
			del(key)
			continue
		}
		set(key, w.Value)
	}

	slices.SortFunc(index, func(a, b txIndexEntry) int { return bytes.Compare(a.hash[:], b.hash[:]) })
	for _, e := range index {
		key = append(append(key[:0], PrefixTx), e.hash[:]...)
		set(key, e.loc.encode())
		// The filter must hold the hash before the batch makes it visible:
		// HasTx trusts its "absent". A commit that fails below leaves a
		// false positive, which costs a Pebble read and nothing else.
		s.txs.add(e.hash)
	}

	for _, w := range c.Vault {
		key = append(append(key[:0], PrefixVault), w.Key...)
		if w.Delete {
			del(key)
			continue
		}
		set(key, w.Value)
	}
	if setErr != nil {
		return fmt.Errorf("store: build batch for height %d: %w", h.Height, setErr)
	}
	keys := make([][]byte, 0, len(c.Writes)+len(c.Vault))
	for _, w := range c.Writes {
		keys = append(keys, StateKey(w.Key))
	}
	for _, w := range c.Vault {
		keys = append(keys, VaultKey(w.Key))
	}
	if err := s.writeState(batch, keys, s.wo); err != nil {
		return fmt.Errorf("store: commit height %d: write batch: %w", h.Height, err)
	}

	s.mu.Lock()
	s.head, s.headHash, s.hasHead = *h, blockHash, true
	s.applied = c.AppliedIndex
	s.border = next
	s.mu.Unlock()
	// Receipts of the txs just committed are asked for at once: keep the
	// decoded block so they need no decode.
	s.blocks.add(h.Height, b)
	return nil
}
