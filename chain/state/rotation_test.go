package state

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/codec"
	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/chain/types"
)

// signedBy returns a tx from signer carrying p, signed with k (not
// necessarily the signer's key).
func (f *fixture) signedBy(signer string, k *crypto.PrivateKey, p types.Payload) *types.Tx {
	f.t.Helper()
	f.nonce++
	tx, err := types.NewTx(chainID, signer, p, time.UnixMilli(f.nowMs), f.nonce)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := tx.Sign(k); err != nil {
		f.t.Fatal(err)
	}
	return tx
}

// rotation returns the payload rotating id from its fixture key to newKey.
func (f *fixture) rotation(id string, newKey *crypto.PrivateKey) *types.IdentityRotateKey {
	f.t.Helper()
	p, err := types.NewRotateKey(chainID, id, f.keys[id].Public(), newKey, "scheduled")
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

func (f *fixture) identityBytes(id string) []byte {
	f.t.Helper()
	b, _, err := f.view.Get(IdentityKey(id))
	if err != nil {
		f.t.Fatal(err)
	}
	return bytes.Clone(b)
}

func TestRotationRetiresOldKeyAfterItsBlock(t *testing.T) {
	f := newFixture(t)
	f.register("doctor456", types.KindPerson, 10, types.RoleClinician) // height 1
	oldKey, newKey := f.keys["doctor456"], key(20)

	// Height 2: the rotation, then a tx signed with the old key in the same
	// block: the old key signs the whole block.
	r := f.block(f.tx("doctor456", f.rotation("doctor456", newKey)), f.signedBy("doctor456", oldKey, audit("p1", "doctor456")))
	if !r[0].OK() || !r[1].OK() {
		t.Fatalf("rotation block: %+v", r)
	}
	id, err := GetIdentity(f.view, "doctor456")
	if err != nil || id == nil {
		t.Fatal(id, err)
	}
	if !id.PublicKey.Equal(newKey.Public()) || id.KeyFrom != 3 || id.KeyTime != f.nowMs || id.Updated != 2 {
		t.Fatalf("record after rotation: key_from %d key_time %d updated %d", id.KeyFrom, id.KeyTime, id.Updated)
	}
	if len(id.OldKeys) != 1 || !id.OldKeys[0].PublicKey.Equal(oldKey.Public()) || id.OldKeys[0].From != 1 || id.OldKeys[0].Until != 2 {
		t.Fatalf("old keys: %+v", id.OldKeys)
	}
	for _, c := range []struct {
		height uint64
		want   *crypto.PrivateKey
	}{{0, oldKey}, {1, oldKey}, {2, oldKey}, {3, newKey}, {100, newKey}} {
		if !id.KeyAt(c.height).Equal(c.want.Public()) {
			t.Errorf("KeyAt(%d) is not the expected key", c.height)
		}
	}

	// Height 3: the new key signs, the old one no longer does.
	f.keys["doctor456"] = newKey
	r = f.block(f.tx("doctor456", audit("p1", "doctor456")), f.signedBy("doctor456", oldKey, audit("p2", "doctor456")))
	if !r[0].OK() || r[1].Code != types.CodeBadSignature {
		t.Fatalf("after rotation: new key %+v, old key %+v", r[0], r[1])
	}
	// CheckTx (admission) uses the newest key.
	if err := f.ex.CheckTx(f.view, f.tx("doctor456", audit("p3", "doctor456")), f.nowMs); err != nil {
		t.Fatalf("CheckTx with the new key: %v", err)
	}
	err = f.ex.CheckTx(f.view, f.signedBy("doctor456", oldKey, audit("p3", "doctor456")), f.nowMs)
	if te, ok := err.(*TxError); !ok || te.Code != types.CodeBadSignature {
		t.Fatalf("CheckTx with the old key: %v", err)
	}

	// A second rotation keeps the whole history in order.
	third := key(21)
	if r := f.block(f.tx("doctor456", f.rotation("doctor456", third))); !r[0].OK() {
		t.Fatalf("second rotation: %+v", r[0])
	}
	id, _ = GetIdentity(f.view, "doctor456")
	if len(id.OldKeys) != 2 || id.OldKeys[1].From != 3 || id.OldKeys[1].Until != 4 || id.KeyFrom != 5 {
		t.Fatalf("history after two rotations: %+v, key_from %d", id.OldKeys, id.KeyFrom)
	}
	for h, want := range map[uint64]*crypto.PrivateKey{2: oldKey, 3: newKey, 4: newKey, 5: third} {
		if !id.KeyAt(h).Equal(want.Public()) {
			t.Errorf("KeyAt(%d) after two rotations is not the expected key", h)
		}
	}
}

// TestOldKeyTxAdmittedBeforeRotationIsRejectedAfter: a tx the leader
// admitted with the old key just before the rotation committed may land in
// a later block; execution without signature checks (the leader's and the
// followers') still rejects it, so a full verification never finds an
// applied tx whose signature fails against the key of its height.
func TestOldKeyTxAdmittedBeforeRotationIsRejectedAfter(t *testing.T) {
	f := newFixture(t)
	f.register("doctor456", types.KindPerson, 10, types.RoleClinician)
	oldKey, newKey := f.keys["doctor456"], key(20)
	pending := f.signedBy("doctor456", oldKey, audit("p1", "doctor456"))
	if err := f.ex.CheckTx(f.view, pending, f.nowMs); err != nil {
		t.Fatalf("admission before the rotation: %v", err)
	}
	f.block(f.tx("doctor456", f.rotation("doctor456", newKey)))
	f.nowMs += 1000
	out, err := f.ex.ExecuteBlock(f.view, f.state, BlockContext{Height: f.height + 1, Time: f.nowMs}, []*types.Tx{pending}, ExecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if out.Results[0].Code != types.CodeBadSignature {
		t.Fatalf("old-key tx after the rotation, executed without signature checks: %+v", out.Results[0])
	}
	// Past two timestamp windows no such tx can exist any more, and execution
	// stops paying for the check: only the recently rotated are checked.
	id, _ := GetIdentity(f.view, "doctor456")
	late := BlockContext{Height: f.height + 1, Time: id.KeyTime + 2*f.ex.Genesis().Params.TimestampWindowMs + 1}
	if _, must := f.ex.signingKey(id, pending, late); must {
		t.Fatal("signature check still forced two windows after the rotation")
	}
	if _, must := f.ex.signingKey(id, pending, BlockContext{Height: f.height + 1, Time: id.KeyTime + 1000}); !must {
		t.Fatal("signature check not forced just after the rotation")
	}
}

// TestBadRotationsChangeNothing runs every bad rotation the issue names (and
// a few more) and checks each is refused with its code and a reason, and the
// identity record is untouched.
func TestBadRotationsChangeNothing(t *testing.T) {
	f := newFixture(t)
	f.register("doctor456", types.KindPerson, 10, types.RoleClinician)
	f.register("nurse", types.KindPerson, 11, types.RoleClinician)
	f.register("gone", types.KindPerson, 12, types.RoleClinician)
	if r := f.block(f.tx("admin", &types.IdentityRevoke{ID: "gone"})); !r[0].OK() {
		t.Fatal(r[0])
	}
	// A rotation applied once, then replayed as the same tx.
	first := key(30)
	applied := f.tx("nurse", f.rotation("nurse", first))
	if r := f.block(applied); !r[0].OK() {
		t.Fatalf("nurse rotation: %+v", r[0])
	}
	nurseOld := f.keys["nurse"]
	f.keys["nurse"] = first
	// The same payload in a new tx signed with the retired key, and signed
	// with the current key (its old_key is no longer current).
	oldPayload, err := applied.DecodePayload()
	if err != nil {
		t.Fatal(err)
	}
	back, err := types.NewRotateKey(chainID, "nurse", first.Public(), nurseOld, "")
	if err != nil {
		t.Fatal(err)
	}

	newKey := key(40)
	good := func() *types.IdentityRotateKey { return f.rotation("doctor456", newKey) }
	notByNew := good()
	notByNew.Proof, _ = key(41).Sign(types.RotationProofBytes(chainID, notByNew))
	otherChain, _ := types.NewRotateKey("other-chain", "doctor456", f.keys["doctor456"].Public(), newKey, "")
	same := good()
	same.NewKey = same.OldKey
	badAlg := good()
	badAlg.NewKey.Algorithm = 9
	mismatch := good()
	mismatch.Proof, _ = key87(t).Sign(types.RotationProofBytes(chainID, mismatch))
	wrongOld := good()
	wrongOld.OldKey = key(42).Public()
	wrongOld.Proof, _ = newKey.Sign(types.RotationProofBytes(chainID, wrongOld))

	tests := []struct {
		name string
		tx   *types.Tx
		id   string // the record that must not change
		code types.ResultCode
		why  string
	}{
		{"not signed by the old key", f.signedBy("doctor456", newKey, good()), "doctor456", types.CodeBadSignature, "signature"},
		{"signed by a stranger's key", f.signedBy("doctor456", key(43), good()), "doctor456", types.CodeBadSignature, "signature"},
		{"not signed by the new key", f.tx("doctor456", notByNew), "doctor456", types.CodeBadSignature, "new key did not sign"},
		{"proof for another chain", f.tx("doctor456", otherChain), "doctor456", types.CodeBadSignature, "new key did not sign"},
		{"new key equals old key", f.tx("doctor456", same), "doctor456", types.CodeInvalidPayload, "equals old_key"},
		{"unknown algorithm id", f.tx("doctor456", badAlg), "doctor456", types.CodeInvalidPayload, "unknown signature algorithm"},
		{"proof algorithm differs from the new key", f.tx("doctor456", mismatch), "doctor456", types.CodeInvalidPayload, "proof: signed with ML-DSA-87"},
		{"old key is not the current key", f.tx("doctor456", wrongOld), "doctor456", types.CodeConflict, "not the current key"},
		{"revoked identity", f.tx("gone", f.rotation("gone", key(44))), "gone", types.CodeRevokedSigner, "revoked"},
		{"another identity's key", f.tx("admin", good()), "doctor456", types.CodeUnauthorized, "only the identity itself"},
		{"node key", f.tx("node-1", f.rotation("node-1", key(45))), "node-1", types.CodeUnauthorized, "remove the node"},
		{"replay of the applied tx", applied, "nurse", types.CodeReplay, "already in the chain"},
		{"replay of the payload with the retired key", f.signedBy("nurse", nurseOld, oldPayload), "nurse", types.CodeBadSignature, "signature"},
		{"replay of the payload with the current key", f.tx("nurse", oldPayload), "nurse", types.CodeConflict, "not the current key"},
		{"back to a retired key", f.tx("nurse", back), "nurse", types.CodeConflict, "never signs again"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.identityBytes(tt.id)
			r := f.block(tt.tx)
			if r[0].Code != tt.code || !strings.Contains(r[0].Reason, tt.why) {
				t.Fatalf("got %s (%s), want %s mentioning %q", r[0].Code, r[0].Reason, tt.code, tt.why)
			}
			if !bytes.Equal(before, f.identityBytes(tt.id)) {
				t.Fatal("the identity record changed")
			}
			// Admission refuses it the same way.
			if tt.code != types.CodeReplay {
				if err := f.ex.CheckTx(f.view, tt.tx, f.nowMs); err == nil {
					t.Fatal("CheckTx admitted it")
				}
			}
		})
	}

	// Two rotations of one identity in one block: the second is refused.
	a, b := key(50), key(51)
	second, _ := types.NewRotateKey(chainID, "doctor456", a.Public(), b, "")
	r := f.block(f.tx("doctor456", f.rotation("doctor456", a)), f.tx("doctor456", second))
	if !r[0].OK() || r[1].Code != types.CodeConflict || !strings.Contains(r[1].Reason, "already rotated") {
		t.Fatalf("two rotations in a block: %+v", r)
	}
}

func key87(t *testing.T) *crypto.PrivateKey {
	k, err := crypto.NewKeyFromSeed(crypto.MLDSA87, [32]byte{87})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestRotationRecordEncodingUnchangedWithoutRotation(t *testing.T) {
	// Identities that never rotated encode as before (the new fields are
	// omitted), so existing state hashes do not change.
	id := Identity{ID: "a", Kind: types.KindPerson, Roles: []string{"x"}, PublicKey: key(1).Public(), Height: 3, Updated: 3}
	type before struct {
		ID           string             `cbor:"1,keyasint"`
		Kind         types.IdentityKind `cbor:"2,keyasint"`
		Name         string             `cbor:"3,keyasint,omitempty"`
		Roles        []string           `cbor:"4,keyasint"`
		PublicKey    crypto.PublicKey   `cbor:"5,keyasint"`
		Patient      string             `cbor:"6,keyasint,omitempty"`
		ActsFor      []string           `cbor:"7,keyasint,omitempty"`
		Revoked      bool               `cbor:"8,keyasint,omitempty"`
		RevokeReason string             `cbor:"9,keyasint,omitempty"`
		Height       uint64             `cbor:"10,keyasint"`
		Updated      uint64             `cbor:"11,keyasint"`
	}
	old := before{ID: id.ID, Kind: id.Kind, Roles: id.Roles, PublicKey: id.PublicKey, Height: 3, Updated: 3}
	if !bytes.Equal(codec.MustMarshal(&id), codec.MustMarshal(&old)) {
		t.Fatal("an identity without rotation encodes differently from before key rotation existed")
	}
}
