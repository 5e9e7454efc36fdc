package store

import (
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/transparency-dev/merkle/proof"

	"github.com/medchain/medchain/chain/types"
)

func byteSlices(hs []types.Hash) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = hs[i][:]
	}
	return out
}

// TestProofsVerifyAgainstNaiveRoots checks, for every size up to n and every
// (index, size) and (size1, size2) pair, that LogRoot equals the naive
// types.MerkleRoot of the leaf prefix and that inclusion and consistency
// proofs served from stored nodes verify against those naive roots. The log
// is built from blocks of random sizes, so block and subtree boundaries fall
// everywhere; it is checked before and after a reopen.
func TestProofsVerifyAgainstNaiveRoots(t *testing.T) {
	n := 140
	if testing.Short() {
		n = 70
	}
	fs := vfs.NewMem()
	s := openTest(t, fs, "db", TestOptions())
	c := newChain(t, s)
	c.fakeBlocks(n, 9, rand.New(rand.NewPCG(3, 4)))

	roots := make([]types.Hash, n+1)
	for size := range roots {
		roots[size] = types.MerkleRoot(c.leaves[:size])
	}
	check := func(s *Store) {
		t.Helper()
		for size := uint64(0); size <= uint64(n); size++ {
			got, err := s.LogRoot(size)
			if err != nil || got != roots[size] {
				t.Fatalf("LogRoot(%d) = %s, %v; want %s", size, got, err, roots[size])
			}
			for index := uint64(0); index < size; index++ {
				p, err := s.InclusionProof(index, size)
				if err != nil {
					t.Fatalf("InclusionProof(%d, %d): %v", index, size, err)
				}
				leaf := types.LogHasher.HashLeaf(c.leaves[index][:])
				if err := proof.VerifyInclusion(types.LogHasher, index, size, leaf, byteSlices(p), roots[size][:]); err != nil {
					t.Fatalf("inclusion %d in %d: %v", index, size, err)
				}
			}
			for size1 := uint64(0); size1 <= size; size1++ {
				p, err := s.ConsistencyProof(size1, size)
				if err != nil {
					t.Fatalf("ConsistencyProof(%d, %d): %v", size1, size, err)
				}
				if err := proof.VerifyConsistency(types.LogHasher, size1, size, byteSlices(p), roots[size1][:], roots[size][:]); err != nil {
					t.Fatalf("consistency %d..%d: %v", size1, size, err)
				}
			}
		}
	}
	check(s)
	s.Close()
	s = openTest(t, fs, "db", TestOptions())
	defer s.Close()
	check(s)

	// Every header's root is the naive root at its size.
	for h := uint64(1); ; h++ {
		b, err := s.Block(h)
		if err != nil {
			wantErr(t, err, ErrNotFound)
			break
		}
		if b.Header.LogRoot != roots[b.Header.LogSize] {
			t.Fatalf("header %d root differs from the naive root at %d", h, b.Header.LogSize)
		}
	}
}

func TestProofRangeErrors(t *testing.T) {
	s := newTestStore(t)
	c := newChain(t, s)
	c.fakeBlocks(10, 4, rand.New(rand.NewPCG(1, 1)))
	for _, tc := range []struct{ index, size uint64 }{{0, 0}, {10, 10}, {3, 11}, {11, 12}} {
		_, err := s.InclusionProof(tc.index, tc.size)
		wantErr(t, err, ErrOutOfRange)
	}
	for _, tc := range []struct{ size1, size2 uint64 }{{5, 4}, {0, 11}, {11, 11}} {
		_, err := s.ConsistencyProof(tc.size1, tc.size2)
		wantErr(t, err, ErrOutOfRange)
	}
	_, err := s.LeafIndex(types.Hash{})
	wantErr(t, err, ErrNotFound)
}

// TestProofsComeFromStoredNodes proves that proofs read stored node hashes:
// tampering with one node changes the proof (which then fails to verify), and
// a deleted node is ErrCorrupt naming it.
func TestProofsComeFromStoredNodes(t *testing.T) {
	s := newTestStore(t)
	c := newChain(t, s)
	c.fakeBlocks(13, 5, rand.New(rand.NewPCG(5, 6)))
	root := types.MerkleRoot(c.leaves)
	// Leaf 0's proof in a tree of 13 uses node (0,1), (1,1), (2,1) and the
	// ephemeral right part built from (2,2) and (0,12).
	if err := s.RawSetUnsafe(NodeKey(1, 1), make([]byte, 32)); err != nil {
		t.Fatal(err)
	}
	p, err := s.InclusionProof(0, 13)
	if err != nil {
		t.Fatal(err)
	}
	leaf := types.LogHasher.HashLeaf(c.leaves[0][:])
	if proof.VerifyInclusion(types.LogHasher, 0, 13, leaf, byteSlices(p), root[:]) == nil {
		t.Fatal("proof verified although a stored node was zeroed")
	}
	if err := s.RawDeleteUnsafe(NodeKey(0, 12)); err != nil {
		t.Fatal(err)
	}
	_, err = s.InclusionProof(0, 13)
	wantErr(t, err, ErrCorrupt)
	if want := "log node (0, 12)"; err == nil || !contains(err.Error(), want) {
		t.Fatalf("error %v does not name %s", err, want)
	}
}
