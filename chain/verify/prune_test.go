package verify

import (
	"context"
	"strings"
	"testing"

	"github.com/medchain/medchain/chain/chaintest"
	"github.com/medchain/medchain/chain/store"
	"github.com/medchain/medchain/chain/types"
)

// redacted returns signer's audit event about a pseudonymized patient for
// purpose, in the redacted form a proposer stores (stand-in sealed bytes:
// verification without an Opener never opens them).
func redacted(t *testing.T, c *chaintest.Chain, signer, purpose string, n byte) *types.Tx {
	t.Helper()
	a := chaintest.Audit("patient123", signer)
	a.Purpose = purpose
	tx := c.Tx(signer, a)
	r, err := types.Redact(tx, tx.Hash(), a, types.NewPseudonym([types.PseudonymSize]byte{n}), []byte("sealed payload stand-in"))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// prunedChain builds blocks with redacted events (treatment and research)
// and plain ones, one second apart, then prunes the treatment events of
// every block.
func prunedChain(t *testing.T) (*chaintest.Chain, int) {
	c := chaintest.New(t)
	c.Register("doctor456", types.KindPerson, types.RoleClinician)
	for i := 0; i < 4; i++ {
		c.Now += 1000
		b := c.Commit(redacted(t, c, "doctor456", "treatment", byte(i)), redacted(t, c, "doctor456", "research", byte(i)),
			c.Tx("doctor456", chaintest.Audit("patient999", "doctor456")))
		for j, r := range b.Results {
			if !r.OK() {
				t.Fatalf("height %d tx %d: %s %s", b.Header.Height, j, r.Code, r.Reason)
			}
		}
	}
	res, err := c.Store.Prune(store.PruneRun{Name: "audit", Before: c.Now + 1, MaxBlocks: 100,
		Select: func(_ *types.Header, _ int, _ *types.Tx, p types.Payload) bool {
			return p.(*types.AuditRecord).Purpose == "treatment"
		}})
	if err != nil || res.Txs != 4 {
		t.Fatalf("prune: %+v %v", res, err)
	}
	return c, res.Txs
}

// TestPrunedChainVerifies: a chain whose sealed payloads were pruned passes a
// full verification (hash links, tx roots, the log, re-execution and the
// state key by key); the pruned txs are reported as attested only.
func TestPrunedChainVerifies(t *testing.T) {
	c, pruned := prunedChain(t)
	rep, err := Verify(context.Background(), c.Store, Options{Signatures: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Pruned != uint64(pruned) || rep.Redacted != 8 || rep.AttestedOnly != 8 {
		t.Fatalf("report: ok %v, pruned %d, redacted %d, attested %d, faults %v", rep.OK, rep.Pruned, rep.Redacted, rep.AttestedOnly, rep.Faults)
	}
}

// TestTamperedPrunedDigestIsDetected: the digest a pruned redaction keeps is
// committed by the tx root, so changing it is a fault at its height.
func TestTamperedPrunedDigestIsDetected(t *testing.T) {
	c, _ := prunedChain(t)
	b, err := c.Store.Block(3)
	if err != nil {
		t.Fatal(err)
	}
	bad := *b
	bad.Txs = append([]*types.Tx(nil), b.Txs...)
	tx := b.Txs[0].Clone()
	if !tx.Redaction.Pruned() {
		t.Fatal("tx 0 of block 3 is not pruned")
	}
	tx.Redaction.SealedHash[0] ^= 1
	bad.Txs[0] = tx
	if err := c.Store.RawSetUnsafe(store.BlockKey(3), bad.Encode()); err != nil {
		t.Fatal(err)
	}
	c.Reopen()
	rep, err := Verify(context.Background(), c.Store, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || len(rep.Faults) == 0 || rep.Faults[0].Height != 3 || !strings.Contains(rep.Faults[0].What, "tx root") {
		t.Fatalf("faults: %+v", rep.Faults)
	}
}
