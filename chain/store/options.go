package store

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Defaults for Options.
const (
	DefaultCacheSize    = 256 << 20 // bytes of Pebble block cache
	DefaultMemTableSize = 64 << 20  // bytes per memtable
	DefaultBlockLRU     = 16        // decoded blocks kept for Tx lookups
	// DefaultTxFilterBytes bounds the in-memory tx-hash filter: at 12 bits
	// per tx it covers about 170 million txs.
	DefaultTxFilterBytes = 256 << 20
	// DefaultBlobMinSize is the smallest block body Pebble separates into a
	// blob file (about eight signed txs).
	DefaultBlobMinSize = 32 << 10
)

// Options configures a Store. The zero value is valid: it writes without
// syncing (see Sync) and uses the defaults above.
type Options struct {
	// FS is the filesystem all Pebble I/O goes through; nil means vfs.Default.
	// Tests pass vfs.NewMem or vfs.NewCrashableMem.
	FS vfs.FS
	// Sync makes Commit, SetAppliedIndex and SetGenesis sync the WAL before
	// returning. Without it a crash may lose the last writes (the Raft log is
	// durable, so the FSM can re-apply them); call Flush before Raft compacts
	// its log. DefaultOptions sets it.
	Sync bool
	// DisableWAL turns Pebble's write-ahead log off: a block's Commit is
	// durable only after Flush (or Close, or a memtable flush Pebble starts
	// when a memtable fills), so a crash loses the blocks since the last one
	// and the FSM must re-apply them from the Raft log. Each block is then
	// written once to the Raft log and once to an sstable or blob file,
	// instead of a third time to Pebble's WAL. The genesis and node-local
	// vault records (VaultSet) are flushed at once. Requires Sync to be false.
	DisableWAL bool
	// CacheSize is the Pebble block cache in bytes; 0 means DefaultCacheSize.
	CacheSize int64
	// MemTableSize is the size of one Pebble memtable in bytes; 0 means
	// DefaultMemTableSize.
	MemTableSize uint64
	// BlockLRU is how many decoded blocks Tx keeps; 0 means DefaultBlockLRU,
	// a negative value disables the cache.
	BlockLRU int
	// TxFilterBytes bounds the memory of the tx-hash filter that answers
	// HasTx misses without reading Pebble (txfilter.go): about 1.5 bytes per
	// indexed tx. 0 means DefaultTxFilterBytes; a negative value turns the
	// filter off. A store whose tx index outgrows the bound turns the filter
	// off until it is reopened with a larger one; answers never change, only
	// their cost.
	TxFilterBytes int64
	// BlobMinSize is the smallest stored block body, in bytes, that Pebble
	// writes once into a blob file instead of the sstables (value
	// separation), so compactions move a reference instead of rewriting the
	// body. Only block bodies are ever separated: state, indexes, log nodes
	// and the vault stay in the sstables whatever their size. 0 means
	// DefaultBlobMinSize; a negative value turns separation off.
	BlobMinSize int
	// StateCacheEntries is how many recent state and vault reads (values up
	// to 4 KiB, and absences) Get and VaultGet answer from memory; 0 means
	// DefaultStateCacheEntries, a negative value turns the cache off.
	StateCacheEntries int
	// Logger receives Pebble's messages (info as debug); nil means slog.Default().
	Logger *slog.Logger
}

// DefaultOptions returns the production options: synced commits on the
// default filesystem.
func DefaultOptions() Options {
	return Options{Sync: true, CacheSize: DefaultCacheSize, MemTableSize: DefaultMemTableSize, BlockLRU: DefaultBlockLRU,
		TxFilterBytes: DefaultTxFilterBytes, BlobMinSize: DefaultBlobMinSize, StateCacheEntries: DefaultStateCacheEntries}
}

// TestOptions returns options for tests: an in-memory filesystem, synced
// commits and small caches.
func TestOptions() Options {
	return Options{FS: vfs.NewMem(), Sync: true, CacheSize: 8 << 20, MemTableSize: 4 << 20, BlockLRU: 4}
}

// Validate reports every invalid field.
func (o Options) Validate() error {
	var errs []error
	if o.CacheSize < 0 {
		errs = append(errs, fmt.Errorf("store: CacheSize %d: must not be negative", o.CacheSize))
	}
	if o.DisableWAL && o.Sync {
		errs = append(errs, errors.New("store: Sync: cannot sync with DisableWAL set; use Flush"))
	}
	if o.MemTableSize != 0 && o.MemTableSize < 1<<20 {
		errs = append(errs, fmt.Errorf("store: MemTableSize %d: must be 0 or at least 1 MiB", o.MemTableSize))
	}
	if o.MemTableSize >= 4<<30 {
		errs = append(errs, fmt.Errorf("store: MemTableSize %d: must be below 4 GiB", o.MemTableSize))
	}
	return errors.Join(errs...)
}

func (o Options) withDefaults() Options {
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.CacheSize == 0 {
		o.CacheSize = DefaultCacheSize
	}
	if o.MemTableSize == 0 {
		o.MemTableSize = DefaultMemTableSize
	}
	if o.BlockLRU == 0 {
		o.BlockLRU = DefaultBlockLRU
	}
	if o.StateCacheEntries == 0 {
		o.StateCacheEntries = DefaultStateCacheEntries
	}
	if o.BlobMinSize == 0 {
		o.BlobMinSize = DefaultBlobMinSize
	}
	if o.TxFilterBytes == 0 {
		o.TxFilterBytes = DefaultTxFilterBytes
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// pebbleOptions tunes Pebble for a write-heavy, append-mostly store: large
// memtables so a block of thousands of txs fits many times over, L0 compacted
// early but writes stalled late, and bloom filters on every level so that
// HasTx and state misses rarely touch a data block; 8 KiB blocks balance
// point reads (HasTx, Get, proof nodes) against scans. Block bodies of at
// least BlobMinSize go to blob files at flush and are never rewritten by
// compactions (blockBodiesOnly keeps every other keyspace in place).
func (o Options) pebbleOptions(cache *pebble.Cache) *pebble.Options {
	po := &pebble.Options{
		FS:                          o.FS,
		Cache:                       cache,
		DisableWAL:                  o.DisableWAL,
		MemTableSize:                o.MemTableSize,
		MemTableStopWritesThreshold: 4,
		L0CompactionThreshold:       2,
		L0StopWritesThreshold:       1000,
		LBaseMaxBytes:               256 << 20,
		FormatMajorVersion:          pebble.FormatNewest,
		Logger:                      slogLogger{o.Logger},
	}
	if o.BlobMinSize > 0 {
		policy := pebble.ValueSeparationPolicy{
			Enabled:               true,
			MinimumSize:           o.BlobMinSize,
			MaxBlobReferenceDepth: 10,
			RewriteMinimumAge:     5 * time.Minute,
			TargetGarbageRatio:    0.2,
		}
		po.Experimental.ValueSeparationPolicy = func() pebble.ValueSeparationPolicy { return policy }
		po.Experimental.SpanPolicyFunc = blockBodiesOnly
	}
	po.TargetFileSizes[0] = 8 << 20
	for i := range po.Levels {
		po.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
		po.Levels[i].BlockSize = 8 << 10
	}
	return po
}

// blockBodiesOnly is the span policy that confines value separation to the
// block keyspace: every other value stays in place in the sstables, so a
// compaction that drops a deleted vault record drops its only copy.
func blockBodiesOnly(start []byte) (pebble.SpanPolicy, []byte, error) {
	inPlace := pebble.SpanPolicy{ValueStoragePolicy: pebble.ValueStorageLowReadLatency}
	switch {
	case bytes.Compare(start, []byte{PrefixBlock}) < 0:
		return inPlace, []byte{PrefixBlock}, nil
	case bytes.Compare(start, []byte{PrefixBlock + 1}) < 0:
		return pebble.SpanPolicy{}, []byte{PrefixBlock + 1}, nil
	default:
		return inPlace, nil, nil
	}
}

// slogLogger routes Pebble's logger to slog.
type slogLogger struct{ l *slog.Logger }

func (s slogLogger) Infof(format string, args ...any) {
	s.l.Debug(fmt.Sprintf(format, args...), "component", "pebble")
}

func (s slogLogger) Errorf(format string, args ...any) {
	s.l.Error(fmt.Sprintf(format, args...), "component", "pebble")
}

// Fatalf must not return (Pebble's contract): the store is in an unknown state.
func (s slogLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.l.Error(msg, "component", "pebble", "fatal", true)
	panic("store: pebble fatal: " + msg)
}
