package store

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/medchain/medchain/chain/types"
)

// TestCheckIntegrityLocatesEverySealedCopyThatDisagreesWithItsBlock: the
// audit trail opens events from their 'r' copies and takes a missing copy
// for a pruned payload, so a copy that is changed, deleted, left behind by
// pruning or owned by no redacted tx is corruption, named by its height and
// index (from the finding of review 5: CheckIntegrity trusted the copies).
func TestCheckIntegrityLocatesEverySealedCopyThatDisagreesWithItsBlock(t *testing.T) {
	cases := []struct {
		name   string
		tamper func(t *testing.T, s *Store)
		want   []string // "" in want: no fault
	}{
		{"untampered", func(*testing.T, *Store) {}, nil},
		{"pruned", func(t *testing.T, s *Store) { pruneAudit(t, s, 1) }, nil},
		{"changed copy", func(t *testing.T, s *Store) {
			b, _ := s.Block(1)
			must(t, s.RawSetUnsafe(SealedKey(1, 0), bytes.Repeat([]byte{1}, len(b.Txs[0].Redaction.Sealed))))
		}, []string{"sealed payload copy of tx 0 at height 1: differs from the sealed payload in the block"}},
		{"one byte changed", func(t *testing.T, s *Store) {
			cp, _, _ := s.SealedPayload(2, 1)
			cp[len(cp)-1] ^= 1
			must(t, s.RawSetUnsafe(SealedKey(2, 1), cp))
		}, []string{"sealed payload copy of tx 1 at height 2: differs"}},
		{"empty copy", func(t *testing.T, s *Store) {
			must(t, s.RawSetUnsafe(SealedKey(2, 0), []byte{}))
		}, []string{"sealed payload copy of tx 0 at height 2: differs"}},
		{"deleted copy", func(t *testing.T, s *Store) {
			must(t, s.RawDeleteUnsafe(SealedKey(1, 1)))
		}, []string{"sealed payload copy of tx 1 at height 1: missing, while the block holds the sealed payload"}},
		{"copy left after pruning", func(t *testing.T, s *Store) {
			cp, _, _ := s.SealedPayload(1, 0)
			pruneAudit(t, s, 1)
			must(t, s.RawSetUnsafe(SealedKey(1, 0), cp))
		}, []string{"sealed payload copy of tx 0 at height 1: the block holds only the digest"}},
		{"copy of a tx in clear", func(t *testing.T, s *Store) {
			must(t, s.RawSetUnsafe(SealedKey(1, 2), []byte("x")))
		}, []string{"sealed payload copy of tx 2 at height 1: the tx is not redacted"}},
		{"copy past a block's txs", func(t *testing.T, s *Store) {
			must(t, s.RawSetUnsafe(SealedKey(1, 9), []byte("x")))
		}, []string{"sealed payload copy of tx 9 at height 1: no stored block has a tx there"}},
		{"copy past the head", func(t *testing.T, s *Store) {
			must(t, s.RawSetUnsafe(SealedKey(9, 0), []byte("x")))
		}, []string{"sealed payload copy of tx 0 at height 9: no stored block has a tx there"}},
		{"malformed copy key", func(t *testing.T, s *Store) {
			must(t, s.RawSetUnsafe([]byte{PrefixSealed, 1, 2}, []byte("x")))
		}, []string{"sealed payload key has 2 bytes"}},
		{"changed and deleted (review 5)", func(t *testing.T, s *Store) {
			b, _ := s.Block(1)
			must(t, s.RawSetUnsafe(SealedKey(1, 0), bytes.Repeat([]byte{1}, len(b.Txs[0].Redaction.Sealed))))
			must(t, s.RawDeleteUnsafe(SealedKey(1, 1)))
		}, []string{"tx 0 at height 1: differs", "tx 1 at height 1: missing"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newTestStore(t)
			prunableChain(t, s, 2)
			c.tamper(t, s)
			err := s.CheckIntegrity()
			if len(c.want) == 0 {
				if err != nil {
					t.Fatalf("CheckIntegrity: %v", err)
				}
				return
			}
			for _, w := range c.want {
				wantCorrupt(t, err, w)
			}
			// A snapshot sees the same.
			snap, serr := s.Snapshot()
			if serr != nil {
				t.Fatal(serr)
			}
			defer snap.Close()
			if serr := snap.CheckIntegrity(); serr == nil || serr.Error() != err.Error() {
				t.Fatalf("snapshot: %v, live store: %v", serr, err)
			}
		})
	}
}

func TestCheckSealedCopyNamesTheLocation(t *testing.T) {
	s := newTestStore(t)
	c := prunableChain(t, s, 1)
	b := c.committed[0]
	red := b.Txs[0]
	sealed := red.Redaction.Sealed
	pr := *red
	p := red.Redaction.PruneSealed()
	pr.Redaction = &p
	plain := b.Txs[2]
	cases := []struct {
		name  string
		cp    []byte
		found bool
		want  string // "" no error
	}{
		{"sealed with its copy", sealed, true, ""},
		{"sealed without a copy", nil, false, "missing"},
		{"sealed with another copy", append(bytes.Clone(sealed), 0), true, "differs"},
		{"pruned without a copy", nil, false, ""},
		{"pruned with a copy", sealed, true, "remains"},
		{"clear without a copy", nil, false, ""},
		{"clear with a copy", sealed, true, "not redacted"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tx := red
			switch {
			case strings.HasPrefix(c.name, "pruned"):
				tx = &pr
			case strings.HasPrefix(c.name, "clear"):
				tx = plain
			}
			err := CheckSealedCopy(4, 3, tx, c.cp, c.found)
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantCorrupt(t, err, "sealed payload copy of tx 3 at height 4")
			wantCorrupt(t, err, c.want)
		})
	}
}

// TestPrunedUpToIsTheHighestMark: verification takes a pruned payload above
// every pass's mark for one this node never pruned.
func TestPrunedUpToIsTheHighestMark(t *testing.T) {
	s := newTestStore(t)
	prunableChain(t, s, 6)
	at := func(want uint64) {
		t.Helper()
		got, err := s.PrunedUpTo()
		if err != nil || got != want {
			t.Fatalf("PrunedUpTo: %d, %v; want %d", got, err, want)
		}
	}
	at(0)
	if _, err := s.Prune(PruneRun{Name: "audit", Before: 3, MaxBlocks: 100, Select: notResearch}); err != nil {
		t.Fatal(err)
	}
	at(3)
	if _, err := s.PruneTxs("erased", []TxAt{{Height: 5, Index: 1}}, 5); err != nil {
		t.Fatal(err)
	}
	at(5)
	if _, err := s.Prune(PruneRun{Name: "research", Before: 2, MaxBlocks: 100, Select: notResearch}); err != nil {
		t.Fatal(err)
	}
	at(5)
	if err := s.CheckIntegrity(); err != nil {
		t.Fatal(err)
	}
	must(t, s.RawSetUnsafe(MetaKey(metaPrunePrefix+"audit"), []byte{1, 2}))
	if _, err := s.PrunedUpTo(); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), `meta "prune/audit"`) {
		t.Fatalf("a corrupt mark: %v, want ErrCorrupt naming it", err)
	}
}

// pruneAudit prunes the treatment events of blocks up to height.
func pruneAudit(t *testing.T, s *Store, height int64) {
	t.Helper()
	if _, err := s.Prune(PruneRun{Name: "audit", Before: height, MaxBlocks: 100, Select: notResearch}); err != nil {
		t.Fatal(err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestSealedPayloadsReadsOneBlocksCopiesInOrder: verification reads a
// block's copies with one range read; it sees exactly that block's copies,
// in index order, and a malformed key among them is ErrCorrupt.
func TestSealedPayloadsReadsOneBlocksCopiesInOrder(t *testing.T) {
	s := newTestStore(t)
	prunableChain(t, s, 3)
	pruneAudit(t, s, 1) // block 1: tx 0 pruned
	got := func(h uint64) []uint32 {
		t.Helper()
		var idx []uint32
		err := s.SealedPayloads(h, func(i uint32, cp []byte) bool {
			want, found, _ := s.SealedPayload(h, i)
			if !found || !bytes.Equal(cp, want) {
				t.Fatalf("height %d copy %d: %q, point read %q (%v)", h, i, cp, want, found)
			}
			idx = append(idx, i)
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		return idx
	}
	for _, c := range []struct {
		height uint64
		want   string
	}{{1, "[1]"}, {2, "[0 1]"}, {3, "[0 1]"}, {4, "[]"}, {^uint64(0), "[]"}} {
		if g := fmt.Sprint(got(c.height)); g != c.want {
			t.Errorf("height %d: copies %s, want %s", c.height, g, c.want)
		}
	}
	n := 0
	if err := s.SealedPayloads(2, func(uint32, []byte) bool { n++; return false }); err != nil || n != 1 {
		t.Fatalf("stopping early: %d calls, %v", n, err)
	}
	must(t, s.RawSetUnsafe(append(SealedKey(2, 0), 5), []byte("x"))) // 14 bytes, between copies 0 and 1
	if err := s.SealedPayloads(2, func(uint32, []byte) bool { return true }); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a malformed key among the copies: %v, want ErrCorrupt", err)
	}
}

// TestCommitRefusesABlockPrunedAtBirth: only Prune removes sealed payloads,
// from committed blocks; a new block whose redaction carries only the
// payload's digest is ErrInvalidBlock and writes nothing.
func TestCommitRefusesABlockPrunedAtBirth(t *testing.T) {
	s := newTestStore(t)
	c := prunableChain(t, s, 1)
	r := c.redacted(90, "treatment")
	p := r.Redaction.PruneSealed()
	born := *r
	born.Redaction = &p
	b := c.block([]*types.Tx{fakeTx(91), &born})
	err := s.Commit(Commit{Block: b, AppliedIndex: 100})
	if !errors.Is(err, ErrInvalidBlock) || !strings.Contains(err.Error(), "tx 1 is redacted without its sealed payload") {
		t.Fatalf("commit: %v, want ErrInvalidBlock naming tx 1", err)
	}
	if s.Height() != 1 || s.AppliedIndex() == 100 {
		t.Fatalf("the refused block moved the head (%d) or the applied index (%d)", s.Height(), s.AppliedIndex())
	}
	// The same block with the sealed payload commits.
	c.commit(c.block([]*types.Tx{fakeTx(91), r}), nil)
	if err := s.CheckIntegrity(); err != nil {
		t.Fatal(err)
	}
}

// FuzzSealedCopies writes one arbitrary record into the sealed payload
// keyspace of a small stored chain (as a tampered disk or a Raft snapshot
// from a faulty peer could hold) and runs the checks that read it.
// CheckIntegrity and SealedPayloads must never panic; CheckIntegrity
// passes exactly when the write left every copy as it was, and is
// ErrCorrupt otherwise. Seeds: each copy unchanged, changed and truncated,
// orphan keys and malformed keys.
func FuzzSealedCopies(f *testing.F) {
	seed := newTestStore(f)
	prunableChain(f, seed, 2)
	for h := uint64(1); h <= 2; h++ {
		for i := uint32(0); i < 3; i++ {
			cp, _, _ := seed.SealedPayload(h, i)
			k := SealedKey(h, i)[1:]
			f.Add(k, cp)
			if len(cp) > 0 {
				f.Add(k, cp[:len(cp)-1])
			}
		}
	}
	f.Add(SealedKey(3, 0)[1:], []byte("x"))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 1, 0}, []byte("x"))
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, rest, v []byte) {
		s := newTestStore(t)
		prunableChain(t, s, 2)
		k := append([]byte{PrefixSealed}, rest...)
		old, had, err := s.get(k)
		if err != nil {
			t.Fatal(err)
		}
		must(t, s.RawSetUnsafe(k, v))
		for h := uint64(0); h <= 3; h++ {
			_ = s.SealedPayloads(h, func(uint32, []byte) bool { return true })
		}
		err = s.CheckIntegrity()
		if had && bytes.Equal(old, v) {
			if err != nil {
				t.Fatalf("an unchanged copy: %v", err)
			}
			return
		}
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("record %x = %x: CheckIntegrity %v, want ErrCorrupt", k, v, err)
		}
	})
}
