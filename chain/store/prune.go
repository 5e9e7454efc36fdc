package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/cockroachdb/pebble/v2"

	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/types"
)

// Retention pruning (see doc.go, "Pruning sealed payloads"). A redacted tx
// carries the signed payload sealed with its patient's key
// (types.Redaction.Sealed). Commit keeps a copy of each one under
// PrefixSealed so the audit trail opens it with one point read; Prune
// removes both, the block's and the copy, and leaves the redaction's digest
// (types.Redaction.PruneSealed), so headers, tx roots, the log, the indexes
// and every proof stay exactly as they were.

// PrefixSealed is the keyspace of the sealed payload copies:
//
//	| 'r'   | height u64 | index u32           | sealed payload of tx index of the block |
//
// They are outside the state and its hash, like the vault: a node prunes them
// by its own clock.
const PrefixSealed byte = 'r'

const sealedKeySize = 1 + 8 + 4

// metaPrunePrefix starts the meta names of pruning marks ("prune/audit").
const metaPrunePrefix = "prune/"

// pruneMarkSize is the encoded size of a PruneMark with a scan under way;
// pruneMarkSizeV2 that of one without (and of every mark written before
// marks carried a scan cursor), pruneMarkSizeV1 that of one written before
// they carried the span still to compact (read as owing none).
const (
	pruneMarkSize   = 7 * 8
	pruneMarkSizeV2 = 5 * 8
	pruneMarkSizeV1 = 3 * 8
)

// DefaultPruneBytes is PruneRun.MaxBytes's default: about 12 ms of
// sequential writing on the reference disk (320 MB/s).
const DefaultPruneBytes = 4 << 20

// DefaultCompactBytes is CompactPending's default budget: the estimated
// sstable bytes of the heights one step compacts, about 0.2 s of
// compaction on the reference disk.
const DefaultCompactBytes = 64 << 20

var _ state.SealedReader = (*Store)(nil)

// SealedKey returns the key of the sealed payload copy of tx index of the
// block at height.
func SealedKey(height uint64, index uint32) []byte {
	return appendSealedKey(make([]byte, 0, sealedKeySize), height, index)
}

func appendSealedKey(b []byte, height uint64, index uint32) []byte {
	b = binary.BigEndian.AppendUint64(append(b, PrefixSealed), height)
	return binary.BigEndian.AppendUint32(b, index)
}

// SealedPayload returns the sealed payload of tx index of the block at
// height, from its copy; found is false when the tx is not redacted or its
// sealed payload was pruned. It implements state.SealedReader. The slice is
// the caller's.
func (s *Store) SealedPayload(height uint64, index uint32) ([]byte, bool, error) {
	if err := s.enter(); err != nil {
		return nil, false, err
	}
	defer s.exit()
	return s.get(appendSealedKey(make([]byte, 0, sealedKeySize), height, index))
}

// PruneMark is how far one pruning pass has gone, stored under the meta name
// "prune/" + the pass's name in the same batch as what it pruned, so a
// pruner that stops at any moment resumes where its last batch ended.
type PruneMark struct {
	// Height: every block up to Height was visited by the pass.
	Height uint64 `json:"height"`
	// Txs is how many sealed payloads the pass pruned in all.
	Txs uint64 `json:"txs"`
	// Bytes is how many sealed payload bytes it removed from block bodies
	// (their copies under PrefixSealed were the same size again).
	Bytes uint64 `json:"bytes"`
	// CompactFrom and CompactTo span the heights whose bodies the pass
	// rewrote and CompactPending has not compacted yet (both 0: none). Each
	// step widens the span in the batch that rewrites, so a run stopped or
	// failed before its compaction leaves the work to the next run instead
	// of leaving the old bodies in the sstables until Pebble happens to
	// compact them.
	CompactFrom uint64 `json:"compact_from,omitempty"`
	CompactTo   uint64 `json:"compact_to,omitempty"`
	// ScanFor and ScanTo are the cursor of a pass that scans for the txs
	// it prunes (the erased pass, PruneTxsScanned; both 0: no scan under
	// way): the scan for the work at height ScanFor (above Height) has
	// visited every block up to ScanTo (below ScanFor), so a pass stopped
	// mid-scan resumes at ScanTo+1 instead of starting over. The step that
	// moves Height to ScanFor or past it clears them.
	ScanFor uint64 `json:"scan_for,omitempty"`
	ScanTo  uint64 `json:"scan_to,omitempty"`
}

// ScanCursor is where a pass that scans for the txs it prunes stands (see
// PruneMark.ScanFor): every block up to To was scanned for the work at
// height For. The zero cursor: no scan under way.
type ScanCursor struct {
	For, To uint64
}

// withCompact returns m with [from, to] added to its span still to compact.
func (m PruneMark) withCompact(from, to uint64) PruneMark {
	if m.CompactFrom == 0 || from < m.CompactFrom {
		m.CompactFrom = from
	}
	m.CompactTo = max(m.CompactTo, to)
	return m
}

// Cursor returns m's scan cursor.
func (m PruneMark) Cursor() ScanCursor { return ScanCursor{For: m.ScanFor, To: m.ScanTo} }

// withCursor returns m with scan cursor c, or with none when c is the zero
// cursor or its work is not above m.Height (done).
func (m PruneMark) withCursor(c ScanCursor) PruneMark {
	if c.For <= m.Height {
		c = ScanCursor{}
	}
	m.ScanFor, m.ScanTo = c.For, c.To
	return m
}

// encode lays the mark out as big-endian u64s; the scan cursor only while
// a scan is under way, so a mark without one keeps the 40-byte form the
// previous version reads (marks from before the span end after bytes):
//
//	| height | txs | bytes | compact from | compact to | [ scan for | scan to ] |
func (m PruneMark) encode() []byte {
	b := make([]byte, 0, pruneMarkSize)
	b = binary.BigEndian.AppendUint64(b, m.Height)
	b = binary.BigEndian.AppendUint64(b, m.Txs)
	b = binary.BigEndian.AppendUint64(b, m.Bytes)
	b = binary.BigEndian.AppendUint64(b, m.CompactFrom)
	b = binary.BigEndian.AppendUint64(b, m.CompactTo)
	if m.ScanFor == 0 {
		return b
	}
	b = binary.BigEndian.AppendUint64(b, m.ScanFor)
	return binary.BigEndian.AppendUint64(b, m.ScanTo)
}

func decodePruneMark(b []byte) (PruneMark, error) {
	if len(b) != pruneMarkSize && len(b) != pruneMarkSizeV2 && len(b) != pruneMarkSizeV1 {
		return PruneMark{}, fmt.Errorf("prune mark is %d bytes, want %d (or %d, or %d)", len(b), pruneMarkSize, pruneMarkSizeV2, pruneMarkSizeV1)
	}
	m := PruneMark{Height: binary.BigEndian.Uint64(b), Txs: binary.BigEndian.Uint64(b[8:]), Bytes: binary.BigEndian.Uint64(b[16:])}
	if len(b) == pruneMarkSizeV1 {
		return m, nil
	}
	m.CompactFrom, m.CompactTo = binary.BigEndian.Uint64(b[24:]), binary.BigEndian.Uint64(b[32:])
	if (m.CompactFrom == 0) != (m.CompactTo == 0) || m.CompactTo < m.CompactFrom {
		return PruneMark{}, fmt.Errorf("prune mark's span to compact [%d, %d] is not a range of heights", m.CompactFrom, m.CompactTo)
	}
	if len(b) == pruneMarkSizeV2 {
		return m, nil
	}
	m.ScanFor, m.ScanTo = binary.BigEndian.Uint64(b[40:]), binary.BigEndian.Uint64(b[48:])
	if m.ScanFor == 0 || m.ScanFor <= m.Height || m.ScanTo == 0 || m.ScanTo >= m.ScanFor {
		return PruneMark{}, fmt.Errorf("prune mark's scan cursor (for height %d, scanned to %d) does not lie above its height %d", m.ScanFor, m.ScanTo, m.Height)
	}
	return m, nil
}

// PruneMarkOf returns the mark of the pass name (the zero mark if it never ran).
func (s *Store) PruneMarkOf(name string) (PruneMark, error) {
	if err := checkPruneName(name); err != nil {
		return PruneMark{}, err
	}
	if err := s.enter(); err != nil {
		return PruneMark{}, err
	}
	defer s.exit()
	return s.pruneMark(name)
}

func (s *Store) pruneMark(name string) (PruneMark, error) {
	key := MetaKey(metaPrunePrefix + name)
	raw, found, err := s.get(key)
	if err != nil || !found {
		return PruneMark{}, err
	}
	m, err := decodePruneMark(raw)
	if err != nil {
		return PruneMark{}, corrupt(key, err)
	}
	return m, nil
}

func checkPruneName(name string) error {
	if name == "" || strings.ContainsFunc(name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-')
	}) || len(name) > 32 {
		return fmt.Errorf("%w: pass name %q (want 1-32 of a-z, 0-9, _ and -)", ErrBadPruneRun, name)
	}
	return nil
}

// PruneRun is one bounded step of a pruning pass.
type PruneRun struct {
	// Name names the pass and its mark (e.g. "audit", "research"); each pass
	// visits every block once, in height order, from its mark.
	Name string
	// Before is the retention cutoff, a block time in Unix ms: the step stops
	// at the first block whose time is not before it (block times never
	// decrease), which is left for a later run.
	Before int64
	// MaxBlocks bounds the blocks this step visits.
	MaxBlocks int
	// MaxBytes bounds the rewritten bodies this step writes in its batch,
	// and so how long it holds the write lock (Commit waits that long): the
	// step ends after the block that reaches it. 0 means DefaultPruneBytes.
	MaxBytes int
	// Select reports whether the sealed payload of tx (index i of the block
	// with header h, a redacted tx whose sealed payload is still stored,
	// payload its decoded redacted payload) goes. It must not keep or
	// modify tx or h.
	Select func(h *types.Header, i int, tx *types.Tx, payload types.Payload) bool
}

// PruneResult is what one Prune step did.
type PruneResult struct {
	// From and To are the heights the step visited (From > To: none).
	From, To uint64
	// Blocks visited, and of them Rewritten with fewer sealed payloads.
	Blocks, Rewritten int
	// Txs pruned and the sealed Bytes removed from block bodies.
	Txs, Bytes int
	// Done is set when the pass reached the head or the cutoff: nothing more
	// to do until the head or the cutoff moves.
	Done bool
	// Mark is the pass's mark after the step.
	Mark PruneMark
}

// Prune runs one step of the pass r.Name: it visits at most r.MaxBlocks
// blocks (and rewrites about r.MaxBytes of bodies) after the pass's mark, stopping before the head's successor and at
// the first block not older than r.Before, and in each removes the sealed
// payloads r.Select picks from the stored block body and their copies. The
// rewritten bodies, the deleted copies and the new mark are one atomic
// batch: after a crash either all of a step is on disk or none of it.
//
// Pruning never changes a header, a tx hash, a tx root (the redaction keeps
// the payload's hash), the log, an index or the state: the stored chain
// verifies and every proof holds as before. A body whose tx root no longer
// matches its header after the rewrite is ErrCorrupt, and nothing is written.
//
// Blocks are read and rewritten outside the write lock (only Prune changes a
// committed block, and one Prune runs at a time); the lock is held only for
// the batch commit, so block apply waits at most one step's write. The
// decoded block cache forgets the rewritten heights.
func (s *Store) Prune(r PruneRun) (PruneResult, error) {
	if err := checkPruneName(r.Name); err != nil {
		return PruneResult{}, err
	}
	if r.Select == nil || r.MaxBlocks < 1 || r.MaxBytes < 0 {
		return PruneResult{}, fmt.Errorf("%w: a selector, a positive block budget and a byte budget not below 0 are required", ErrBadPruneRun)
	}
	if r.MaxBytes == 0 {
		r.MaxBytes = DefaultPruneBytes
	}
	if err := s.enterWrite(); err != nil {
		return PruneResult{}, err
	}
	defer s.exit()
	s.pruneMu.Lock()
	defer s.pruneMu.Unlock()

	mark, err := s.pruneMark(r.Name)
	if err != nil {
		return PruneResult{}, err
	}
	head := s.Height()
	res := PruneResult{From: mark.Height + 1, To: mark.Height}
	batch := s.db.NewBatch()
	defer batch.Close()
	var rewritten []uint64
	written := 0 // bytes of rewritten bodies in the batch
	for h := mark.Height + 1; ; h++ {
		if h > head {
			res.Done = true
			break
		}
		if res.Blocks == r.MaxBlocks || written >= r.MaxBytes {
			break
		}
		b, err := s.readBlock(h)
		if err != nil {
			return PruneResult{}, fmt.Errorf("store: prune %s: %w", r.Name, err)
		}
		if b.Header.Time >= r.Before {
			res.Done = true
			break
		}
		res.Blocks++
		res.To = h
		before := batch.Len()
		_, txs, n, err := s.stagePrune(batch, b, r.Select)
		if err != nil {
			return PruneResult{}, err
		}
		if txs == 0 {
			continue
		}
		res.Txs += txs
		res.Bytes += n
		written += batch.Len() - before
		rewritten = append(rewritten, h)
		res.Rewritten++
	}
	if res.Blocks == 0 {
		res.Mark = mark
		return res, nil
	}
	next := mark
	next.Height, next.Txs, next.Bytes = res.To, mark.Txs+uint64(res.Txs), mark.Bytes+uint64(res.Bytes)
	if len(rewritten) > 0 {
		next = next.withCompact(rewritten[0], rewritten[len(rewritten)-1])
	}
	next = next.withCursor(mark.Cursor()) // a walk by time keeps no cursor; never leave one below the mark
	if err := s.commitPrune(batch, r.Name, next, rewritten); err != nil {
		return PruneResult{}, err
	}
	res.Mark = next
	return res, nil
}

// CompactPruned flushes the memtables and compacts the block bodies and the
// sealed payload copies of heights [from, to] through every LSM level, so
// the bodies and copies Prune replaced no longer sit in a live sstable or
// memtable. A body Pebble separated into a blob file (Options.BlobMinSize)
// becomes garbage in that file, which Pebble rewrites away once the file is
// older than 5 minutes and 20 % garbage; until then, and in obsolete WAL
// files, the old bytes remain on disk (sealed with the patient's key).
// It compacts the whole range in one call: a pruner uses CompactPending,
// which works in bounded steps and records its progress in the pass's mark.
func (s *Store) CompactPruned(ctx context.Context, from, to uint64) error {
	if from == 0 || to < from {
		return fmt.Errorf("%w: compact heights [%d, %d]", ErrBadPruneRun, from, to)
	}
	if err := s.enterWrite(); err != nil {
		return err
	}
	defer s.exit()
	if err := s.db.Flush(); err != nil {
		return fmt.Errorf("store: compact pruned: flush: %w", err)
	}
	return s.compactHeights(ctx, from, to)
}

// compactHeights compacts the bodies and sealed copies of [from, to].
func (s *Store) compactHeights(ctx context.Context, from, to uint64) error {
	for _, r := range [][2][]byte{{BlockKey(from), BlockKey(to + 1)}, {SealedKey(from, 0), SealedKey(to+1, 0)}} {
		if err := s.db.Compact(ctx, r[0], r[1], false); err != nil {
			return fmt.Errorf("store: compact pruned heights [%d, %d]: %w", from, to, err)
		}
	}
	return nil
}

// CompactResult is what one CompactPending step did.
type CompactResult struct {
	// From and To are the heights the step compacted (From 0: nothing was
	// pending).
	From, To uint64
	// Done is set when nothing of the pass remains to compact.
	Done bool
	// Mark is the pass's mark after the step.
	Mark PruneMark
}

// CompactPending runs one bounded step of the compaction the pass name
// owes (PruneMark.CompactFrom-CompactTo, the heights its steps rewrote):
// it flushes the memtables, compacts the bodies and sealed copies of the
// first heights of the span whose sstables Pebble estimates at no more
// than maxBytes (at least one height; 0 means DefaultCompactBytes), as
// CompactPruned does, and then moves the span past them in the mark. A
// step compacts every sstable that overlaps its heights, so one whose
// file spans more (a freshly flushed one) costs more than its budget
// once. A caller loops until Done, one step per WithStore, so a snapshot
// restore waits for one step, never for a pass's whole compaction.
func (s *Store) CompactPending(ctx context.Context, name string, maxBytes int64) (CompactResult, error) {
	if err := checkPruneName(name); err != nil {
		return CompactResult{}, err
	}
	if maxBytes < 0 {
		return CompactResult{}, fmt.Errorf("%w: compaction budget %d below 0", ErrBadPruneRun, maxBytes)
	}
	if maxBytes == 0 {
		maxBytes = DefaultCompactBytes
	}
	if err := s.enterWrite(); err != nil {
		return CompactResult{}, err
	}
	defer s.exit()
	s.pruneMu.Lock() // the mark must not move between its read and its write
	defer s.pruneMu.Unlock()

	mark, err := s.pruneMark(name)
	if err != nil {
		return CompactResult{}, err
	}
	if mark.CompactFrom == 0 {
		return CompactResult{Done: true, Mark: mark}, nil
	}
	if err := s.db.Flush(); err != nil {
		return CompactResult{}, fmt.Errorf("store: compact pruned: flush: %w", err)
	}
	from := mark.CompactFrom
	to, err := s.compactChunkEnd(from, mark.CompactTo, uint64(maxBytes))
	if err != nil {
		return CompactResult{}, err
	}
	if err := s.compactHeights(ctx, from, to); err != nil {
		return CompactResult{}, err
	}
	next := mark
	if to >= mark.CompactTo {
		next.CompactFrom, next.CompactTo = 0, 0
	} else {
		next.CompactFrom = to + 1
	}
	batch := s.db.NewBatch()
	defer batch.Close()
	if err := s.commitPrune(batch, name, next, nil); err != nil {
		return CompactResult{}, err
	}
	return CompactResult{From: from, To: to, Done: next.CompactFrom == 0, Mark: next}, nil
}

// compactChunkEnd returns the highest height t in [from, last] whose
// heights [from, t] Pebble estimates at no more than budget bytes of
// sstables (bodies and sealed copies), and from when even from alone is
// over it.
func (s *Store) compactChunkEnd(from, last, budget uint64) (uint64, error) {
	usage := func(t uint64) (uint64, error) {
		b, err := s.db.EstimateDiskUsage(BlockKey(from), BlockKey(t+1))
		if err != nil {
			return 0, fmt.Errorf("store: compact pruned: estimate heights [%d, %d]: %w", from, t, err)
		}
		c, err := s.db.EstimateDiskUsage(SealedKey(from, 0), SealedKey(t+1, 0))
		if err != nil {
			return 0, fmt.Errorf("store: compact pruned: estimate heights [%d, %d]: %w", from, t, err)
		}
		return b + c, nil
	}
	if u, err := usage(last); err != nil || u <= budget {
		return last, err
	}
	lo, hi := from, last // usage(lo) fits (or lo == from), usage(hi) does not
	for lo+1 < hi {
		mid := lo + (hi-lo)/2
		u, err := usage(mid)
		if err != nil {
			return 0, err
		}
		if u <= budget {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo, nil
}

// TxAt names tx Index of the block at Height.
type TxAt struct {
	Height uint64
	Index  uint32
}

// PruneTxs removes the sealed payloads of the redacted txs at locs, as
// Prune does (bodies rewritten, copies deleted, tx roots re-checked, one
// batch holding the write lock only to commit), for a pass that is not a
// walk by block time: an erased patient's events, pruned at once. Txs that
// are not redacted or already pruned are skipped; a location beyond the
// head or a block is ErrBadPruneRun. The pass's mark keeps its counts and
// moves to mark when that is above it, in the same batch; the caller keeps
// locs to a few blocks a call. Result.From and To span the heights
// visited; Done is always set. The mark's scan cursor stays as it is,
// unless the mark reaches its work (then it is cleared).
func (s *Store) PruneTxs(name string, locs []TxAt, mark uint64) (PruneResult, error) {
	return s.pruneTxs(name, locs, mark, nil)
}

// PruneTxsScanned is PruneTxs for a pass that scans blocks for the txs it
// prunes: in the same batch it also records cursor, the blocks the scan
// has visited, as the mark's scan cursor (cleared when cursor is the zero
// cursor or its work is not above the mark's height after the step), so a
// pass stopped mid-scan resumes at cursor.To+1. A cursor that does not lie
// above the mark (To 0 or not below For) is ErrBadPruneRun.
func (s *Store) PruneTxsScanned(name string, locs []TxAt, mark uint64, cursor ScanCursor) (PruneResult, error) {
	if cursor.For != 0 && (cursor.To == 0 || cursor.To >= cursor.For) || cursor.For == 0 && cursor.To != 0 {
		return PruneResult{}, fmt.Errorf("%w: scan cursor (for height %d, scanned to %d) is not a range below its work", ErrBadPruneRun, cursor.For, cursor.To)
	}
	return s.pruneTxs(name, locs, mark, &cursor)
}

// pruneTxs is PruneTxs (cursor nil: keep the mark's) and PruneTxsScanned.
func (s *Store) pruneTxs(name string, locs []TxAt, mark uint64, cursor *ScanCursor) (PruneResult, error) {
	if err := checkPruneName(name); err != nil {
		return PruneResult{}, err
	}
	if err := s.enterWrite(); err != nil {
		return PruneResult{}, err
	}
	defer s.exit()
	s.pruneMu.Lock()
	defer s.pruneMu.Unlock()

	cur, err := s.pruneMark(name)
	if err != nil {
		return PruneResult{}, err
	}
	head := s.Height()
	byHeight := map[uint64]map[int]bool{}
	var heights []uint64
	for _, l := range locs {
		if l.Height == 0 || l.Height > head {
			return PruneResult{}, fmt.Errorf("%w: tx %d of block %d: the head is %d", ErrBadPruneRun, l.Index, l.Height, head)
		}
		if byHeight[l.Height] == nil {
			byHeight[l.Height] = map[int]bool{}
			heights = append(heights, l.Height)
		}
		byHeight[l.Height][int(l.Index)] = true
	}
	slices.Sort(heights)
	res := PruneResult{Done: true}
	if len(heights) > 0 {
		res.From, res.To = heights[0], heights[len(heights)-1]
	}
	batch := s.db.NewBatch()
	defer batch.Close()
	var rewritten []uint64
	for _, h := range heights {
		b, err := s.readBlock(h)
		if err != nil {
			return PruneResult{}, fmt.Errorf("store: prune %s: %w", name, err)
		}
		for i := range byHeight[h] {
			if i >= len(b.Txs) {
				return PruneResult{}, fmt.Errorf("%w: tx %d of block %d, which has %d", ErrBadPruneRun, i, h, len(b.Txs))
			}
		}
		res.Blocks++
		want := byHeight[h]
		nb, txs, n, err := s.stagePrune(batch, b, func(_ *types.Header, i int, _ *types.Tx, _ types.Payload) bool { return want[i] })
		if err != nil {
			return PruneResult{}, err
		}
		if txs > 0 {
			res.Txs += txs
			res.Bytes += n
			res.Rewritten++
			rewritten = append(rewritten, nb.Header.Height)
		}
	}
	next := cur
	next.Height, next.Txs, next.Bytes = max(cur.Height, mark), cur.Txs+uint64(res.Txs), cur.Bytes+uint64(res.Bytes)
	if len(rewritten) > 0 {
		next = next.withCompact(rewritten[0], rewritten[len(rewritten)-1])
	}
	if cursor != nil {
		next = next.withCursor(*cursor)
	} else {
		next = next.withCursor(cur.Cursor())
	}
	if next == cur {
		res.Mark = cur
		return res, nil
	}
	if err := s.commitPrune(batch, name, next, rewritten); err != nil {
		return PruneResult{}, err
	}
	res.Mark = next
	return res, nil
}

// stagePrune adds to batch the body of b without the sealed payloads sel
// picks, and the deletion of their copies; it returns the new block, how
// many it pruned and their bytes (0: b is unchanged, nothing staged).
func (s *Store) stagePrune(batch *pebble.Batch, b *types.Block, sel func(*types.Header, int, *types.Tx, types.Payload) bool) (*types.Block, int, int, error) {
	h := b.Header.Height
	nb, txs, n := pruneBlock(b, sel)
	if txs == 0 {
		return b, 0, 0, nil
	}
	if root := types.TxRoot(nb.Txs, nb.TxHashes()); root != b.Header.TxRoot {
		return nil, 0, 0, corrupt(BlockKey(h), fmt.Errorf("pruned body gives tx root %s, the header says %s", root, b.Header.TxRoot))
	}
	if err := batch.Set(BlockKey(h), nb.Encode(), nil); err != nil {
		return nil, 0, 0, fmt.Errorf("store: prune block %d: %w", h, err)
	}
	for i, tx := range b.Txs {
		if tx.Redaction != nil && !tx.Redaction.Pruned() && nb.Txs[i].Redaction.Pruned() {
			if err := batch.Delete(SealedKey(h, uint32(i)), nil); err != nil {
				return nil, 0, 0, fmt.Errorf("store: prune block %d: %w", h, err)
			}
		}
	}
	return nb, txs, n, nil
}

// commitPrune sets the pass's mark in batch and commits it under the write
// lock, then forgets the rewritten heights' decoded blocks.
func (s *Store) commitPrune(batch *pebble.Batch, name string, mark PruneMark, rewritten []uint64) error {
	if err := batch.Set(MetaKey(metaPrunePrefix+name), mark.encode(), nil); err != nil {
		return fmt.Errorf("store: prune %s: %w", name, err)
	}
	s.writeMu.Lock()
	err := batch.Commit(s.wo)
	s.blocks.remove(rewritten...) // even on error: the batch may be on disk
	s.writeMu.Unlock()
	if err != nil {
		return fmt.Errorf("store: prune %s: write batch: %w", name, err)
	}
	return nil
}

// pruneBlock returns b with the sealed payloads sel picks replaced by their
// hashes (a new block sharing every untouched tx with b; b is not
// modified), how many it pruned and their sealed bytes.
func pruneBlock(b *types.Block, sel func(*types.Header, int, *types.Tx, types.Payload) bool) (*types.Block, int, int) {
	var nb *types.Block
	txs, n := 0, 0
	for i, tx := range b.Txs {
		if tx.Redaction == nil || tx.Redaction.Pruned() {
			continue
		}
		p, err := tx.DecodePayload()
		if err != nil {
			continue // a committed tx that does not decode was rejected; its sealed bytes are kept
		}
		if !sel(&b.Header, i, tx, p) {
			continue
		}
		if nb == nil {
			cp := *b
			cp.Txs = append([]*types.Tx(nil), b.Txs...)
			nb = &cp
		}
		ptx := *tx
		red := tx.Redaction.PruneSealed()
		ptx.Redaction = &red
		nb.Txs[i] = &ptx
		txs++
		n += len(tx.Redaction.Sealed)
	}
	if nb == nil {
		return b, 0, 0
	}
	return nb, txs, n
}

// remove forgets the decoded blocks at heights (Prune rewrote them) and
// starts a new generation, so a read that began before cannot cache the
// body it read (addFrom).
func (c *blockLRU) remove(heights ...uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, h := range heights {
		if e, ok := c.m[h]; ok {
			c.ll.Remove(e)
			delete(c.m, h)
		}
	}
}

// generation returns the current generation, for addFrom.
func (c *blockLRU) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// addFrom is add for a block read from Pebble after generation() returned
// gen: if Prune rewrote blocks since, the body read may be the old one, so
// it is not cached.
func (c *blockLRU) addFrom(gen, height uint64, b *types.Block) {
	if c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == gen {
		c.addLocked(height, b)
	}
}
