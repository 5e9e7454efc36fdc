package verify

import (
	"context"
	"strings"
	"testing"

	"github.com/medchain/medchain/chain/chaintest"
	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/store"
	"github.com/medchain/medchain/chain/types"
)

// build makes a chain of a few blocks with audit events, consents and a
// rejected tx, and returns it with the hash of a tx committed at height 4.
func build(t testing.TB) (*chaintest.Chain, types.Hash) {
	c := chaintest.New(t)
	c.Register("doctor456", types.KindPerson, types.RoleClinician) // height 1
	c.Register("patient123", types.KindPatient, types.RolePatient) // height 2
	c.Commit(c.Tx("patient123", &types.ConsentGrant{Patient: "patient123", ConsentType: "data_sharing", Granted: true,
		Scope: types.ConsentScope{Purposes: []string{"treatment"}}})) // height 3
	tx := c.Tx("doctor456", chaintest.Audit("patient123", "doctor456"))
	c.Now += 1000
	c.Commit(tx, c.Tx("doctor456", chaintest.Audit("patient123", "doctor456")), c.Tx("patient123", chaintest.Audit("p", "x"))) // height 4, last rejected
	for i := 0; i < 3; i++ {
		c.Now += 1000
		c.Commit(c.Tx("doctor456", chaintest.Audit("patient123", "doctor456")), c.Tx("doctor456", chaintest.Audit("other", "doctor456")))
	}
	return c, tx.Hash()
}

func TestCleanChainVerifies(t *testing.T) {
	c, _ := build(t)
	var calls uint64
	rep, err := Verify(context.Background(), c.Store, Options{Signatures: true}, func(done, total uint64) {
		calls++
		if done != calls || total != 7 {
			t.Fatalf("progress(%d, %d), call %d", done, total, calls)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Blocks != 7 || rep.Txs != 12 || len(rep.Faults) != 0 {
		t.Fatalf("report: %+v", rep)
	}
	rep, err = Verify(context.Background(), c.Store, Options{From: 3, Signatures: true}, nil)
	if err != nil || !rep.OK || rep.Blocks != 5 {
		t.Fatalf("from height 3: %+v %v", rep, err)
	}
}

func TestTamperingIsDetectedAndLocated(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(c *chaintest.Chain, tx types.Hash)
		height uint64
		what   string
	}{
		{"flipped byte in a block", func(c *chaintest.Chain, _ types.Hash) {
			raw, _ := c.Store.RawBlock(3)
			raw[len(raw)/2] ^= 0x01
			c.Store.RawSetUnsafe(store.BlockKey(3), raw)
		}, 3, ""},
		{"tx index moved", func(c *chaintest.Chain, tx types.Hash) {
			var v []byte
			c.Store.ScanRaw(store.TxKey(tx), func(k, val []byte) bool { v = append([]byte(nil), val...); return false })
			v[11] ^= 0x01 // the index within the block
			c.Store.RawSetUnsafe(store.TxKey(tx), v)
		}, 4, "index"},
		{"audit entry edited", func(c *chaintest.Chain, _ types.Hash) {
			prefix := store.StateKey(state.TrailPrefix("patient123", false))
			var k, v []byte
			c.Store.ScanRaw(prefix, func(key, val []byte) bool {
				k, v = append([]byte(nil), key...), append([]byte(nil), val...)
				return false
			})
			v[len(v)-3] ^= 0x01
			c.Store.RawSetUnsafe(k, v)
		}, 4, "differs from re-execution"},
		{"identity deleted", func(c *chaintest.Chain, _ types.Hash) {
			c.Store.RawDeleteUnsafe(store.StateKey(state.IdentityKey("doctor456")))
		}, 1, "missing"},
		{"state key injected", func(c *chaintest.Chain, _ types.Hash) {
			c.Store.RawSetUnsafe(store.StateKey(state.IdentityKey("mallory")), []byte{0xa0})
		}, 0, "never written"},
		{"log leaf replaced", func(c *chaintest.Chain, _ types.Hash) {
			c.Store.RawSetUnsafe(store.NodeKey(0, 5), make([]byte, 32))
		}, 4, "log node (0, 5)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, tx := build(t)
			tt.tamper(c, tx)
			c.Reopen()
			rep, err := Verify(context.Background(), c.Store, Options{Signatures: true}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK || len(rep.Faults) == 0 {
				t.Fatalf("tampering not detected: %+v", rep)
			}
			f := rep.Faults[0]
			if f.Height != tt.height || !strings.Contains(f.What, tt.what) {
				t.Fatalf("first fault %+v, want height %d mentioning %q (all: %+v)", f, tt.height, tt.what, rep.Faults)
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	c := chaintest.New(b)
	c.Register("doctor456", types.KindPerson, types.RoleClinician)
	const blocks, perBlock = 10, 200
	for i := 0; i < blocks; i++ {
		txs := make([]*types.Tx, perBlock)
		for j := range txs {
			txs[j] = c.Tx("doctor456", chaintest.Audit("patient-"+string(rune('a'+j%20)), "doctor456"))
		}
		c.Commit(txs...)
	}
	b.ResetTimer()
	for b.Loop() {
		rep, err := Verify(context.Background(), c.Store, Options{Signatures: true}, nil)
		if err != nil || !rep.OK {
			b.Fatal(err, rep)
		}
	}
	b.ReportMetric(float64(b.N*(blocks*perBlock+1))/b.Elapsed().Seconds(), "tx/s")
}

// TestSignatureChecks: a tx applied with a signature that does not verify is
// a fault at its height, with or without a full re-execution; a signer
// registered earlier in the same block is checked against its new key and
// is not one.
func TestSignatureChecks(t *testing.T) {
	c := chaintest.New(t)
	c.Register("doctor456", types.KindPerson, types.RoleClinician) // height 1

	// Height 2: nurse789 is registered and signs in the same block.
	c.Keys["nurse789"] = chaintest.Key(4242)
	reg := c.Tx("admin", &types.IdentityRegister{ID: "nurse789", Kind: types.KindPerson, Roles: []string{types.RoleClinician},
		PublicKey: c.Keys["nurse789"].Public()})
	b := c.Commit(reg, c.Tx("nurse789", chaintest.Audit("patient123", "nurse789")))
	if !b.Results[0].OK() || !b.Results[1].OK() {
		t.Fatalf("height 2 results: %+v", b.Results)
	}
	for _, from := range []uint64{1, 2} {
		rep, err := Verify(context.Background(), c.Store, Options{From: from, Signatures: true}, nil)
		if err != nil || !rep.OK {
			t.Fatalf("from %d: a signer registered in the block it signs in is a fault: %+v %v", from, rep, err)
		}
	}

	// Height 3: a tx in doctor456's name signed with another key. The
	// proposer (here: the test) applied it without checking the signature.
	forged := c.Tx("doctor456", chaintest.Audit("patient123", "doctor456"))
	if err := forged.Sign(chaintest.Key(999)); err != nil {
		t.Fatal(err)
	}
	b = c.Commit(c.Tx("doctor456", chaintest.Audit("patient123", "doctor456")), forged)
	if !b.Results[1].OK() {
		t.Fatalf("the forged tx was not applied (%+v): the test proves nothing", b.Results[1])
	}
	for _, from := range []uint64{1, 3} {
		rep, err := Verify(context.Background(), c.Store, Options{From: from, Signatures: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if rep.OK || len(rep.Faults) != 1 || rep.Faults[0].Height != 3 || !strings.Contains(rep.Faults[0].What, "tx 1") ||
			!strings.Contains(rep.Faults[0].What, "signature does not verify") {
			t.Fatalf("from %d: want one signature fault for tx 1 at height 3, got %+v", from, rep)
		}
		if rep, err := Verify(context.Background(), c.Store, Options{From: from}, nil); err != nil || !rep.OK {
			t.Fatalf("from %d without signature checks: %+v %v", from, rep, err)
		}
	}
}
