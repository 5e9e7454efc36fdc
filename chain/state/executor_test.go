package state

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/chain/types"
)

const chainID = "test-chain"

var t0 = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)

type fixture struct {
	t      testing.TB
	ex     *Executor
	view   *MemView
	state  types.Hash
	height uint64
	keys   map[string]*crypto.PrivateKey
	nonce  uint64
	nowMs  int64
}

func key(seed byte) *crypto.PrivateKey {
	var s [32]byte
	s[0] = seed
	k, err := crypto.GenerateKey(crypto.MLDSA44, rand.NewChaCha8(s))
	if err != nil {
		panic(err)
	}
	return k
}

func newFixture(t testing.TB) *fixture {
	f := &fixture{t: t, view: NewMemView(), keys: map[string]*crypto.PrivateKey{}, nowMs: t0.UnixMilli()}
	f.keys["admin"] = key(1)
	f.keys["node-1"] = key(2)
	g := &Genesis{ChainID: chainID, Time: t0.UnixMilli(), Params: DefaultParams(), Identities: []types.IdentityRegister{
		{ID: "admin", Kind: types.KindPerson, Roles: []string{types.RoleAdmin}, PublicKey: f.keys["admin"].Public()},
		{ID: "node-1", Kind: types.KindNode, Roles: []string{types.RoleNode}, PublicKey: f.keys["node-1"].Public()},
	}}
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

func (f *fixture) tx(signer string, p types.Payload) *types.Tx {
	f.nonce++
	tx, err := types.NewTx(chainID, signer, p, time.UnixMilli(f.nowMs), f.nonce)
	if err != nil {
		f.t.Fatal(err)
	}
	k := f.keys[signer]
	if k == nil {
		k = key(99)
	}
	if err := tx.Sign(k); err != nil {
		f.t.Fatal(err)
	}
	return tx
}

// block executes txs as the next block and commits its writes.
func (f *fixture) block(txs ...*types.Tx) []types.Result {
	f.t.Helper()
	f.height++
	out, err := f.ex.ExecuteBlock(f.view, f.state, BlockContext{Height: f.height, Time: f.nowMs}, txs, ExecOptions{VerifySignatures: true})
	if err != nil {
		f.t.Fatal(err)
	}
	hs := make([]types.Hash, len(txs))
	for i, tx := range txs {
		hs[i] = tx.Hash()
	}
	f.view.Apply(out.Writes, hs)
	f.state = out.StateHash
	return out.Results
}

func (f *fixture) register(id string, kind types.IdentityKind, seed byte, roles ...string) {
	f.keys[id] = key(seed)
	p := &types.IdentityRegister{ID: id, Kind: kind, Roles: roles, PublicKey: f.keys[id].Public()}
	if kind == types.KindPatient {
		p.Patient = id
	}
	if r := f.block(f.tx("admin", p)); !r[0].OK() {
		f.t.Fatalf("register %s: %+v", id, r[0])
	}
}

func audit(patient, actor string) *types.AuditRecord {
	return &types.AuditRecord{EventType: "data_access", Patient: patient, Actor: actor, Action: "view_record", Purpose: "treatment", Outcome: "success"}
}

func scope() types.ConsentScope {
	return types.ConsentScope{Purposes: []string{"treatment", "research"}, Parties: []string{"doctor456", "researcher789"}}
}

// TestSeedWorkflow runs the seed's blockchain workflow on the executor.
func TestSeedWorkflow(t *testing.T) {
	f := newFixture(t)
	f.register("doctor456", types.KindPerson, 10, types.RoleClinician)
	f.register("patient123", types.KindPatient, 11, types.RolePatient)

	if r := f.block(f.tx("doctor456", audit("patient123", "doctor456"))); !r[0].OK() {
		t.Fatalf("audit: %+v", r[0])
	}
	grant := &types.ConsentGrant{Patient: "patient123", ConsentType: "data_sharing", Granted: true, Scope: scope()}
	grant.Scope.Expiration = t0.Add(24 * time.Hour).UnixMilli()
	if r := f.block(f.tx("patient123", grant)); !r[0].OK() {
		t.Fatalf("grant: %+v", r[0])
	}
	c, err := GetConsent(f.view, "patient123", "data_sharing")
	if err != nil || c == nil {
		t.Fatalf("consent: %v %v", c, err)
	}
	at := f.nowMs
	checks := []struct {
		req     ConsentRequest
		granted bool
		reason  string
	}{
		{ConsentRequest{Purpose: "treatment", Requester: "doctor456", At: at}, true, "granted"},
		{ConsentRequest{Purpose: "marketing", Requester: "doctor456", At: at}, false, "purpose"},
		{ConsentRequest{Purpose: "treatment", Requester: "stranger", At: at}, false, "authorized party"},
		{ConsentRequest{Purpose: "treatment", Requester: "doctor456", At: grant.Scope.Expiration}, false, "expired"},
	}
	for _, ck := range checks {
		d := VerifyConsent(c, ck.req)
		if d.Granted != ck.granted || !strings.Contains(d.Reason, ck.reason) {
			t.Errorf("%+v: got %+v, want granted=%v reason~%q", ck.req, d, ck.granted, ck.reason)
		}
	}
	if r := f.block(f.tx("patient123", &types.ConsentRevoke{Patient: "patient123", ConsentType: "data_sharing", Reason: "moved"})); !r[0].OK() {
		t.Fatalf("revoke: %+v", r[0])
	}
	c, _ = GetConsent(f.view, "patient123", "data_sharing")
	if d := VerifyConsent(c, ConsentRequest{Purpose: "treatment", Requester: "doctor456", At: at}); d.Granted || !strings.Contains(d.Reason, "revoked") {
		t.Fatalf("after revoke: %+v", d)
	}
	hist, err := ConsentHistory(f.view, "patient123", "data_sharing")
	if err != nil || len(hist) != 2 || hist[0].Status != ConsentActive || hist[1].Status != ConsentRevoked {
		t.Fatalf("history: %+v %v", hist, err)
	}
}

func TestRejections(t *testing.T) {
	f := newFixture(t)
	f.register("doctor456", types.KindPerson, 10, types.RoleClinician)
	f.register("patient123", types.KindPatient, 11, types.RolePatient)
	f.register("gone", types.KindPerson, 12, types.RoleClinician)
	if r := f.block(f.tx("admin", &types.IdentityRevoke{ID: "gone"})); !r[0].OK() {
		t.Fatal(r[0])
	}
	replayed := f.tx("doctor456", audit("p1", "doctor456"))
	f.block(replayed)

	stale := f.tx("doctor456", audit("p1", "doctor456"))
	stale.Timestamp = f.nowMs - 11*60*1000
	_ = stale.Sign(f.keys["doctor456"])
	forged := f.tx("doctor456", audit("p1", "doctor456"))
	forged.Signature.Sig[10] ^= 1
	other := f.tx("doctor456", audit("p1", "doctor456"))
	other.ChainID = "other"
	_ = other.Sign(f.keys["doctor456"])

	tests := []struct {
		name string
		tx   *types.Tx
		code types.ResultCode
	}{
		{"unknown signer", f.tx("nobody", audit("p1", "x")), types.CodeUnknownSigner},
		{"revoked signer", f.tx("gone", audit("p1", "gone")), types.CodeRevokedSigner},
		{"bad signature", forged, types.CodeBadSignature},
		{"replay", replayed, types.CodeReplay},
		{"stale timestamp", stale, types.CodeStaleTimestamp},
		{"wrong chain", other, types.CodeWrongChain},
		{"clinician registers identity", f.tx("doctor456", &types.IdentityRegister{ID: "x", Kind: types.KindPerson, Roles: []string{"admin"}, PublicKey: key(5).Public()}), types.CodeUnauthorized},
		{"patient records audit", f.tx("patient123", audit("patient123", "patient123")), types.CodeUnauthorized},
		{"clinician grants consent", f.tx("doctor456", &types.ConsentGrant{Patient: "patient123", ConsentType: "c", Granted: true, Scope: scope()}), types.CodeUnauthorized},
		{"patient grants for another", f.tx("patient123", &types.ConsentGrant{Patient: "patient999", ConsentType: "c", Granted: true, Scope: scope()}), types.CodeUnauthorized},
		{"grant without purposes", f.tx("patient123", &types.ConsentGrant{Patient: "patient123", ConsentType: "c", Granted: true}), types.CodeInvalidPayload},
		{"revoke missing consent", f.tx("patient123", &types.ConsentRevoke{Patient: "patient123", ConsentType: "none"}), types.CodeNotFound},
		{"duplicate identity", f.tx("admin", &types.IdentityRegister{ID: "doctor456", Kind: types.KindPerson, Roles: []string{"x"}, PublicKey: key(6).Public()}), types.CodeConflict},
		{"admin revokes self", f.tx("admin", &types.IdentityRevoke{ID: "admin"}), types.CodeConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.state
			beforeKeys := len(f.view.KV)
			r := f.block(tt.tx)
			if r[0].Code != tt.code || r[0].Reason == "" {
				t.Fatalf("got %v (%s), want %v", r[0].Code, r[0].Reason, tt.code)
			}
			if len(f.view.KV) != beforeKeys {
				t.Fatalf("rejected tx changed state: %d keys -> %d", beforeKeys, len(f.view.KV))
			}
			// An empty write set still advances the chained hash deterministically.
			if f.state == before {
				t.Fatal("state hash did not advance")
			}
			// CheckTx agrees with the block (except replay of an applied tx, which CheckTx also refuses).
			var te *TxError
			if err := f.ex.CheckTx(f.view, tt.tx, f.nowMs); !errors.As(err, &te) {
				t.Fatalf("CheckTx accepted a tx the block rejects: %v", err)
			}
		})
	}
}

func TestDuplicateInOneBlock(t *testing.T) {
	f := newFixture(t)
	f.register("doctor456", types.KindPerson, 10, types.RoleClinician)
	tx := f.tx("doctor456", audit("p1", "doctor456"))
	r := f.block(tx, tx)
	if !r[0].OK() || r[1].Code != types.CodeReplay {
		t.Fatalf("got %v, %v", r[0], r[1])
	}
}

func TestDeterministicAcrossExecutors(t *testing.T) {
	a, b := newFixture(t), newFixture(t)
	for _, f := range []*fixture{a, b} {
		f.register("doctor456", types.KindPerson, 10, types.RoleClinician)
	}
	var txs []*types.Tx
	for i := 0; i < 50; i++ {
		p := audit("patient-"+string(rune('a'+i%5)), "doctor456")
		p.Details = map[string]string{"z": "1", "a": "2", "m": string(rune('a' + i%26))}
		txs = append(txs, a.tx("doctor456", p))
	}
	ra, rb := a.block(txs...), b.block(txs...)
	if a.state != b.state {
		t.Fatal("same txs, different state hash")
	}
	if types.ResultsHash(ra) != types.ResultsHash(rb) {
		t.Fatal("same txs, different results")
	}
}

func TestTrailPaging(t *testing.T) {
	f := newFixture(t)
	f.register("doctor456", types.KindPerson, 10, types.RoleClinician)
	f.register("nurse1", types.KindPerson, 13, types.RoleClinician)
	var want []types.Hash
	for i := 0; i < 25; i++ {
		f.nowMs += 1000
		actor := "doctor456"
		if i%2 == 1 {
			actor = "nurse1"
		}
		tx := f.tx(actor, audit("patient123", actor))
		want = append(want, tx.Hash())
		f.block(tx, f.tx(actor, audit("other", actor)))
	}
	var got []types.Hash
	cursor := ""
	for pages := 0; ; pages++ {
		p, err := Trail(f.view, f.view, TrailQuery{ID: "patient123", Limit: 10, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range p.Entries {
			got = append(got, e.TxHash)
		}
		if p.Next == "" {
			break
		}
		cursor = p.Next
		if pages > 5 {
			t.Fatal("paging does not end")
		}
	}
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("entry %d out of order", i)
		}
	}
	// Newest first, by actor, within a time range.
	p, err := Trail(f.view, f.view, TrailQuery{ID: "nurse1", ByActor: true, Newest: true, Limit: 3})
	if err != nil || len(p.Entries) != 3 || p.Entries[0].Time < p.Entries[1].Time || p.Entries[0].Record.Actor != "nurse1" {
		t.Fatalf("actor trail: %+v %v", p, err)
	}
	from := t0.Add(5 * time.Second).UnixMilli()
	p, _ = Trail(f.view, f.view, TrailQuery{ID: "patient123", From: from, To: from + 3000})
	if len(p.Entries) != 3 {
		t.Fatalf("time range: got %d entries, want 3", len(p.Entries))
	}
	for _, bad := range []TrailQuery{{ID: ""}, {ID: "p", Limit: 5000}, {ID: "p", From: 10, To: 5}, {ID: "patient123", Cursor: "!!"}} {
		if _, err := Trail(f.view, f.view, bad); !errors.Is(err, ErrBadQuery) {
			t.Errorf("%+v: got %v, want ErrBadQuery", bad, err)
		}
	}
}

// TestAnAccessDenialNamingNoPatientIsInNoPatientsTrail: a node records a
// refusal that names no patient; the event lies in no patient's trail (not
// even one a patient could be registered under, such as "unknown"), is
// found through its actor's trail, and is counted by ScanAuditEntries. An
// event of another type that names no patient is refused.
func TestAnAccessDenialNamingNoPatientIsInNoPatientsTrail(t *testing.T) {
	f := newFixture(t)
	f.register("doctor456", types.KindPerson, 10, types.RoleClinician)
	f.register("unknown", types.KindPatient, 11, types.RolePatient)
	denial := &types.AuditRecord{EventType: AccessDeniedEvent, Actor: "doctor456", Action: "identity_get", Outcome: "denied",
		Details: map[string]string{"reason": "policy administrative refused", "node": "node-1"}}
	if r := f.block(f.tx("node-1", denial)); !r[0].OK() {
		t.Fatalf("denial naming no patient: %+v", r[0])
	}
	if r := f.block(f.tx("doctor456", &types.AuditRecord{EventType: "data_access", Actor: "doctor456", Action: "view_record"})); r[0].Code != types.CodeInvalidPayload {
		t.Fatalf("data_access naming no patient: %+v, want %s", r[0], types.CodeInvalidPayload)
	}
	// Stored in clear and never pruned: only a node signs one, and it carries
	// no resource and no free text.
	for _, c := range []struct {
		name, signer string
		ev           *types.AuditRecord
		code         types.ResultCode
	}{
		{"signed by a clinician", "doctor456", &types.AuditRecord{EventType: AccessDeniedEvent, Actor: "doctor456", Action: "view_record", Outcome: "denied",
			Details: map[string]string{"reason": "x"}}, types.CodeUnauthorized},
		{"with a resource", "node-1", &types.AuditRecord{EventType: AccessDeniedEvent, Actor: "doctor456", Action: "view_record",
			Resource: "Patient/jane-doe-1970/Observation/hiv-test"}, types.CodeInvalidPayload},
		{"with free text", "node-1", &types.AuditRecord{EventType: AccessDeniedEvent, Actor: "doctor456", Action: "view_record",
			Details: map[string]string{"note": "Jane Doe, born 1970-01-01"}}, types.CodeInvalidPayload},
		{"with a client address", "node-1", &types.AuditRecord{EventType: AccessDeniedEvent, Actor: "doctor456", Action: "view_record",
			Details: map[string]string{"address": "192.0.2.7:5123"}}, types.CodeInvalidPayload},
	} {
		if r := f.block(f.tx(c.signer, c.ev)); r[0].Code != c.code {
			t.Fatalf("a denial naming no patient %s: %+v, want %s", c.name, r[0], c.code)
		}
	}
	p, err := Trail(f.view, f.view, TrailQuery{ID: "doctor456", ByActor: true})
	if err != nil || len(p.Entries) != 1 || p.Entries[0].Record.Patient != "" || p.Entries[0].Record.Action != "identity_get" || p.Entries[0].Sealed != nil {
		t.Fatalf("actor trail: %+v %v", p, err)
	}
	for _, patient := range []string{"unknown", "doctor456", "node-1"} {
		if p, err := Trail(f.view, f.view, TrailQuery{ID: patient}); err != nil || len(p.Entries) != 0 {
			t.Fatalf("patient trail of %q: %+v %v, want empty", patient, p, err)
		}
	}
	if _, err := Trail(f.view, f.view, TrailQuery{ID: ""}); !errors.Is(err, ErrBadQuery) {
		t.Fatalf("trail of the empty patient: %v, want ErrBadQuery", err)
	}
	n := 0
	if err := ScanAuditEntries(f.view, func(e *AuditEntry) bool {
		if e.Record.EventType == AccessDeniedEvent && e.Record.Patient == "" {
			n++
		}
		return true
	}); err != nil || n != 1 {
		t.Fatalf("ScanAuditEntries: %d denials naming no patient, %v; want 1", n, err)
	}
}

func BenchmarkVerifyConsent(b *testing.B) {
	c := &Consent{Granted: true, Status: ConsentActive, Scope: scope()}
	req := ConsentRequest{Purpose: "research", Requester: "researcher789", At: 1}
	for b.Loop() {
		if !VerifyConsent(c, req).Granted {
			b.Fatal("refused")
		}
	}
}

func BenchmarkExecuteAuditBlock(b *testing.B) {
	f := newFixture(b)
	f.register("doctor456", types.KindPerson, 10, types.RoleClinician)
	txs := make([]*types.Tx, 1000)
	for i := range txs {
		txs[i] = f.tx("doctor456", audit("patient123", "doctor456"))
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := f.ex.ExecuteBlock(f.view, f.state, BlockContext{Height: 99, Time: f.nowMs}, txs, ExecOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(txs))/b.Elapsed().Seconds(), "tx/s")
}

// TestPrecomputedHashesGiveTheSameOutcome: ExecuteBlock with the caller's
// tx hashes (the proposer's path) equals ExecuteBlock hashing them itself
// (a follower's), replays within the block included; a hash list of the
// wrong length is an error, never a silent mismatch.
func TestPrecomputedHashesGiveTheSameOutcome(t *testing.T) {
	f := newFixture(t)
	f.register("doctor456", types.KindPerson, 10, types.RoleClinician)
	var txs []*types.Tx
	for i := range 20 {
		txs = append(txs, f.tx("doctor456", audit(fmt.Sprintf("patient-%d", i%3), "doctor456")))
	}
	txs = append(txs, txs[3]) // a replay inside the block
	hs := make([]types.Hash, len(txs))
	for i, tx := range txs {
		hs[i] = tx.Hash()
	}
	bc := BlockContext{Height: f.height + 1, Time: f.nowMs}
	plain, err := f.ex.ExecuteBlock(f.view, f.state, bc, txs, ExecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	given, err := f.ex.ExecuteBlock(f.view, f.state, bc, txs, ExecOptions{TxHashes: hs})
	if err != nil {
		t.Fatal(err)
	}
	if plain.StateHash != given.StateHash || types.ResultsHash(plain.Results) != types.ResultsHash(given.Results) {
		t.Fatal("precomputed hashes changed the outcome")
	}
	if given.Results[len(txs)-1].Code != types.CodeReplay {
		t.Fatalf("replay in block: %+v", given.Results[len(txs)-1])
	}
	if _, err := f.ex.ExecuteBlock(f.view, f.state, bc, txs, ExecOptions{TxHashes: hs[1:]}); err == nil {
		t.Fatal("short hash list accepted")
	}
}
