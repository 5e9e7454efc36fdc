package consensus

import (
	"errors"
	"fmt"

	"github.com/medchain/medchain/chain/codec"
	"github.com/medchain/medchain/chain/store"
	"github.com/medchain/medchain/chain/types"
)

// KeyIntroduced returns the height at which the key of the patient recorded
// under pseudonym was introduced (the block beside which it came, keyHeight),
// erased or not: no tx names the pseudonym below it, so the retention
// pruner's erased pass scans from there. known is false when st's vault
// cannot tell: a pseudonym this node never mapped, or a key introduced before
// the vault recorded heights; the caller then scans from height 1. A record
// that does not decode is store.ErrCorrupt. It only reads st (call it under
// the consensus WithStore). The record is written in the block's own batch
// from the Raft entry, so every node that applied the same log answers the
// same, and snapshots carry it with the rest of the vault.
func KeyIntroduced(st *store.Store, pseudonym string) (height uint64, known bool, err error) {
	if !types.IsPseudonym(pseudonym) {
		return 0, false, nil
	}
	raw, found, err := st.VaultGet(vaultKey(vaultKeyHeight, []byte(pseudonym)))
	if err != nil || !found {
		return 0, false, err
	}
	h, err := decodeKeyHeight(raw)
	if err != nil {
		return 0, false, fmt.Errorf("%w: key height record of %s: %v", store.ErrCorrupt, pseudonym, err)
	}
	return h, true, nil
}

// decodeKeyHeight decodes a keyHeight record; height 0 is not a height.
func decodeKeyHeight(raw []byte) (uint64, error) {
	var k keyHeight
	if err := codec.Unmarshal(raw, &k); err != nil {
		return 0, err
	}
	if k.Height == 0 {
		return 0, errors.New("height 0")
	}
	return k.Height, nil
}
