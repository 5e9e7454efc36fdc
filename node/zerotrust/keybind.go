package zerotrust

import (
	"bytes"
	"sync"

	"github.com/medchain/medchain/chain/crypto"
)

// Sessions are bound to the identity key that opened them. Login and refresh
// record the fingerprint of the key that signed the challenge
// (Session.KeyFingerprint); every request checks it against the identity's
// current key, so a session opened with a key the identity has since rotated
// out (identity_rotate_key: the old key was lost or stolen) ends on its next
// request instead of living on until the reauthentication interval.

// maxKeyPrints bounds the fingerprint cache; past it the cache starts over.
const maxKeyPrints = 4096

// keyPrints caches each identity's current key and its fingerprint, so the
// per-request check costs a comparison of the key bytes rather than a hash
// of about two kilobytes.
type keyPrints struct {
	mu sync.Mutex
	// guards the following
	m map[string]keyPrint
}

type keyPrint struct {
	alg crypto.Algorithm
	key []byte
	fp  string
}

func newKeyPrints() *keyPrints { return &keyPrints{m: make(map[string]keyPrint)} }

// of returns the fingerprint of id's key k.
func (c *keyPrints) of(id string, k crypto.PublicKey) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[id]; ok && e.alg == k.Algorithm && bytes.Equal(e.key, k.Key) {
		return e.fp
	}
	fp := k.Fingerprint()
	if len(c.m) >= maxKeyPrints {
		clear(c.m)
	}
	c.m[id] = keyPrint{alg: k.Algorithm, key: bytes.Clone(k.Key), fp: fp}
	return fp
}
