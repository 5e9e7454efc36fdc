package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/transparency-dev/merkle/proof"

	"github.com/medchain/medchain/chain/types"
)

// redacted returns signed audit tx n for purpose, stored redacted with
// stand-in sealed bytes (the store never opens them).
func (c *chain) redacted(n uint64, purpose string) *types.Tx {
	c.t.Helper()
	p := &types.AuditRecord{EventType: "data_access", Patient: fmt.Sprintf("patient%d", n%7), Actor: "doctor456",
		Action: "view_record", Purpose: purpose, Outcome: "success", Resource: fmt.Sprintf("Observation/%d", n)}
	tx, err := types.NewTx(testChainID, "dr-1", p, time.UnixMilli(1_700_000_000_000+int64(n)), n)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := tx.Sign(c.key); err != nil {
		c.t.Fatal(err)
	}
	sealed := append([]byte(fmt.Sprintf("sealed-%d-", n)), bytes.Repeat([]byte{0xA5}, 200)...)
	r, err := types.Redact(tx, tx.Hash(), p, types.NewPseudonym([types.PseudonymSize]byte{byte(n)}), sealed)
	if err != nil {
		c.t.Fatal(err)
	}
	return r.Clone()
}

// prunableChain commits blocks 1..n (block h has time h-1), each with a
// treatment event and a research event stored redacted and a plain tx.
func prunableChain(t testing.TB, s *Store, n int) *chain {
	t.Helper()
	c := newChain(t, s)
	for h := 1; h <= n; h++ {
		base := uint64(3 * h)
		c.commit(c.block([]*types.Tx{c.redacted(base, "treatment"), c.redacted(base+1, "research"), fakeTx(base + 2)}), nil)
	}
	return c
}

func notResearch(_ *types.Header, _ int, _ *types.Tx, p types.Payload) bool {
	a, ok := p.(*types.AuditRecord)
	return ok && a.Purpose != "research"
}

// checkChainIntact: every header is unchanged, every body matches its
// header's tx root, every tx is found by hash, every log leaf has an
// inclusion proof to the head's root, and the integrity scan passes.
func checkChainIntact(t *testing.T, s *Store, c *chain) {
	t.Helper()
	head, _ := s.Head()
	for _, want := range c.committed {
		b, err := s.Block(want.Header.Height)
		if err != nil {
			t.Fatal(err)
		}
		if b.Hash() != want.Hash() {
			t.Fatalf("height %d: header changed", want.Header.Height)
		}
		if root := types.TxRoot(b.Txs, b.TxHashes()); root != b.Header.TxRoot {
			t.Fatalf("height %d: body gives tx root %s, header %s", b.Header.Height, root, b.Header.TxRoot)
		}
		for _, tx := range want.Txs {
			if _, _, h, _, err := s.Tx(tx.Hash()); err != nil || h != want.Header.Height {
				t.Fatalf("tx %s: height %d, %v", tx.Hash(), h, err)
			}
		}
	}
	for i, leaf := range c.leaves {
		p, err := s.InclusionProof(uint64(i), head.LogSize)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyInclusion(types.LogHasher, uint64(i), head.LogSize, types.LogHasher.HashLeaf(leaf[:]), byteSlices(p), head.LogRoot[:]); err != nil {
			t.Fatalf("leaf %d: %v", i, err)
		}
	}
	if err := s.CheckIntegrity(); err != nil {
		t.Fatal(err)
	}
}

func TestPruneRemovesOnlyOldSelectedSealedPayloads(t *testing.T) {
	s := newTestStore(t)
	c := prunableChain(t, s, 10)
	before := map[uint64][]byte{}
	for h := uint64(1); h <= 10; h++ {
		before[h], _ = s.RawBlock(h)
		if sealed, found, err := s.SealedPayload(h, 0); err != nil || !found || !bytes.HasPrefix(sealed, []byte("sealed-")) {
			t.Fatalf("height %d: the commit kept no copy of the sealed payload: %q %v %v", h, sealed, found, err)
		}
		if _, found, _ := s.SealedPayload(h, 2); found {
			t.Fatalf("height %d: a plain tx has a sealed payload copy", h)
		}
	}
	// Blocks 1-5 have times 0-4: older than the cutoff 5.
	res, err := s.Prune(PruneRun{Name: "audit", Before: 5, MaxBlocks: 100, Select: notResearch})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Done || res.From != 1 || res.To != 5 || res.Blocks != 5 || res.Rewritten != 5 || res.Txs != 5 || res.Mark.Height != 5 || res.Mark.Txs != 5 || res.Bytes == 0 {
		t.Fatalf("result %+v", res)
	}
	for h := uint64(1); h <= 10; h++ {
		b, err := s.Block(h)
		if err != nil {
			t.Fatal(err)
		}
		old := h <= 5
		if got := b.Txs[0].Redaction.Pruned(); got != old {
			t.Fatalf("height %d: treatment event pruned %v, want %v", h, got, old)
		}
		if _, found, _ := s.SealedPayload(h, 0); found == old {
			t.Fatalf("height %d: sealed copy of the treatment event found %v", h, found)
		}
		if b.Txs[1].Redaction.Pruned() {
			t.Fatalf("height %d: the research event was pruned by the audit pass", h)
		}
		if _, found, _ := s.SealedPayload(h, 1); !found {
			t.Fatalf("height %d: the research event's sealed copy is gone", h)
		}
		if raw, _ := s.RawBlock(h); !old && !bytes.Equal(raw, before[h]) {
			t.Fatalf("height %d: a block younger than the cutoff was rewritten", h)
		}
	}
	checkChainIntact(t, s, c)

	// Again with the same cutoff: nothing to do; a later cutoff continues.
	if res, err := s.Prune(PruneRun{Name: "audit", Before: 5, MaxBlocks: 100, Select: notResearch}); err != nil || res.Blocks != 0 || !res.Done || res.Mark.Height != 5 {
		t.Fatalf("second run: %+v %v", res, err)
	}
	if res, err := s.Prune(PruneRun{Name: "audit", Before: 1 << 40, MaxBlocks: 100, Select: notResearch}); err != nil || res.From != 6 || res.To != 10 || res.Txs != 5 || res.Mark.Txs != 10 || !res.Done {
		t.Fatalf("run to the head: %+v %v", res, err)
	}
	// A second pass with its own mark takes the research events.
	research := func(h *types.Header, i int, tx *types.Tx, p types.Payload) bool { return !notResearch(h, i, tx, p) }
	if res, err := s.Prune(PruneRun{Name: "research", Before: 3, MaxBlocks: 100, Select: research}); err != nil || res.Txs != 3 || res.Mark.Height != 3 {
		t.Fatalf("research pass: %+v %v", res, err)
	}
	checkChainIntact(t, s, c)
	if m, err := s.PruneMarkOf("research"); err != nil || m.Height != 3 || m.Txs != 3 {
		t.Fatalf("research mark %+v %v", m, err)
	}
}

// TestPruneResumesAfterRestart: a pass stopped after any step continues from
// its mark after the store is reopened, and ends where one run would.
func TestPruneResumesAfterRestart(t *testing.T) {
	fs := vfs.NewMem()
	s := openTest(t, fs, "db", TestOptions())
	c := prunableChain(t, s, 9)
	run := PruneRun{Name: "audit", Before: 1 << 40, MaxBlocks: 2, Select: notResearch}
	var marks []uint64
	for step := 0; ; step++ {
		res, err := s.Prune(run)
		if err != nil {
			t.Fatal(err)
		}
		marks = append(marks, res.Mark.Height)
		if res.Done {
			break
		}
		if res.Blocks != 2 {
			t.Fatalf("step %d visited %d blocks, budget 2", step, res.Blocks)
		}
		// Stop the pruner and the node, then start again.
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s = openTest(t, fs, "db", TestOptions())
		c.s = s
	}
	defer s.Close()
	if fmt.Sprint(marks) != "[2 4 6 8 9]" {
		t.Fatalf("marks after each step: %v", marks)
	}
	m, err := s.PruneMarkOf("audit")
	if err != nil || m.Height != 9 || m.Txs != 9 {
		t.Fatalf("mark %+v %v", m, err)
	}
	for h := uint64(1); h <= 9; h++ {
		b, _ := s.Block(h)
		if !b.Txs[0].Redaction.Pruned() || b.Txs[1].Redaction.Pruned() {
			t.Fatalf("height %d: treatment pruned %v, research pruned %v", h, b.Txs[0].Redaction.Pruned(), b.Txs[1].Redaction.Pruned())
		}
	}
	checkChainIntact(t, s, c)
}

func TestPruneRefusesBadRuns(t *testing.T) {
	s := newTestStore(t)
	prunableChain(t, s, 2)
	all := func(*types.Header, int, *types.Tx, types.Payload) bool { return true }
	cases := []struct {
		name string
		run  PruneRun
	}{
		{"no name", PruneRun{Before: 10, MaxBlocks: 1, Select: all}},
		{"name with a slash", PruneRun{Name: "a/b", Before: 10, MaxBlocks: 1, Select: all}},
		{"upper-case name", PruneRun{Name: "Audit", Before: 10, MaxBlocks: 1, Select: all}},
		{"no selector", PruneRun{Name: "audit", Before: 10, MaxBlocks: 1}},
		{"no block budget", PruneRun{Name: "audit", Before: 10, Select: all}},
		{"negative byte budget", PruneRun{Name: "audit", Before: 10, MaxBlocks: 1, MaxBytes: -1, Select: all}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := dump(t, s)
			_, err := s.Prune(c.run)
			wantErr(t, err, ErrBadPruneRun)
			if err := sameDump(d, dump(t, s)); err != nil {
				t.Fatal(err)
			}
		})
	}
	snap, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	_, err = snap.Prune(PruneRun{Name: "audit", Before: 10, MaxBlocks: 1, Select: all})
	wantErr(t, err, ErrReadOnly)
}

// TestPruneRefusesABodyThatNoLongerMatchesItsHeader: a stored body whose
// sealed bytes were altered does not match its tx root; pruning it would
// hide the tampering, so the step fails as corrupt and writes nothing.
func TestPruneRefusesABodyThatNoLongerMatchesItsHeader(t *testing.T) {
	s := newTestStore(t)
	prunableChain(t, s, 3)
	b, _ := s.Block(2)
	bad := *b
	bad.Txs = append([]*types.Tx(nil), b.Txs...)
	tx := b.Txs[0].Clone()
	tx.Redaction.Sealed[0] ^= 1
	bad.Txs[0] = tx
	if err := s.RawSetUnsafe(BlockKey(2), bad.Encode()); err != nil {
		t.Fatal(err)
	}
	d := dump(t, s)
	_, err := s.Prune(PruneRun{Name: "audit", Before: 1 << 40, MaxBlocks: 10, Select: notResearch})
	wantErr(t, err, ErrCorrupt)
	if err := sameDump(d, dump(t, s)); err != nil {
		t.Fatal(err)
	}
}

// TestSnapshotKeepsItsBlocksWhilePruneRewritesThem: a snapshot taken before
// a prune reads the bodies as they were; the live store reads them pruned
// (the decoded block cache is not shared between them).
func TestSnapshotKeepsItsBlocksWhilePruneRewritesThem(t *testing.T) {
	s := newTestStore(t)
	prunableChain(t, s, 3)
	if _, err := s.Block(1); err != nil { // cached before the prune
		t.Fatal(err)
	}
	snap, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	if _, err := s.Prune(PruneRun{Name: "audit", Before: 1 << 40, MaxBlocks: 10, Select: notResearch}); err != nil {
		t.Fatal(err)
	}
	for h := uint64(1); h <= 3; h++ {
		old, _ := snap.Block(h)
		now, _ := s.Block(h)
		if old.Txs[0].Redaction.Pruned() || !now.Txs[0].Redaction.Pruned() {
			t.Fatalf("height %d: snapshot sees pruned %v, live store %v", h, old.Txs[0].Redaction.Pruned(), now.Txs[0].Redaction.Pruned())
		}
	}
}

// TestPruneByteBudgetEndsAStep: a step ends after the rewritten block that
// reaches its byte budget, however many blocks it may still visit.
func TestPruneByteBudgetEndsAStep(t *testing.T) {
	s := newTestStore(t)
	prunableChain(t, s, 4)
	for want := uint64(1); want <= 4; want++ {
		res, err := s.Prune(PruneRun{Name: "audit", Before: 1 << 40, MaxBlocks: 100, MaxBytes: 1, Select: notResearch})
		if err != nil {
			t.Fatal(err)
		}
		if res.Blocks != 1 || res.Rewritten != 1 || res.Mark.Height != want {
			t.Fatalf("step %d: %+v", want, res)
		}
	}
}

// TestPruneTxsPrunesExactlyTheNamedTxs: the named redacted txs lose their
// sealed payloads (plain and already pruned ones are skipped), the chain
// stays intact, and the mark moves only forward.
func TestPruneTxsPrunesExactlyTheNamedTxs(t *testing.T) {
	s := newTestStore(t)
	c := prunableChain(t, s, 4)
	res, err := s.PruneTxs("erased", []TxAt{{2, 0}, {3, 0}, {3, 2}, {3, 1}}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if res.Txs != 3 || res.Blocks != 2 || res.Rewritten != 2 || res.From != 2 || res.To != 3 || res.Mark.Height != 3 || res.Mark.Txs != 3 {
		t.Fatalf("result %+v", res)
	}
	for h := uint64(1); h <= 4; h++ {
		b, _ := s.Block(h)
		want := [2]bool{h == 2 || h == 3, h == 3}
		if got := [2]bool{b.Txs[0].Redaction.Pruned(), b.Txs[1].Redaction.Pruned()}; got != want {
			t.Fatalf("height %d: pruned %v, want %v", h, got, want)
		}
		if _, found, _ := s.SealedPayload(h, 0); found == want[0] {
			t.Fatalf("height %d: sealed copy found %v", h, found)
		}
	}
	checkChainIntact(t, s, c)
	// Again, with a lower mark: nothing to do, the mark stays.
	if res, err := s.PruneTxs("erased", []TxAt{{2, 0}}, 1); err != nil || res.Txs != 0 || res.Mark.Height != 3 {
		t.Fatalf("second call: %+v %v", res, err)
	}
	for _, bad := range []struct {
		name string
		locs []TxAt
	}{
		{"beyond the head", []TxAt{{5, 0}}},
		{"height 0", []TxAt{{0, 0}}},
		{"beyond the block's txs", []TxAt{{4, 0}, {2, 9}}},
	} {
		t.Run(bad.name, func(t *testing.T) {
			d := dump(t, s)
			_, err := s.PruneTxs("erased", bad.locs, 4)
			wantErr(t, err, ErrBadPruneRun)
			if err := sameDump(d, dump(t, s)); err != nil {
				t.Fatal(err)
			}
		})
	}
	if _, err := s.PruneTxs("Erased!", nil, 1); !errors.Is(err, ErrBadPruneRun) {
		t.Fatalf("bad pass name: %v", err)
	}
}

// TestPruneTxsScannedKeepsTheScanCursor: a scanning pass records how far
// its scan went in the mark, in the batch of the step (with or without txs
// to prune); the step that moves the mark to the scan's work clears it; a
// plain PruneTxs keeps it; a cursor that does not lie below its work is
// refused and changes nothing.
func TestPruneTxsScannedKeepsTheScanCursor(t *testing.T) {
	s := newTestStore(t)
	prunableChain(t, s, 8)
	steps := []struct {
		name   string
		call   func() (PruneResult, error)
		height uint64
		cursor ScanCursor
		txs    uint64
	}{
		{"first chunk, nothing to prune", func() (PruneResult, error) {
			return s.PruneTxsScanned("erased", nil, 0, ScanCursor{For: 6, To: 2})
		}, 0, ScanCursor{For: 6, To: 2}, 0},
		{"second chunk prunes", func() (PruneResult, error) {
			return s.PruneTxsScanned("erased", []TxAt{{3, 0}, {4, 1}}, 0, ScanCursor{For: 6, To: 4})
		}, 0, ScanCursor{For: 6, To: 4}, 2},
		{"a plain PruneTxs keeps it", func() (PruneResult, error) {
			return s.PruneTxs("erased", []TxAt{{1, 0}}, 0)
		}, 0, ScanCursor{For: 6, To: 4}, 3},
		{"the last chunk moves the mark and clears it", func() (PruneResult, error) {
			return s.PruneTxsScanned("erased", []TxAt{{5, 0}}, 6, ScanCursor{})
		}, 6, ScanCursor{}, 4},
		{"a cursor at or below the mark is dropped", func() (PruneResult, error) {
			return s.PruneTxsScanned("erased", nil, 0, ScanCursor{For: 5, To: 3})
		}, 6, ScanCursor{}, 4},
		{"the next work", func() (PruneResult, error) {
			return s.PruneTxsScanned("erased", nil, 0, ScanCursor{For: 8, To: 1})
		}, 6, ScanCursor{For: 8, To: 1}, 4},
		{"a plain PruneTxs that reaches the work clears it", func() (PruneResult, error) {
			return s.PruneTxs("erased", nil, 8)
		}, 8, ScanCursor{}, 4},
	}
	for _, st := range steps {
		res, err := st.call()
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		m, err := s.PruneMarkOf("erased")
		if err != nil {
			t.Fatal(err)
		}
		if m != res.Mark || m.Height != st.height || m.Cursor() != st.cursor || m.Txs != st.txs {
			t.Fatalf("%s: stored mark %+v (result %+v), want height %d, cursor %+v, %d txs", st.name, m, res.Mark, st.height, st.cursor, st.txs)
		}
	}
	// Bad cursors: nothing written.
	if _, err := s.PruneTxsScanned("erased", nil, 0, ScanCursor{For: 12, To: 9}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct {
		name string
		c    ScanCursor
	}{
		{"scanned to its work", ScanCursor{For: 12, To: 12}},
		{"scanned past its work", ScanCursor{For: 12, To: 13}},
		{"nothing scanned", ScanCursor{For: 12}},
		{"scanned for nothing", ScanCursor{To: 3}},
	} {
		t.Run(bad.name, func(t *testing.T) {
			d := dump(t, s)
			_, err := s.PruneTxsScanned("erased", []TxAt{{7, 0}}, 0, bad.c)
			wantErr(t, err, ErrBadPruneRun)
			if err := sameDump(d, dump(t, s)); err != nil {
				t.Fatal(err)
			}
		})
	}
	// A walk by time over the same name never leaves the cursor below the mark.
	w := newTestStore(t)
	prunableChain(t, w, 8)
	if _, err := w.PruneTxsScanned("erased", nil, 0, ScanCursor{For: 5, To: 2}); err != nil {
		t.Fatal(err)
	}
	res, err := w.Prune(PruneRun{Name: "erased", Before: 1 << 62, MaxBlocks: 8, Select: func(*types.Header, int, *types.Tx, types.Payload) bool { return false }})
	if m, _ := w.PruneMarkOf("erased"); err != nil || res.Mark.Height != 8 || m != res.Mark || m.Cursor() != (ScanCursor{}) {
		t.Fatalf("prune past the cursor's work: %+v %v", m, err)
	}
}

// TestReadersNeverCacheABodyPruneReplaced: readers decoding blocks while a
// pass rewrites them never leave an old body in the decoded block cache:
// once Prune returned, every read of a pruned height is the pruned body.
func TestReadersNeverCacheABodyPruneReplaced(t *testing.T) {
	s := newTestStore(t)
	prunableChain(t, s, 12)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.Block(uint64(1 + (i+r)%12)); err != nil {
					t.Error(err)
					return
				}
			}
		}(r)
	}
	for {
		res, err := s.Prune(PruneRun{Name: "audit", Before: 1 << 40, MaxBlocks: 1, Select: notResearch})
		if err != nil {
			t.Fatal(err)
		}
		if res.Done {
			break
		}
	}
	close(stop)
	wg.Wait()
	for h := uint64(1); h <= 12; h++ {
		if b, _ := s.Block(h); !b.Txs[0].Redaction.Pruned() {
			t.Fatalf("height %d is served unpruned after the pass", h)
		}
	}
}

// TestCompactPrunedLeavesNoCopyInLiveFiles: after a pass and CompactPruned,
// no file of the store but the write-ahead logs holds a pruned sealed
// payload (bodies under Options.BlobMinSize stay in sstables, like these),
// while the payloads that were kept are still there.
func TestCompactPrunedLeavesNoCopyInLiveFiles(t *testing.T) {
	fs := vfs.NewMem()
	s := openTest(t, fs, "db", TestOptions())
	defer s.Close()
	prunableChain(t, s, 8)
	if err := s.CompactPruned(context.Background(), 1, 8); err != nil { // every body in an sstable
		t.Fatal(err)
	}
	res, err := s.Prune(PruneRun{Name: "audit", Before: 5, MaxBlocks: 100, Select: notResearch}) // heights 1-5
	if err != nil || res.To != 5 {
		t.Fatalf("prune: %+v %v", res, err)
	}
	if err := s.CompactPruned(context.Background(), 1, 5); err != nil {
		t.Fatal(err)
	}
	holds := func(marker string) []string { return liveFilesHolding(t, fs, "db", s, marker) }
	for h := 1; h <= 5; h++ {
		if hits := holds(fmt.Sprintf("sealed-%d-", 3*h)); len(hits) > 0 {
			t.Errorf("the pruned sealed payload of height %d is still in %v", h, hits)
		}
	}
	for _, kept := range []string{"sealed-4-", fmt.Sprintf("sealed-%d-", 3*7)} { // research of height 1, treatment of height 7
		if len(holds(kept)) == 0 {
			t.Errorf("the kept sealed payload %q is in no live file", kept)
		}
	}
	for _, bad := range [][2]uint64{{0, 3}, {4, 3}} {
		if err := s.CompactPruned(context.Background(), bad[0], bad[1]); !errors.Is(err, ErrBadPruneRun) {
			t.Errorf("compact [%d, %d]: %v", bad[0], bad[1], err)
		}
	}
}

// liveFilesHolding returns the files of the store in dir that hold marker:
// Pebble deletes obsolete sstables in the background, so it looks at the
// live ones only (and at every other file but the WAL, which
// CompactPruned does not rewrite).
func liveFilesHolding(t *testing.T, fs vfs.FS, dir string, s *Store, marker string) []string {
	t.Helper()
	live := map[string]bool{}
	levels, err := s.db.SSTables()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range levels {
		for _, f := range l {
			live[fmt.Sprintf("%06d.sst", uint64(f.BackingSSTNum))] = true
		}
	}
	var hits []string
	names, err := fs.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if strings.HasSuffix(n, ".log") || strings.HasSuffix(n, ".sst") && !live[n] {
			continue
		}
		f, err := fs.Open(fs.PathJoin(dir, n))
		if err != nil {
			continue // a directory
		}
		b, _ := io.ReadAll(f)
		f.Close()
		if bytes.Contains(b, []byte(marker)) {
			hits = append(hits, n)
		}
	}
	return hits
}

// TestPruneMarkKeepsTheSpanToCompact: every step that rewrites bodies
// widens the span its mark owes to compaction, in the same batch; a store
// reopened after a run that stopped before compacting (a crash, a
// cancelled or failed run) still owes it, and CompactPending pays it in
// bounded steps, after which no live file holds a pruned payload.
func TestPruneMarkKeepsTheSpanToCompact(t *testing.T) {
	fs := vfs.NewMem()
	s := openTest(t, fs, "db", TestOptions())
	prunableChain(t, s, 12)
	if err := s.CompactPruned(context.Background(), 1, 12); err != nil { // every body in an sstable
		t.Fatal(err)
	}
	steps := []struct {
		name     string
		step     func() (PruneResult, error)
		wantMark PruneMark
	}{
		{"audit step to height 3", func() (PruneResult, error) {
			return s.Prune(PruneRun{Name: "audit", Before: 3, MaxBlocks: 100, Select: notResearch})
		}, PruneMark{Height: 3, Txs: 3, CompactFrom: 1, CompactTo: 3}},
		{"audit step to height 8", func() (PruneResult, error) {
			return s.Prune(PruneRun{Name: "audit", Before: 8, MaxBlocks: 100, Select: notResearch})
		}, PruneMark{Height: 8, Txs: 8, CompactFrom: 1, CompactTo: 8}},
		{"audit step that rewrites nothing", func() (PruneResult, error) {
			return s.Prune(PruneRun{Name: "audit", Before: 10, MaxBlocks: 100, Select: func(*types.Header, int, *types.Tx, types.Payload) bool { return false }})
		}, PruneMark{Height: 10, Txs: 8, CompactFrom: 1, CompactTo: 8}},
		{"erased txs above the span", func() (PruneResult, error) {
			return s.PruneTxs("erased", []TxAt{{Height: 11, Index: 1}, {Height: 12, Index: 1}}, 12)
		}, PruneMark{Height: 12, Txs: 2, CompactFrom: 11, CompactTo: 12}},
	}
	for _, st := range steps {
		res, err := st.step()
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		res.Mark.Bytes = 0 // sizes vary with the test key; the counts say enough
		if res.Mark != st.wantMark {
			t.Fatalf("%s: mark %+v, want %+v", st.name, res.Mark, st.wantMark)
		}
	}
	// The run stops here, before any compaction: the store is closed and
	// reopened, as after a crash or a restart.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, fs, "db", TestOptions())
	defer s.Close()
	if m, err := s.PruneMarkOf("audit"); err != nil || m.CompactFrom != 1 || m.CompactTo != 8 {
		t.Fatalf("audit mark after the reopen: %+v %v", m, err)
	}
	// Budget 1 byte: each step compacts the least it can (one height, or
	// the heights the same sstable covers), never more than what is owed.
	var got [][2]uint64
	for i := 0; ; i++ {
		res, err := s.CompactPending(context.Background(), "audit", 1)
		if err != nil {
			t.Fatal(err)
		}
		if i > 8 || res.From == 0 || res.From > res.To || res.To > 8 || len(got) > 0 && res.From != got[len(got)-1][1]+1 {
			t.Fatalf("step %d: %+v after %v", i, res, got)
		}
		got = append(got, [2]uint64{res.From, res.To})
		if res.Done {
			if res.Mark.CompactFrom != 0 || res.Mark.CompactTo != 0 || res.Mark.Height != 10 {
				t.Fatalf("mark once done: %+v", res.Mark)
			}
			break
		}
		if res.Mark.CompactFrom != res.To+1 || res.Mark.CompactTo != 8 {
			t.Fatalf("step %d: mark %+v", i, res.Mark)
		}
	}
	if got[0][0] != 1 || got[len(got)-1][1] != 8 {
		t.Fatalf("compacted %v, want heights 1 to 8", got)
	}
	if res, err := s.CompactPending(context.Background(), "audit", 0); err != nil || !res.Done || res.From != 0 {
		t.Fatalf("nothing owed: %+v %v", res, err)
	}
	if res, err := s.CompactPending(context.Background(), "erased", 0); err != nil || !res.Done || res.From != 11 || res.To != 12 {
		t.Fatalf("erased pass, default budget: %+v %v", res, err)
	}
	for h := 1; h <= 8; h++ {
		if hits := liveFilesHolding(t, fs, "db", s, fmt.Sprintf("sealed-%d-", 3*h)); len(hits) > 0 {
			t.Errorf("the pruned sealed payload of height %d is still in %v", h, hits)
		}
	}
	for _, h := range []int{11, 12} {
		if hits := liveFilesHolding(t, fs, "db", s, fmt.Sprintf("sealed-%d-", 3*h+1)); len(hits) > 0 {
			t.Errorf("the erased sealed payload of height %d is still in %v", h, hits)
		}
	}
	if hits := liveFilesHolding(t, fs, "db", s, fmt.Sprintf("sealed-%d-", 3*9)); len(hits) == 0 {
		t.Error("the kept sealed payload of height 9 is in no live file")
	}
}

// TestCompactPendingRefusesBadInput: a bad pass name or a negative budget
// is ErrBadPruneRun, and the mark is untouched.
func TestCompactPendingRefusesBadInput(t *testing.T) {
	s := openTest(t, vfs.NewMem(), "db", TestOptions())
	defer s.Close()
	prunableChain(t, s, 3)
	if _, err := s.Prune(PruneRun{Name: "audit", Before: 3, MaxBlocks: 100, Select: notResearch}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		pass   string
		budget int64
	}{
		{"empty pass name", "", 0},
		{"pass name with a slash", "au/dit", 0},
		{"negative budget", "audit", -1},
	} {
		if _, err := s.CompactPending(context.Background(), tc.pass, tc.budget); !errors.Is(err, ErrBadPruneRun) {
			t.Errorf("%s: %v, want ErrBadPruneRun", tc.name, err)
		}
	}
	if m, _ := s.PruneMarkOf("audit"); m.CompactFrom != 1 || m.CompactTo != 3 {
		t.Fatalf("mark after the refusals: %+v", m)
	}
}

// TestPruneMarkDecoding: marks written before the span to compact (24
// bytes) read as owing nothing, 40-byte marks (every mark without a scan
// under way, as the previous version wrote and reads them) as scanning
// nothing; a span that is not a range of heights, a cursor that does not
// lie above the mark's height, a 56-byte mark without a cursor and any
// other length are corrupt.
func TestPruneMarkDecoding(t *testing.T) {
	v1 := PruneMark{Height: 7, Txs: 3, Bytes: 900}.encode()[:pruneMarkSizeV1]
	withSpan := func(from, to uint64) []byte {
		return PruneMark{Height: 7, Txs: 3, Bytes: 900, CompactFrom: from, CompactTo: to}.encode()
	}
	withCursor := func(scanFor, scanTo uint64) []byte { // the 56-byte layout, whatever the cursor
		b := withSpan(2, 5)
		b = binary.BigEndian.AppendUint64(b, scanFor)
		return binary.BigEndian.AppendUint64(b, scanTo)
	}
	spanned := PruneMark{Height: 7, Txs: 3, Bytes: 900, CompactFrom: 2, CompactTo: 5}
	if n := len(spanned.encode()); n != pruneMarkSizeV2 {
		t.Fatalf("a mark without a scan encodes to %d bytes, want the %d the previous version reads", n, pruneMarkSizeV2)
	}
	if n := len(PruneMark{Height: 7, ScanFor: 9, ScanTo: 8}.encode()); n != pruneMarkSize {
		t.Fatalf("a mark with a scan encodes to %d bytes, want %d", n, pruneMarkSize)
	}
	cursor := func(scanFor, scanTo uint64) PruneMark {
		m := spanned
		m.ScanFor, m.ScanTo = scanFor, scanTo
		return m
	}
	for _, tc := range []struct {
		name string
		raw  []byte
		want PruneMark
		bad  bool
	}{
		{"before the span (24 bytes)", v1, PruneMark{Height: 7, Txs: 3, Bytes: 900}, false},
		{"nothing owed", withSpan(0, 0), PruneMark{Height: 7, Txs: 3, Bytes: 900}, false},
		{"a span", withSpan(2, 5), PruneMark{Height: 7, Txs: 3, Bytes: 900, CompactFrom: 2, CompactTo: 5}, false},
		{"one height", withSpan(4, 4), PruneMark{Height: 7, Txs: 3, Bytes: 900, CompactFrom: 4, CompactTo: 4}, false},
		{"span without a start", withSpan(0, 5), PruneMark{}, true},
		{"span without an end", withSpan(3, 0), PruneMark{}, true},
		{"span backwards", withSpan(5, 2), PruneMark{}, true},
		{"short", v1[:23], PruneMark{}, true},
		{"between the sizes", withSpan(2, 5)[:32], PruneMark{}, true},
		{"no scan under way in the 56-byte form (written as 40)", withCursor(0, 0), PruneMark{}, true},
		{"a scan under way", withCursor(12, 9), cursor(12, 9), false},
		{"a scan just begun", withCursor(8, 1), cursor(8, 1), false},
		{"cursor for the mark's height", withCursor(7, 3), PruneMark{}, true},
		{"cursor for a height below the mark", withCursor(5, 3), PruneMark{}, true},
		{"cursor at its work", withCursor(12, 12), PruneMark{}, true},
		{"cursor past its work", withCursor(12, 14), PruneMark{}, true},
		{"cursor without work", withCursor(0, 9), PruneMark{}, true},
		{"cursor that scanned nothing", withCursor(12, 0), PruneMark{}, true},
		{"between the span and the cursor", withCursor(12, 9)[:48], PruneMark{}, true},
		{"long", append(withCursor(12, 9), 0), PruneMark{}, true},
	} {
		m, err := decodePruneMark(tc.raw)
		if (err != nil) != tc.bad || m != tc.want {
			t.Errorf("%s: %+v %v", tc.name, m, err)
		}
	}
}
