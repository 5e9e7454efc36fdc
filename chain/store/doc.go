// Package store is medchain's persistent chain store: blocks, their indexes,
// the committed state and the global Merkle log, in one Pebble database.
//
// The consensus FSM is the only writer. It calls Commit once per block, which
// writes the block, its indexes, the new log nodes, the block's state writes,
// the head and the Raft applied index in one atomic Pebble batch, and
// SetAppliedIndex for Raft entries that are not blocks. Readers (the executor
// through state.View and state.Scanner, the RPC layer, proof services) may run
// concurrently with the writer.
//
//	s, err := store.Open(dir, store.DefaultOptions())
//	size, root, err := s.LogRootAfter(block.TxHashes()) // proposer: fill the header
//	err = s.Commit(store.Commit{Block: block, Writes: writes, AppliedIndex: raftIndex})
//	proof, err := s.InclusionProof(leaf, size)
//
// # Key layout
//
// Every key starts with a one-byte keyspace prefix. Integers are big-endian so
// that keys sort numerically: blocks are laid out in height order and Pebble
// moves their sstables down the LSM instead of rewriting them.
//
//	prefix     key                                 value
//	+-------+------------------------------------+-----------------------------------------+
//	| 'b'   | height u64                         | CBOR(types.Block)                       |
//	| 'h'   | block hash [32]                    | height u64                              |
//	| 't'   | tx hash [32]                       | height u64 | index u32 | log leaf u64   |
//	| 'n'   | level u8 | index u64               | node hash [32]                          |
//	| 's'   | state key (opaque, chain/state)    | state value (opaque)                    |
//	| 'm'   | "applied"                          | Raft applied index u64                  |
//	| 'm'   | "genesis"                          | genesis document (opaque bytes)         |
//	| 'm'   | "head"                             | head height u64                         |
//	| 'm'   | "prune/" pass name                 | mark: height u64 | txs u64 | bytes u64 |
//	|       |                                    | + compact from u64 | compact to u64     |
//	|       |                                    | + scan for u64 | scan to u64 (cursor)    |
//	| 'r'   | height u64 | index u32             | sealed payload copy of a redacted tx    |
//	| 'v'   | vault key (opaque, consensus)      | vault value (opaque): pseudonym vault   |
//	+-------+------------------------------------+-----------------------------------------+
//
// A 'b' value of at least Options.BlobMinSize (a block body of more than a few
// txs) is separated by Pebble into a blob file when its memtable is flushed:
// the sstable keeps a reference, so compactions move a few bytes per block
// instead of rewriting the body. No other keyspace is ever separated; in
// particular a vault record lives only in sstables (and the WAL), so erasure's
// forced compaction removes it.
//
// The 't' record is both the tx location index and the log leaf index: one key
// per tx keeps Commit and HasTx cheap.
//
// # The tx filter
//
// Every new tx is looked up twice (admission and block execution) and is not
// there. An in-memory Bloom filter over every 't' key (txfilter.go, about 1.5
// bytes per tx, bounded by Options.TxFilterBytes) answers those misses without
// a Pebble read; it is rebuilt from the 't' keyspace at Open and fed before
// each batch that adds a 't' key commits, so it has no false negatives, and a
// "maybe" is read from Pebble (invariant 8).
//
// # The state cache
//
// Get and VaultGet answer recent reads, values and absences, from a bounded
// LRU (statecache.go, Options.StateCacheEntries): every tx reads its signer's
// identity, its patient's erasure record and pseudonym mapping at admission
// and again in its block. Every write that can change a state key (Commit, SetGenesis, the raw
// writes) drops the keys it writes before and after its batch commits, and a
// generation counter refuses to cache a read that overlapped a write, so Get
// answers exactly what Pebble holds (invariant 9). Snapshots bypass it.
//
// # Pruning sealed payloads
//
// A redacted tx (types.Redaction) carries its signed payload sealed with the
// patient's key. Commit also writes a copy of it under 'r' (height, index),
// so the audit trail opens an event with one point read instead of decoding
// its block (state.SealedReader); the state itself never holds sealed bytes.
// Prune (prune.go) is a node's retention policy at work: for the blocks
// older than a cutoff, in height order from a pass's mark, it replaces the
// sealed payloads a selector picks by their hash in the stored body and
// deletes their copies, in bounded steps that each write one batch with the
// new mark. The tx root commits to the payload's hash (types.Tx.BodyHash),
// so headers, the log, the indexes and every proof are untouched.
//
// The copies are checked against the bodies, never trusted: CheckIntegrity
// walks the 'r' keyspace beside the blocks (CheckSealedCopy, invariant 11),
// and chain verification does the same per block. PrunedUpTo (the highest
// pass mark) tells verification which heights this node may have pruned: a
// block is never stored pruned (the consensus FSM refuses a new block whose
// redaction carries only the digest).
//
// # The global log
//
// The log is an RFC 6962 Merkle tree (types.LogHasher) whose leaves are the
// hashes of every tx of every block, in block order, rejected txs included.
// Leaf i is stored as node (0, i) = HashLeaf(tx hash); every perfect subtree
// root (level, index) is stored as soon as it is complete, exactly as the
// compact range visitor of github.com/transparency-dev/merkle reports it:
//
//	level 2              (2,0)
//	                   /       \
//	level 1        (1,0)        (1,1)        (1,2)
//	               /   \        /   \        /   \
//	level 0    (0,0) (0,1)  (0,2) (0,3)  (0,4) (0,5)  (0,6)     size 7
//
// The root of the tree at any size n is the fold of the perfect subtrees that
// cover [0, n) (at most 64 stored nodes); inclusion and consistency proofs are
// stored nodes, plus at most one ephemeral node recomputed from stored nodes.
// Nothing is ever rebuilt from the leaves. The right border (the compact range
// of the current size) is kept in memory and loaded at Open.
//
// # Invariants
//
//  1. Commit is atomic: after a crash either everything a block changed
//     (block, indexes, log nodes, state, head, applied index) is on disk, or
//     none of it is. With Options.Sync, a Commit that returned nil survives a
//     crash; without it (and with DisableWAL), once a later Flush or Close
//     returned. What a crash keeps is always a prefix of the commits.
//  2. Blocks form a chain: Commit accepts only Height == head+1 (1 for the
//     first block) and PrevHash == the head's hash (zero for the first block);
//     anything else is ErrNotNext and writes nothing.
//  3. Every header commits the log: Commit accepts a block only if
//     Header.LogSize and Header.LogRoot are what appending its tx hashes to
//     the log yields (ErrLogMismatch otherwise, nothing written). At Open the
//     root recomputed from the stored border must equal the head's LogRoot.
//  4. A tx hash is indexed at its first occurrence. A later copy (the executor
//     gives it types.CodeReplay) is still a log leaf but never moves the index.
//  5. The applied index never moves backwards.
//  6. Stored bytes that fail to decode, or decode to something that does not
//     belong under their key (a block whose height differs from its key, a tx
//     whose hash differs from the index that points at it), are ErrCorrupt,
//     with the key named; they are never served.
//  7. Returned slices are owned by the caller, except inside Scan and ScanRaw
//     callbacks, where they are valid only during the call.
//  8. HasTx answers exactly what the tx index holds: the tx filter only
//     skips reads whose answer is "absent".
//  9. Get and VaultGet answer exactly what Pebble holds: the read cache
//     never serves a value that a returned write replaced or deleted.
//  10. Prune changes no header, tx hash, tx root, log node, index or state
//     key: a rewritten body must give its header's tx root, or nothing is
//     written (ErrCorrupt). A step's bodies, deleted copies and mark are one
//     batch. Only Prune rewrites a committed block; a Snapshot decodes its
//     own blocks, so it never sees a body the live store rewrote, nor the
//     reverse.
//  11. A sealed payload copy ('r' height, index) exists exactly when tx index
//     of the block at height is redacted and its stored body holds the
//     sealed payload, and it equals that payload byte for byte (so its
//     SHA-256 is what the tx root commits to). Commit writes both in one
//     batch, Prune removes both in one batch; CheckIntegrity reports any
//     other copy, or a missing one, as ErrCorrupt naming its height and
//     index.
package store
