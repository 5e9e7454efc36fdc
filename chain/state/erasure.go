package state

import (
	"fmt"

	"github.com/medchain/medchain/chain/codec"
	"github.com/medchain/medchain/chain/types"
)

// Erasure is the on-chain record of a patient_erase: by the pseudonym the
// block names (never the patient id), with who asked, why and when. It is
// state, so every node agrees on it and a second erasure is refused
// deterministically. The keys and mappings it destroys are not state: they
// live beside it on each node (consensus, chain/store vault) and are deleted
// there when the block that carries this tx is applied.
//
//	'z' pseudonym -> Erasure
type Erasure struct {
	Patient string     `cbor:"1,keyasint" json:"patient"` // the pseudonym (the payload's patient)
	Reason  string     `cbor:"2,keyasint" json:"reason"`
	Signer  string     `cbor:"3,keyasint" json:"signer"`
	TxHash  types.Hash `cbor:"4,keyasint" json:"tx_hash"`
	Height  uint64     `cbor:"5,keyasint" json:"height"`
	Time    int64      `cbor:"6,keyasint" json:"time"` // block time, Unix ms
}

const prefixErasure = 'z'

// ErasureKey is the state key of a patient's erasure record.
func ErasureKey(patient string) []byte { return append([]byte{prefixErasure}, patient...) }

// GetErasure returns the erasure record of patient (a pseudonym, or the
// patient id for a tx stored in clear), or nil.
func GetErasure(v View, patient string) (*Erasure, error) {
	b, found, err := newOverlay(v).get(ErasureKey(patient))
	if err != nil || !found {
		return nil, err
	}
	var e Erasure
	if err := codec.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("%w: corrupt erasure record of %q: %v", ErrIO, patient, err)
	}
	return &e, nil
}

// ScanErasures calls fn for every erasure record, in pseudonym order.
func ScanErasures(s Scanner, fn func(*Erasure) bool) error {
	prefix := []byte{prefixErasure}
	var derr error
	err := s.Scan(prefix, prefixEnd(prefix), false, func(k, v []byte) bool {
		var e Erasure
		if derr = codec.Unmarshal(v, &e); derr != nil {
			derr = fmt.Errorf("%w: corrupt erasure record at %q: %v", ErrIO, k, derr)
			return false
		}
		return fn(&e)
	})
	if err != nil {
		return fmt.Errorf("%w: %v", ErrIO, err)
	}
	return derr
}

// notErased refuses a tx about a patient whose erasure is recorded: a block
// built while the erasure was in flight is refused the same way everywhere.
func notErased(o *overlay, patient string) error {
	_, found, err := o.get(ErasureKey(patient))
	if err != nil {
		return err
	}
	if found {

		return reject(types.CodeConflict, "patient %q is erased", patient)
	}
	return nil
}

// notErasedIfRedacted is notErased for a redacted tx about patient (its
// pseudonym); a tx stored in clear names a patient id, and only
// pseudonymized patients can be erased.
func notErasedIfRedacted(o *overlay, tx *types.Tx, patient string) error {
	if tx.Redaction == nil {
		return nil
	}
	return notErased(o, patient)
}

// authorizeErase: a privacy officer may erase any patient; otherwise the
// signer must be the patient or a delegate acting for them (actsFor: for a
// redacted tx by a signer linked to patients by patient id, the link is
// attested by the proposer).
func authorizeErase(o *overlay, signer *Identity, tx *types.Tx, p types.Payload) error {
	if signer.HasRole(types.RolePrivacyOfficer) {
		return nil
	}
	ep, ok := p.(*types.PatientErase)
	if !ok {
		return reject(types.CodeInvalidPayload, "patient_erase payload is %T", p)
	}
	ok, err := actsFor(o, signer, tx, ep.Patient, true)
	if err != nil || ok {
		return err
	}
	return reject(types.CodeUnauthorized, "%q may not erase patient %q (only the patient, a delegate or a privacy officer may)", signer.ID, ep.Patient)
}

func executeErase(o *overlay, tx *types.Tx, p *types.PatientErase, h types.Hash, bc BlockContext) error {
	_, found, err := o.get(ErasureKey(p.Patient))
	if err != nil {
		return err
	}
	if found {
		return reject(types.CodeConflict, "patient %q is already erased", p.Patient)
	}
	o.put(ErasureKey(p.Patient), codec.MustMarshal(&Erasure{Patient: p.Patient, Reason: p.Reason, Signer: tx.Signer,
		TxHash: h, Height: bc.Height, Time: bc.Time}))
	return nil
}
