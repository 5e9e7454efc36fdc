package store

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/medchain/medchain/chain/types"
)

// FuzzCheckRecord feeds arbitrary (key, value) pairs to the decoders of
// stored records. They must never panic; a record they accept must re-encode
// to the same bytes (fixed-size records) or decode to a block of the key's
// height; a corrupt record must be ErrCorrupt. Seeds are one record of every
// kind plus truncated and bit-flipped copies.
func FuzzCheckRecord(f *testing.F) {
	for _, r := range seedRecords(f) {
		k, v := r[0], r[1]
		f.Add(k, v)
		f.Add(k, v[:len(v)/2])
		if len(v) > 0 {
			w := bytes.Clone(v)
			w[len(w)-1] ^= 0x40
			f.Add(k, w)
		}
	}
	f.Add([]byte{}, []byte{})
	f.Add([]byte{PrefixNode, 64, 0, 0, 0, 0, 0, 0, 0, 0}, make([]byte, 32))
	f.Add([]byte("zz"), []byte("x"))

	f.Fuzz(func(t *testing.T, k, v []byte) {
		err := checkRecord(k, v)
		if err != nil {
			wantErr(t, err, ErrCorrupt)
			return
		}
		switch k[0] {
		case PrefixTx:
			loc, err := decodeTxLoc(v)
			if err != nil || !bytes.Equal(loc.encode(), v) {
				t.Fatalf("tx location %x does not round-trip: %v", v, err)
			}
		case PrefixBlockHash:
			n, err := decodeU64(v)
			if err != nil || !bytes.Equal(encodeU64(n), v) {
				t.Fatalf("height %x does not round-trip: %v", v, err)
			}
		case PrefixNode:
			h, err := decodeHash(v)
			if err != nil || !bytes.Equal(h[:], v) || k[1] > 63 {
				t.Fatalf("node %x: %v", v, err)
			}
		case PrefixSealed:
			if len(k) != sealedKeySize || len(v) == 0 {
				t.Fatalf("sealed copy %x (%d bytes) accepted", k, len(v))
			}
		case PrefixMeta:
			if name, ok := bytes.CutPrefix(k[1:], []byte(metaPrunePrefix)); ok {
				m, err := decodePruneMark(v)
				enc := m.encode()
				if len(v) == pruneMarkSizeV1 { // a mark from before the span to compact: owes none
					enc = enc[:pruneMarkSizeV1]
				}
				if err != nil || !bytes.Equal(enc, v) || checkPruneName(string(name)) != nil {
					t.Fatalf("prune mark %q = %x accepted: %v", name, v, err)
				}
			}
		case PrefixBlock:
			b, err := decodeBlock(binary.BigEndian.Uint64(k[1:]), v)
			if err != nil || len(b.Txs) != len(b.Results) {
				t.Fatalf("accepted block does not decode: %v", err)
			}
		}
	})
}

// seedRecords returns one record of every kind, as Commit writes them,
// without opening a store (fuzz workers stay light).
func seedRecords(tb testing.TB) [][2][]byte {
	key := testKey(tb, 1)
	b := &types.Block{Txs: []*types.Tx{signedTx(tb, key, 1), fakeTx(2)}, Results: []types.Result{{Code: types.CodeOK}, {Code: types.CodeReplay, Reason: "dup"}}}
	b.Header = types.Header{ChainID: testChainID, Height: 7, LogSize: 2, LogRoot: types.MerkleRoot(b.TxHashes())}
	if err := b.Sign(key); err != nil {
		tb.Fatal(err)
	}
	th := b.Txs[0].Hash()
	return [][2][]byte{
		{BlockKey(7), b.Encode()},
		{BlockHashKey(b.Hash()), encodeU64(7)},
		{TxKey(th), txLoc{Height: 7, Index: 0, Leaf: 1}.encode()},
		{NodeKey(0, 1), types.LogHasher.HashLeaf(th[:])},
		{StateKey([]byte("k")), []byte("v")},
		{MetaKey(metaHead), encodeU64(7)},
		{MetaKey(metaApplied), encodeU64(12)},
		{MetaKey(metaGenesis), []byte(`{"chain_id":"test-chain"}`)},
		{SealedKey(7, 0), []byte("sealed payload")},
		{MetaKey(metaPrunePrefix + "audit"), PruneMark{Height: 7, Txs: 3, Bytes: 900}.encode()[:pruneMarkSizeV1]},
		{MetaKey(metaPrunePrefix + "erased"), PruneMark{Height: 7, Txs: 3, Bytes: 900, CompactFrom: 2, CompactTo: 7}.encode()},
		{MetaKey(metaPrunePrefix + "erased"), PruneMark{Height: 7, Txs: 3, Bytes: 900, CompactFrom: 2, CompactTo: 7, ScanFor: 12, ScanTo: 9}.encode()},
	}
}
