package node

import (
	"strings"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/codec"
	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/node/compliance"
)

// fakeBlocks serves block times by height.
type fakeBlocks map[uint64]int64

func (f fakeBlocks) Block(h uint64) (*types.Block, error) {
	return &types.Block{Header: types.Header{Height: h, Time: f[h]}}, nil
}

// TestKeyAgeCountsFromRotationNotFromRoleChanges: a key is as old as the
// rotation that set it (or the registration, if it never rotated); a role
// change does not renew it.
func TestKeyAgeCountsFromRotationNotFromRoleChanges(t *testing.T) {
	day := int64(24 * time.Hour / time.Millisecond)
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	now := time.UnixMilli(t0 + 400*day)
	blocks := fakeBlocks{1: t0, 50: t0 + 390*day, 60: t0 + 300*day}
	pub := crypto.PublicKey{Algorithm: crypto.MLDSA65, Key: make([]byte, crypto.MLDSA65.PublicKeySize())}
	v := state.NewMemView()
	put := func(id state.Identity) {
		v.Apply([]state.Write{{Key: state.IdentityKey(id.ID), Value: codec.MustMarshal(&id)}}, nil)
	}
	// Registered at 1, roles changed at 50: the key is 400 days old.
	put(state.Identity{ID: "roles-changed", Kind: types.KindPerson, Roles: []string{"x"}, PublicKey: pub, Height: 1, Updated: 50})
	// Registered at 1, rotated at 60: the key is 100 days old.
	put(state.Identity{ID: "rotated", Kind: types.KindPerson, Roles: []string{"x"}, PublicKey: pub, Height: 1, Updated: 60,
		KeyFrom: 61, KeyTime: blocks[60], OldKeys: []state.KeyVersion{{PublicKey: pub, From: 1, Until: 60}}})
	k := keyEvidence(v, &blockTimes{r: blocks, genesis: t0, m: map[uint64]int64{}}, now, 365, &compliance.PseudonymEvidence{})
	if k.Err != nil {
		t.Fatal(k.Err)
	}
	if k.Checked != 2 || k.NOver != 1 || len(k.Over) != 1 || !strings.HasPrefix(k.Over[0], "roles-changed (400 days)") {
		t.Fatalf("key evidence: %+v", k)
	}
	if k.OldID != "roles-changed" {
		t.Fatalf("oldest key: %q", k.OldID)
	}
}
