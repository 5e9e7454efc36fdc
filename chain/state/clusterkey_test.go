package state

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/medchain/medchain/chain/codec"
	"github.com/medchain/medchain/chain/crypto/seal"
	"github.com/medchain/medchain/chain/types"
)

func sealKey(t testing.TB, seed byte, alg seal.Algorithm) *seal.PrivateKey {
	t.Helper()
	var s [32]byte
	s[0], s[1] = seed, 0x5e
	k, err := seal.GenerateKey(alg, rand.NewChaCha8(s))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func dataKey(t testing.TB, seed byte) *seal.DataKey {
	t.Helper()
	var s [32]byte
	s[0], s[1] = seed, 0xd7
	k, err := seal.NewDataKey(rand.NewChaCha8(s))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// ckFixture is newGovFixture plus a cluster key: node-1 has a seal key on its
// genesis record and a genesis grant of ck.
type ckFixture struct {
	*fixture
	ck    *seal.DataKey
	seals map[string]*seal.PrivateKey
}

func wrapFor(t testing.TB, ck *seal.DataKey, node string, pub seal.PublicKey) []byte {
	t.Helper()
	w, err := seal.WrapKey(pub, ck, types.ClusterKeyAAD(chainID, node, ck.ID()))
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func newCKFixture(t *testing.T) *ckFixture {
	f := newGovFixture(t)
	c := &ckFixture{fixture: f, ck: dataKey(t, 1), seals: map[string]*seal.PrivateKey{"node-1": sealKey(t, 1, seal.MLKEM768X25519)}}
	g := *f.ex.Genesis()
	pub := c.seals["node-1"].Public()
	g.Nodes = []GenesisNode{g.Nodes[0]}
	g.Nodes[0].SealKey = &pub
	g.ClusterKeyGrants = []types.ClusterKeyGrant{{NodeID: "node-1", KeyID: c.ck.ID(), Wrapped: wrapFor(t, c.ck, "node-1", pub)}}
	ex, err := NewExecutor(&g)
	if err != nil {
		t.Fatal(err)
	}
	f.ex, f.view = ex, NewMemView()
	ws, h := ex.GenesisState()
	f.view.Apply(ws, nil)
	f.state = h
	return c
}

// admit makes node id join (with a seal key of alg) and be approved by two admins.
func (c *ckFixture) admit(id string, seed byte, alg seal.Algorithm) {
	c.t.Helper()
	j := joinReq(c.fixture, id, seed, "12D3KooW"+id)
	c.seals[id] = sealKey(c.t, seed, alg)
	pub := c.seals[id].Public()
	j.SealKey = &pub
	wantCode(c.t.(*testing.T), "join "+id, c.block(c.tx(id, j))[0], types.CodeOK)
	r := c.block(c.tx("admin", &types.NodeApprove{NodeID: id}), c.tx("admin2", &types.NodeApprove{NodeID: id}))
	wantCode(c.t.(*testing.T), "approve "+id, r[1], types.CodeOK)
}

func (c *ckFixture) grant(to string) *types.ClusterKeyGrant {
	return &types.ClusterKeyGrant{NodeID: to, KeyID: c.ck.ID(), Wrapped: wrapFor(c.t, c.ck, to, c.seals[to].Public())}
}

func (c *ckFixture) unwrap(id string) (*seal.DataKey, error) {
	c.t.Helper()
	g, err := GetClusterKeyGrant(c.view, id)
	if err != nil || g == nil {
		c.t.Fatalf("grant of %s: %+v %v", id, g, err)
	}
	return seal.UnwrapKey(c.seals[id], g.Wrapped, types.ClusterKeyAAD(chainID, id, g.KeyID))
}

func TestGenesisGrantGivesTheFirstNodeTheClusterKey(t *testing.T) {
	c := newCKFixture(t)
	info, err := GetClusterKeyInfo(c.view)
	if err != nil || info == nil || info.KeyID != c.ck.ID() {
		t.Fatalf("cluster key info: %+v %v", info, err)
	}
	if r := c.node("node-1"); r.SealKey == nil || !r.SealKey.Equal(c.seals["node-1"].Public()) {
		t.Fatalf("genesis node record seal key: %+v", r.SealKey)
	}
	k, err := c.unwrap("node-1")
	if err != nil || !k.Equal(c.ck) {
		t.Fatalf("node-1 cannot unwrap its genesis grant: %v", err)
	}
}

// TestAdmittedNodeReceivesTheKeyAndCanHandItOn: a member's grant to an
// admitted node unwraps there (and only with that node's AAD); the new
// holder may then grant it to the next node.
func TestAdmittedNodeReceivesTheKeyAndCanHandItOn(t *testing.T) {
	c := newCKFixture(t)
	c.admit("node-2", 20, seal.MLKEM768X25519)
	if r := c.node("node-2"); r.SealKey == nil || !r.SealKey.Equal(c.seals["node-2"].Public()) {
		t.Fatalf("join did not record the seal key: %+v", r.SealKey)
	}
	wantCode(t, "grant by node-1", c.block(c.tx("node-1", c.grant("node-2")))[0], types.CodeOK)
	k, err := c.unwrap("node-2")
	if err != nil || !k.Equal(c.ck) || k.ID() != c.ck.ID() {
		t.Fatalf("node-2 unwrap: %v", err)
	}
	g, _ := GetClusterKeyGrant(c.view, "node-2")
	if g.GrantedBy != "node-1" || g.Height != c.height {
		t.Fatalf("grant record: %+v", g)
	}
	// The AAD binds the recipient: node-2's grant does not open as node-3's.
	if _, err := seal.UnwrapKey(c.seals["node-2"], g.Wrapped, types.ClusterKeyAAD(chainID, "node-3", g.KeyID)); err == nil {
		t.Fatal("a grant opened under another node's AAD")
	}
	c.admit("node-3", 30, seal.MLKEM768X25519)
	wantCode(t, "grant by node-2", c.block(c.tx("node-2", c.grant("node-3")))[0], types.CodeOK)
	if k, err := c.unwrap("node-3"); err != nil || !k.Equal(c.ck) {
		t.Fatalf("node-3 unwrap: %v", err)
	}
}

func TestClusterKeyGrantRejections(t *testing.T) {
	c := newCKFixture(t)
	c.admit("node-2", 20, seal.MLKEM768X25519)
	c.admit("node-1024", 21, seal.MLKEM1024P384)
	c.admit("node-4", 22, seal.MLKEM768X25519)
	// node-5 asks to join but is never approved.
	j := joinReq(c.fixture, "node-5", 23, "12D3KooWnode-5")
	c.seals["node-5"] = sealKey(t, 23, seal.MLKEM768X25519)
	pub5 := c.seals["node-5"].Public()
	j.SealKey = &pub5
	wantCode(t, "join node-5", c.block(c.tx("node-5", j))[0], types.CodeOK)
	// node-6 is admitted without a seal key (a join made before they existed).
	j6 := joinReq(c.fixture, "node-6", 24, "12D3KooWnode-6")
	wantCode(t, "join node-6", c.block(c.tx("node-6", j6))[0], types.CodeOK)
	c.block(c.tx("admin", &types.NodeApprove{NodeID: "node-6"}), c.tx("admin2", &types.NodeApprove{NodeID: "node-6"}))

	other := dataKey(t, 2)
	wrongKey := &types.ClusterKeyGrant{NodeID: "node-2", KeyID: other.ID(), Wrapped: wrapFor(t, other, "node-2", c.seals["node-2"].Public())}
	garbage := c.grant("node-2")
	garbage.Wrapped = bytes.Repeat([]byte{0xa5}, 200)
	env, _ := seal.DecodeEnvelope(c.grant("node-2").Wrapped)
	env.Ciphertext = append(env.Ciphertext, 0)
	longCT, _ := env.Encode()
	longGrant := c.grant("node-2")
	longGrant.Wrapped = longCT
	wrongAlg := c.grant("node-1024")
	wrongAlg.Wrapped = wrapFor(t, c.ck, "node-1024", c.seals["node-2"].Public()) // X-Wing envelope for a P-384 node
	for _, tc := range []struct {
		name   string
		signer string
		p      *types.ClusterKeyGrant
		want   types.ResultCode
	}{
		{"signed by an admin (not a node)", "admin", c.grant("node-2"), types.CodeUnauthorized},
		{"signed by a clinician", "doctor", c.grant("node-2"), types.CodeUnauthorized},
		{"signed by a member without the key", "node-4", c.grant("node-2"), types.CodeUnauthorized},
		{"signed by a pending node", "node-5", c.grant("node-2"), types.CodeUnknownSigner},
		{"grant for an unknown node", "node-1", &types.ClusterKeyGrant{NodeID: "node-9", KeyID: c.ck.ID(), Wrapped: c.grant("node-2").Wrapped}, types.CodeNotFound},
		{"grant for a pending node", "node-1", c.grant("node-5"), types.CodeConflict},
		{"grant for a node without a seal key", "node-1", &types.ClusterKeyGrant{NodeID: "node-6", KeyID: c.ck.ID(), Wrapped: c.grant("node-2").Wrapped}, types.CodeConflict},
		{"grant of another key", "node-1", wrongKey, types.CodeConflict},
		{"wrapped key that is not an envelope", "node-1", garbage, types.CodeInvalidPayload},
		{"wrapped key of the wrong size", "node-1", longGrant, types.CodeInvalidPayload},
		{"wrapped for another KEM than the node's", "node-1", wrongAlg, types.CodeInvalidPayload},
		{"grant to a holder", "node-1", &types.ClusterKeyGrant{NodeID: "node-1", KeyID: c.ck.ID(), Wrapped: c.grant("node-2").Wrapped}, types.CodeConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tx := c.tx(tc.signer, tc.p)
			before := c.state
			if err := c.ex.CheckTx(c.view, tx, c.nowMs); err == nil {
				t.Fatal("CheckTx accepted it")
			}
			wantCode(t, tc.name, c.block(tx)[0], tc.want)
			if c.state != NextStateHash(before, nil) {
				t.Fatal("a refused grant changed state")
			}
			if g, _ := GetClusterKeyGrant(c.view, tc.p.NodeID); g != nil && tc.p.NodeID != "node-1" {
				t.Fatalf("a refused grant was stored: %+v", g)
			}
		})
	}

	// Replay: the same grant tx applies once; a second grant is a conflict.
	ok := c.tx("node-1", c.grant("node-2"))
	wantCode(t, "grant", c.block(ok)[0], types.CodeOK)
	wantCode(t, "replayed grant", c.block(ok)[0], types.CodeReplay)
	wantCode(t, "second grant", c.block(c.tx("node-1", c.grant("node-2")))[0], types.CodeConflict)
	// Both in one block: the first wins, deterministically.
	c.admit("node-7", 25, seal.MLKEM768X25519)
	r := c.block(c.tx("node-1", c.grant("node-7")), c.tx("node-2", c.grant("node-7")))
	wantCode(t, "first of two", r[0], types.CodeOK)
	wantCode(t, "second of two", r[1], types.CodeConflict)
}

func TestChainWithoutClusterKeyRefusesGrantsAndEnrolments(t *testing.T) {
	f := newGovFixture(t)
	sk := sealKey(t, 1, seal.MLKEM768X25519)
	ck := dataKey(t, 1)
	g := &types.ClusterKeyGrant{NodeID: "node-1", KeyID: ck.ID(), Wrapped: wrapFor(t, ck, "node-1", sk.Public())}
	wantCode(t, "grant", f.block(f.tx("node-1", g))[0], types.CodeConflict)
	sealed, _ := ck.Seal([]byte("JBSWY3DPEHPK3PXP"), types.MFASeedAAD(chainID, "doctor"))
	wantCode(t, "enrol", f.block(f.tx("node-1", &types.MFAEnroll{Identity: "doctor", KeyID: ck.ID(), SealedSeed: sealed}))[0], types.CodeConflict)
}

func (c *ckFixture) enrol(id string, k *seal.DataKey, seed string) *types.MFAEnroll {
	c.t.Helper()
	sealed, err := k.Seal([]byte(seed), types.MFASeedAAD(chainID, id))
	if err != nil {
		c.t.Fatal(err)
	}
	return &types.MFAEnroll{Identity: id, KeyID: k.ID(), SealedSeed: sealed}
}

// TestMFAEnrolmentIsSealedAndOpensWithTheClusterKey: the enrolled seed is in
// state only sealed, and any holder of the cluster key opens it.
func TestMFAEnrolmentIsSealedAndOpensWithTheClusterKey(t *testing.T) {
	c := newCKFixture(t)
	const seed = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	tx := c.tx("node-1", c.enrol("doctor", c.ck, seed))
	wantCode(t, "enrol", c.block(tx)[0], types.CodeOK)
	for k, v := range c.view.KV {
		if bytes.Contains(v, []byte(seed)) || bytes.Contains([]byte(k), []byte(seed)) {
			t.Fatalf("the seed is in state in clear at %q", k)
		}
	}
	e, err := GetMFAEnrolment(c.view, "doctor")
	if err != nil || e == nil || e.EnrolledBy != "node-1" || e.TxHash != tx.Hash() || e.KeyID != c.ck.ID() {
		t.Fatalf("enrolment: %+v %v", e, err)
	}
	// node-2 receives the key later and opens the same seed.
	c.admit("node-2", 20, seal.MLKEM768X25519)
	c.block(c.tx("node-1", c.grant("node-2")))
	k2, err := c.unwrap("node-2")
	if err != nil {
		t.Fatal(err)
	}
	pt, err := k2.Open(e.SealedSeed, types.MFASeedAAD(chainID, "doctor"))
	if err != nil || string(pt) != seed {
		t.Fatalf("open on node-2: %v", err)
	}
	// Bound to the identity: it does not open as another identity's seed.
	if _, err := k2.Open(e.SealedSeed, types.MFASeedAAD(chainID, "admin")); err == nil {
		t.Fatal("a sealed seed opened under another identity's AAD")
	}
}

func TestMFAEnrolmentRejections(t *testing.T) {
	c := newCKFixture(t)
	c.register("patient1", types.KindPatient, 40, types.RolePatient)
	wantCode(t, "enrol admin", c.block(c.tx("node-1", c.enrol("admin", c.ck, "AAAA")))[0], types.CodeOK)
	other := dataKey(t, 2)
	claimed := c.enrol("patient1", other, "AAAA")
	claimed.KeyID = c.ck.ID() // claims the cluster key, sealed under another
	revoked := c.enrol("doctor", c.ck, "AAAA")
	for _, tc := range []struct {
		name   string
		signer string
		p      types.Payload
		want   types.ResultCode
	}{
		{"enrolment twice", "node-1", c.enrol("admin", c.ck, "BBBB"), types.CodeConflict},
		{"seed sealed under a wrong key", "node-1", c.enrol("patient1", other, "AAAA"), types.CodeConflict},
		{"seed sealed under a wrong key, claiming the cluster key", "node-1", claimed, types.CodeInvalidPayload},
		{"enrolment signed by a clinician", "doctor", c.enrol("patient1", c.ck, "AAAA"), types.CodeUnauthorized},
		{"enrolment signed by an admin", "admin", c.enrol("patient1", c.ck, "AAAA"), types.CodeUnauthorized},
		{"enrolment of an unknown identity", "node-1", c.enrol("nobody", c.ck, "AAAA"), types.CodeNotFound},
		{"reset by a node", "node-1", &types.MFAReset{Identity: "admin"}, types.CodeUnauthorized},
		{"reset by a clinician", "doctor", &types.MFAReset{Identity: "admin"}, types.CodeUnauthorized},
		{"reset of an identity not enrolled", "admin", &types.MFAReset{Identity: "patient1"}, types.CodeNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := c.state
			wantCode(t, tc.name, c.block(c.tx(tc.signer, tc.p))[0], tc.want)
			if c.state != NextStateHash(before, nil) {
				t.Fatal("a refused tx changed state")
			}
		})
	}
	if e, _ := GetMFAEnrolment(c.view, "patient1"); e != nil {
		t.Fatalf("a refused enrolment was stored: %+v", e)
	}
	// A revoked identity cannot enrol.
	c.block(c.tx("admin", &types.IdentityRevoke{ID: "doctor"}))
	wantCode(t, "revoked", c.block(c.tx("node-1", revoked))[0], types.CodeConflict)

	// An admin reset clears the enrolment; the identity may enrol again.
	wantCode(t, "reset", c.block(c.tx("admin2", &types.MFAReset{Identity: "admin", Reason: "lost phone"}))[0], types.CodeOK)
	if e, _ := GetMFAEnrolment(c.view, "admin"); e != nil {
		t.Fatalf("reset left the enrolment: %+v", e)
	}
	wantCode(t, "second reset", c.block(c.tx("admin2", &types.MFAReset{Identity: "admin"}))[0], types.CodeNotFound)
	wantCode(t, "re-enrol", c.block(c.tx("node-1", c.enrol("admin", c.ck, "CCCC")))[0], types.CodeOK)
}

func TestGenesisClusterKeyValidation(t *testing.T) {
	c := newCKFixture(t)
	base := *c.ex.Genesis()
	good := base.ClusterKeyGrants[0]
	other := dataKey(t, 2)
	otherP384 := sealKey(t, 9, seal.MLKEM1024P384)
	for _, tc := range []struct {
		name   string
		grants []types.ClusterKeyGrant
	}{
		{"grant for a non-node identity", []types.ClusterKeyGrant{good, {NodeID: "doctor", KeyID: good.KeyID, Wrapped: good.Wrapped}}},
		{"grant for an unknown identity", []types.ClusterKeyGrant{{NodeID: "node-9", KeyID: good.KeyID, Wrapped: good.Wrapped}}},
		{"node listed twice", []types.ClusterKeyGrant{good, good}},
		{"two key ids", []types.ClusterKeyGrant{good, {NodeID: "admin", KeyID: other.ID(), Wrapped: good.Wrapped}}},
		{"bad wrapped key", []types.ClusterKeyGrant{{NodeID: "node-1", KeyID: good.KeyID, Wrapped: []byte{1, 2, 3}}}},
		{"bad key id", []types.ClusterKeyGrant{{NodeID: "node-1", KeyID: "XYZ", Wrapped: good.Wrapped}}},
		{"wrapped for another KEM", []types.ClusterKeyGrant{{NodeID: "node-1", KeyID: good.KeyID, Wrapped: wrapFor(t, c.ck, "node-1", otherP384.Public())}}},
	} {
		g := base
		g.ClusterKeyGrants = tc.grants
		if err := g.Validate(); err == nil {
			t.Errorf("%s: genesis accepted", tc.name)
		}
	}
	g := base
	bad := *g.Nodes[0].SealKey
	bad.Key = bad.Key[:10]
	g.Nodes = []GenesisNode{g.Nodes[0]}
	g.Nodes[0].SealKey = &bad
	if err := g.Validate(); err == nil {
		t.Error("a genesis node with a truncated seal key was accepted")
	}
	// The genesis round-trips with its grants (CBOR and hash).
	dec, err := DecodeGenesis(base.Encode())
	if err != nil || dec.Hash() != base.Hash() || len(dec.ClusterKeyGrants) != 1 {
		t.Fatalf("genesis round trip: %v", err)
	}
	if !bytes.Equal(codec.MustMarshal(dec.Nodes[0].SealKey), codec.MustMarshal(base.Nodes[0].SealKey)) {
		t.Fatal("genesis seal key changed in the round trip")
	}
}

// TestGenesisWithGrantsSurvivesJSON: genesis.json (written by init, fetched
// by joining nodes) keeps the grants and seal keys bit for bit, so every
// node computes the same genesis hash.
func TestGenesisWithGrantsSurvivesJSON(t *testing.T) {
	c := newCKFixture(t)
	path := t.TempDir() + "/genesis.json"
	if err := SaveGenesis(path, c.ex.Genesis()); err != nil {
		t.Fatal(err)
	}
	g, err := LoadGenesis(path)
	if err != nil {
		t.Fatal(err)
	}
	if g.Hash() != c.ex.Genesis().Hash() {
		t.Fatal("genesis hash changed through JSON")
	}
}
