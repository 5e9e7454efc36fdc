package state

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/chain/types"
)

// newGovFixture is a chain with three admins, an admin threshold of two, a
// clinician and one genesis node with a node record.
func newGovFixture(t *testing.T) *fixture {
	f := &fixture{t: t, view: NewMemView(), keys: map[string]*crypto.PrivateKey{}, nowMs: t0.UnixMilli()}
	g := &Genesis{ChainID: chainID, Time: t0.UnixMilli(), Params: DefaultParams()}
	g.Params.AdminThreshold = 2
	for i, id := range []string{"admin", "admin2", "admin3"} {
		f.keys[id] = key(byte(1 + i))
		g.Identities = append(g.Identities, types.IdentityRegister{ID: id, Kind: types.KindPerson, Roles: []string{types.RoleAdmin}, PublicKey: f.keys[id].Public()})
	}
	f.keys["doctor"] = key(5)
	f.keys["node-1"] = key(6)
	g.Identities = append(g.Identities,
		types.IdentityRegister{ID: "doctor", Kind: types.KindPerson, Roles: []string{types.RoleClinician}, PublicKey: f.keys["doctor"].Public()},
		types.IdentityRegister{ID: "node-1", Kind: types.KindNode, Roles: []string{types.RoleNode}, PublicKey: f.keys["node-1"].Public()})
	g.Nodes = []GenesisNode{{NodeID: "node-1", PeerID: "12D3KooWnode1", Addrs: []string{"/ip4/127.0.0.1/tcp/7400"}, Region: "eu-west"}}
	ex, err := NewExecutor(g)
	if err != nil {
		t.Fatal(err)
	}
	f.ex = ex
	ws, h := ex.GenesisState()
	f.view.Apply(ws, nil)
	f.state = h
	return f
}

func joinReq(f *fixture, id string, seed byte, peerID string) *types.NodeJoin {
	f.keys[id] = key(seed)
	return &types.NodeJoin{NodeID: id, PublicKey: f.keys[id].Public(), PeerID: peerID,
		Addrs: []string{"/ip4/127.0.0.1/tcp/7401"}, Region: "us-east", Role: types.NodeRoleVoter}
}

func (f *fixture) node(id string) *NodeRecord {
	f.t.Helper()
	r, err := GetNode(f.view, id)
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

func wantCode(t *testing.T, what string, r types.Result, code types.ResultCode) {
	t.Helper()
	if r.Code != code {
		t.Fatalf("%s: got %s (%s), want %s", what, r.Code, r.Reason, code)
	}
}

func TestGenesisNodesAreAdmitted(t *testing.T) {
	f := newGovFixture(t)
	r := f.node("node-1")
	if r == nil || r.Status != NodeAdmitted || r.Role != types.NodeRoleVoter || !r.PublicKey.Equal(f.keys["node-1"].Public()) {
		t.Fatalf("genesis node record: %+v", r)
	}
	byPeer, err := GetNodeByPeer(f.view, "12D3KooWnode1")
	if err != nil || byPeer == nil || byPeer.NodeID != "node-1" {
		t.Fatalf("by peer: %+v %v", byPeer, err)
	}
	all, err := Nodes(f.view)
	if err != nil || len(all) != 1 {
		t.Fatalf("nodes: %+v %v", all, err)
	}
}

func TestGenesisRejectsNodeWithoutNodeIdentity(t *testing.T) {
	f := newGovFixture(t)
	g := *f.ex.Genesis()
	g.Nodes = []GenesisNode{{NodeID: "doctor", PeerID: "12D3KooWx"}}
	if err := g.Validate(); err == nil {
		t.Fatal("a genesis node that is not a node identity was accepted")
	}
	g.Nodes = []GenesisNode{{NodeID: "node-1", PeerID: "p"}, {NodeID: "node-1", PeerID: "q"}}
	if err := g.Validate(); err == nil {
		t.Fatal("a node listed twice was accepted")
	}
}

func TestJoinWithBadSignatureIsRefused(t *testing.T) {
	f := newGovFixture(t)
	j := joinReq(f, "node-2", 20, "12D3KooWnode2")
	tx := f.tx("node-2", j)
	tx.Signature.Sig[10] ^= 0xff
	if err := f.ex.CheckTx(f.view, tx, f.nowMs); err == nil {
		t.Fatal("CheckTx accepted a join with a bad signature")
	}
	wantCode(t, "bad signature", f.block(tx)[0], types.CodeBadSignature)

	// Signed by another key than the one in the payload.
	j2 := joinReq(f, "node-3", 21, "12D3KooWnode3")
	tx2 := f.tx("node-3", j2)
	if err := tx2.Sign(key(22)); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "wrong key", f.block(tx2)[0], types.CodeBadSignature)

	// Signer is not the joining node.
	tx3 := f.tx("admin", joinReq(f, "node-4", 23, "12D3KooWnode4"))
	wantCode(t, "signer mismatch", f.block(tx3)[0], types.CodeUnauthorized)
	for _, id := range []string{"node-2", "node-3", "node-4"} {
		if f.node(id) != nil {
			t.Fatalf("a refused join created a record for %s", id)
		}
	}
}

func TestApprovalFromNonAdminIsRefused(t *testing.T) {
	f := newGovFixture(t)
	wantCode(t, "join", f.block(f.tx("node-2", joinReq(f, "node-2", 20, "12D3KooWnode2")))[0], types.CodeOK)
	wantCode(t, "clinician approval", f.block(f.tx("doctor", &types.NodeApprove{NodeID: "node-2"}))[0], types.CodeUnauthorized)
	wantCode(t, "node approval", f.block(f.tx("node-1", &types.NodeApprove{NodeID: "node-2"}))[0], types.CodeUnauthorized)
	// The pending node itself is not registered: it cannot approve itself.
	wantCode(t, "self approval", f.block(f.tx("node-2", &types.NodeApprove{NodeID: "node-2"}))[0], types.CodeUnknownSigner)
	if r := f.node("node-2"); r.Status != NodePending || len(r.Approvals) != 0 {
		t.Fatalf("record changed: %+v", r)
	}
}

func TestDuplicateApprovalIsNotCountedTwice(t *testing.T) {
	f := newGovFixture(t)
	f.block(f.tx("node-2", joinReq(f, "node-2", 20, "12D3KooWnode2")))
	wantCode(t, "first", f.block(f.tx("admin", &types.NodeApprove{NodeID: "node-2"}))[0], types.CodeOK)
	wantCode(t, "again", f.block(f.tx("admin", &types.NodeApprove{NodeID: "node-2"}))[0], types.CodeConflict)
	// Twice in one block: the second sees the first.
	rs := f.block(f.tx("admin", &types.NodeApprove{NodeID: "node-2"}), f.tx("admin", &types.NodeApprove{NodeID: "node-2"}))
	wantCode(t, "same block 1", rs[0], types.CodeConflict)
	wantCode(t, "same block 2", rs[1], types.CodeConflict)
	r := f.node("node-2")
	if r.Status != NodePending || len(r.Approvals) != 1 {
		t.Fatalf("one admin counted more than once: %+v", r)
	}
	if id, _ := GetIdentity(f.view, "node-2"); id != nil {
		t.Fatal("node registered below the threshold")
	}
}

func TestThresholdAdmitsNodeAndRegistersIdentity(t *testing.T) {
	f := newGovFixture(t)
	f.block(f.tx("node-2", joinReq(f, "node-2", 20, "12D3KooWnode2")))
	f.block(f.tx("admin", &types.NodeApprove{NodeID: "node-2"}))
	wantCode(t, "second admin", f.block(f.tx("admin3", &types.NodeApprove{NodeID: "node-2"}))[0], types.CodeOK)
	r := f.node("node-2")
	if r.Status != NodeAdmitted || len(r.Approvals) != 2 || r.Approvals[0] != "admin" || r.Approvals[1] != "admin3" {
		t.Fatalf("record after threshold: %+v", r)
	}
	id, err := GetIdentity(f.view, "node-2")
	if err != nil || id == nil || id.Kind != types.KindNode || !id.HasRole(types.RoleNode) || !id.PublicKey.Equal(f.keys["node-2"].Public()) {
		t.Fatalf("admitted node identity: %+v %v", id, err)
	}
	wantCode(t, "approve admitted", f.block(f.tx("admin2", &types.NodeApprove{NodeID: "node-2"}))[0], types.CodeConflict)
	// A second join under the same id or peer id is refused.
	wantCode(t, "rejoin id", f.block(f.tx("node-2", joinReq(f, "node-2", 20, "12D3KooWother")))[0], types.CodeConflict)
	wantCode(t, "reuse peer", f.block(f.tx("node-9", joinReq(f, "node-9", 29, "12D3KooWnode2")))[0], types.CodeConflict)
	// An identity that already exists cannot join as a node.
	wantCode(t, "existing identity", f.block(f.tx("doctor", joinReq(f, "doctor", 5, "12D3KooWdoc")))[0], types.CodeConflict)
}

func TestRemovalAtThresholdRevokesNode(t *testing.T) {
	f := newGovFixture(t)
	f.block(f.tx("node-2", joinReq(f, "node-2", 20, "12D3KooWnode2")))
	f.block(f.tx("admin", &types.NodeApprove{NodeID: "node-2"}), f.tx("admin2", &types.NodeApprove{NodeID: "node-2"}))
	if f.node("node-2").Status != NodeAdmitted {
		t.Fatal("not admitted")
	}
	wantCode(t, "non-admin removal", f.block(f.tx("doctor", &types.NodeRemove{NodeID: "node-2"}))[0], types.CodeUnauthorized)
	wantCode(t, "first removal", f.block(f.tx("admin", &types.NodeRemove{NodeID: "node-2", Reason: "decommissioned"}))[0], types.CodeOK)
	wantCode(t, "duplicate removal", f.block(f.tx("admin", &types.NodeRemove{NodeID: "node-2"}))[0], types.CodeConflict)
	if r := f.node("node-2"); r.Status != NodeAdmitted {
		t.Fatalf("removed below the threshold: %+v", r)
	}
	wantCode(t, "second removal", f.block(f.tx("admin3", &types.NodeRemove{NodeID: "node-2"}))[0], types.CodeOK)
	r := f.node("node-2")
	if r.Status != NodeRemoved || r.Reason != "decommissioned" {
		t.Fatalf("record after removal: %+v", r)
	}
	id, _ := GetIdentity(f.view, "node-2")
	if id == nil || !id.Revoked {
		t.Fatalf("identity of a removed node not revoked: %+v", id)
	}
	// The removed node's key signs nothing after.
	wantCode(t, "removed node signs", f.block(f.tx("node-2", &types.NodeRemove{NodeID: "node-1"}))[0], types.CodeRevokedSigner)
	wantCode(t, "remove again", f.block(f.tx("admin", &types.NodeRemove{NodeID: "node-2"}))[0], types.CodeConflict)
	// Removal of a pending node refuses its join.
	f.block(f.tx("node-5", joinReq(f, "node-5", 25, "12D3KooWnode5")))
	f.block(f.tx("admin", &types.NodeRemove{NodeID: "node-5"}), f.tx("admin2", &types.NodeRemove{NodeID: "node-5"}))
	if r := f.node("node-5"); r.Status != NodeRemoved {
		t.Fatalf("pending node after removal: %+v", r)
	}
	wantCode(t, "approve removed", f.block(f.tx("admin3", &types.NodeApprove{NodeID: "node-5"}))[0], types.CodeConflict)
}

func TestGovernancePayloadValidateBasic(t *testing.T) {
	f := newGovFixture(t)
	good := joinReq(f, "node-2", 20, "12D3KooWnode2")
	for name, mut := range map[string]func(*types.NodeJoin){
		"role":    func(j *types.NodeJoin) { j.Role = "king" },
		"peer":    func(j *types.NodeJoin) { j.PeerID = "" },
		"addr":    func(j *types.NodeJoin) { j.Addrs = []string{""} },
		"region":  func(j *types.NodeJoin) { j.Region = "a b" },
		"node id": func(j *types.NodeJoin) { j.NodeID = "x\x00" },
	} {
		j := *good
		mut(&j)
		if err := j.ValidateBasic(); err == nil {
			t.Errorf("%s: invalid join accepted", name)
		}
	}
	if err := good.ValidateBasic(); err != nil {
		t.Fatal(err)
	}
	if types.TxNodeJoin != 13 || types.TxNodeApprove != 14 || types.TxNodeRemove != 15 {
		t.Fatal("governance tx type values changed: they are wire format")
	}
	for _, tt := range []types.TxType{types.TxNodeJoin, types.TxNodeApprove, types.TxNodeRemove} {
		back, err := types.ParseTxType(tt.String())
		if err != nil || back != tt {
			t.Fatalf("%v: %v %v", tt, back, err)
		}
	}
}

// TestRemovingTheLastVoterIsRefused: the admitted voter count follows
// admissions and removals; the removal vote that would reach the threshold
// for the last voter is refused with its reason and changes nothing, while
// observers and pending nodes can always be removed.
func TestRemovingTheLastVoterIsRefused(t *testing.T) {
	f := newGovFixture(t)
	voters := func() uint32 {
		t.Helper()
		g, err := newOverlay(f.view).gov()
		if err != nil || g == nil {
			t.Fatalf("governance counts: %+v %v", g, err)
		}
		return g.Voters
	}
	if v := voters(); v != 1 {
		t.Fatalf("genesis voters %d, want 1", v)
	}
	f.block(f.tx("node-2", joinReq(f, "node-2", 20, "12D3KooWnode2")))
	obs := joinReq(f, "node-3", 30, "12D3KooWnode3")
	obs.Role = types.NodeRoleObserver
	f.block(f.tx("node-3", obs))
	f.block(f.tx("admin", &types.NodeApprove{NodeID: "node-2"}), f.tx("admin2", &types.NodeApprove{NodeID: "node-2"}),
		f.tx("admin", &types.NodeApprove{NodeID: "node-3"}), f.tx("admin2", &types.NodeApprove{NodeID: "node-3"}))
	if v := voters(); v != 2 {
		t.Fatalf("voters after admitting a voter and an observer: %d, want 2", v)
	}
	rs := f.block(f.tx("admin", &types.NodeRemove{NodeID: "node-1"}), f.tx("admin2", &types.NodeRemove{NodeID: "node-1"}))
	wantCode(t, "remove one of two voters", rs[1], types.CodeOK)
	if v := voters(); v != 1 {
		t.Fatalf("voters after a removal: %d, want 1", v)
	}
	wantCode(t, "first vote on the last voter", f.block(f.tx("admin", &types.NodeRemove{NodeID: "node-2"}))[0], types.CodeOK)
	r := f.block(f.tx("admin2", &types.NodeRemove{NodeID: "node-2"}))[0]
	wantCode(t, "removing the last voter", r, types.CodeConflict)
	if !strings.Contains(r.Reason, "last voter") {
		t.Fatalf("reason %q does not say it is the last voter", r.Reason)
	}
	if rec := f.node("node-2"); rec.Status != NodeAdmitted || len(rec.Removals) != 1 {
		t.Fatalf("the refused removal changed the record: %+v", rec)
	}
	if id, _ := GetIdentity(f.view, "node-2"); id == nil || id.Revoked {
		t.Fatal("the last voter's identity was revoked")
	}
	// The observer and a pending node go whatever the voter count.
	rs = f.block(f.tx("admin", &types.NodeRemove{NodeID: "node-3"}), f.tx("admin2", &types.NodeRemove{NodeID: "node-3"}))
	wantCode(t, "remove observer", rs[1], types.CodeOK)
	f.block(f.tx("node-4", joinReq(f, "node-4", 40, "12D3KooWnode4")))
	rs = f.block(f.tx("admin", &types.NodeRemove{NodeID: "node-4"}), f.tx("admin2", &types.NodeRemove{NodeID: "node-4"}))
	wantCode(t, "remove pending voter", rs[1], types.CodeOK)
	if v := voters(); v != 1 {
		t.Fatalf("voters after removing an observer and a pending node: %d, want 1", v)
	}
}

// TestPendingJoinsAreBoundedAndExpire: join spam is bounded. At most
// MaxPendingJoins requests wait; the next is refused until one is approved
// or refused. A request older than PendingJoinTTL cannot be approved, and a
// new request takes its slot, deleting the expired record and its peer
// index; the expired node may ask again under its id and peer id.
func TestPendingJoinsAreBoundedAndExpire(t *testing.T) {
	f := newGovFixture(t)
	pending := func() int {
		t.Helper()
		g, err := newOverlay(f.view).gov()
		if err != nil || g == nil {
			t.Fatalf("governance counts: %+v %v", g, err)
		}
		return len(g.Pending)
	}
	id := func(i int) string { return fmt.Sprintf("node-%d", 10+i) }
	peer := func(i int) string { return fmt.Sprintf("12D3KooWspam%d", i) }
	for i := range MaxPendingJoins {
		wantCode(t, "join "+id(i), f.block(f.tx(id(i), joinReq(f, id(i), byte(50+i), peer(i))))[0], types.CodeOK)
	}
	extra := MaxPendingJoins
	r := f.block(f.tx(id(extra), joinReq(f, id(extra), 99, peer(extra))))[0]
	wantCode(t, "join over the limit", r, types.CodeConflict)
	if !strings.Contains(r.Reason, "limit") || f.node(id(extra)) != nil {
		t.Fatalf("join over the limit: %q, record %+v", r.Reason, f.node(id(extra)))
	}
	// Admitting one frees its slot.
	f.block(f.tx("admin", &types.NodeApprove{NodeID: id(3)}), f.tx("admin2", &types.NodeApprove{NodeID: id(3)}))
	if f.node(id(3)).Status != NodeAdmitted || pending() != MaxPendingJoins-1 {
		t.Fatalf("after admitting %s: %+v, %d pending", id(3), f.node(id(3)), pending())
	}
	wantCode(t, "join after a slot freed", f.block(f.tx(id(extra), joinReq(f, id(extra), 99, peer(extra))))[0], types.CodeOK)

	// Three days later every request has expired.
	f.nowMs += (PendingJoinTTL + time.Minute).Milliseconds()
	r = f.block(f.tx("admin", &types.NodeApprove{NodeID: id(0)}))[0]
	wantCode(t, "approve expired", r, types.CodeConflict)
	if !strings.Contains(r.Reason, "expired") {
		t.Fatalf("approving an expired request: %q", r.Reason)
	}
	wantCode(t, "new join after expiry", f.block(f.tx("node-99", joinReq(f, "node-99", 98, "12D3KooWlate")))[0], types.CodeOK)
	if pending() != 1 {
		t.Fatalf("%d pending after the expired requests made room, want 1", pending())
	}
	if f.node(id(0)) != nil {
		t.Fatal("an expired request's record stayed")
	}
	if rec, _ := GetNodeByPeer(f.view, peer(0)); rec != nil {
		t.Fatal("an expired request's peer index stayed")
	}
	// The expired node asks again, same id and peer id, and is admitted.
	wantCode(t, "rejoin", f.block(f.tx(id(0), joinReq(f, id(0), 77, peer(0))))[0], types.CodeOK)
	f.block(f.tx("admin", &types.NodeApprove{NodeID: id(0)}), f.tx("admin2", &types.NodeApprove{NodeID: id(0)}))
	if rec := f.node(id(0)); rec == nil || rec.Status != NodeAdmitted || !rec.PublicKey.Equal(f.keys[id(0)].Public()) {
		t.Fatalf("rejoined node: %+v", rec)
	}
	// An admitted node's record never expires.
	f.nowMs += 2 * PendingJoinTTL.Milliseconds()
	wantCode(t, "join under an admitted id", f.block(f.tx(id(3), joinReq(f, id(3), 76, "12D3KooWother")))[0], types.CodeConflict)
}
