package consensus

import (
	"time"

	"github.com/medchain/medchain/chain/crypto/seal"
	"github.com/medchain/medchain/chain/types"
)

// Test seams for the external tests of this package (package
// consensus_test); compiled only into this package's tests.

// AdmittedEarlierForTest puts tx in the mempool without the admission
// checks, as a tx admitted before the state it meets at the block cut (e.g.
// before its signer's key rotation committed).
func (n *Node) AdmittedEarlierForTest(tx *types.Tx) error {
	return n.pool.add(&pending{tx: tx, hash: tx.Hash(), size: tx.SizeBound(), at: time.Now()})
}

// CachedPatientForTest returns the key the leader's patient cache holds for
// patient (nil if none) and how many patients it holds.
func (n *Node) CachedPatientForTest(patient string) (*seal.DataKey, int) {
	if n.pseudo == nil {
		return nil, 0
	}
	mac, err := n.pseudo.key.MAC([]byte(patient))
	if err != nil {
		return nil, 0
	}
	c := &n.pseudo.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[mac]; ok {
		return el.Value.(*cacheEntry).m.key, c.lru.Len()
	}
	return nil, c.lru.Len()
}

// SetApplyHook makes every FSM.Apply call h with the entry's index first,
// until the returned function restores the default (no hook).
func SetApplyHook(h func(index uint64)) (restore func()) {
	applyHook.Store(&h)
	return func() { applyHook.Store(nil) }
}

// PutVaultMappingForTest writes a vault mapping for patient, as a copy an
// erasure failed to delete would be.
func (n *Node) PutVaultMappingForTest(patient string) error {
	mac, err := n.pseudo.key.MAC([]byte(patient))
	if err != nil {
		return err
	}
	return n.fsm.Store().VaultSet(vaultKey(vaultMapping, mac[:]), []byte{0xa0})
}
