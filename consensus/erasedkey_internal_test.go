package consensus

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/medchain/medchain/chain/codec"
	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/store"
	"github.com/medchain/medchain/chain/types"
)

// keyHarness applies blocks that carry patient keys and erasures to an FSM
// over a memory store, as followers do.
type keyHarness struct {
	fsmHarness
	index uint64
	nonce uint64
	head  *types.Header
}

func newKeyHarness(t *testing.T, now int64) *keyHarness {
	t.Helper()
	g := &state.Genesis{ChainID: "erased-key", Time: now - time.Hour.Milliseconds(), Params: state.DefaultParams(),
		Identities: []types.IdentityRegister{
			{ID: "admin", Kind: types.KindPerson, Roles: []string{types.RoleAdmin}, PublicKey: seededKey(t, 1).Public()},
			{ID: "node-1", Kind: types.KindNode, Roles: []string{types.RoleNode}, PublicKey: seededKey(t, 2).Public()},
			{ID: "dr", Kind: types.KindPerson, Roles: []string{types.RoleClinician}, PublicKey: seededKey(t, 3).Public()},
			{ID: "po", Kind: types.KindPerson, Roles: []string{types.RolePrivacyOfficer}, PublicKey: seededKey(t, 4).Public()},
		}}
	ex, err := state.NewExecutor(g)
	if err != nil {
		t.Fatal(err)
	}
	opts := store.TestOptions()
	st, err := store.Open("db", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := InitStore(st, g); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	return &keyHarness{fsmHarness: fsmHarness{g: g, ex: ex, st: st, fsm: newFSM(st, "db", opts, ex, false, log, nopMetrics{}), now: now, node: "node-1"}, index: 10}
}

// redacted returns p signed by signer (seed) and redacted under pseudonym.
func (h *keyHarness) redacted(t *testing.T, signer string, seed byte, p types.Payload, pseudonym string) *types.Tx {
	t.Helper()
	h.nonce++
	tx, err := types.NewTx(h.g.ChainID, signer, p, time.UnixMilli(h.now), h.nonce)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Sign(seededKey(t, seed)); err != nil {
		t.Fatal(err)
	}
	rtx, err := types.Redact(tx, tx.Hash(), p, pseudonym, make([]byte, len(tx.Payload)+37))
	if err != nil {
		t.Fatal(err)
	}
	return rtx
}

func (h *keyHarness) audit(t *testing.T, pseudonym string) *types.Tx {
	return h.redacted(t, "dr", 3, &types.AuditRecord{EventType: "data_access", Patient: "mrn", Actor: "dr",
		Action: "view", Purpose: "treatment", Outcome: "success", Resource: "Observation/1"}, pseudonym)
}

func (h *keyHarness) erase(t *testing.T, pseudonym string) *types.Tx {
	return h.redacted(t, "po", 4, &types.PatientErase{Patient: "mrn", Reason: "gdpr-art17"}, pseudonym)
}

// apply assembles txs into the next block and applies it with keys (none:
// a plain block entry); every tx must succeed.
func (h *keyHarness) apply(t *testing.T, keys []PatientKey, txs ...*types.Tx) uint64 {
	t.Helper()
	h.now += 1000
	b, _, err := h.ex.AssembleBlock(h.st, h.st, h.head, h.now, txs, h.node, seededKey(t, 2))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range b.Results {
		if !r.OK() {
			t.Fatalf("fixture: tx %d of block %d refused: %s %s", i, b.Header.Height, r.Code, r.Reason)
		}
	}
	h.index++
	res := h.fsm.Apply(&raft.Log{Index: h.index, Data: encodeBlockKeysEntry(b, keys)}).(*ApplyResult)
	if res.Err != nil {
		t.Fatalf("apply block %d: %v", b.Header.Height, res.Err)
	}
	h.head = &b.Header
	return b.Header.Height
}

func patientKey(seed byte) PatientKey {
	return PatientKey{MAC: [32]byte{seed}, Pseudonym: types.NewPseudonym([types.PseudonymSize]byte{seed}), Wrapped: []byte{seed, 1, 2, 3}}
}

func vaultEntryOf(t *testing.T, st *store.Store, mac [32]byte) (vaultEntry, bool) {
	t.Helper()
	raw, found, err := st.VaultGet(vaultKey(vaultMapping, mac[:]))
	if err != nil {
		t.Fatal(err)
	}
	var e vaultEntry
	if found {
		if err := codec.Unmarshal(raw, &e); err != nil {
			t.Fatal(err)
		}
	}
	return e, found
}

type bufSink struct{ bytes.Buffer }

func (s *bufSink) ID() string    { return "test" }
func (s *bufSink) Cancel() error { return nil }
func (s *bufSink) Close() error  { return nil }

// TestVaultRecordsTheHeightAKeyWasIntroducedAt: the FSM records in each
// vault entry the height of the block its key came beside; an erasure
// carries it into the pseudonym's erasedKey record (ErasedKeyIntroduced),
// for a key of an earlier block and for one of the erasure's own block; an
// entry written before the field existed leaves it unknown; and a snapshot
// restored into a fresh FSM keeps both the entries' and the records' heights.
func TestVaultRecordsTheHeightAKeyWasIntroducedAt(t *testing.T) {
	start := time.Now().UnixMilli()
	h := newKeyHarness(t, start)
	a, b, c, d := patientKey(1), patientKey(2), patientKey(3), patientKey(4)

	// An entry from before Introduced: pseudonym and key only, as older
	// nodes wrote it (and its reverse record).
	old, err := codec.Marshal(&struct {
		Pseudonym string `cbor:"1,keyasint"`
		Wrapped   []byte `cbor:"2,keyasint"`
	}{c.Pseudonym, c.Wrapped})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.st.VaultSet(vaultKey(vaultMapping, c.MAC[:]), old); err != nil {
		t.Fatal(err)
	}
	if err := h.st.VaultSet(vaultKey(vaultReverse, []byte(c.Pseudonym)), c.MAC[:]); err != nil {
		t.Fatal(err)
	}

	h1 := h.apply(t, []PatientKey{a}, h.audit(t, a.Pseudonym))                          // 1: a introduced
	h2 := h.apply(t, []PatientKey{d}, h.audit(t, a.Pseudonym), h.audit(t, d.Pseudonym)) // 2: d introduced
	for _, tc := range []struct {
		key  PatientKey
		want uint64
	}{{a, h1}, {d, h2}, {c, 0}} {
		e, ok := vaultEntryOf(t, h.st, tc.key.MAC)
		if !ok || e.Pseudonym != tc.key.Pseudonym || e.Introduced != tc.want {
			t.Fatalf("vault entry of %s: %+v (found %v), want introduced at %d", tc.key.Pseudonym, e, ok, tc.want)
		}
	}

	// Block 3 erases a (key of block 1), c (an old entry) and b, whose key
	// comes beside this very block.
	h3 := h.apply(t, []PatientKey{b}, h.audit(t, b.Pseudonym), h.erase(t, a.Pseudonym), h.erase(t, c.Pseudonym), h.erase(t, b.Pseudonym))
	for _, tc := range []struct {
		name      string
		pseudonym string
		want      uint64
		known     bool
	}{
		{"key of an earlier block", a.Pseudonym, h1, true},
		{"key of the erasure's own block", b.Pseudonym, h3, true},
		{"entry from before the field", c.Pseudonym, 0, false},
		{"a patient not erased", d.Pseudonym, 0, false},
		{"a pseudonym never seen", types.NewPseudonym([types.PseudonymSize]byte{9}), 0, false},
		{"not a pseudonym", "patient123", 0, false},
	} {
		got, known, err := ErasedKeyIntroduced(h.st, tc.pseudonym)
		if err != nil || got != tc.want || known != tc.known {
			t.Fatalf("%s: ErasedKeyIntroduced = %d, %v, %v; want %d, %v", tc.name, got, known, err, tc.want, tc.known)
		}
	}
	// The erasure still deletes the mappings and leaves the tombstones.
	for _, k := range []PatientKey{a, b, c} {
		if _, ok := vaultEntryOf(t, h.st, k.MAC); ok {
			t.Fatalf("mapping of %s survived its erasure", k.Pseudonym)
		}
		if _, found, err := h.st.VaultGet(vaultKey(vaultTombstone, k.MAC[:])); err != nil || !found {
			t.Fatalf("no tombstone for %s: %v", k.Pseudonym, err)
		}
	}

	// Snapshot, then restore into a fresh FSM of the same chain.
	snap, err := h.fsm.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink bufSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	fresh := newKeyHarness(t, start) // the same genesis: the same chain
	if err := fresh.fsm.Restore(io.NopCloser(&sink)); err != nil {
		t.Fatalf("restore: %v", err)
	}
	rst := fresh.fsm.Store()
	if got, known, err := ErasedKeyIntroduced(rst, a.Pseudonym); err != nil || !known || got != h1 {
		t.Fatalf("after restore, erased key of a: %d %v %v, want %d", got, known, err, h1)
	}
	if got, known, err := ErasedKeyIntroduced(rst, b.Pseudonym); err != nil || !known || got != h3 {
		t.Fatalf("after restore, erased key of b: %d %v %v, want %d", got, known, err, h3)
	}
	if e, ok := vaultEntryOf(t, rst, d.MAC); !ok || e.Introduced != h2 {
		t.Fatalf("after restore, vault entry of d: %+v (found %v), want introduced at %d", e, ok, h2)
	}
}

// TestErasedKeyIntroducedReportsACorruptRecord: a record that does not
// decode is store.ErrCorrupt, not a height.
func TestErasedKeyIntroducedReportsACorruptRecord(t *testing.T) {
	h := newKeyHarness(t, time.Now().UnixMilli())
	ps := types.NewPseudonym([types.PseudonymSize]byte{5})
	if err := h.st.VaultSet(vaultKey(vaultErasedKey, []byte(ps)), []byte{0xff, 0x00}); err != nil {
		t.Fatal(err)
	}
	if got, known, err := ErasedKeyIntroduced(h.st, ps); !errors.Is(err, store.ErrCorrupt) || known || got != 0 {
		t.Fatalf("corrupt record: %d %v %v, want store.ErrCorrupt", got, known, err)
	}
}
