package seal

import (
	"encoding/hex"
	"fmt"
)

// FieldKeyID returns the id of the data key that sealed a field made by
// DataKey.Seal (the key id in its header), without any key. It lets a
// verifier that holds no key (the chain executor) refuse a field sealed
// under another key. It checks only the header: a field whose id matches may
// still fail to Open.
func FieldKeyID(sealed []byte) (string, error) {
	if len(sealed) < FieldOverhead {
		return "", fmt.Errorf("%w: sealed field of %d bytes is shorter than the %d byte minimum", ErrMalformed, len(sealed), FieldOverhead)
	}
	if sealed[0] != Version {
		return "", fmt.Errorf("%w: sealed field version %d (this build reads %d)", ErrUnsupportedVersion, sealed[0], Version)
	}
	return hex.EncodeToString(sealed[1:fieldHeaderSize]), nil
}

// WrappedKeySize is the AEAD ciphertext length inside an envelope made by
// WrapKey: the data key and the GCM tag.
const WrappedKeySize = DataKeySize + gcmTagSize
