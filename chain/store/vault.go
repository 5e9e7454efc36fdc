package store

import (
	"context"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// PrefixVault is the keyspace of the pseudonym vault: the patient id ->
// pseudonym mappings and the wrapped per-patient keys that travel beside
// blocks (consensus), and the erasure tombstones. It is outside the state
// and its hash: nothing in it is chain data, and erasure deletes from it.
// The layout below the prefix belongs to the consensus package.
//
//	| 'v'   | vault key (opaque, consensus)      | vault value (opaque)                    |
const PrefixVault byte = 'v'

// VaultKey returns the store key of the vault key k.
func VaultKey(k []byte) []byte { return append([]byte{PrefixVault}, k...) }

// VaultGet reads the vault key k. The returned value is the caller's. Like
// Get it goes through the read cache; a commit that deletes a vault record
// drops it from the cache too.
func (s *Store) VaultGet(k []byte) ([]byte, bool, error) {
	if err := s.enter(); err != nil {
		return nil, false, err
	}
	defer s.exit()
	return s.cachedGet(VaultKey(k))
}

// VaultScan calls fn for every vault record whose key starts with prefix, in
// key order, until fn returns false. Keys are relative to PrefixVault; k and v
// are valid only during the call.
func (s *Store) VaultScan(prefix []byte, fn func(k, v []byte) bool) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.exit()
	lower := VaultKey(prefix)
	return s.iterate(lower, prefixEnd(lower), false, 1, fn)
}

// VaultSet writes one node-local vault record outside any block, synced (the
// erasure progress of this node). Never use it for records every node must
// agree on: those go in Commit.Vault.
func (s *Store) VaultSet(k, v []byte) error {
	return s.rawWrite(func(b *pebble.Batch) error { return b.Set(VaultKey(k), v, nil) })
}

// CompactVault flushes the memtables and compacts the whole vault keyspace
// through every LSM level, so a deleted vault record (a destroyed patient
// key) no longer sits in any live sstable or memtable. The sstables it
// replaces are deleted by Pebble once no checkpoint or iterator holds them.
func (s *Store) CompactVault(ctx context.Context) error {
	if err := s.enterWrite(); err != nil {
		return err
	}
	defer s.exit()
	if err := s.db.Flush(); err != nil {
		return fmt.Errorf("store: compact vault: flush: %w", err)
	}
	lower := []byte{PrefixVault}
	if err := s.db.Compact(ctx, lower, prefixEnd(lower), false); err != nil {
		return fmt.Errorf("store: compact vault: %w", err)
	}
	return nil
}
