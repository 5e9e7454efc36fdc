package store_test

import (
	"testing"

	"github.com/medchain/medchain/chain/chaintest"
	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/types"
)

// viewOnly hides the store's state.SealedReader: Trail then reads the
// state entries alone, as before the sealed payload copies.
type viewOnly struct {
	state.View
	state.Scanner
}

// BenchmarkTrailRedacted measures a page of 100 of a pseudonymized
// patient's audit events (2,000 in blocks of 100, stored redacted as the
// leader stores them) with their sealed payloads read from the store's
// copies (one point read per event), against the same page without them.
func BenchmarkTrailRedacted(b *testing.B) {
	c := chaintest.New(b)
	c.Register("doctor456", types.KindPerson, types.RoleClinician)
	ps := types.NewPseudonym([types.PseudonymSize]byte{42})
	sealed := make([]byte, 400)
	for blk := 0; blk < 20; blk++ {
		txs := make([]*types.Tx, 100)
		for i := range txs {
			a := chaintest.Audit("patient123", "doctor456")
			tx := c.Tx("doctor456", a)
			r, err := types.Redact(tx, tx.Hash(), a, ps, sealed)
			if err != nil {
				b.Fatal(err)
			}
			txs[i] = r
		}
		c.Now += 1000
		c.Commit(txs...)
	}
	for _, bc := range []struct {
		name string
		v    state.View
	}{{"with-sealed-copies", c.Store}, {"state-only", viewOnly{c.Store, c.Store}}} {
		b.Run(bc.name, func(b *testing.B) {
			sc := bc.v.(state.Scanner)
			for b.Loop() {
				page, err := state.Trail(bc.v, sc, state.TrailQuery{ID: ps, Limit: 100, Newest: true})
				if err != nil || len(page.Entries) != 100 {
					b.Fatalf("%d entries, %v", len(page.Entries), err)
				}
			}
		})
	}
}
