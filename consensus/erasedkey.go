package consensus

import (
	"fmt"

	"github.com/medchain/medchain/chain/codec"
	"github.com/medchain/medchain/chain/store"
	"github.com/medchain/medchain/chain/types"
)

// ErasedKeyIntroduced returns the height at which the key of the patient
// erased under pseudonym was introduced (the block beside which it came): no
// tx names the pseudonym below it, so the retention pruner's erased pass
// scans from there. known is false when st's vault cannot tell: the patient
// is not erased here, the key came before the vault recorded heights, or the
// erasure was applied before it did; the caller then scans from height 1.
// A record that does not decode is store.ErrCorrupt. It only reads st (call it under the consensus WithStore); the record is
// written in the erasure block's batch, so every node that applied the same
// log answers the same, and snapshots carry it with the rest of the vault.
func ErasedKeyIntroduced(st *store.Store, pseudonym string) (height uint64, known bool, err error) {
	if !types.IsPseudonym(pseudonym) {
		return 0, false, nil
	}
	raw, found, err := st.VaultGet(vaultKey(vaultErasedKey, []byte(pseudonym)))
	if err != nil || !found {
		return 0, false, err
	}
	var e erasedKey
	if err := codec.Unmarshal(raw, &e); err != nil {
		return 0, false, fmt.Errorf("%w: erased key record of %s: %v", store.ErrCorrupt, pseudonym, err)
	}
	return e.Introduced, e.Introduced != 0, nil
}
