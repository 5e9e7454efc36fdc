package seal

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"hash"
	"sync"
)

// maxMACLabels bounds the MAC states a DataKey keeps, one per label. Labels
// are fixed purpose strings in code, so a few are in use; past the bound MAC
// derives a state for each call instead of keeping more.
const maxMACLabels = 16

// MAC returns HMAC-SHA-256 of msg under a key derived from k for purpose
// label (HKDF-SHA-256, info "medchain/seal/v1 mac" 0x00 label). It is
// deterministic: every holder of k computes the same value (e.g. an index
// key for a patient id that must not be stored in clear), and nobody without
// k can. Different labels give unrelated MACs. The derived key never leaves
// the package (invariant 4). The keyed HMAC state of each label is derived
// once and reused (KeyedMAC), so a call costs the HMAC of msg only. It is
// safe for concurrent use; it panics after Destroy (a broken invariant of the
// caller: keys that compute MACs are never destroyed while in use).
func (k *DataKey) MAC(label string, msg []byte) [32]byte {
	return k.keyedMAC(label).Sum(msg)
}

func (k *DataKey) keyedMAC(label string) *KeyedMAC {
	k.macMu.Lock()
	defer k.macMu.Unlock()
	if m, ok := k.macs[label]; ok {
		return m
	}
	if k.Destroyed() {
		panic("seal: MAC with a destroyed data key")
	}
	mk, err := hkdf.Key(sha256.New, k.key[:], nil, "medchain/seal/v1 mac\x00"+label, sha256.Size)
	if err != nil {
		panic(fmt.Sprintf("seal: derive MAC key: %v", err)) // fixed sizes: cannot fail
	}
	m := NewKeyedMAC(mk)
	clear(mk)
	if len(k.macs) < maxMACLabels {
		if k.macs == nil {
			k.macs = make(map[string]*KeyedMAC)
		}
		k.macs[label] = m
	}
	return m
}

// KeyedMAC computes HMAC-SHA-256 under one key without keying a new HMAC
// for every message: it keeps a pool of keyed states and resets each after
// use (crypto/hmac's Reset returns to the keyed state). It is safe for
// concurrent use; each call takes a state of its own.
type KeyedMAC struct {
	pool sync.Pool // of hash.Hash keyed with the key
}

// NewKeyedMAC returns a KeyedMAC under key (copied: the caller may clear
// key afterwards).
func NewKeyedMAC(key []byte) *KeyedMAC {
	k := append([]byte(nil), key...)
	m := &KeyedMAC{}
	m.pool.New = func() any { return hmac.New(sha256.New, k) }
	return m
}

// Sum returns HMAC-SHA-256 of msg.
func (m *KeyedMAC) Sum(msg []byte) [32]byte { return m.Sum2(nil, msg) }

// Sum2 returns HMAC-SHA-256 of prefix || msg (e.g. a domain separation
// string and a value) without concatenating them.
func (m *KeyedMAC) Sum2(prefix, msg []byte) [32]byte {
	h := m.pool.Get().(hash.Hash)
	h.Write(prefix)
	h.Write(msg)
	var out [32]byte
	h.Sum(out[:0])
	h.Reset()
	m.pool.Put(h)
	return out
}
