package store

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/types"
)

// The benchmarks in this file measure the storage cost of one signed audit tx
// the way `medchain bench` drives a node: blocks of nodeBlockTxs realistic
// txs (about 3.9 KB each, so a block body is about 1 MB), each with the small
// state writes the executor produces for an audit record, committed with
// DefaultOptions (synced) on the real filesystem.
const nodeBlockTxs = 250

// auditWrites returns the state writes of a block of n audit records starting
// at tx number first: a trail entry by patient and one by actor, about the
// size the executor writes.
func auditWrites(first uint64, n int) []state.Write {
	ws := make([]state.Write, 0, 2*n)
	for i := range n {
		id := first + uint64(i)
		ws = append(ws,
			state.Write{Key: fmt.Appendf(nil, "a/p/patient%d/%016x", id%1000, id), Value: make([]byte, 180)},
			state.Write{Key: fmt.Appendf(nil, "a/a/doctor456/%016x", id), Value: make([]byte, 180)})
	}
	return ws
}

// noisyTxs returns n realistic txs whose signatures are random bytes, so the
// block bodies are as incompressible as real ML-DSA signatures make them
// (realisticTxs shares one signature, which Snappy squeezes away).
func noisyTxs(b *testing.B, first uint64, n int, rng *rand.Rand) []*types.Tx {
	txs := realisticTxs(b, first, n)
	for _, tx := range txs {
		sig := make([]byte, len(tx.Signature.Sig))
		for i := 0; i < len(sig); i += 8 {
			v := rng.Uint64()
			for j := i; j < min(i+8, len(sig)); j++ {
				sig[j] = byte(v >> (8 * (j - i)))
			}
		}
		tx.Signature.Sig = sig
	}
	return txs
}

// commitRealistic commits blocks of nodeBlockTxs realistic txs until c's log
// holds n more leaves.
func commitRealistic(b *testing.B, c *chain, n int) {
	b.Helper()
	rng := rand.New(rand.NewPCG(11, 11))
	for done := 0; done < n; done += nodeBlockTxs {
		next := uint64(len(c.leaves))
		c.commit(c.block(noisyTxs(b, next, nodeBlockTxs, rng)), auditWrites(next, nodeBlockTxs))
	}
}

// cpuTime returns the CPU time this process has used (user + system), which
// includes Pebble's background flushes and compactions.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCommitBlocks commits b.N blocks of 250 realistic txs (about 1 MB of
// incompressible body each) with their audit state writes, synced, with block
// bodies separated into blob files ("blobs", the default) and kept in the
// sstables ("inplace"). It reports the block body bytes committed per second,
// the process CPU per tx (foreground commit plus Pebble's background flushes
// and compactions, counted until the LSM has settled), Pebble's write
// amplification and the bytes compactions wrote per body byte. Run it with a
// fixed count, e.g. -benchtime=400x (100,000 txs), so every run does the same
// work.
func BenchmarkCommitBlocks(b *testing.B) {
	for _, mode := range []struct {
		name    string
		minSize int
	}{{"blobs", DefaultBlobMinSize}, {"inplace", -1}} {
		b.Run(mode.name, func(b *testing.B) {
			opts := DefaultOptions()
			opts.FS = vfs.Default
			opts.BlobMinSize = mode.minSize
			benchCommitBlocks(b, opts)
		})
	}
}

func benchCommitBlocks(b *testing.B, opts Options) {
	s, err := Open(b.TempDir(), opts)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	c := newChain(b, s)
	rng := rand.New(rand.NewPCG(12, 12))
	var body int64
	cpu0 := cpuTime(b)
	for b.Loop() {
		b.StopTimer()
		next := uint64(len(c.leaves))
		blk := c.block(noisyTxs(b, next, nodeBlockTxs, rng))
		raw := blk.Encode()
		ws := auditWrites(next, nodeBlockTxs)
		hashes := blk.TxHashes()
		body += int64(len(raw))
		b.StartTimer()
		if err := s.Commit(Commit{Block: blk, Writes: ws, Raw: raw, TxHashes: hashes, AppliedIndex: uint64(len(c.leaves)) + 1}); err != nil {
			b.Fatal(err)
		}
		c.leaves = append(c.leaves, hashes...)
	}
	b.StopTimer()
	elapsed := b.Elapsed()
	// Let the flushes and compactions this load caused finish, so their CPU
	// is counted: they are part of every tx's cost.
	if err := s.db.Flush(); err != nil {
		b.Fatal(err)
	}
	waitCompactions(b, s)
	cpu := cpuTime(b) - cpu0
	txs := float64(b.N * nodeBlockTxs)
	m := s.db.Metrics()
	b.ReportMetric(float64(body)/elapsed.Seconds()/1e6, "body-MB/s")
	b.ReportMetric(txs/elapsed.Seconds(), "tx/s")
	b.ReportMetric(float64(cpu.Microseconds())/txs, "cpu-µs/tx")
	// Pebble v2.1.7 counts the blob files a flush writes as both flushed and
	// compacted into L0; only intra-L0 compactions write L0 tables, so L0's
	// compacted bytes are its table bytes.
	flushed := m.Levels[0].TableBytesFlushed + m.Levels[0].BlobBytesFlushed
	compacted := m.Levels[0].TableBytesCompacted
	for _, l := range m.Levels[1:] {
		compacted += l.TableBytesCompacted + l.BlobBytesCompacted
	}
	// Write amplification: everything written (WAL, flushes, compactions)
	// per byte the store was given.
	b.ReportMetric(float64(m.WAL.BytesWritten+flushed+compacted)/float64(m.WAL.BytesIn), "write-amp")
	b.ReportMetric(float64(flushed)/float64(body), "flushed/body")
	b.ReportMetric(float64(compacted)/float64(body), "compacted/body")
	b.Logf("%d blocks, %d body bytes; LSM:\n%s", b.N, body, m)
}

// waitCompactions waits until Pebble runs no compaction (at most a minute).
func waitCompactions(b *testing.B, s *Store) {
	b.Helper()
	deadline := time.Now().Add(time.Minute)
	for quiet := 0; quiet < 5 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		if m := s.db.Metrics(); m.Compact.NumInProgress == 0 && m.Flush.NumInProgress == 0 {
			quiet++
		} else {
			quiet = 0
		}
	}
}

// BenchmarkHasTx100k measures HasTx on a store of 100,000 realistic txs
// committed in blocks of 250, as a node under `medchain bench` holds them: a
// miss (every new tx is one, twice) and a hit (a replay), with the tx filter
// ("filter") and with every lookup read from Pebble ("pebble", the cost
// before the filter); the rebuild of the filter that Open does; and repeated
// state reads, with and without the read cache. Give the probes many
// iterations and the rebuild few:
//
//	go test -run '^$' -bench 'HasTx100k/(miss|hit|state)' -benchtime=100000x ./chain/store/
//	go test -run '^$' -bench 'HasTx100k/rebuild' -benchtime=400x ./chain/store/
func BenchmarkHasTx100k(b *testing.B) {
	opts := DefaultOptions()
	opts.FS = vfs.Default
	s, err := Open(b.TempDir(), opts)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	c := newChain(b, s)
	commitRealistic(b, c, 100_000)
	waitCompactions(b, s)
	b.Logf("LSM after 100,000 txs:\n%s", s.db.Metrics())
	// Rebuilding the filter at Open: one pass over the tx index.
	b.Run("rebuild", func(b *testing.B) {
		for b.Loop() {
			f, err := loadTxFilter(s.db, s.LogSize(), DefaultTxFilterBytes)
			if err != nil {
				b.Fatal(err)
			}
			if !f.mayContain(c.leaves[0]) {
				b.Fatal("rebuilt filter misses a tx")
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(c.leaves)), "ns/tx")
		b.ReportMetric(float64(s.txs.bytes())/1e6, "filter-MB")
	})
	filter, off := s.txs, newTxFilter(0, -1)
	defer func() { s.txs = filter }()
	rng := rand.New(rand.NewPCG(7, 7))
	for _, mode := range []struct {
		name string
		f    *txFilter
	}{{"filter", filter}, {"pebble", off}} {
		s.txs = mode.f
		b.Run("miss/"+mode.name, func(b *testing.B) {
			for b.Loop() {
				if ok, err := s.HasTx(randomHash(rng)); ok || err != nil {
					b.Fatal(ok, err)
				}
			}
		})
		b.Run("hit/"+mode.name, func(b *testing.B) {
			for b.Loop() {
				if ok, err := s.HasTx(c.leaves[rng.IntN(len(c.leaves))]); !ok || err != nil {
					b.Fatal(ok, err)
				}
			}
		})
	}
	s.txs = filter

	// State reads every tx repeats: a hot key that is there (the signer's
	// identity) and one that is not (the patient's erasure record), with the
	// state cache ("cache") and read from Pebble ("pebble").
	hot := auditWrites(4321, 1)[0].Key
	cache := s.state
	defer func() { s.state = cache }()
	for _, mode := range []struct {
		name  string
		cache *stateCache
	}{{"cache", cache}, {"pebble", nil}} {
		s.state = mode.cache
		b.Run("state-get-hit/"+mode.name, func(b *testing.B) {
			for b.Loop() {
				if _, found, err := s.Get(hot); !found || err != nil {
					b.Fatal(found, err)
				}
			}
		})
		b.Run("state-get-miss/"+mode.name, func(b *testing.B) {
			for b.Loop() {
				if _, found, err := s.Get([]byte("erased/bench-patient-7")); found || err != nil {
					b.Fatal(found, err)
				}
			}
		})
	}
}
