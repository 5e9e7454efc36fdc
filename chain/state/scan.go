package state

import (
	"fmt"

	"github.com/medchain/medchain/chain/codec"
)

// ScanIdentities calls fn for every registered identity in id order until
// fn returns false. O(identities).
func ScanIdentities(s Scanner, fn func(id *Identity) bool) error {
	return scanRecords(s, []byte{prefixIdentity}, "identity", func(v []byte) (bool, error) {
		var id Identity
		if err := codec.Unmarshal(v, &id); err != nil {
			return false, err
		}
		return fn(&id), nil
	})
}

// ScanConsents calls fn for the current consent of every patient and consent
// type, in (patient, type) order, until fn returns false. O(consents).
func ScanConsents(s Scanner, fn func(c *Consent) bool) error {
	return scanRecords(s, []byte{prefixConsent}, "consent", func(v []byte) (bool, error) {
		var c Consent
		if err := codec.Unmarshal(v, &c); err != nil {
			return false, err
		}
		return fn(&c), nil
	})
}

func scanRecords(s Scanner, prefix []byte, what string, fn func(v []byte) (bool, error)) error {
	var derr error
	err := s.Scan(prefix, prefixEnd(prefix), false, func(k, v []byte) bool {
		more, err := fn(v)
		if err != nil {
			derr = fmt.Errorf("%w: corrupt %s at %q: %v", ErrIO, what, k, err)
			return false
		}
		return more
	})
	if err != nil {
		return fmt.Errorf("%w: %v", ErrIO, err)
	}
	return derr
}
