package state_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/chaintest"
	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/types"
)

// consentChain returns a chain on Pebble (in-memory filesystem) where each of
// n patients granted a data_sharing consent, and the request a granted check
// puts to them.
func consentChain(b *testing.B, n int) (*chaintest.Chain, state.ConsentRequest) {
	c := chaintest.New(b)
	txs := make([]*types.Tx, 0, n)
	for i := range n {
		id := fmt.Sprintf("patient-%d", i)
		c.Register(id, types.KindPatient, types.RolePatient)
		txs = append(txs, c.Tx(id, &types.ConsentGrant{Patient: id, ConsentType: "data_sharing", Granted: true,
			Scope: types.ConsentScope{Purposes: []string{"treatment", "research"}, Parties: []string{"doctor456", "researcher789"},
				Actions: []string{"view_record"}, DataCategories: []string{"lab_results", "vitals"},
				Expiration: c.Now + int64(365*24*time.Hour/time.Millisecond)}}))
	}
	blk := c.Commit(txs...)
	for i, r := range blk.Results {
		if !r.OK() {
			b.Fatalf("consent %d: %s %s", i, r.Code, r.Reason)
		}
	}
	return c, state.ConsentRequest{Purpose: "research", Requester: "researcher789", Action: "view_record", DataCategory: "vitals", At: c.Now}
}

// BenchmarkConsentVerify measures consent_verify's work below the RPC layer,
// per call: the pure decision (state.VerifyConsent on a decoded consent), and
// the read of the current consent from the Pebble store plus the decision, for
// random patients among 200. It reports p50 and p99 of per-call timings.
//
//	go test -run '^$' -bench ConsentVerify -benchtime 200000x ./chain/state/
func BenchmarkConsentVerify(b *testing.B) {
	c, req := consentChain(b, 200)
	cons, err := state.GetConsent(c.Store, "patient-7", "data_sharing")
	if err != nil || cons == nil {
		b.Fatal(err, cons)
	}
	b.Run("pure", func(b *testing.B) {
		lat := make(chaintest.Latencies, 0, b.N)
		for b.Loop() {
			t := time.Now()
			d := state.VerifyConsent(cons, req)
			lat = append(lat, time.Since(t))
			if !d.Granted {
				b.Fatal(d.Reason)
			}
		}
		lat.Report(b)
	})
	b.Run("store", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(1, 2))
		lat := make(chaintest.Latencies, 0, b.N)
		for b.Loop() {
			id := fmt.Sprintf("patient-%d", rng.IntN(200))
			t := time.Now()
			cur, err := state.GetConsent(c.Store, id, "data_sharing")
			d := state.VerifyConsent(cur, req)
			lat = append(lat, time.Since(t))
			if err != nil || !d.Granted {
				b.Fatal(err, d.Reason)
			}
		}
		lat.Report(b)
	})
}
