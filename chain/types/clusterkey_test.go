package types

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/medchain/medchain/chain/codec"
	"github.com/medchain/medchain/chain/crypto/seal"
)

func testSealKey(t testing.TB, seed byte) *seal.PrivateKey {
	t.Helper()
	var s [32]byte
	s[0] = seed
	k, err := seal.GenerateKey(seal.MLKEM768X25519, rand.NewChaCha8(s))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testDataKey(t testing.TB, seed byte) *seal.DataKey {
	t.Helper()
	var s [32]byte
	s[0], s[1] = seed, 1
	k, err := seal.NewDataKey(rand.NewChaCha8(s))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestClusterKeyPayloadsValidateBasic(t *testing.T) {
	sk, dk, other := testSealKey(t, 1), testDataKey(t, 1), testDataKey(t, 2)
	wrapped, err := seal.WrapKey(sk.Public(), dk, ClusterKeyAAD("c", "node-2", dk.ID()))
	if err != nil {
		t.Fatal(err)
	}
	message, _ := seal.Seal(sk.Public(), []byte("not a key, a longer message"), nil)
	sealed, _ := dk.Seal([]byte("JBSWY3DPEHPK3PXP"), MFASeedAAD("c", "doctor"))
	sealedOther, _ := other.Seal([]byte("JBSWY3DPEHPK3PXP"), MFASeedAAD("c", "doctor"))
	badPub := sk.Public()
	badPub.Key = badPub.Key[:100]
	goodPub := sk.Public()
	join := func(k *seal.PublicKey) *NodeJoin {
		return &NodeJoin{NodeID: "node-2", PublicKey: testKey(t, 1).Public(), PeerID: "12D3KooWx", Role: NodeRoleVoter, SealKey: k}
	}
	for _, tc := range []struct {
		name string
		p    Payload
		ok   bool
	}{
		{"grant", &ClusterKeyGrant{NodeID: "node-2", KeyID: dk.ID(), Wrapped: wrapped}, true},
		{"grant without node", &ClusterKeyGrant{KeyID: dk.ID(), Wrapped: wrapped}, false},
		{"grant with short key id", &ClusterKeyGrant{NodeID: "node-2", KeyID: dk.ID()[:8], Wrapped: wrapped}, false},
		{"grant with upper-case key id", &ClusterKeyGrant{NodeID: "node-2", KeyID: strings.ToUpper(dk.ID()), Wrapped: wrapped}, false},
		{"grant without wrapped key", &ClusterKeyGrant{NodeID: "node-2", KeyID: dk.ID()}, false},
		{"grant with garbage wrapped key", &ClusterKeyGrant{NodeID: "node-2", KeyID: dk.ID(), Wrapped: []byte("garbage")}, false},
		{"grant with a sealed message, not a key", &ClusterKeyGrant{NodeID: "node-2", KeyID: dk.ID(), Wrapped: message}, false},
		{"grant with oversize wrapped key", &ClusterKeyGrant{NodeID: "node-2", KeyID: dk.ID(), Wrapped: make([]byte, MaxWrappedKeyLen+1)}, false},
		{"enrol", &MFAEnroll{Identity: "doctor", KeyID: dk.ID(), SealedSeed: sealed}, true},
		{"enrol under a key other than named", &MFAEnroll{Identity: "doctor", KeyID: dk.ID(), SealedSeed: sealedOther}, false},
		{"enrol with truncated seed", &MFAEnroll{Identity: "doctor", KeyID: dk.ID(), SealedSeed: sealed[:10]}, false},
		{"enrol with oversize seed", &MFAEnroll{Identity: "doctor", KeyID: dk.ID(), SealedSeed: make([]byte, MaxSealedSeedLen+1)}, false},
		{"enrol with bad identity", &MFAEnroll{Identity: "doc tor", KeyID: dk.ID(), SealedSeed: sealed}, false},
		{"reset", &MFAReset{Identity: "doctor", Reason: "lost phone"}, true},
		{"reset without identity", &MFAReset{}, false},
		{"reset with control characters", &MFAReset{Identity: "doctor", Reason: "a\x00b"}, false},
		{"join with seal key", join(&goodPub), true},
		{"join without seal key", join(nil), true},
		{"join with truncated seal key", join(&badPub), false},
	} {
		err := tc.p.ValidateBasic()
		if tc.ok && err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if !tc.ok && !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err %v, want ErrInvalid", tc.name, err)
		}
	}
}

func TestClusterKeyTxTypesHaveNamesAndPayloads(t *testing.T) {
	for _, typ := range []TxType{TxClusterKeyGrant, TxMFAEnroll, TxMFAReset} {
		if !typ.Known() || !typ.IsClusterKey() || typ.IsGovernance() {
			t.Errorf("%s: known %v, cluster key %v", typ, typ.Known(), typ.IsClusterKey())
		}
		if p := NewPayload(typ); p == nil || p.TxType() != typ {
			t.Errorf("%s: payload %T", typ, p)
		}
		back, err := ParseTxType(typ.String())
		if err != nil || back != typ {
			t.Errorf("%s: name round trip %v %v", typ, back, err)
		}
	}
	if TxType(19).Known() {
		t.Error("reserved type 19 is known")
	}
}

// FuzzClusterKeyPayloads: no byte string makes a cluster key payload decoder
// or its ValidateBasic panic, and a valid payload re-encodes stably.
func FuzzClusterKeyPayloads(f *testing.F) {
	sk, dk := testSealKey(f, 1), testDataKey(f, 1)
	wrapped, _ := seal.WrapKey(sk.Public(), dk, ClusterKeyAAD("c", "n", dk.ID()))
	sealed, _ := dk.Seal([]byte("JBSWY3DPEHPK3PXP"), MFASeedAAD("c", "d"))
	for _, p := range []Payload{
		&ClusterKeyGrant{NodeID: "n", KeyID: dk.ID(), Wrapped: wrapped},
		&MFAEnroll{Identity: "d", KeyID: dk.ID(), SealedSeed: sealed},
		&MFAReset{Identity: "d", Reason: "r"},
	} {
		f.Add(uint8(p.TxType()), codec.MustMarshal(p))
	}
	f.Fuzz(func(t *testing.T, typ uint8, b []byte) {
		p := NewPayload(TxClusterKeyGrant + TxType(typ%3))
		if codec.Unmarshal(b, p) != nil || p.ValidateBasic() != nil {
			return
		}
		again, err := codec.Marshal(p)
		if err != nil {
			t.Fatalf("valid payload does not encode: %v", err)
		}
		q := NewPayload(p.TxType())
		if err := codec.Unmarshal(again, q); err != nil {
			t.Fatalf("re-encoded payload does not decode: %v", err)
		}
		if third, _ := codec.Marshal(q); string(third) != string(again) {
			t.Fatal("encoding is not stable")
		}
	})
}
