package verify

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/chaintest"
	"github.com/medchain/medchain/chain/store"
	"github.com/medchain/medchain/chain/types"
)

// signAudits returns n audit txs from signer, each signed with its real key,
// stamped at the chain's current time, with nonces from first on (distinct
// hashes). Signing runs on every core: it is setup, not what is measured.
func signAudits(tb testing.TB, c *chaintest.Chain, signer string, first uint64, n, patients int) []*types.Tx {
	tb.Helper()
	key := c.Keys[signer]
	txs := make([]*types.Tx, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				tx, err := types.NewTx(chaintest.ChainID, signer, chaintest.Audit(fmt.Sprintf("patient-%d", i%patients), signer),
					time.UnixMilli(c.Now), first+uint64(i))
				if err == nil {
					err = tx.Sign(key)
				}
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				txs[i] = tx
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		tb.Fatal(firstErr)
	}
	return txs
}

// BenchmarkVerifyLarge verifies a chain of 100,000 signed audit txs (50
// blocks of 2,000, the default block size) from genesis: links, header
// signatures, roots, the log, the tx index, state re-execution and the final
// state, with and without re-checking every tx signature. It reports tx/s of
// one whole verification. Building the chain signs 100,000 txs (about 10 s
// of CPU), so it is skipped with -short.
//
//	go test -run '^$' -bench VerifyLarge -benchtime 3x ./chain/verify/
func BenchmarkVerifyLarge(b *testing.B) {
	if testing.Short() {
		b.Skip("builds a 100,000-tx chain")
	}
	c := chaintest.New(b)
	c.Register("doctor456", types.KindPerson, types.RoleClinician)
	const blocks, perBlock = 50, 2000
	for i := range blocks {
		c.Now += 1000
		c.Commit(signAudits(b, c, "doctor456", uint64(1_000_000+i*perBlock), perBlock, 10_000)...)
	}
	total := float64(blocks*perBlock + 1)
	// cache=node is the Pebble block cache a node verifies with
	// (store.cache_mb, default 256 MB); cache=test is chaintest's 8 MB, where
	// the tx index's random reads miss the cache.
	for _, cache := range []struct {
		name string
		opts store.Options
	}{{"test", store.TestOptions()}, {"node", store.DefaultOptions()}} {
		c.ReopenWith(cache.opts)
		for _, sigs := range []bool{true, false} {
			b.Run(fmt.Sprintf("cache=%s/signatures=%v", cache.name, sigs), func(b *testing.B) {
				for b.Loop() {
					rep, err := Verify(context.Background(), c.Store, Options{Signatures: sigs}, nil)
					if err != nil || !rep.OK {
						b.Fatal(err, rep)
					}
				}
				b.ReportMetric(float64(b.N)*total/b.Elapsed().Seconds(), "tx/s")
			})
		}
	}
}

// BenchmarkVerifyRedacted verifies a chain of 10,000 redacted audit txs (10
// blocks of 1,000, sealed payloads of the size the proposer makes) from
// genesis, without the tx signature checks, with and without the redaction
// checks (SealedSource: each redacted tx's stored form, its sealed payload
// copy, one point read and a comparison, and its pruned height). It reports
// tx/s of one whole verification; the ratio of the two is their cost.
//
//	go test -run '^$' -bench VerifyRedacted -benchtime 5x ./chain/verify/
func BenchmarkVerifyRedacted(b *testing.B) {
	if testing.Short() {
		b.Skip("signs 10,000 txs")
	}
	c := chaintest.New(b)
	c.Register("doctor456", types.KindPerson, types.RoleClinician)
	const blocks, perBlock = 10, 1000
	for i := range blocks {
		c.Now += 1000
		txs := signAudits(b, c, "doctor456", uint64(1_000_000+i*perBlock), perBlock, 1000)
		for j, tx := range txs {
			p, err := tx.DecodePayload()
			if err != nil {
				b.Fatal(err)
			}
			sealed := make([]byte, len(tx.Payload)+37) // seal.FieldOverhead
			sealed[0], sealed[1] = byte(i), byte(j)
			if txs[j], err = types.Redact(tx, tx.Hash(), p, types.NewPseudonym([types.PseudonymSize]byte{byte(j % 200)}), sealed); err != nil {
				b.Fatal(err)
			}
		}
		c.Commit(txs...)
	}
	c.ReopenWith(store.DefaultOptions())
	total := float64(blocks*perBlock + 1)
	for _, withCopies := range []bool{false, true} {
		b.Run(fmt.Sprintf("redaction_checks=%v", withCopies), func(b *testing.B) {
			var src Source = c.Store
			if !withCopies {
				src = struct{ Source }{c.Store} // hides SealedSource
			}
			for b.Loop() {
				rep, err := Verify(context.Background(), src, Options{}, nil)
				if err != nil || !rep.OK {
					b.Fatal(err, rep)
				}
			}
			b.ReportMetric(float64(b.N)*total/b.Elapsed().Seconds(), "tx/s")
		})
	}
}
