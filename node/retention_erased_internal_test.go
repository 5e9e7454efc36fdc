package node

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/chaintest"
	"github.com/medchain/medchain/chain/store"
	"github.com/medchain/medchain/chain/types"
)

// introducedAt is a pruner.introduced that answers from m (a pseudonym
// missing from m: unknown, as for a key mapped before the vault recorded
// heights).
func introducedAt(m map[string]uint64) func(*store.Store, string) (uint64, bool, error) {
	return func(_ *store.Store, ps string) (uint64, bool, error) {
		h, ok := m[ps]
		return h, ok, nil
	}
}

// redactor returns a function that signs p as signer on c and redacts it
// under pseudonym, with a sealed payload.
func redactor(t *testing.T, c *chaintest.Chain) func(signer string, p types.Payload, pseudonym string) *types.Tx {
	return func(signer string, p types.Payload, pseudonym string) *types.Tx {
		t.Helper()
		tx := c.Tx(signer, p)
		r, err := types.Redact(tx, tx.Hash(), p, pseudonym, []byte("sealed: personal fields"))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
}

// earlyTxsChain commits, after registering doctor456 (1), patient123 (2)
// and guardian (3), txs of ps1 that leave no trail entry and no consent
// version before its first audit event:
//
//	4  identity_register of the patient "jroe" (name sealed) by admin: ps1's key comes here
//	5  identity_delegate: patient123 appoints guardian
//	6  contract_execute naming ps1 (rejected: no such contract); audit event of ps2
//	7  audit event of ps1 signed by the patient (no audit role: rejected)
//	8  audit event of ps1 (applied): its first trail entry
//	9  patient_erase of ps1
func earlyTxsChain(t *testing.T) (c *chaintest.Chain, ps1, ps2 string) {
	t.Helper()
	c = chaintest.New(t)
	c.Register("doctor456", types.KindPerson, types.RoleClinician) // 1
	c.Register("patient123", types.KindPatient, types.RolePatient) // 2
	c.Register("guardian", types.KindPerson, types.RolePatient)    // 3
	ps1, ps2 = types.NewPseudonym([types.PseudonymSize]byte{1}), types.NewPseudonym([types.PseudonymSize]byte{2})
	redact := redactor(t, c)
	commit := func(txs ...*types.Tx) *types.Block { c.Now += 1000; return c.Commit(txs...) }
	want := func(b *types.Block, ok ...bool) {
		t.Helper()
		for i, r := range b.Results {
			if r.OK() != ok[i] {
				t.Fatalf("block %d tx %d: result %s %s, want ok %v", b.Header.Height, i, r.Code, r.Reason, ok[i])
			}
		}
	}
	want(commit(redact("admin", &types.IdentityRegister{ID: "jroe", Kind: types.KindPatient, Name: "Jane Roe",
		Roles: []string{types.RolePatient}, Patient: "mrn-1", PublicKey: chaintest.Key(77).Public()}, ps1)), true) // 4
	want(commit(redact("patient123", &types.IdentityDelegate{ID: "guardian", Patient: "patient123"}, ps1)), true) // 5
	want(commit(redact("doctor456", &types.ContractExecute{ContractID: "no-such-contract", Action: "read", Purpose: "treatment", Patient: "patient123"}, ps1),
		redact("doctor456", chaintest.Audit("patient777", "doctor456"), ps2)), false, true) // 6
	want(commit(redact("patient123", chaintest.Audit("patient123", "doctor456"), ps1)), false)                      // 7
	want(commit(redact("doctor456", chaintest.Audit("patient123", "doctor456"), ps1)), true)                        // 8
	want(commit(redact("patient123", &types.PatientErase{Patient: "patient123", Reason: "gdpr-art17"}, ps1)), true) // 9
	return c, ps1, ps2
}

// TestErasedPassPrunesTxsBelowTheFirstTrailEntry: the erased pass scans
// from the height the patient's key was introduced at, not from the
// patient's first trail entry or consent, so the redacted txs of the
// patient that leave neither (their identity registration with the name
// sealed, a delegation, a contract call, a rejected tx) lose their sealed
// payloads too. When the vault cannot tell the height (a key mapped before
// it recorded heights, a corrupt record) the scan starts at height 1.
func TestErasedPassPrunesTxsBelowTheFirstTrailEntry(t *testing.T) {
	for _, tc := range []struct {
		name       string
		introduced func(ps1 string) func(*store.Store, string) (uint64, bool, error)
		scanFrom   uint64
	}{
		{"key introduced at height 4", func(ps1 string) func(*store.Store, string) (uint64, bool, error) {
			return introducedAt(map[string]uint64{ps1: 4})
		}, 4},
		{"key mapped before the vault recorded heights", func(string) func(*store.Store, string) (uint64, bool, error) {
			return introducedAt(nil)
		}, 1},
		{"corrupt record", func(string) func(*store.Store, string) (uint64, bool, error) {
			return func(*store.Store, string) (uint64, bool, error) {
				return 0, false, fmt.Errorf("%w: erased key record", store.ErrCorrupt)
			}
		}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, ps1, _ := earlyTxsChain(t)
			now := time.UnixMilli(c.Now).Add(time.Hour) // no period has ended
			p := testPruner(t, c, 3650, 3650, 8, &now)
			p.introduced = tc.introduced(ps1)
			var scanned [][2]uint64
			p.scanned = func(height, from, to uint64) {
				if height != 9 {
					t.Errorf("scanned for height %d, want the erasure's 9", height)
				}
				scanned = append(scanned, [2]uint64{from, to})
			}
			if err := p.runOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
			if len(scanned) == 0 || scanned[0][0] != tc.scanFrom || scanned[len(scanned)-1][1] != 9 {
				t.Fatalf("scanned %v, want from %d to the erasure at 9", scanned, tc.scanFrom)
			}
			for _, row := range []struct {
				name          string
				height, index uint64
				pruned        bool
			}{
				{"the patient's identity_register (name sealed)", 4, 0, true},
				{"identity_delegate", 5, 0, true},
				{"contract_execute (rejected)", 6, 0, true},
				{"another patient's event", 6, 1, false},
				{"audit event the executor rejected", 7, 0, true},
				{"the first trail entry", 8, 0, true},
				{"the erasure itself", 9, 0, false},
			} {
				b, err := c.Store.Block(row.height)
				if err != nil {
					t.Fatal(err)
				}
				if got := b.Txs[row.index].Redaction.Pruned(); got != row.pruned {
					t.Errorf("%s (tx %d of block %d): pruned %v, want %v", row.name, row.index, row.height, got, row.pruned)
				}
				if _, left, err := c.Store.SealedPayload(row.height, uint32(row.index)); err != nil || left == row.pruned {
					t.Errorf("%s: sealed copy left %v, %v", row.name, left, err)
				}
			}
			if m, _ := c.Store.PruneMarkOf(erasedPass); m.Height != 9 || m.Txs != 5 || m.Cursor() != (store.ScanCursor{}) {
				t.Fatalf("erased pass mark %+v", m)
			}
		})
	}
}

// TestErasedPassFailsOnAnUnreadableVault: an error reading the height
// (other than a corrupt record) stops the pass without moving its mark;
// the next run does the erasure.
func TestErasedPassFailsOnAnUnreadableVault(t *testing.T) {
	c, ps1, _ := earlyTxsChain(t)
	now := time.UnixMilli(c.Now).Add(time.Hour)
	p := testPruner(t, c, 3650, 3650, 8, &now)
	errVault := errors.New("vault read failed")
	p.introduced = func(*store.Store, string) (uint64, bool, error) { return 0, false, errVault }
	if err := p.runOnce(context.Background()); !errors.Is(err, errVault) {
		t.Fatalf("run: %v, want the vault's error", err)
	}
	if m, _ := c.Store.PruneMarkOf(erasedPass); m.Height != 0 || m.Txs != 0 {
		t.Fatalf("mark moved after a failed read: %+v", m)
	}
	p.introduced = introducedAt(map[string]uint64{ps1: 4})
	if err := p.runOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if m, _ := c.Store.PruneMarkOf(erasedPass); m.Height != 9 || m.Txs != 5 {
		t.Fatalf("mark after the retry: %+v", m)
	}
}

// longErasedChain commits, after registering doctor456 (1) and
// patient123 (2): an audit event of ps1 at 3 (its key comes here), idle
// blocks 4-23, an audit event of ps1 at 24 and its erasure at 25.
func longErasedChain(t *testing.T) (*chaintest.Chain, string) {
	t.Helper()
	c := chaintest.New(t)
	c.Register("doctor456", types.KindPerson, types.RoleClinician) // 1
	c.Register("patient123", types.KindPatient, types.RolePatient) // 2
	ps1 := types.NewPseudonym([types.PseudonymSize]byte{1})
	redact := redactor(t, c)
	commit := func(txs ...*types.Tx) *types.Block { c.Now += 1000; return c.Commit(txs...) }
	commit(redact("doctor456", chaintest.Audit("patient123", "doctor456"), ps1)) // 3
	for range 20 {                                                               // 4-23
		commit(c.Tx("doctor456", chaintest.Audit("patient999", "doctor456")))
	}
	commit(redact("doctor456", chaintest.Audit("patient123", "doctor456"), ps1))                                                      // 24
	if b := commit(redact("patient123", &types.PatientErase{Patient: "patient123", Reason: "gdpr-art17"}, ps1)); !b.Results[0].OK() { // 25
		t.Fatalf("erasure: %+v", b.Results[0])
	}
	return c, ps1
}

// TestErasedPassResumesFromItsCursor: a run stopped mid-scan (the node
// closing) leaves in the pass's mark how far the scan went; the next run,
// as after a restart, scans from the block after it, not from the key's
// introduction again, and finishes the erasure. A cursor left for another
// height is not used.
func TestErasedPassResumesFromItsCursor(t *testing.T) {
	for _, tc := range []struct {
		name      string
		stopAfter int // steps of 2 blocks from height 3
		cursor    store.ScanCursor
	}{
		{"stopped after one step", 1, store.ScanCursor{For: 25, To: 4}},
		{"stopped after five steps", 5, store.ScanCursor{For: 25, To: 12}},
		{"stopped after the step that pruned at 24", 11, store.ScanCursor{For: 25, To: 24}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, ps1 := longErasedChain(t)
			now := time.UnixMilli(c.Now).Add(time.Hour)
			p := testPruner(t, c, 3650, 3650, 8, &now)
			p.introduced = introducedAt(map[string]uint64{ps1: 3})
			p.erasedChunk = 2
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var before [][2]uint64
			p.scanned = func(_, from, to uint64) {
				before = append(before, [2]uint64{from, to})
				if len(before) == tc.stopAfter {
					cancel()
				}
			}
			if err := p.runOnce(ctx); !errors.Is(err, context.Canceled) {
				t.Fatalf("stopped run: %v", err)
			}
			m, err := c.Store.PruneMarkOf(erasedPass)
			if err != nil || m.Height != 0 || m.Cursor() != tc.cursor || before[0][0] != 3 {
				t.Fatalf("after the stop: mark %+v (want cursor %+v), scanned %v, %v", m, tc.cursor, before, err)
			}

			again := testPruner(t, c, 3650, 3650, 8, &now)
			again.introduced, again.erasedChunk = p.introduced, 2
			var after [][2]uint64
			again.scanned = func(_, from, to uint64) { after = append(after, [2]uint64{from, to}) }
			if err := again.runOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
			if len(after) == 0 || after[0][0] != tc.cursor.To+1 || after[len(after)-1][1] != 25 {
				t.Fatalf("the restarted pass scanned %v, want from %d (after the cursor) to 25", after, tc.cursor.To+1)
			}
			for i := 1; i < len(after); i++ {
				if after[i][0] != after[i-1][1]+1 {
					t.Fatalf("the restarted pass skipped or rescanned blocks: %v", after)
				}
			}
			for _, h := range []uint64{3, 24} {
				if b, _ := c.Store.Block(h); !b.Txs[0].Redaction.Pruned() {
					t.Fatalf("the event at %d keeps its sealed payload", h)
				}
			}
			if m, _ := c.Store.PruneMarkOf(erasedPass); m.Height != 25 || m.Txs != 2 || m.Cursor() != (store.ScanCursor{}) {
				t.Fatalf("mark after the restart: %+v", m)
			}
		})
	}

	t.Run("a cursor for another height is not used", func(t *testing.T) {
		c, ps1 := longErasedChain(t)
		// A cursor for height 24 (no erasure there), as a stale mark
		// restored with another store would hold.
		if _, err := c.Store.PruneTxsScanned(erasedPass, nil, 0, store.ScanCursor{For: 24, To: 20}); err != nil {
			t.Fatal(err)
		}
		now := time.UnixMilli(c.Now).Add(time.Hour)
		p := testPruner(t, c, 3650, 3650, 8, &now)
		p.introduced = introducedAt(map[string]uint64{ps1: 3})
		var scanned [][2]uint64
		p.scanned = func(_, from, to uint64) { scanned = append(scanned, [2]uint64{from, to}) }
		if err := p.runOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		if len(scanned) == 0 || scanned[0][0] != 3 {
			t.Fatalf("scanned %v, want from the key's introduction at 3", scanned)
		}
		if m, _ := c.Store.PruneMarkOf(erasedPass); m.Height != 25 || m.Txs != 2 {
			t.Fatalf("mark %+v", m)
		}
	})
}

// TestErasedPassHandlesOneHeightsErasuresInOneScan: two patients erased in
// the same block are scanned for together, from the lower of their keys'
// heights, and the mark moves once, past both.
func TestErasedPassHandlesOneHeightsErasuresInOneScan(t *testing.T) {
	c := chaintest.New(t)
	c.Register("doctor456", types.KindPerson, types.RoleClinician)    // 1
	c.Register("privacy", types.KindPerson, types.RolePrivacyOfficer) // 2
	ps1, ps2, ps3 := types.NewPseudonym([types.PseudonymSize]byte{1}), types.NewPseudonym([types.PseudonymSize]byte{2}), types.NewPseudonym([types.PseudonymSize]byte{3})
	redact := redactor(t, c)
	commit := func(txs ...*types.Tx) *types.Block { c.Now += 1000; return c.Commit(txs...) }
	ev := func(ps string) *types.Tx { return redact("doctor456", chaintest.Audit("patient123", "doctor456"), ps) }
	commit(ev(ps1))          // 3
	commit(ev(ps3))          // 4
	commit(ev(ps2), ev(ps1)) // 5
	erase := func(ps string) *types.Tx {
		return redact("privacy", &types.PatientErase{Patient: "patient123", Reason: "gdpr-art17"}, ps)
	}
	if b := commit(erase(ps1), erase(ps2)); !b.Results[0].OK() || !b.Results[1].OK() { // 6
		t.Fatalf("erasures: %+v", b.Results)
	}
	now := time.UnixMilli(c.Now).Add(time.Hour)
	p := testPruner(t, c, 3650, 3650, 8, &now)
	p.introduced = introducedAt(map[string]uint64{ps1: 3, ps2: 5})
	var scanned [][3]uint64
	p.scanned = func(height, from, to uint64) { scanned = append(scanned, [3]uint64{height, from, to}) }
	if err := p.runOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(scanned) != 1 || scanned[0] != [3]uint64{6, 3, 6} {
		t.Fatalf("scanned %v, want one scan of 3-6 for height 6", scanned)
	}
	for _, row := range []struct {
		height, index uint64
		pruned        bool
	}{{3, 0, true}, {4, 0, false}, {5, 0, true}, {5, 1, true}, {6, 0, false}, {6, 1, false}} {
		if b, _ := c.Store.Block(row.height); b.Txs[row.index].Redaction.Pruned() != row.pruned {
			t.Errorf("tx %d of block %d: pruned %v, want %v", row.index, row.height, !row.pruned, row.pruned)
		}
	}
	if m, _ := c.Store.PruneMarkOf(erasedPass); m.Height != 6 || m.Txs != 3 {
		t.Fatalf("mark %+v", m)
	}
}
