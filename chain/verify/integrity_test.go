package verify

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/medchain/medchain/chain/chaintest"
	"github.com/medchain/medchain/chain/store"
	"github.com/medchain/medchain/chain/types"
)

// prunedAtBirth returns r stored as if pruned before its block committed.
func prunedAtBirth(r *types.Tx) *types.Tx {
	cp := r.Clone()
	red := cp.Redaction.PruneSealed()
	cp.Redaction = &red
	return cp
}

func verifyAll(t *testing.T, c *chaintest.Chain, opts Options) *Report {
	t.Helper()
	rep, err := Verify(context.Background(), c.Store, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// wantFault checks that rep holds a fault at height whose text has every
// one of whats.
func wantFault(t *testing.T, rep *Report, height uint64, whats ...string) {
	t.Helper()
	for _, f := range rep.Faults {
		ok := f.Height == height
		for _, w := range whats {
			ok = ok && strings.Contains(f.What, w)
		}
		if ok {
			if rep.OK {
				t.Fatal("a report with faults says OK")
			}
			return
		}
	}
	t.Fatalf("no fault at height %d mentioning %q; faults: %+v", height, whats, rep.Faults)
}

// TestBlockStoredPrunedAtBirthIsAFault: the FSM never commits a redaction
// without its sealed payload, and this node prunes only up to its pruning
// marks, so a pruned payload above every mark is a fault at its height,
// with or without the signature checks, while one this node pruned is not
// (from the finding of review 5: verification counted it as pruned,
// attested only, with no fault).
func TestBlockStoredPrunedAtBirthIsAFault(t *testing.T) {
	c, _ := prunedChain(t) // heights 2-5 pruned by the audit pass, mark 5
	c.Now += 1000
	sealed := redacted(t, c, "doctor456", "treatment", 40)
	if err := c.Store.Commit(store.Commit{Block: &types.Block{Txs: []*types.Tx{prunedAtBirth(sealed)}, Results: []types.Result{{}}}}); !errors.Is(err, store.ErrInvalidBlock) {
		t.Fatalf("store.Commit of a block pruned at birth: %v, want ErrInvalidBlock", err)
	}
	// Stored anyway (an older node, another writer): block 6 as committed,
	// its body rewritten pruned and its copy gone, above every mark.
	b := c.Commit(sealed)
	if !b.Results[0].OK() {
		t.Fatalf("fixture: %+v", b.Results[0])
	}
	born := prunedAtBirth(sealed)
	pb := *b
	pb.Txs = []*types.Tx{born}
	setRaw(t, c, store.BlockKey(6), pb.Encode())
	if err := c.Store.RawDeleteUnsafe(store.SealedKey(6, 0)); err != nil {
		t.Fatal(err)
	}
	c.Reopen()
	for _, sigs := range []bool{false, true} {
		rep := verifyAll(t, c, Options{Signatures: sigs})
		wantFault(t, rep, 6, "tx 0", born.Hash().String(), "stored pruned", "above height 5")
		if len(rep.Faults) != 1 {
			t.Fatalf("signatures %v: want exactly the one fault, got %+v", sigs, rep.Faults)
		}
	}
	// From a later height too.
	rep := verifyAll(t, c, Options{From: 4})
	wantFault(t, rep, 6, "stored pruned")
	// Once a pass's mark reaches the height, it is one this node pruned.
	if _, err := c.Store.Prune(store.PruneRun{Name: "research", Before: c.Now + 1, MaxBlocks: 100,
		Select: func(*types.Header, int, *types.Tx, types.Payload) bool { return false }}); err != nil {
		t.Fatal(err)
	}
	if rep := verifyAll(t, c, Options{Signatures: true}); !rep.OK {
		t.Fatalf("pruned under a mark: %+v", rep.Faults)
	}
}

// TestErasedPassUnderWayIsNotAFault: the erased pass prunes an erased
// patient's events (all below the erasure's height) before its mark moves
// to that height; a pruned event of a patient erased later is one this node
// pruned, not a fault. The same pruning of a patient not erased is.
func TestErasedPassUnderWayIsNotAFault(t *testing.T) {
	c := chaintest.New(t)
	c.Register("doctor456", types.KindPerson, types.RoleClinician)
	c.Register("po", types.KindPerson, types.RolePrivacyOfficer)
	erasedPs, keptPs := types.NewPseudonym([types.PseudonymSize]byte{1}), types.NewPseudonym([types.PseudonymSize]byte{2})
	event := func(ps string) *types.Tx {
		a := chaintest.Audit("patient123", "doctor456")
		tx := c.Tx("doctor456", a)
		r, err := types.Redact(tx, tx.Hash(), a, ps, []byte("sealed payload stand-in"))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	c.Now += 1000
	c.Commit(event(erasedPs), event(keptPs)) // height 3
	c.Now += 1000
	c.Commit(event(erasedPs), event(keptPs)) // height 4
	c.Now += 1000
	er := &types.PatientErase{Patient: "patient123", Reason: "gdpr-art17"}
	etx := c.Tx("po", er)
	ertx, err := types.Redact(etx, etx.Hash(), er, erasedPs, []byte("sealed erasure stand-in"))
	if err != nil {
		t.Fatal(err)
	}
	// Height 5: one more event, then the erasure, in the same block.
	if b := c.Commit(event(erasedPs), ertx); !b.Results[0].OK() || !b.Results[1].OK() {
		t.Fatalf("erasure block: %+v", b.Results)
	}
	// The erased pass, stopped after its first step: mark still 0.
	if _, err := c.Store.PruneTxs("erased", []store.TxAt{{Height: 3, Index: 0}, {Height: 4, Index: 0}, {Height: 5, Index: 0}}, 0); err != nil {
		t.Fatal(err)
	}
	if rep := verifyAll(t, c, Options{Signatures: true}); !rep.OK || rep.Pruned != 3 {
		t.Fatalf("erased pass under way: ok %v, pruned %d, faults %+v", rep.OK, rep.Pruned, rep.Faults)
	}
	// The patient who was not erased: no pass pruned their event.
	if _, err := c.Store.PruneTxs("erased", []store.TxAt{{Height: 4, Index: 1}}, 0); err != nil {
		t.Fatal(err)
	}
	wantFault(t, verifyAll(t, c, Options{}), 4, "tx 1", "stored pruned")
}

// TestSealedCopyDisagreeingWithItsBlockIsLocated: the audit trail opens
// events from their sealed payload copies, so a copy that differs from the
// body, is missing while the body holds the payload, or outlives its
// pruning is a fault naming its height and index (from the finding of
// review 5: the copies were trusted).
func TestSealedCopyDisagreeingWithItsBlockIsLocated(t *testing.T) {
	cases := []struct {
		name   string
		tamper func(t *testing.T, c *chaintest.Chain)
		height uint64
		whats  []string
	}{
		{"changed copy", func(t *testing.T, c *chaintest.Chain) {
			setRaw(t, c, store.SealedKey(3, 1), bytes.Repeat([]byte{1}, 23))
		}, 3, []string{"tx 1", "sealed payload copy of tx 1 at height 3", "differs"}},
		{"deleted copy", func(t *testing.T, c *chaintest.Chain) {
			if err := c.Store.RawDeleteUnsafe(store.SealedKey(4, 1)); err != nil {
				t.Fatal(err)
			}
		}, 4, []string{"sealed payload copy of tx 1 at height 4", "missing"}},
		{"copy left after pruning", func(t *testing.T, c *chaintest.Chain) {
			setRaw(t, c, store.SealedKey(2, 0), []byte("sealed payload stand-in"))
		}, 2, []string{"sealed payload copy of tx 0 at height 2", "remains"}},
		{"copy of a tx in clear", func(t *testing.T, c *chaintest.Chain) {
			setRaw(t, c, store.SealedKey(3, 2), []byte("x"))
		}, 3, []string{"tx 2", "sealed payload copy of tx 2 at height 3", "not redacted"}},
		{"copy past the block's txs", func(t *testing.T, c *chaintest.Chain) {
			setRaw(t, c, store.SealedKey(4, 7), []byte("x"))
		}, 4, []string{"sealed payload copy of tx 7 at height 4", "no stored block has a tx there"}},
		{"redaction stored with its payload and digest", func(t *testing.T, c *chaintest.Chain) {
			b, err := c.Store.Block(5)
			if err != nil {
				t.Fatal(err)
			}
			bad := *b
			bad.Txs = append([]*types.Tx(nil), b.Txs...)
			tx := b.Txs[1].Clone()
			tx.Redaction.SealedHash = tx.Redaction.SealedDigest() // the tx root is unchanged
			bad.Txs[1] = tx
			setRaw(t, c, store.BlockKey(5), bad.Encode())
		}, 5, []string{"tx 1", "stored redaction", "both"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := prunedChain(t) // heights 2-5: tx 0 pruned, tx 1 sealed
			tc.tamper(t, c)
			c.Reopen()
			rep := verifyAll(t, c, Options{Signatures: true})
			wantFault(t, rep, tc.height, tc.whats...)
			if len(rep.Faults) != 1 {
				t.Fatalf("want exactly one fault, got %+v", rep.Faults)
			}
			if err := c.Store.CheckIntegrity(); tc.name != "redaction stored with its payload and digest" && err == nil {
				t.Fatal("CheckIntegrity passes the tampered copy")
			}
		})
	}
}

func setRaw(t *testing.T, c *chaintest.Chain, k, v []byte) {
	t.Helper()
	if err := c.Store.RawSetUnsafe(k, v); err != nil {
		t.Fatal(err)
	}
}
