package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/cockroachdb/pebble/v2"

	"github.com/medchain/medchain/chain/types"
)

// Integrity of the sealed payload copies (see doc.go, "Pruning sealed
// payloads"). The audit trail opens an event from its 'r' copy, and a
// missing copy is what tells it the payload was pruned, so a copy must
// agree with the block body the tx root commits to: present exactly when
// the body still holds the sealed payload, and byte for byte the same.

// maxIntegrityErrors bounds how many corrupt records CheckIntegrity reports.
const maxIntegrityErrors = 32

// CheckIntegrity decodes every stored record and checks that it belongs under
// its key (a block's height, the sizes of indexes and log nodes), and that
// the sealed payload copies agree with the block bodies (CheckSealedCopy: a
// copy for each redacted tx whose body holds its sealed payload, equal to
// it, and no other copy). It reads one point in time. It returns nil or
// ErrCorrupt errors naming each bad key (at most 32, joined). It does not
// re-verify signatures or re-execute blocks; that is chain verification.
func (s *Store) CheckIntegrity() error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.exit()
	r := s.r
	if s.snap == nil {
		snap := s.db.NewSnapshot()
		defer snap.Close()
		r = snap
	}
	copies, err := r.NewIter(&pebble.IterOptions{LowerBound: []byte{PrefixSealed}, UpperBound: []byte{PrefixSealed + 1}})
	if err != nil {
		return fmt.Errorf("store: integrity: iterate sealed copies: %w", err)
	}
	cc := &copyCursor{it: copies, ok: copies.First()}
	var errs []error
	add := func(err error) bool {
		if err != nil && len(errs) < maxIntegrityErrors {
			errs = append(errs, err)
		}
		return len(errs) < maxIntegrityErrors
	}
	err = scanReader(r, func(k, v []byte) bool {
		if len(k) == 1+8 && k[0] == PrefixBlock {
			height := decodeHeight(k[1:])
			b, err := decodeBlock(height, v)
			if err != nil {
				return add(corrupt(k, err))
			}
			// Blocks come in height order, and so do their copies' keys.
			return cc.checkBlock(height, b, add)
		}
		if len(k) > 0 && k[0] == PrefixSealed {
			return true // the cursor checked it beside its block
		}
		return add(checkRecord(k, v))
	})
	if err == nil {
		cc.rest(add)
		err = cc.close()
	} else {
		_ = cc.close()
	}
	if err != nil {
		return err
	}
	return errors.Join(errs...)
}

// scanReader calls fn for every key of r in order, until fn returns false.
func scanReader(r pebble.Reader, fn func(k, v []byte) bool) error {
	it, err := r.NewIter(nil)
	if err != nil {
		return fmt.Errorf("store: iterate: %w", err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			_ = it.Close()
			return readErr(it.Key(), err)
		}
		if !fn(it.Key(), v) {
			break
		}
	}
	if err := it.Close(); err != nil {
		if pebble.IsCorruptionError(err) {
			return fmt.Errorf("%w: integrity scan: %v", ErrCorrupt, err)
		}
		return fmt.Errorf("store: iterate: %w", err)
	}
	return nil
}

func decodeHeight(b []byte) uint64 { h, _ := decodeU64(b); return h }

// copyCursor walks the 'r' keyspace beside the blocks, in key order.
type copyCursor struct {
	it  *pebble.Iterator
	ok  bool
	key []byte // scratch
}

// checkBlock checks the copies of b's txs (b stored at height) and reports
// the copies before them that no tx of a stored block owns.
func (c *copyCursor) checkBlock(height uint64, b *types.Block, add func(error) bool) bool {
	for i, tx := range b.Txs {
		c.key = appendSealedKey(c.key[:0], height, uint32(i))
		for c.ok && bytes.Compare(c.it.Key(), c.key) < 0 {
			if !add(orphanCopy(c.it.Key())) {
				return false
			}
			c.ok = c.it.Next()
		}
		var cp []byte
		found := c.ok && bytes.Equal(c.it.Key(), c.key)
		if found {
			v, err := c.it.ValueAndErr()
			if err != nil {
				return add(readErr(c.key, err))
			}
			cp = v
		}
		if !add(CheckSealedCopy(height, uint32(i), tx, cp, found)) {
			return false
		}
		if found {
			c.ok = c.it.Next()
		}
	}
	return true
}

// rest reports the copies after the last block's.
func (c *copyCursor) rest(add func(error) bool) {
	for ; c.ok; c.ok = c.it.Next() {
		if !add(orphanCopy(c.it.Key())) {
			return
		}
	}
}

func (c *copyCursor) close() error {
	if err := c.it.Close(); err != nil {
		if pebble.IsCorruptionError(err) {
			return fmt.Errorf("%w: integrity scan of sealed copies: %v", ErrCorrupt, err)
		}
		return fmt.Errorf("store: iterate sealed copies: %w", err)
	}
	return nil
}

func orphanCopy(k []byte) error {
	if len(k) != sealedKeySize {
		return checkRecord(k, nil)
	}
	return CheckSealedCopy(binary.BigEndian.Uint64(k[1:]), binary.BigEndian.Uint32(k[9:]), nil, nil, true)
}

// CheckSealedCopy checks the copy of the sealed payload of tx, tx index of
// the block at height, against the body: cp and found are what
// SealedPayload returned for it; tx is nil when the block has no tx index.
// A redacted tx whose body holds its sealed payload has a copy equal to it
// (so SHA-256 of the copy is the digest the tx root commits to,
// Redaction.SealedDigest); a pruned one, a tx that is not redacted and a
// tx that does not exist have none. A disagreement is ErrCorrupt naming the copy
// (its height and index): the audit trail would serve other bytes, or
// report as pruned an event the block still holds, or keep a payload the
// retention policy removed.
func CheckSealedCopy(height uint64, index uint32, tx *types.Tx, cp []byte, found bool) error {
	key := SealedKey(height, index)
	switch {
	case tx == nil:
		if found {
			return corrupt(key, errors.New("no stored block has a tx there"))
		}
	case tx.Redaction == nil:
		if found {
			return corrupt(key, errors.New("the tx is not redacted"))
		}
	case tx.Redaction.Pruned():
		if found {
			return corrupt(key, fmt.Errorf("the block holds only the digest %s of a pruned payload, but a copy of %d bytes remains", tx.Redaction.SealedHash, len(cp)))
		}
	case !found:
		return corrupt(key, fmt.Errorf("missing, while the block holds the sealed payload (%d bytes)", len(tx.Redaction.Sealed)))
	case !bytes.Equal(cp, tx.Redaction.Sealed):
		return corrupt(key, fmt.Errorf("differs from the sealed payload in the block: SHA-256 %s, the tx root commits to %s", types.HashBytes(cp), tx.Redaction.SealedDigest()))
	}
	return nil
}

// SealedPayloads calls fn with the index and the bytes of every sealed
// payload copy kept for the block at height, in index order, until fn
// returns false: one range read for a whole block, for verification (the
// trail reads one copy with SealedPayload). The slice passed to fn is valid
// only during the call.
func (s *Store) SealedPayloads(height uint64, fn func(index uint32, sealed []byte) bool) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.exit()
	lower, upper := SealedKey(height, 0), []byte{PrefixSealed + 1}
	if height < ^uint64(0) {
		upper = SealedKey(height+1, 0)
	}
	var bad error
	err := s.iterate(lower, upper, false, 0, func(k, v []byte) bool {
		if len(k) != sealedKeySize {
			bad = checkRecord(k, v)
			return false
		}
		return fn(binary.BigEndian.Uint32(k[9:]), v)
	})
	if err != nil {
		return err
	}
	return bad
}

// PrunedUpTo returns the highest height a pruning pass's mark reached
// (PruneMark.Height over every pass; 0 when none ran): a time-based pass
// prunes only blocks up to its mark, and the erased pass only events
// recorded before an erasure, whose height its mark reaches once that
// erasure is done. A pruned sealed payload above it was not pruned by
// this node's passes in order; chain/verify reports it unless its patient
// was erased later (an erased pass under way).
func (s *Store) PrunedUpTo() (uint64, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.exit()
	prefix := MetaKey(metaPrunePrefix)
	var top uint64
	var bad error
	err := s.iterate(prefix, prefixEnd(prefix), false, 0, func(k, v []byte) bool {
		name := strings.TrimPrefix(string(k[1:]), metaPrunePrefix)
		if checkPruneName(name) != nil {
			return true // not a mark (CheckIntegrity reports unknown meta records)
		}
		m, err := decodePruneMark(v)
		if err != nil {
			bad = corrupt(k, err)
			return false
		}
		top = max(top, m.Height)
		return true
	})
	if err != nil {
		return 0, err
	}
	return top, bad
}
