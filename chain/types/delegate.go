package types

import "fmt"

// TxIdentityDelegate is the identity_delegate tx: an identity is appointed
// (or dismissed) as acting for one patient, so it may manage that patient's
// consents and ask for their erasure. It names exactly one patient, so the
// proposer stores it redacted like the patient's other txs and the
// delegation lands in the delegate's record as the patient's pseudonym
// (docs/ARCHITECTURE.md, "Pseudonyms and crypto-shredding"): one record
// listing several patients could not be sealed so that erasing one of them
// leaves the others readable, which is why acts_for lists in
// identity_register and identity_update_roles are refused on a chain that
// pseudonymizes.
const TxIdentityDelegate TxType = 21

func init() { txTypeNames[TxIdentityDelegate] = "identity_delegate" }

// IdentityDelegate appoints identity ID as acting for Patient, or with
// Revoke dismisses it. An admin or the patient themselves signs it.
type IdentityDelegate struct {
	ID      string `cbor:"1,keyasint" json:"id"`
	Patient string `cbor:"2,keyasint" json:"patient"`
	Revoke  bool   `cbor:"3,keyasint,omitempty" json:"revoke,omitempty"`
}

// TxType implements Payload.
func (*IdentityDelegate) TxType() TxType { return TxIdentityDelegate }

// ValidateBasic implements Payload.
func (p *IdentityDelegate) ValidateBasic() error {
	if err := checkID("id", p.ID); err != nil {
		return err
	}
	return checkID("patient", p.Patient)
}

// checkActsFor checks an acts_for list of identity_register or
// identity_update_roles: patient ids, never pseudonyms (those are the
// chain's, set by identity_delegate).
func checkActsFor(l []string) error {
	if err := checkIDList("acts_for", l, false); err != nil {
		return err
	}
	for i, s := range l {
		if IsPseudonym(s) {
			return fmt.Errorf("%w: acts_for[%d]: %q is a pseudonym the chain assigns; appoint delegates with identity_delegate", ErrInvalid, i, s)
		}
	}
	return nil
}
