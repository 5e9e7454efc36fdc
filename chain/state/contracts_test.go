package state

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/contracts"
)

// contractFixture is a chain with a physician, a nurse, a patient and a
// privacy officer.
func contractFixture(t testing.TB) *fixture {
	f := newFixture(t)
	f.register("doctor456", types.KindPerson, 10, types.RoleClinician, types.RolePhysician)
	f.register("nurse1", types.KindPerson, 13, types.RoleClinician)
	f.register("patient123", types.KindPatient, 11, types.RolePatient)
	f.register("privacy_officer", types.KindPerson, 12, types.RolePrivacyOfficer)
	return f
}

// one executes one tx in its own block and returns its result.
func (f *fixture) one(signer string, p types.Payload) types.Result {
	f.t.Helper()
	return f.block(f.tx(signer, p))[0]
}

func (f *fixture) mustOK(signer string, p types.Payload) types.Result {
	f.t.Helper()
	r := f.one(signer, p)
	if !r.OK() {
		f.t.Fatalf("%T by %s: %s: %s", p, signer, r.Code, r.Reason)
	}
	return r
}

// decision executes p as signer and returns the recorded contract result.
func (f *fixture) decision(signer string, p *types.ContractExecute) *contracts.Result {
	f.t.Helper()
	r := f.mustOK(signer, p)
	res, err := contracts.DecodeResult(r.Data, contracts.DefaultConfig())
	if err != nil {
		f.t.Fatalf("result data: %v", err)
	}
	return res
}

func seedTerms(expiration int64) types.Params {
	return types.Params{
		"allowed_actions":    []any{"read", "view"},
		"authorized_parties": []any{"doctor456"},
		"allowed_purposes":   []any{"treatment"},
		"allowed_hours":      map[string]any{"start": int64(8), "end": int64(18)},
		"time_zone":          "UTC",
		"expiration":         expiration,
	}
}

func read(contract, purpose string) *types.ContractExecute {
	return &types.ContractExecute{ContractID: contract, Action: "read", Purpose: purpose, Patient: "patient123", Resource: "Observation/bp-1"}
}

// TestContractTermsWorkflow: the seed's smart-contract workflow on the
// executor: deploy with terms, execute allowed and denied (party, purpose,
// outside hours, expired); each decision is recorded with Code OK, the
// executions index lists them in order, and a retired contract executes no more.
func TestContractTermsWorkflow(t *testing.T) {
	f := contractFixture(t)
	exp := t0.Add(48 * time.Hour).UnixMilli()
	f.mustOK("admin", &types.ContractDeploy{ID: "contract123", Owner: "patient123", Source: types.ContractSource{Template: "terms", Params: seedTerms(exp)}})
	rec, err := GetContract(f.view, "contract123")
	if err != nil || rec == nil || rec.Version != 1 || rec.Owner != "patient123" || rec.CostEstimate == 0 {
		t.Fatalf("record: %+v %v", rec, err)
	}

	steps := []struct {
		signer string
		call   *types.ContractExecute
		at     time.Time
		want   contracts.Decision
		rule   string
	}{
		{"doctor456", read("contract123", "treatment"), t0, contracts.Allow, "terms"},
		{"nurse1", read("contract123", "treatment"), t0, contracts.Deny, "party_not_authorized"},
		{"doctor456", read("contract123", "marketing"), t0, contracts.Deny, "purpose_not_allowed"},
		{"doctor456", read("contract123", "treatment"), t0.Add(13 * time.Hour), contracts.Deny, "outside_allowed_hours"},
		{"doctor456", read("contract123", "treatment"), t0.Add(72 * time.Hour), contracts.Deny, "expired"},
	}
	for i, s := range steps {
		f.nowMs = s.at.UnixMilli()
		res := f.decision(s.signer, s.call)
		if res.Decision != s.want || res.Rule != s.rule || res.Cost == 0 || res.Version != rec.VersionHash {
			t.Fatalf("step %d: got %+v, want %s by %s", i, res, s.want, s.rule)
		}
	}
	page, err := Executions(f.view, "contract123", PageQuery{Limit: 2})
	if err != nil || len(page.Entries) != 2 || page.Next == "" {
		t.Fatalf("executions page 1: %+v %v", page, err)
	}
	var all []Execution
	for q := (PageQuery{Limit: 2}); ; {
		p, err := Executions(f.view, "contract123", q)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, p.Entries...)
		if p.Next == "" {
			break
		}
		q.Cursor = p.Next
	}
	if len(all) != len(steps) || all[1].Call.Requester != "nurse1" || all[0].Call.BlockTime != t0.UnixMilli() {
		t.Fatalf("executions: %d entries, first %+v", len(all), all[0].Call)
	}
	if rec, _ := GetContract(f.view, "contract123"); rec.Executions != uint64(len(steps)) {
		t.Fatalf("record counts %d executions", rec.Executions)
	}

	if r := f.one("nurse1", &types.ContractRetire{ContractID: "contract123"}); r.Code != types.CodeUnauthorized {
		t.Fatalf("retire by a stranger: %+v", r)
	}
	f.mustOK("patient123", &types.ContractRetire{ContractID: "contract123", Reason: "moved"})
	if r := f.one("doctor456", read("contract123", "treatment")); r.Code != types.CodeConflict || !strings.Contains(r.Reason, "retired") {
		t.Fatalf("execute retired: %+v", r)
	}
}

// TestContractBreakGlassReview: emergency access is allowed and flagged,
// an open review appears, only a privacy officer closes it, once.
func TestContractBreakGlassReview(t *testing.T) {
	f := contractFixture(t)
	f.mustOK("privacy_officer", &types.ContractDeploy{ID: "er", Source: types.ContractSource{Template: "break-glass"}})
	emergency := &types.ContractExecute{ContractID: "er", Action: "read", Purpose: "emergency", Patient: "patient123", Segment: "critical"}
	tx := f.tx("doctor456", emergency)
	r := f.block(tx)[0]
	res, err := contracts.DecodeResult(r.Data, contracts.DefaultConfig())
	if err != nil || !res.Allowed() || !res.ReviewRequired() || res.Rule != "break_glass" {
		t.Fatalf("emergency: %+v %v", res, err)
	}
	if res := f.decision("nurse1", emergency); res.Allowed() {
		t.Fatalf("a nurse broke the glass: %+v", res)
	}
	open, err := OpenReviews(f.view, f.view, "", PageQuery{})
	if err != nil || len(open.Entries) != 1 || open.Entries[0].ExecutionTx != tx.Hash() || open.Entries[0].Requester != "doctor456" {
		t.Fatalf("open reviews: %+v %v", open, err)
	}
	rec := &types.ReviewRecord{ExecutionTx: tx.Hash(), Outcome: types.ReviewJustified, Notes: "cardiac arrest, patient unconscious"}
	if r := f.one("doctor456", rec); r.Code != types.CodeUnauthorized {
		t.Fatalf("review by a physician: %+v", r)
	}
	f.mustOK("privacy_officer", rec)
	if r := f.one("privacy_officer", rec); r.Code != types.CodeConflict {
		t.Fatalf("second review: %+v", r)
	}
	if open, _ := OpenReviews(f.view, f.view, "", PageQuery{}); len(open.Entries) != 0 {
		t.Fatalf("review still open: %+v", open)
	}
	got, err := GetReview(f.view, tx.Hash())
	if err != nil || got.Status != ReviewClosed || got.Outcome != types.ReviewJustified || got.Reviewer != "privacy_officer" {
		t.Fatalf("closed review: %+v %v", got, err)
	}
	if r := f.one("privacy_officer", &types.ReviewRecord{ExecutionTx: types.HashBytes([]byte("x")), Outcome: types.ReviewJustified}); r.Code != types.CodeNotFound {
		t.Fatalf("review of nothing: %+v", r)
	}
}

// TestContractQuotaEffectsOnlyOnAllow: effects change the contract's state
// only when the call is allowed.
func TestContractQuotaEffectsOnlyOnAllow(t *testing.T) {
	f := contractFixture(t)
	f.mustOK("admin", &types.ContractDeploy{ID: "q", Source: types.ContractSource{Template: "quota", Params: types.Params{"max": int64(2), "period_ms": int64(3_600_000)}}})
	want := []contracts.Decision{contracts.Allow, contracts.Allow, contracts.Deny, contracts.Deny}
	for i, w := range want {
		if res := f.decision("doctor456", read("q", "treatment")); res.Decision != w {
			t.Fatalf("call %d: %+v, want %s", i, res, w)
		}
	}
	st, err := GetContractState(f.view, "q")
	if err != nil {
		t.Fatal(err)
	}
	counts, _ := st["quota_counts"].(map[string]any)
	if counts["doctor456"] != int64(2) {
		t.Fatalf("state after two allows and two denies: %v", st)
	}
	if res := f.decision("nurse1", read("q", "treatment")); !res.Allowed() {
		t.Fatalf("another requester: %+v", res)
	}
}

// TestContractUpgradeKeepsVersions: an upgrade is the next version, by the
// owner or an admin; every version stays readable.
func TestContractUpgradeKeepsVersions(t *testing.T) {
	f := contractFixture(t)
	f.mustOK("admin", &types.ContractDeploy{ID: "c", Owner: "patient123", Source: types.ContractSource{Rules: []types.ContractRule{
		{Name: "all", Effect: types.EffectAllow, Condition: "true"}}}})
	v2 := types.ContractSource{Rules: []types.ContractRule{{Name: "treatment_only", Effect: types.EffectAllow, Condition: `purpose == "treatment"`}}}
	for _, tc := range []struct {
		signer  string
		version uint64
		code    types.ResultCode
	}{
		{"nurse1", 2, types.CodeUnauthorized},
		{"patient123", 3, types.CodeConflict},
		{"patient123", 2, types.CodeOK},
	} {
		if r := f.one(tc.signer, &types.ContractUpgrade{ContractID: "c", Version: tc.version, Source: v2}); r.Code != tc.code {
			t.Fatalf("upgrade by %s to %d: %+v, want %s", tc.signer, tc.version, r, tc.code)
		}
	}
	if res := f.decision("doctor456", read("c", "marketing")); res.Allowed() {
		t.Fatalf("version 2 not in force: %+v", res)
	}
	vs, err := ContractVersions(f.view, "c")
	if err != nil || len(vs) != 2 || vs[0].Version != 1 || vs[1].Version != 2 || vs[0].Hash == vs[1].Hash {
		t.Fatalf("versions: %+v %v", vs, err)
	}
	c, err := vs[0].Decode(contracts.DefaultConfig())
	if err != nil || c.Rules[0].Name != "all" {
		t.Fatalf("version 1: %+v %v", c, err)
	}
}

// TestContractBadInput: each bad input of issue 4 gets a clear refusal
// (the tx code and the compiler's message) or a recorded deny with a
// reason; nothing panics and a refusal changes no contract state.
func TestContractBadInput(t *testing.T) {
	f := contractFixture(t)
	roles := []string{types.RoleClinician}
	for i := len(roles); i < types.MaxListLen; i++ {
		roles = append(roles, fmt.Sprintf("r%02d", i))
	}
	f.register("busy", types.KindPerson, 14, roles...)
	rules := func(conds ...string) types.ContractSource {
		var s types.ContractSource
		for i, c := range conds {
			s.Rules = append(s.Rules, types.ContractRule{Name: fmt.Sprintf("r%d", i), Effect: types.EffectAllow, Condition: c})
		}
		return s
	}
	nested := "true"
	for i := range 3 {
		nested = fmt.Sprintf("params.x.all(v%d, %s)", i, nested)
	}
	deep := map[string]any{"v": int64(1)}
	for range 9 {
		deep = map[string]any{"n": deep}
	}
	deploys := []struct {
		name   string
		signer string
		src    types.ContractSource
		code   types.ResultCode
		want   string
	}{
		{"does not parse", "admin", rules(`requester ==`), types.CodeInvalidPayload, "Syntax error"},
		{"does not type-check", "admin", rules(`requester + 1 == 2`), types.CodeInvalidPayload, "no matching overload"},
		{"not bool", "admin", rules(`requester`), types.CodeInvalidPayload, "must be bool"},
		{"cost too high", "admin", rules(nested), types.CodeInvalidPayload, "exceeds the deploy limit"},
		{"unknown template", "admin", types.ContractSource{Template: "smart"}, types.CodeInvalidPayload, "unknown template"},
		{"bad template terms", "admin", types.ContractSource{Template: "terms", Params: types.Params{"time_zone": "Mars/Olympus"}}, types.CodeInvalidPayload, "unknown time zone"},
		{"deep params", "admin", types.ContractSource{Template: "terms", Params: deep}, types.CodeInvalidPayload, "nested deeper than 8"},
		{"float params", "admin", types.ContractSource{Template: "terms", Params: types.Params{"expiration": 1.5}}, types.CodeInvalidPayload, "floating point"},
		{"template and rules", "admin", types.ContractSource{Template: "terms", Rules: rules("true").Rules}, types.CodeInvalidPayload, "not both"},
		{"clinician deploys", "doctor456", rules("true"), types.CodeUnauthorized, "requires one of [admin privacy_officer]"},
		{"patient deploys", "patient123", rules("true"), types.CodeUnauthorized, "requires one of"},
	}
	for i, d := range deploys {
		t.Run("deploy "+d.name, func(t *testing.T) {
			id := fmt.Sprintf("bad-%d", i)
			tx := f.tx(d.signer, &types.ContractDeploy{ID: id, Source: d.src})
			err := f.ex.CheckTx(f.view, tx, f.nowMs)
			if te, ok := err.(*TxError); !ok || te.Code != d.code || !strings.Contains(te.Reason, d.want) {
				t.Fatalf("CheckTx: %v, want %s containing %q", err, d.code, d.want)
			}
			r := f.block(tx)[0]
			if r.Code != d.code || !strings.Contains(r.Reason, d.want) {
				t.Fatalf("block: %+v, want %s containing %q", r, d.code, d.want)
			}
			if rec, _ := GetContract(f.view, id); rec != nil {
				t.Fatalf("refused deploy left a record: %+v", rec)
			}
		})
	}

	// Each "busy" rule fits the budget and the deploy estimate; ten of them
	// on a requester with 64 roles go over the execution budget.
	fragile := []types.ContractRule{
		{Name: "div", Effect: types.EffectDeny, Condition: `purpose == "div" && risk / (risk - risk) > 0`},
		{Name: "missing", Effect: types.EffectDeny, Condition: `purpose == "missing" && attrs["deidentified"] == "true"`},
	}
	for i := range 10 {
		fragile = append(fragile, types.ContractRule{Name: fmt.Sprintf("busy%d", i), Effect: types.EffectDeny,
			Condition: `purpose == "busy" && !requester_roles.all(a, requester_roles.all(b, size(a) + size(b) >= 0))`})
	}
	fragile = append(fragile, types.ContractRule{Name: "ok", Effect: types.EffectAllow, Condition: "true"})
	f.mustOK("admin", &types.ContractDeploy{ID: "fragile", Source: types.ContractSource{Rules: fragile,
		Effects: []types.ContractEffect{{Key: "n", Expression: `"n" in state ? state.n + 1 : 1`}}}})
	denies := []struct {
		purpose, signer, reason string
	}{
		{"div", "doctor456", "rule div: evaluation error: division by zero"},
		{"missing", "doctor456", "rule missing: evaluation error: no such key: deidentified"},
		{"busy", "busy", contracts.ReasonOverBudget},
	}
	for _, d := range denies {
		t.Run("execute "+d.purpose, func(t *testing.T) {
			res := f.decision(d.signer, read("fragile", d.purpose))
			if res.Decision != contracts.Deny || res.Reason != d.reason || len(res.Effects) != 0 {
				t.Fatalf("got %+v, want deny %q", res, d.reason)
			}
		})
	}
	if st, _ := GetContractState(f.view, "fragile"); st != nil {
		t.Fatalf("denied calls changed state: %v", st)
	}
	if res := f.decision("doctor456", read("fragile", "treatment")); !res.Allowed() || res.Effects["n"] != int64(1) {
		t.Fatalf("allowed call: %+v", res)
	}

	huge := map[string]string{}
	for i := range types.MaxAttrs + 1 {
		huge[fmt.Sprintf("k%02d", i)] = "v"
	}
	big := map[string]string{}
	for i := range 8 {
		big[fmt.Sprintf("k%d", i)] = strings.Repeat("x", 1000)
	}
	for _, tc := range []struct {
		name string
		p    *types.ContractExecute
		code types.ResultCode
		want string
	}{
		{"too many attrs", &types.ContractExecute{ContractID: "fragile", Action: "read", Attrs: huge}, types.CodeInvalidPayload, "attrs: 33 entries"},
		{"huge attrs", &types.ContractExecute{ContractID: "fragile", Action: "read", Attrs: big}, types.CodeInvalidPayload, "attrs: 8016 bytes"},
		{"risk out of range", &types.ContractExecute{ContractID: "fragile", Action: "read", Risk: 101}, types.CodeInvalidPayload, "risk"},
		{"unknown contract", &types.ContractExecute{ContractID: "nope", Action: "read"}, types.CodeNotFound, `contract "nope" does not exist`},
	} {
		t.Run("execute "+tc.name, func(t *testing.T) {
			if r := f.one("doctor456", tc.p); r.Code != tc.code || !strings.Contains(r.Reason, tc.want) {
				t.Fatalf("got %+v, want %s containing %q", r, tc.code, tc.want)
			}
		})
	}
}

// TestContractSimulateRecordsNothing: a dry run gives the decision the
// chain would record and writes nothing.
func TestContractSimulateRecordsNothing(t *testing.T) {
	f := contractFixture(t)
	f.mustOK("admin", &types.ContractDeploy{ID: "q", Source: types.ContractSource{Template: "quota", Params: types.Params{"max": int64(1), "period_ms": int64(60_000)}}})
	before := len(f.view.KV)
	for range 3 {
		res, err := f.ex.SimulateContract(f.view, BlockContext{Height: f.height + 1, Time: f.nowMs}, "doctor456", read("q", "treatment"))
		if err != nil || !res.Allowed() {
			t.Fatalf("simulate: %+v %v", res, err)
		}
	}
	if len(f.view.KV) != before {
		t.Fatal("simulate wrote state")
	}
	if _, err := f.ex.SimulateContract(f.view, BlockContext{Time: f.nowMs}, "ghost", read("q", "treatment")); err == nil {
		t.Fatal("simulate for an unknown requester")
	}
}

// TestContractExecutionsDeterministic: the same contract txs through three
// independent executors, 100 times with shuffled attribute maps and tx
// order, give identical results (decisions, effects, costs) and state
// hashes.
func TestContractExecutionsDeterministic(t *testing.T) {
	fs := []*fixture{contractFixture(t), contractFixture(t), contractFixture(t)}
	src := fs[0]
	deploy := []*types.Tx{
		src.tx("admin", &types.ContractDeploy{ID: "terms", Source: types.ContractSource{Template: "terms", Params: seedTerms(t0.Add(time.Hour).UnixMilli())}}),
		src.tx("admin", &types.ContractDeploy{ID: "quota", Source: types.ContractSource{Template: "quota", Params: types.Params{"max": int64(3), "period_ms": int64(600_000)}}}),
		src.tx("admin", &types.ContractDeploy{ID: "er", Source: types.ContractSource{Template: "break-glass"}}),
		src.tx("admin", &types.ContractDeploy{ID: "attrs", Source: types.ContractSource{
			Rules:   []types.ContractRule{{Name: "any", Effect: types.EffectAllow, Condition: `attrs.exists(k, k.startsWith("a"))`}},
			Effects: []types.ContractEffect{{Key: "seen", Expression: `attrs.filter(k, k.startsWith("a")).map(k, k + "=" + attrs[k])`}}}}),
	}
	for _, f := range fs {
		f.nonce = src.nonce
		if rs := f.block(deploy...); !rs[0].OK() || !rs[3].OK() {
			t.Fatalf("deploy: %+v", rs)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	signers := []string{"doctor456", "nurse1", "patient123"}
	outcomes := map[string]int{}
	for round := range 100 {
		var txs []*types.Tx
		for i := range 6 {
			attrs := map[string]string{}
			for _, k := range rng.Perm(8) {
				attrs[fmt.Sprintf("%c%d", 'a'+rune(k%3), k)] = fmt.Sprint(round * i)
			}
			p := &types.ContractExecute{ContractID: []string{"terms", "quota", "er", "attrs"}[rng.IntN(4)], Action: "read",
				Purpose: []string{"treatment", "emergency"}[rng.IntN(2)], Patient: "patient123", Segment: "critical", Attrs: attrs}
			txs = append(txs, src.tx(signers[rng.IntN(len(signers))], p))
		}
		var results [][]types.Result
		step := int64(rng.IntN(120_000))
		for _, f := range fs {
			f.nowMs += step
			results = append(results, f.block(txs...))
		}
		for _, r := range results[0] {
			if res, err := contracts.DecodeResult(r.Data, contracts.DefaultConfig()); err == nil {
				outcomes[res.Decision.String()+" "+res.Rule]++
			}
		}
		for i := 1; i < len(fs); i++ {
			if fs[i].state != fs[0].state || types.ResultsHash(results[i]) != types.ResultsHash(results[0]) {
				t.Fatalf("round %d: executor %d diverged", round, i)
			}
		}
	}
	for _, o := range []string{"allow terms", "deny party_not_authorized", "allow break_glass", "allow any", "deny quota_exhausted", "deny expired"} {
		if outcomes[o] == 0 {
			t.Errorf("no %q outcome in the run: %v", o, outcomes)
		}
	}
	ex, err := Executions(fs[0].view, "attrs", PageQuery{Limit: 1})
	if err != nil || len(ex.Entries) != 1 {
		t.Fatalf("executions: %+v %v", ex, err)
	}
}

func BenchmarkContractExecuteTerms(b *testing.B) {
	f := contractFixture(b)
	f.mustOK("admin", &types.ContractDeploy{ID: "c", Source: types.ContractSource{Template: "terms", Params: seedTerms(t0.Add(time.Hour).UnixMilli())}})
	p := read("c", "treatment")
	bc := BlockContext{Height: f.height + 1, Time: f.nowMs}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.ex.SimulateContract(f.view, bc, "doctor456", p); err != nil {
			b.Fatal(err)
		}
	}
}
