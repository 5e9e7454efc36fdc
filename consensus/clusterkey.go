package consensus

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/medchain/medchain/chain/crypto/seal"
)

// StaticClusterKey is the reference ClusterKey: a data key that seals and a
// MAC key, both fixed for the life of the process. Nodes fill it from their
// key files until the cluster data key is distributed through governance;
// tests give every node of a cluster the same one.
type StaticClusterKey struct {
	dk  *seal.DataKey
	mac []byte

	keyedOnce sync.Once
	keyed     *seal.KeyedMAC // keyed HMAC states under mac, made on first use
}

var _ ClusterKey = (*StaticClusterKey)(nil)

// NewStaticClusterKey returns a ClusterKey over dk (sealing) and macKey (at
// least 32 bytes, for MAC).
func NewStaticClusterKey(dk *seal.DataKey, macKey []byte) (*StaticClusterKey, error) {
	if dk == nil || len(macKey) < 32 {
		return nil, fmt.Errorf("%w: a cluster key needs a data key and a MAC key of at least 32 bytes", ErrConfig)
	}
	return &StaticClusterKey{dk: dk, mac: bytes.Clone(macKey)}, nil
}

// Seal implements ClusterKey.
func (k *StaticClusterKey) Seal(plaintext, aad []byte) ([]byte, error) {
	return k.dk.Seal(plaintext, aad)
}

// Open implements ClusterKey.
func (k *StaticClusterKey) Open(sealed, aad []byte) ([]byte, error) { return k.dk.Open(sealed, aad) }

// MAC implements ClusterKey: HMAC-SHA-256 under the MAC key, domain separated.
func (k *StaticClusterKey) MAC(msg []byte) ([32]byte, error) {
	k.keyedOnce.Do(func() { k.keyed = seal.NewKeyedMAC(k.mac) })
	return k.keyed.Sum2(patientMACDomain, msg), nil
}

// patientMACDomain separates StaticClusterKey's patient MACs from any other
// use of its MAC key.
var patientMACDomain = []byte("medchain/patient-mac/v1\x00")

// String never shows key material.
func (k *StaticClusterKey) String() string { return "consensus.StaticClusterKey(" + k.dk.ID() + ")" }
