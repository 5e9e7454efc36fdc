package state

import (
	"slices"

	"github.com/medchain/medchain/chain/codec"
	"github.com/medchain/medchain/chain/types"
)

// executeDelegate appoints or dismisses a delegate: the patient the tx names
// (the pseudonym, for a redacted tx) is added to or removed from the
// delegate's acts_for. The delegate must be a registered, unrevoked person
// or service identity; an appointment already made, or a dismissal of one
// never made, is a conflict or not found, so a replayed intent changes
// nothing.
func executeDelegate(o *overlay, tx *types.Tx, p *types.IdentityDelegate, bc BlockContext) error {
	if err := notErasedIfRedacted(o, tx, p.Patient); err != nil {
		return err
	}
	cur, err := o.identity(p.ID)
	if err != nil {
		return err
	}
	switch {
	case cur == nil:
		return reject(types.CodeNotFound, "identity %q does not exist", p.ID)
	case cur.Revoked:
		return reject(types.CodeConflict, "identity %q is revoked", p.ID)
	case cur.Kind != types.KindPerson && cur.Kind != types.KindService:
		return reject(types.CodeInvalidPayload, "identity %q is a %s: only persons and services act for patients", p.ID, cur.Kind)
	}
	i := slices.Index(cur.ActsFor, p.Patient)
	switch {
	case p.Revoke && i < 0:
		return reject(types.CodeNotFound, "identity %q does not act for patient %q", p.ID, p.Patient)
	case p.Revoke:
		cur.ActsFor = slices.Delete(slices.Clone(cur.ActsFor), i, i+1)
		if len(cur.ActsFor) == 0 {
			cur.ActsFor = nil
		}
	case i >= 0:
		return reject(types.CodeConflict, "identity %q already acts for patient %q", p.ID, p.Patient)
	case len(cur.ActsFor) >= types.MaxListLen:
		return reject(types.CodeConflict, "identity %q acts for %d patients, the limit", p.ID, len(cur.ActsFor))
	default:
		cur.ActsFor = append(slices.Clone(cur.ActsFor), p.Patient)
	}
	cur.Updated = bc.Height
	o.put(IdentityKey(p.ID), codec.MustMarshal(cur))
	return nil
}
