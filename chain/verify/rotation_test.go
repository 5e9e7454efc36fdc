package verify

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/chaintest"
	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/chain/types"
)

// signedWith returns c's tx from signer carrying p, signed with k.
func signedWith(t *testing.T, c *chaintest.Chain, signer string, k *crypto.PrivateKey, p types.Payload, nonce uint64) *types.Tx {
	t.Helper()
	tx, err := types.NewTx(chaintest.ChainID, signer, p, time.UnixMilli(c.Now), nonce)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Sign(k); err != nil {
		t.Fatal(err)
	}
	return tx
}

// rotatedChain: doctor456 signs with its first key at heights 2 and 3,
// rotates at 3, signs with the new key at 4; at 5 a tx signed with the old
// key is refused by execution.
func rotatedChain(t *testing.T) (c *chaintest.Chain, oldKey, newKey *crypto.PrivateKey) {
	c = chaintest.New(t)
	c.Register("doctor456", types.KindPerson, types.RoleClinician) // height 1
	oldKey, newKey = c.Keys["doctor456"], chaintest.Key(777)
	c.Now += 1000
	c.Commit(c.Tx("doctor456", chaintest.Audit("patient123", "doctor456"))) // height 2
	rot, err := types.NewRotateKey(chaintest.ChainID, "doctor456", oldKey.Public(), newKey, "scheduled")
	if err != nil {
		t.Fatal(err)
	}
	c.Now += 1000
	b := c.Commit(c.Tx("doctor456", rot), c.Tx("doctor456", chaintest.Audit("patient123", "doctor456"))) // height 3
	if !b.Results[0].OK() || !b.Results[1].OK() {
		t.Fatalf("rotation block: %+v", b.Results)
	}
	c.Keys["doctor456"] = newKey
	c.Now += 1000
	c.Commit(c.Tx("doctor456", chaintest.Audit("patient123", "doctor456"))) // height 4
	c.Now += 1000
	b = c.Commit(signedWith(t, c, "doctor456", oldKey, chaintest.Audit("patient123", "doctor456"), 9001)) // height 5
	if b.Results[0].Code != types.CodeBadSignature {
		t.Fatalf("old key after the rotation: %+v", b.Results[0])
	}
	return c, oldKey, newKey
}

// TestSignaturesVerifyAgainstTheKeyOfTheirHeight: txs signed before a
// rotation still verify after it, from genesis and from a later height
// (which reads keys at the head), with the parallel signature check on.
func TestSignaturesVerifyAgainstTheKeyOfTheirHeight(t *testing.T) {
	c, _, _ := rotatedChain(t)
	for _, from := range []uint64{1, 2, 3, 4} {
		rep, err := Verify(context.Background(), c.Store, Options{From: from, Signatures: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK {
			t.Fatalf("from %d: faults %+v", from, rep.Faults)
		}
	}
}

// TestRetiredKeyAppliedAfterRotationIsAFault: a block that applied a tx
// signed with the retired key after the rotation (here: past the window in
// which execution itself re-checks, as a careless or dishonest leader could
// admit it) is reported at its height, whether verification starts at
// genesis or reads keys at the head.
func TestRetiredKeyAppliedAfterRotationIsAFault(t *testing.T) {
	c, oldKey, _ := rotatedChain(t)
	c.Now += 2*c.Genesis.Params.TimestampWindowMs + 1000
	b := c.Commit(signedWith(t, c, "doctor456", oldKey, chaintest.Audit("patient123", "doctor456"), 9002)) // height 6
	if !b.Results[0].OK() {
		t.Fatalf("setup: the leader's execution should apply it without a signature check: %+v", b.Results[0])
	}
	for _, from := range []uint64{1, 5} {
		rep, err := Verify(context.Background(), c.Store, Options{From: from, Signatures: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if rep.OK || len(rep.Faults) == 0 || rep.Faults[0].Height != 6 || !strings.Contains(rep.Faults[0].What, "signature does not verify") {
			t.Fatalf("from %d: want a signature fault at height 6, got %+v", from, rep.Faults)
		}
	}
}
