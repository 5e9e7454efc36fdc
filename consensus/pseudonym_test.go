package consensus

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/medchain/medchain/chain/codec"
	"github.com/medchain/medchain/chain/crypto/seal"
	"github.com/medchain/medchain/chain/store"
	"github.com/medchain/medchain/chain/types"
)

func testClusterKey(t testing.TB) *StaticClusterKey {
	dk, err := seal.NewDataKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := NewStaticClusterKey(dk, bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestStaticClusterKeyConformance(t *testing.T) {
	k := testClusterKey(t)
	sealed, err := k.Seal([]byte("patient key"), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := k.Open(sealed, []byte("aad")); err != nil || string(pt) != "patient key" {
		t.Fatalf("open: %q %v", pt, err)
	}
	if _, err := k.Open(sealed, []byte("other aad")); err == nil {
		t.Fatal("open with another aad succeeded")
	}
	mac := func(k ClusterKey, id string) [32]byte {
		t.Helper()
		m, err := k.MAC([]byte(id))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	if mac(k, "mrn-1") != mac(k, "mrn-1") || mac(k, "mrn-1") == mac(k, "mrn-2") {
		t.Fatal("MAC is not a deterministic function of the id")
	}
	other := testClusterKey(t)
	other.mac = []byte("another mac key of thirty-two b!")
	if mac(other, "mrn-1") == mac(k, "mrn-1") {
		t.Fatal("MAC does not depend on the key")
	}
	if _, err := NewStaticClusterKey(nil, make([]byte, 32)); !errors.Is(err, ErrConfig) {
		t.Fatalf("nil data key: %v", err)
	}
	if _, err := NewStaticClusterKey(k.dk, make([]byte, 16)); !errors.Is(err, ErrConfig) {
		t.Fatalf("short MAC key: %v", err)
	}
}

func TestBlockKeysEntryRoundTripAndBadInput(t *testing.T) {
	b := &types.Block{Txs: []*types.Tx{}, Results: []types.Result{}}
	key := PatientKey{MAC: [32]byte{1}, Pseudonym: types.NewPseudonym([types.PseudonymSize]byte{1}), Wrapped: []byte("wrapped")}
	entry := encodeBlockKeysEntry(b, []PatientKey{key})
	kind, body := decodeEntry(entry)
	if kind != EntryBlockKeys {
		t.Fatalf("kind %s", kind)
	}
	bk, err := decodeBlockKeys(body)
	if err != nil || !bytes.Equal(bk.Block, b.Encode()) || len(bk.Keys) != 1 || bk.Keys[0].Pseudonym != key.Pseudonym {
		t.Fatalf("round trip: %+v %v", bk, err)
	}
	if k, _ := decodeEntry(encodeBlockKeysEntry(b, nil)); k != EntryBlock {
		t.Fatalf("a block without keys must stay an EntryBlock, got %s", k)
	}
	for name, bad := range map[string][]byte{
		"not CBOR":         {0xff, 0x00},
		"no keys":          codec.MustMarshal(&blockKeys{Block: b.Encode()}),
		"bad pseudonym":    codec.MustMarshal(&blockKeys{Block: b.Encode(), Keys: []PatientKey{{Pseudonym: "mrn-1", Wrapped: []byte("w")}}}),
		"no wrapped key":   codec.MustMarshal(&blockKeys{Block: b.Encode(), Keys: []PatientKey{{Pseudonym: key.Pseudonym}}}),
		"huge wrapped key": codec.MustMarshal(&blockKeys{Block: b.Encode(), Keys: []PatientKey{{Pseudonym: key.Pseudonym, Wrapped: make([]byte, 4096)}}}),
	} {
		if _, err := decodeBlockKeys(bad); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

func FuzzDecodeBlockKeys(f *testing.F) {
	b := &types.Block{Txs: []*types.Tx{}, Results: []types.Result{}}
	f.Add(encodeBlockKeysEntry(b, []PatientKey{{Pseudonym: types.NewPseudonym([types.PseudonymSize]byte{2}), Wrapped: []byte("w")}})[1:])
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, body []byte) {
		bk, err := decodeBlockKeys(body)
		if err != nil {
			return
		}
		for _, k := range bk.Keys {
			if !types.IsPseudonym(k.Pseudonym) || len(k.Wrapped) == 0 {
				t.Fatalf("accepted a malformed key: %+v", k)
			}
		}
	})
}

func TestVaultWritesRejectASecondKeyForAPatient(t *testing.T) {
	st, err := store.Open("db", store.TestOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	mac := [32]byte{3}
	b := &types.Block{Txs: []*types.Tx{}, Results: []types.Result{}}
	k1 := PatientKey{MAC: mac, Pseudonym: types.NewPseudonym([types.PseudonymSize]byte{1}), Wrapped: []byte("w1")}
	ws, _, err := vaultWrites(st, b, []PatientKey{k1}, 5)
	if err != nil || len(ws) != 3 { // mapping, reverse, key height
		t.Fatalf("first key: %d writes, %v", len(ws), err)
	}
	for _, w := range ws {
		if err := st.VaultSet(w.Key, w.Value); err != nil {
			t.Fatal(err)
		}
	}
	k2 := PatientKey{MAC: mac, Pseudonym: types.NewPseudonym([types.PseudonymSize]byte{2}), Wrapped: []byte("w2")}
	if _, _, err := vaultWrites(st, b, []PatientKey{k2}, 6); !errors.Is(err, ErrRejected) {
		t.Fatalf("second key for the same patient: %v", err)
	}
	k3 := PatientKey{MAC: [32]byte{4}, Pseudonym: k1.Pseudonym, Wrapped: []byte("w3")}
	k4 := PatientKey{MAC: [32]byte{5}, Pseudonym: k1.Pseudonym, Wrapped: []byte("w4")}
	if _, _, err := vaultWrites(st, b, []PatientKey{k3, k4}, 6); !errors.Is(err, ErrRejected) {
		t.Fatalf("one pseudonym twice: %v", err)
	}
	// Tombstoned patients get no new key either.
	if err := st.VaultSet(vaultKey(vaultTombstone, make([]byte, 32)), codec.MustMarshal(&tombstone{Index: 1})); err != nil {
		t.Fatal(err)
	}
	var tmac [32]byte
	if _, _, err := vaultWrites(st, b, []PatientKey{{MAC: tmac, Pseudonym: types.NewPseudonym([types.PseudonymSize]byte{6}), Wrapped: []byte("w")}}, 7); !errors.Is(err, ErrRejected) {
		t.Fatalf("key for an erased patient: %v", err)
	}
}
