package state

import (
	"github.com/medchain/medchain/chain/codec"
	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/chain/types"
)

// Key rotation (identity_rotate_key).
//
// An identity's record keeps its current key and every key it held before,
// each with the heights it signed at:
//
//	height:  reg ........ H ......... H' ..........
//	key:     [ K0: from reg, until H ][ K1: H+1..H' ][ K2: from H'+1
//
// A rotation committed at height H retires the old key after H: every tx of
// block H, before or after the rotation, is checked against the old key, and
// the new key signs from H+1. So the key that signs at a height depends only
// on the height, and a verifier that reads identities at the head (or checks
// a block's signatures in parallel before executing it) finds the right one
// with KeyAt.
//
// The leader checks a tx signature once, at admission, against the newest
// key. A tx signed with the old key may be admitted just before a rotation
// commits and land in a block after it; followers and replays do not check
// signatures by default, so the executor itself checks the signature of every
// tx whose signer rotated within two timestamp windows of the block time (the
// longest such a tx can wait, since its timestamp must lie within one window
// of both its admission and its block), and of every rotation tx. The rule
// reads only state and block time, so every node decides alike.

// KeyVersion is a key an identity held before its current one.
type KeyVersion struct {
	PublicKey crypto.PublicKey `cbor:"1,keyasint" json:"public_key"`
	From      uint64           `cbor:"2,keyasint" json:"from"`       // first height it signed at
	Until     uint64           `cbor:"3,keyasint" json:"until"`      // last height it signed at: its rotation's
	RotatedBy types.Hash       `cbor:"4,keyasint" json:"rotated_by"` // the identity_rotate_key tx that retired it
}

// CurrentKeyFrom returns the first height the current key signs at: the
// height after its rotation, or the registration height.
func (id *Identity) CurrentKeyFrom() uint64 {
	if id.KeyFrom != 0 {
		return id.KeyFrom
	}
	return id.Height
}

// KeyAt returns the key that signs for the identity at height. Heights before
// the registration get the first key (the identity did not exist there; the
// caller's own checks reject that).
func (id *Identity) KeyAt(height uint64) crypto.PublicKey {
	if height >= id.CurrentKeyFrom() || len(id.OldKeys) == 0 {
		return id.PublicKey
	}
	for i := len(id.OldKeys) - 1; i >= 0; i-- {
		if height >= id.OldKeys[i].From {
			return id.OldKeys[i].PublicKey
		}
	}
	return id.OldKeys[0].PublicKey
}

// UsedKey reports whether k is the identity's key or one it held before.
func (id *Identity) UsedKey(k crypto.PublicKey) bool {
	if id.PublicKey.Equal(k) {
		return true
	}
	for _, v := range id.OldKeys {
		if v.PublicKey.Equal(k) {
			return true
		}
	}
	return false
}

// signingKey returns the key tx's signature must verify against in block bc,
// and whether the executor must check it even when the block does not ask for
// signature checks (see the rules above). CheckTx runs with height 0: the tx
// goes into a later block, where the newest key signs.
func (e *Executor) signingKey(signer *Identity, tx *types.Tx, bc BlockContext) (key crypto.PublicKey, must bool) {
	if bc.Height == 0 {
		return signer.PublicKey, true
	}
	recent := signer.KeyTime != 0 && bc.Time-signer.KeyTime <= 2*e.g.Params.TimestampWindowMs
	return signer.KeyAt(bc.Height), recent || tx.Type == types.TxIdentityRotateKey
}

// authorizeRotation: an identity rotates its own key, never another's; node
// keys are bound to the node record and the peer handshake, so a node changes
// its key through governance (removal and a new join), not by rotation.
func authorizeRotation(signer *Identity, p *types.IdentityRotateKey) error {
	if p.ID != signer.ID {
		return reject(types.CodeUnauthorized, "%q may not rotate the key of %q: only the identity itself may, signing with its current key", signer.ID, p.ID)
	}
	if signer.Kind == types.KindNode {
		return reject(types.CodeUnauthorized, "node %q may not rotate its key: node keys are bound to the node record and peer handshake; remove the node and admit it again with the new key", signer.ID)
	}
	return nil
}

// checkRotation runs the stateful checks of a rotation whose tx signature
// (by the current key) has been or will be checked: the payload names the
// current key as the old one, the new key is fresh, and the new key signed
// the rotation.
func (e *Executor) checkRotation(signer *Identity, p *types.IdentityRotateKey, bc BlockContext) error {
	if bc.Height != 0 && signer.CurrentKeyFrom() > bc.Height {
		return reject(types.CodeConflict, "%q already rotated its key in this block", signer.ID)
	}
	if !signer.PublicKey.Equal(p.OldKey) {
		return reject(types.CodeConflict, "old_key %.16s is not the current key of %q (%.16s): the rotation was made for another key",
			p.OldKey.Fingerprint(), signer.ID, signer.PublicKey.Fingerprint())
	}
	if signer.UsedKey(p.NewKey) {
		return reject(types.CodeConflict, "new_key %.16s was already a key of %q: a retired key never signs again", p.NewKey.Fingerprint(), signer.ID)
	}
	if err := crypto.Verify(p.NewKey, types.RotationProofBytes(e.g.ChainID, p), p.Proof); err != nil {
		return reject(types.CodeBadSignature, "proof: the new key did not sign this rotation of %q: %v", signer.ID, err)
	}
	return nil
}

// rotateKey applies a checked rotation: the current key is retired after
// this height and the new one signs from the next.
func rotateKey(o *overlay, signer *Identity, p *types.IdentityRotateKey, h types.Hash, bc BlockContext) error {
	cur, err := o.identity(signer.ID)
	if err != nil {
		return err
	}
	if cur == nil {
		return reject(types.CodeNotFound, "identity %q does not exist", signer.ID)
	}
	cur.OldKeys = append(cur.OldKeys, KeyVersion{PublicKey: cur.PublicKey, From: cur.CurrentKeyFrom(), Until: bc.Height, RotatedBy: h})
	cur.PublicKey, cur.KeyFrom, cur.KeyTime, cur.Updated = p.NewKey, bc.Height+1, bc.Time, bc.Height
	o.put(IdentityKey(cur.ID), codec.MustMarshal(cur))
	return nil
}
