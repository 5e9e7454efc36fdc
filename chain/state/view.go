package state

import (
	"bytes"
	"slices"

	"github.com/medchain/medchain/chain/types"
)

// View is the read side of committed state that the executor needs. The
// Pebble store implements it; tests use MemView.
//
// Implementations must be safe for concurrent readers. Returned slices are
// owned by the caller.
type View interface {
	// Get returns the value at key; found is false when the key is absent.
	// An error means I/O failed: the caller fails closed.
	Get(key []byte) (value []byte, found bool, err error)
	// HasTx reports whether a tx with this hash is already in a block.
	HasTx(h types.Hash) (bool, error)
}

// SealedReader is an optional extension of View for stores that keep each
// redacted tx's sealed payload beside its block (chain/store): Trail fills
// AuditEntry.Sealed from it, or sets AuditEntry.Pruned. The sealed payload
// is never state: a node prunes it by its own clock (types.Redaction).
type SealedReader interface {
	// SealedPayload returns the sealed payload of tx index of the block at
	// height; found is false when none is kept there (the tx is not
	// redacted, or its sealed payload was pruned). The slice is the
	// caller's. An error means I/O failed.
	SealedPayload(height uint64, index uint32) (sealed []byte, found bool, err error)
}

// Write is one state change: Value is the new value, or Delete removes Key.
type Write struct {
	Key    []byte `cbor:"1,keyasint"`
	Value  []byte `cbor:"2,keyasint,omitempty"`
	Delete bool   `cbor:"3,keyasint,omitempty"`
}

// SortWrites orders writes by key, the order in which they are hashed and
// committed.
func SortWrites(ws []Write) {
	slices.SortFunc(ws, func(a, b Write) int { return bytes.Compare(a.Key, b.Key) })
}

// MemView is an in-memory View for tests and for verification scratch state.
type MemView struct {
	KV  map[string][]byte
	Txs map[types.Hash]bool
}

var _ View = (*MemView)(nil)

// NewMemView returns an empty MemView.
func NewMemView() *MemView {
	return &MemView{KV: make(map[string][]byte), Txs: make(map[types.Hash]bool)}
}

// Get implements View.
func (m *MemView) Get(key []byte) ([]byte, bool, error) {
	v, ok := m.KV[string(key)]
	return bytes.Clone(v), ok, nil
}

// HasTx implements View.
func (m *MemView) HasTx(h types.Hash) (bool, error) { return m.Txs[h], nil }

// Apply commits writes and the block's tx hashes to m.
func (m *MemView) Apply(ws []Write, txs []types.Hash) {
	for _, w := range ws {
		if w.Delete {
			delete(m.KV, string(w.Key))
		} else {
			m.KV[string(w.Key)] = bytes.Clone(w.Value)
		}
	}
	for _, h := range txs {
		m.Txs[h] = true
	}
}

// Scanner iterates committed state in key order; the store implements it and
// the query helpers in this package (audit trails, consent history) use it.
type Scanner interface {
	// Scan calls fn for each key in [start, end) in ascending order, or
	// descending when reverse is set, until fn returns false. The slices
	// passed to fn are valid only during the call.
	Scan(start, end []byte, reverse bool, fn func(key, value []byte) bool) error
}

var _ Scanner = (*MemView)(nil)

// Scan implements Scanner by sorting the keys in range (tests only: O(n log n)).
func (m *MemView) Scan(start, end []byte, reverse bool, fn func(key, value []byte) bool) error {
	var keys []string
	for k := range m.KV {
		if k >= string(start) && (end == nil || k < string(end)) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	if reverse {
		slices.Reverse(keys)
	}
	for _, k := range keys {
		if !fn([]byte(k), m.KV[k]) {
			return nil
		}
	}
	return nil
}
