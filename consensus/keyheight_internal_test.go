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
	ex, st, opts := openGenesis(t, g)
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

func mapped(t *testing.T, st *store.Store, mac [32]byte) bool {
	t.Helper()
	_, found, err := st.VaultGet(vaultKey(vaultMapping, mac[:]))
	if err != nil {
		t.Fatal(err)
	}
	return found
}

type bufSink struct{ bytes.Buffer }

func (s *bufSink) ID() string    { return "test" }
func (s *bufSink) Cancel() error { return nil }
func (s *bufSink) Close() error  { return nil }

// TestVaultRecordsTheHeightAKeyWasIntroducedAt: the FSM records, by
// pseudonym, the height of the block each key came beside (KeyIntroduced),
// and an erasure leaves the record (for a key of an earlier block and for
// one of the erasure's own block) while deleting the mapping; a patient
// mapped before heights were recorded has none (unknown); the mapping
// entries keep the format earlier versions read; and a snapshot restored
// into a fresh FSM keeps the records.
func TestVaultRecordsTheHeightAKeyWasIntroducedAt(t *testing.T) {
	start := time.Now().UnixMilli()
	h := newKeyHarness(t, start)
	a, b, c, d := patientKey(1), patientKey(2), patientKey(3), patientKey(4)

	// c was mapped by an earlier version: an entry and its reverse record,
	// no height.
	old, err := codec.Marshal(&vaultEntry{Pseudonym: c.Pseudonym, Wrapped: c.Wrapped})
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
	// The mapping entries stay in the format earlier versions decode
	// strictly (pseudonym and wrapped key only).
	raw, found, err := h.st.VaultGet(vaultKey(vaultMapping, a.MAC[:]))
	var strict struct {
		Pseudonym string `cbor:"1,keyasint"`
		Wrapped   []byte `cbor:"2,keyasint"`
	}
	if err != nil || !found || codec.Unmarshal(raw, &strict) != nil || strict.Pseudonym != a.Pseudonym {
		t.Fatalf("mapping entry of a does not decode as before: %x %v", raw, err)
	}

	// Block 3 erases a (key of block 1), c (mapped before heights were
	// recorded) and b, whose key comes beside this very block.
	h3 := h.apply(t, []PatientKey{b}, h.audit(t, b.Pseudonym), h.erase(t, a.Pseudonym), h.erase(t, c.Pseudonym), h.erase(t, b.Pseudonym))
	cases := []struct {
		name      string
		pseudonym string
		want      uint64
		known     bool
	}{
		{"erased, key of an earlier block", a.Pseudonym, h1, true},
		{"erased, key of the erasure's own block", b.Pseudonym, h3, true},
		{"erased, mapped before heights were recorded", c.Pseudonym, 0, false},
		{"a patient not erased", d.Pseudonym, h2, true},
		{"a pseudonym never seen", types.NewPseudonym([types.PseudonymSize]byte{9}), 0, false},
		{"not a pseudonym", "patient123", 0, false},
	}
	check := func(st *store.Store, when string) {
		t.Helper()
		for _, tc := range cases {
			got, known, err := KeyIntroduced(st, tc.pseudonym)
			if err != nil || got != tc.want || known != tc.known {
				t.Fatalf("%s: %s: KeyIntroduced = %d, %v, %v; want %d, %v", when, tc.name, got, known, err, tc.want, tc.known)
			}
		}
	}
	check(h.st, "after the erasures")
	// The erasure still deletes the mappings and leaves the tombstones.
	for _, k := range []PatientKey{a, b, c} {
		if mapped(t, h.st, k.MAC) {
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
	check(fresh.fsm.Store(), "after a snapshot restore")
	if !mapped(t, fresh.fsm.Store(), d.MAC) {
		t.Fatal("the restored vault lost a live mapping")
	}
}

// TestKeyIntroducedReportsACorruptRecord: a record that does not decode,
// or records height 0, is store.ErrCorrupt, not a height.
func TestKeyIntroducedReportsACorruptRecord(t *testing.T) {
	for _, tc := range []struct {
		name string
		raw  []byte
	}{
		{"not CBOR", []byte{0xff, 0x00}},
		{"height 0", codec.MustMarshal(&keyHeight{})},
		{"unknown field", codec.MustMarshal(&struct {
			Height uint64 `cbor:"1,keyasint"`
			Extra  uint64 `cbor:"2,keyasint"`
		}{4, 5})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newKeyHarness(t, time.Now().UnixMilli())
			ps := types.NewPseudonym([types.PseudonymSize]byte{5})
			if err := h.st.VaultSet(vaultKey(vaultKeyHeight, []byte(ps)), tc.raw); err != nil {
				t.Fatal(err)
			}
			if got, known, err := KeyIntroduced(h.st, ps); !errors.Is(err, store.ErrCorrupt) || known || got != 0 {
				t.Fatalf("KeyIntroduced = %d, %v, %v; want store.ErrCorrupt", got, known, err)
			}
		})
	}
}

// FuzzDecodeKeyHeight: any bytes decode to a height above 0 or an error,
// never a panic; a decoded height encodes back to a record that decodes to
// it.
func FuzzDecodeKeyHeight(f *testing.F) {
	f.Add(codec.MustMarshal(&keyHeight{Height: 7}))
	f.Add(codec.MustMarshal(&keyHeight{Height: 1 << 62}))
	f.Add(codec.MustMarshal(&keyHeight{}))
	f.Add([]byte{0xff, 0x00})
	f.Add([]byte{0xa2, 0x01, 0x04, 0x02, 0x05})
	f.Fuzz(func(t *testing.T, raw []byte) {
		h, err := decodeKeyHeight(raw)
		if err != nil {
			if h != 0 {
				t.Fatalf("error %v with height %d", err, h)
			}
			return
		}
		if h == 0 {
			t.Fatal("height 0 accepted")
		}
		if again, err := decodeKeyHeight(codec.MustMarshal(&keyHeight{Height: h})); err != nil || again != h {
			t.Fatalf("height %d does not round-trip: %d %v", h, again, err)
		}
	})
}
