package seal

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
)

// MAC returns HMAC-SHA-256 of msg under a key derived from k for purpose
// label (HKDF-SHA-256, info "medchain/seal/v1 mac" 0x00 label). It is
// deterministic: every holder of k computes the same value (e.g. an index
// key for a patient id that must not be stored in clear), and nobody without
// k can. Different labels give unrelated MACs. The derived key never leaves
// the package (invariant 4).
func (k *DataKey) MAC(label string, msg []byte) [32]byte {
	mk, err := hkdf.Key(sha256.New, k.key[:], nil, "medchain/seal/v1 mac\x00"+label, sha256.Size)
	if err != nil {
		panic(fmt.Sprintf("seal: derive MAC key: %v", err)) // fixed sizes: cannot fail
	}
	h := hmac.New(sha256.New, mk)
	h.Write(msg)
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}
