package state

import (
	"fmt"

	"github.com/medchain/medchain/chain/codec"
)

// PatientConsents returns the current consent of every type a patient ever
// recorded, in consent type order.
func PatientConsents(s Scanner, patient string) ([]Consent, error) {
	return scanConsents(s, ConsentKey(patient, ""), "consent")
}

// PatientConsentHistory returns every recorded version of every consent of a
// patient, by consent type, then oldest first.
func PatientConsentHistory(s Scanner, patient string) ([]Consent, error) {
	return scanConsents(s, append(append([]byte{prefixConsentHistory}, patient...), 0), "consent history")
}

func scanConsents(s Scanner, prefix []byte, what string) ([]Consent, error) {
	var out []Consent
	var derr error
	err := s.Scan(prefix, prefixEnd(prefix), false, func(k, v []byte) bool {
		var c Consent
		if derr = codec.Unmarshal(v, &c); derr != nil {
			derr = fmt.Errorf("%w: corrupt %s at %q: %v", ErrIO, what, k, derr)
			return false
		}
		out = append(out, c)
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrIO, err)
	}
	return out, derr
}

// ScanAuditEntries calls fn for every recorded audit event, patient by
// patient and in time order within a patient, until fn returns false. It
// reads the whole patient trail index: O(audit events).
func ScanAuditEntries(s Scanner, fn func(e *AuditEntry) bool) error {
	prefix := []byte{prefixPatientTrail}
	var derr error
	err := s.Scan(prefix, prefixEnd(prefix), false, func(k, v []byte) bool {
		var e AuditEntry
		if derr = codec.Unmarshal(v, &e); derr != nil {
			derr = fmt.Errorf("%w: corrupt audit entry at %q: %v", ErrIO, k, derr)
			return false
		}
		return fn(&e)
	})
	if err != nil {
		return fmt.Errorf("%w: %v", ErrIO, err)
	}
	return derr
}
