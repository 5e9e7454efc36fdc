package state

import (
	"slices"

	"github.com/medchain/medchain/chain/types"
)

// CheckAttestedLink makes exact, at the proposer's block cut, what the
// execution of a redaction can only take as attested (actsFor): that the
// signer of tx (its signed form, before redaction) speaks for the patient
// the tx names, when the signer links to patients by patient id. Admission
// checked it against committed state; between admission and the block the
// signer's delegations may have changed (a dismissal in a block in flight,
// or committed since), so the cut checks again, against v (the state the
// block builds on) with the patient resolved to pseudonym, the pseudonym the
// redaction names. changing reports whether an earlier tx of the same cut
// changes the signer's identity record (identity_delegate, update_roles or
// revoke naming it): v does not show that change, so such a tx is refused
// with a reason to submit it again.
//
// It also refuses the dismissal of a delegate who acts for the patient by
// patient id: its redaction names the pseudonym, which the delegate's
// record does not hold, so it could never take effect.
//
// Signature, replay and timestamp are admission's; a tx the executor would
// refuse for another reason (unknown or revoked signer, bad payload) passes
// here and is recorded as rejected in its block.
func (e *Executor) CheckAttestedLink(v View, tx *types.Tx, pseudonym string, changing bool) error {
	if !ChecksAttestedLink(tx.Type) {
		return nil
	}
	p, err := tx.DecodePayload()
	if err != nil {
		return nil
	}
	patient := types.PatientOf(p)
	o := newOverlay(v)
	if d, ok := p.(*types.IdentityDelegate); ok && d.Revoke {
		del, err := o.identity(d.ID)
		if err != nil {
			return err
		}
		if del != nil && slices.Contains(del.ActsFor, patient) && !slices.Contains(del.ActsFor, pseudonym) {
			return reject(types.CodeConflict, "%q acts for this patient by patient id (a delegation made before the chain stored patients under pseudonyms, as in the genesis); "+
				"a dismissal, stored under the pseudonym, cannot reach it: an admin removes it with identity_update_roles", d.ID)
		}
	}
	signer, err := o.identity(tx.Signer)
	if err != nil || signer == nil || signer.Revoked || !signer.linksInClear(true) {
		return err // execution refuses the signer, or compares the pseudonym exactly
	}
	if changing {
		return reject(types.CodeConflict, "the delegations of %q change in the same block; submit the tx again once that block has committed", signer.ID)
	}
	o.pseudonymOf = func(id string) (string, error) {
		if id == patient {
			return pseudonym, nil
		}
		return "", nil
	}
	return authorize(o, signer, tx, p)
}

// ChecksAttestedLink reports whether CheckAttestedLink has anything to
// check for a tx of type t: those whose signer must speak for the patient.
func ChecksAttestedLink(t types.TxType) bool {
	switch t {
	case types.TxConsentGrant, types.TxConsentRevoke, types.TxPatientErase, types.TxIdentityDelegate:
		return true
	}
	return false
}

// ChangesIdentity returns the identity whose record tx changes the
// delegations or roles of (identity_delegate, identity_update_roles,
// identity_revoke), or "".
func ChangesIdentity(tx *types.Tx) string {
	switch tx.Type {
	case types.TxIdentityDelegate, types.TxIdentityUpdateRoles, types.TxIdentityRevoke:
	default:
		return ""
	}
	p, err := tx.DecodePayload()
	if err != nil {
		return ""
	}
	switch p := p.(type) {
	case *types.IdentityDelegate:
		return p.ID
	case *types.IdentityUpdateRoles:
		return p.ID
	case *types.IdentityRevoke:
		return p.ID
	}
	return ""
}
