package store

import (
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/types"
)

// realisticTxs returns n txs of a real signed tx's size (about 3.9 KB with
// an ML-DSA-65 signature) with distinct hashes. Only the first is signed
// validly: the store never checks signatures, and signing is not what these
// benchmarks measure.
func realisticTxs(b *testing.B, first uint64, n int) []*types.Tx {
	tmpl := signedTx(b, testKey(b, 1), 0)
	txs := make([]*types.Tx, n)
	for i := range txs {
		tx := *tmpl
		tx.Nonce = first + uint64(i)
		txs[i] = &tx
	}
	return txs
}

// BenchmarkCommit measures Commit of a block of 1,000 realistic txs with
// 1,000 state writes, on the real filesystem.
func BenchmarkCommit(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts Options
	}{
		{"sync", DefaultOptions()},
		{"nosync", Options{}},
		{"nowal", Options{DisableWAL: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			bc.opts.FS = vfs.Default
			s, err := Open(b.TempDir(), bc.opts)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			c := newChain(b, s)
			const perBlock = 1000
			next := uint64(0)
			b.ResetTimer()
			for b.Loop() {
				b.StopTimer()
				blk := c.block(realisticTxs(b, next, perBlock))
				ws := make([]state.Write, perBlock)
				for i := range ws {
					ws[i] = state.Write{Key: fmt.Appendf(nil, "audit/%012d", next+uint64(i)), Value: make([]byte, 64)}
				}
				next += perBlock
				b.StartTimer()
				if err := s.Commit(Commit{Block: blk, Writes: ws}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*perBlock)/b.Elapsed().Seconds(), "tx/s")
		})
	}
}

// fakeLog is a store holding a log of fakeLogSize fake txs, built once per
// process through Commit in blocks of 5,000.
var (
	fakeLogOnce  sync.Once
	fakeLogStore *Store
	fakeLogChain *chain
	fakeLogErr   error
	fakeLogDir   string
)

// TestMain removes the shared benchmark store after all benchmarks ran.
func TestMain(m *testing.M) {
	code := m.Run()
	if fakeLogStore != nil {
		_ = fakeLogStore.Close()
	}
	if fakeLogDir != "" {
		_ = os.RemoveAll(fakeLogDir)
	}
	os.Exit(code)
}

func fakeLog(b *testing.B, size int) (*Store, *chain) {
	fakeLogOnce.Do(func() {
		dir, err := os.MkdirTemp("", "medchain-store-bench-")
		if err != nil {
			fakeLogErr = err
			return
		}
		fakeLogDir = dir
		s, err := Open(dir, Options{FS: vfs.Default})
		if err != nil {
			fakeLogErr = err
			return
		}
		c := newChain(b, s)
		c.fakeBlocks(size, 5000, rand.New(rand.NewPCG(1, 1)))
		if err := s.Flush(); err != nil {
			fakeLogErr = err
		}
		fakeLogStore, fakeLogChain = s, c
	})
	if fakeLogErr != nil {
		b.Fatal(fakeLogErr)
	}
	return fakeLogStore, fakeLogChain
}

const fakeLogSize = 1_000_000

func BenchmarkHasTx(b *testing.B) {
	s, c := fakeLog(b, fakeLogSize)
	rng := rand.New(rand.NewPCG(2, 2))
	b.Run("hit", func(b *testing.B) {
		for b.Loop() {
			if ok, err := s.HasTx(c.leaves[rng.IntN(len(c.leaves))]); !ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	})
	b.Run("miss", func(b *testing.B) {
		var h types.Hash
		for b.Loop() {
			h[0], h[1], h[2] = byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32())
			if ok, err := s.HasTx(h); ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	})
}

func BenchmarkInclusionProof(b *testing.B) {
	s, _ := fakeLog(b, fakeLogSize)
	size := s.LogSize()
	rng := rand.New(rand.NewPCG(3, 3))
	for b.Loop() {
		if _, err := s.InclusionProof(rng.Uint64N(size), size); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkConsistencyProof(b *testing.B) {
	s, _ := fakeLog(b, fakeLogSize)
	size := s.LogSize()
	rng := rand.New(rand.NewPCG(4, 4))
	for b.Loop() {
		if _, err := s.ConsistencyProof(1+rng.Uint64N(size-1), size); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScan100 scans 100 consecutive state keys out of 100,000.
func BenchmarkScan100(b *testing.B) {
	s, err := Open(b.TempDir(), Options{FS: vfs.Default})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	c := newChain(b, s)
	const keys = 100_000
	for blk := 0; blk < keys/10_000; blk++ {
		ws := make([]state.Write, 10_000)
		for i := range ws {
			ws[i] = state.Write{Key: fmt.Appendf(nil, "audit/%08d", blk*10_000+i), Value: make([]byte, 100)}
		}
		c.commit(c.block(nil), ws)
	}
	if err := s.Flush(); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 5))
	for b.Loop() {
		n := 0
		start := fmt.Appendf(nil, "audit/%08d", rng.IntN(keys-100))
		if err := s.Scan(start, nil, false, func(k, v []byte) bool { n++; return n < 100 }); err != nil || n != 100 {
			b.Fatal(n, err)
		}
	}
}
