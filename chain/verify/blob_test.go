package verify

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/medchain/medchain/chain/chaintest"
	"github.com/medchain/medchain/chain/store"
	"github.com/medchain/medchain/chain/types"
)

// TestFlippedByteInASeparatedBlockBodyIsLocated is the tamper test for the
// blocks production stores: a block past store.DefaultBlobMinSize, whose body
// Pebble writes to a blob file. One byte of that file is flipped on disk;
// verification must report the block's height and that it is unreadable.
// (TestTamperingIsDetectedAndLocated rewrites small blocks through the store,
// which keeps them in sstables.)
func TestFlippedByteInASeparatedBlockBodyIsLocated(t *testing.T) {
	c := chaintest.New(t)
	c.Register("doctor456", types.KindPerson, types.RoleClinician) // height 1
	c.Register("patient123", types.KindPatient, types.RolePatient) // height 2
	c.Now += 1000
	txs := make([]*types.Tx, 12)
	for i := range txs {
		txs[i] = c.Tx("doctor456", chaintest.Audit("patient123", "doctor456"))
	}
	big := c.Commit(txs...) // height 3
	c.Now += 1000
	c.Commit(c.Tx("doctor456", chaintest.Audit("patient123", "doctor456"))) // height 4
	raw, err := c.Store.RawBlock(3)
	if err != nil || len(raw) < store.DefaultBlobMinSize {
		t.Fatalf("block 3 is %d bytes (%v), want at least %d", len(raw), err, store.DefaultBlobMinSize)
	}
	if err := c.Store.Checkpoint("cp"); err != nil { // flushes: the body moves to a blob file
		t.Fatal(err)
	}
	c.Store.Close()

	needle := big.Txs[6].Signature.Sig[:64]
	names, err := c.FS.List(c.Dir)
	if err != nil {
		t.Fatal(err)
	}
	flipped := 0
	for _, name := range names {
		if !strings.HasSuffix(name, ".blob") {
			continue
		}
		path := c.FS.PathJoin(c.Dir, name)
		b := readAll(t, c.FS, path)
		i := bytes.Index(b, needle)
		if i < 0 {
			continue
		}
		b[i+10] ^= 0x01
		writeAll(t, c.FS, path, b)
		flipped++
	}
	if flipped != 1 {
		t.Fatalf("block 3's body is in %d blob files, want 1", flipped)
	}

	c.Reopen()
	rep, err := Verify(context.Background(), c.Store, Options{Signatures: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || len(rep.Faults) == 0 {
		t.Fatalf("flipped byte not detected: %+v", rep)
	}
	if f := rep.Faults[0]; f.Height != 3 || !strings.Contains(f.What, "unreadable") {
		t.Fatalf("first fault %+v, want height 3, unreadable (all: %+v)", f, rep.Faults)
	}
}

func readAll(t *testing.T, fs vfs.FS, path string) []byte {
	t.Helper()
	f, err := fs.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeAll(t *testing.T, fs vfs.FS, path string, b []byte) {
	t.Helper()
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
