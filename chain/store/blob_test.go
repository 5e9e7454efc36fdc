package store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/types"
)

// bigTxs returns n signed-size txs whose signatures are random bytes, so a
// block of a dozen is past DefaultBlobMinSize and its body is incompressible.
func bigTxs(t *testing.T, first uint64, n int, rng *rand.Rand) []*types.Tx {
	t.Helper()
	tmpl := signedTx(t, testKey(t, 1), 0)
	txs := make([]*types.Tx, n)
	for i := range txs {
		tx := *tmpl
		tx.Nonce = first + uint64(i)
		sig := make([]byte, len(tmpl.Signature.Sig))
		for j := range sig {
			sig[j] = byte(rng.Uint32())
		}
		tx.Signature.Sig = sig
		txs[i] = &tx
	}
	return txs
}

// filesWith returns the names of the files in dir on fs whose name ends with
// suffix and whose bytes contain needle, with the offset of the first match.
func filesWith(t *testing.T, fs vfs.FS, dir, suffix string, needle []byte) map[string]int {
	t.Helper()
	names, err := fs.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	hits := make(map[string]int)
	for _, name := range names {
		if !strings.HasSuffix(name, suffix) {
			continue
		}
		f, err := fs.Open(fs.PathJoin(dir, name))
		if errors.Is(err, os.ErrNotExist) {
			continue // an obsolete file Pebble deleted meanwhile
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(f)
		_ = f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if i := bytes.Index(b, needle); i >= 0 {
			hits[name] = i
		}
	}
	return hits
}

// flipByte flips one bit of the byte at off in the file dir/name on fs.
func flipByte(t *testing.T, fs vfs.FS, dir, name string, off int) {
	t.Helper()
	path := fs.PathJoin(dir, name)
	f, err := fs.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(f)
	_ = f.Close()
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 0x01
	if err := fs.Remove(path); err != nil {
		t.Fatal(err)
	}
	w, err := fs.Create(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestSeparatedBlockBodyTamperingIsLocated stores a block large enough for
// Pebble to write its body to a blob file, proves the body is there (so the
// test tampers with what production stores), flips one byte of it on disk,
// and checks every read of that block is ErrCorrupt naming its height while
// its neighbours still read.
func TestSeparatedBlockBodyTamperingIsLocated(t *testing.T) {
	fs := vfs.NewMem()
	s := openTest(t, fs, "db", TestOptions())
	c := newChain(t, s)
	rng := rand.New(rand.NewPCG(21, 21))
	c.commit(c.block([]*types.Tx{fakeTx(1)}), nil)
	big := c.block(bigTxs(t, 100, 12, rng))
	if n := len(big.Encode()); n < DefaultBlobMinSize {
		t.Fatalf("block body is %d bytes, below the %d separation threshold", n, DefaultBlobMinSize)
	}
	c.commit(big, nil)
	c.commit(c.block([]*types.Tx{fakeTx(2)}), nil)
	if err := s.Checkpoint("cp"); err != nil { // flushes the memtable: the body moves to a blob file
		t.Fatal(err)
	}
	needle := big.Txs[5].Signature.Sig[:64]
	blobs := filesWith(t, fs, "db", ".blob", needle)
	if len(blobs) != 1 {
		t.Fatalf("block 2's body is in %d blob files, want 1", len(blobs))
	}
	if tables := filesWith(t, fs, "db", ".sst", needle); len(tables) != 0 {
		t.Fatalf("block 2's body is also in sstables %v", tables)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for name, off := range blobs {
		flipByte(t, fs, "db", name, off+10)
	}
	s = openTest(t, fs, "db", TestOptions())
	defer s.Close()
	_, err := s.RawBlock(2)
	wantCorrupt(t, err, "height 2")
	_, err = s.Block(2)
	wantCorrupt(t, err, "height 2")
	_, _, _, _, err = s.Tx(big.Txs[0].Hash())
	wantCorrupt(t, err, "height 2")
	wantCorrupt(t, s.CheckIntegrity(), "")
	for _, h := range []uint64{1, 3} {
		if _, err := s.Block(h); err != nil {
			t.Fatalf("block %d is intact: %v", h, err)
		}
	}
}

// TestOnlyBlockBodiesAreSeparated writes state and vault values larger than
// the separation threshold and proves they stay in the sstables, never in a
// blob file: erasure deletes a vault record and compacts it away, which
// removes it only if no blob file holds a copy.
func TestOnlyBlockBodiesAreSeparated(t *testing.T) {
	fs := vfs.NewMem()
	s := openTest(t, fs, "db", TestOptions())
	defer s.Close()
	c := newChain(t, s)
	rng := rand.New(rand.NewPCG(22, 22))
	secret := make([]byte, 2*DefaultBlobMinSize)
	stateVal := make([]byte, 2*DefaultBlobMinSize)
	for i := range secret {
		secret[i], stateVal[i] = byte(rng.Uint32()), byte(rng.Uint32())
	}
	big := c.block(bigTxs(t, 1, 12, rng))
	c.raft++
	if err := s.Commit(Commit{Block: big, AppliedIndex: c.raft,
		Writes: []state.Write{{Key: []byte("big-state"), Value: stateVal}},
		Vault:  []state.Write{{Key: []byte("k/patient123"), Value: secret}}}); err != nil {
		t.Fatal(err)
	}
	c.leaves = append(c.leaves, big.TxHashes()...)
	if err := s.CompactVault(context.Background()); err != nil { // flush + compact
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		needle []byte
		blob   bool
	}{
		{"block body", big.Txs[3].Signature.Sig[:64], true},
		{"state value", stateVal[:64], false},
		{"vault value", secret[:64], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inBlob := len(filesWith(t, fs, "db", ".blob", tt.needle)) > 0
			inTable := len(filesWith(t, fs, "db", ".sst", tt.needle)) > 0
			if inBlob != tt.blob || inTable == tt.blob {
				t.Fatalf("in a blob file: %v, in an sstable: %v; want blob %v", inBlob, inTable, tt.blob)
			}
		})
	}
	// Erase the vault record: after the forced compaction no live file holds it.
	c.raft++
	next := c.block(nil)
	if err := s.Commit(Commit{Block: next, AppliedIndex: c.raft, Vault: []state.Write{{Key: []byte("k/patient123"), Delete: true}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.CompactVault(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Pebble deletes the replaced files in the background: wait for it.
	deadline := time.Now().Add(10 * time.Second)
	for _, suffix := range []string{".blob", ".sst"} {
		for {
			hits := filesWith(t, fs, "db", suffix, secret[:64])
			if len(hits) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("erased vault value still in %v", hits)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if _, found, err := s.VaultGet([]byte("k/patient123")); found || err != nil {
		t.Fatalf("erased vault value readable: %v %v", found, err)
	}
}
