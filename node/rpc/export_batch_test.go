package rpc

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/medchain/medchain/chain/chaintest"
	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/chain/store"
	"github.com/medchain/medchain/chain/types"
)

// signingLedger is a chainLedger that signs exports with node-1's key.
type signingLedger struct {
	*chainLedger
	reader Reader
}

func (l signingLedger) Reader() Reader { return l.reader }
func (l signingLedger) ExportIdentity() (string, crypto.PublicKey) {
	return "node-1", l.c.Keys["node-1"].Public()
}
func (l signingLedger) SignExport(msg []byte) (crypto.Signature, error) {
	return l.c.Keys["node-1"].Sign(msg)
}

// pointReader hides the store's log node cursor: proofs come one
// InclusionProof at a time, the reference the batched path must match.
type pointReader struct{ *store.Store }

func (pointReader) LogNodeCursor() {} // shadows the store's: no longer a logNodeReader

// exportChain has patient123's audit events spread over blocks of varying
// sizes among other patients' events, a consent granted and revoked, and
// tx rejected in the middle.
func exportChain(t *testing.T) *chaintest.Chain {
	c := chaintest.New(t)
	c.Register("doctor456", types.KindPerson, types.RoleClinician)
	c.Register("patient123", types.KindPatient, types.RolePatient)
	rng := rand.New(rand.NewPCG(1, 2))
	for b := 0; b < 12; b++ {
		c.Now += 1000
		var txs []*types.Tx
		for i := rng.IntN(40); i >= 0; i-- {
			patient := "patient123"
			if rng.IntN(3) == 0 {
				patient = fmt.Sprintf("other-%d", i)
			}
			txs = append(txs, c.Tx("doctor456", chaintest.Audit(patient, "doctor456")))
		}
		switch b {
		case 3:
			txs = append(txs, c.Tx("patient123", &types.ConsentGrant{Patient: "patient123", ConsentType: "imaging", Granted: true,
				Scope: types.ConsentScope{Purposes: []string{"treatment"}}}))
		case 7:
			txs = append(txs, c.Tx("patient123", &types.ConsentRevoke{Patient: "patient123", ConsentType: "imaging"}))
			txs = append(txs, c.Tx("patient123", chaintest.Audit("patient123", "patient123"))) // rejected: a patient records no audit
		}
		c.Commit(txs...)
	}
	return c
}

// TestBatchedExportMatchesPointReads: the export built from block reads and
// one log-node pass is byte for byte the export built from one tx-index
// read and one InclusionProof per entry, and every entry's leaf and proof
// are the store's own.
func TestBatchedExportMatchesPointReads(t *testing.T) {
	c := exportChain(t)
	l := &chainLedger{c: c}
	batched, err := BuildExport(signingLedger{l, c.Store}, ExportParams{Patient: "patient123", FHIR: true})
	if err != nil {
		t.Fatal(err)
	}
	point, err := BuildExport(signingLedger{l, pointReader{c.Store}}, ExportParams{Patient: "patient123", FHIR: true})
	if err != nil {
		t.Fatal(err)
	}
	a, err := ExportSignBytes(&batched.Body)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := ExportSignBytes(&point.Body)
	if !bytes.Equal(a, b) || !bytes.Equal(batched.FHIR, point.FHIR) {
		t.Fatal("batched and point-read exports differ")
	}
	kinds := map[string]int{}
	size := batched.Body.Head.LogSize
	for i, e := range batched.Body.Entries {
		kinds[e.Kind]++
		tx, _, height, _, err := c.Store.Tx(e.TxHash)
		if err != nil {
			t.Fatal(err)
		}
		leaf, _ := c.Store.LeafIndex(e.TxHash)
		want, _ := c.Store.InclusionProof(leaf, size)
		if e.LeafIndex != leaf || height != e.Height || !slices.Equal(e.Proof, want) || !bytes.Equal(e.Tx.Payload, tx.Payload) || e.Tx.Tx(c.Genesis.ChainID).Hash() != e.TxHash {
			t.Fatalf("entry %d (%s) differs from the store's tx, leaf or proof", i, e.Kind)
		}
	}
	if kinds[EntryAudit] < 100 || kinds[EntryConsent] != 2 {
		t.Fatalf("entries by kind: %v", kinds)
	}
}

// TestInclusionProofsAgainstStore: for many log sizes and leaf sets, the
// batched proofs equal the store's one-at-a-time proofs (a property test
// against the naive reference).
func TestInclusionProofsAgainstStore(t *testing.T) {
	c := exportChain(t)
	size := c.Store.LogSize()
	rng := rand.New(rand.NewPCG(3, 4))
	for _, sz := range []uint64{1, 2, 3, 7, 8, 9, size / 2, size - 1, size} {
		var leaves []uint64
		for l := uint64(0); l < sz; l++ {
			if rng.IntN(3) > 0 {
				leaves = append(leaves, l)
			}
		}
		got, err := inclusionProofs(c.Store, leaves, sz)
		if err != nil {
			t.Fatal(err)
		}
		for i, l := range leaves {
			want, err := c.Store.InclusionProof(l, sz)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got[i], want) {
				t.Fatalf("size %d leaf %d: batched proof differs", sz, l)
			}
		}
	}
	if _, err := inclusionProofs(c.Store, []uint64{size}, size); err == nil {
		t.Fatal("a leaf outside the log got a proof")
	}
}
