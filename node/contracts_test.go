package node_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/node/client"
	"github.com/medchain/medchain/node/nodetest"
	"github.com/medchain/medchain/node/rpc"
)

// createAndDeploy builds a contract with contract_create, signs its deploy
// payload as signer and sends it with contract_deploy.
func createAndDeploy(ctx context.Context, t *testing.T, n *nodetest.Node, signer string, p rpc.CreateParams) *rpc.CreateResult {
	t.Helper()
	built, err := n.Client.CreateContract(ctx, p)
	if err != nil {
		t.Fatalf("contract_create %s: %v", p.ID, err)
	}
	tx, err := n.Signer(t, signer).Build(&built.Deploy)
	if err != nil {
		t.Fatal(err)
	}
	res, err := n.Client.DeployContract(ctx, tx)
	if err != nil {
		t.Fatalf("contract_deploy %s: %v", p.ID, err)
	}
	if res.Contract == nil || res.Contract.VersionHash != built.VersionHash || res.Contract.Version != 1 {
		t.Fatalf("deployed %+v, contract_create promised version hash %s", res.Contract, built.VersionHash)
	}
	return built
}

// criticalSessions caches one critical-segment session per node and
// identity: each login into critical costs a TOTP step.
var criticalSessions sync.Map // nodetest.Node pointer + identity -> *client.Client

// critical returns a client of id's own session in the critical segment
// (with MFA), where contract_execute and contract_simulate are served.
func critical(t testing.TB, n *nodetest.Node, id string) *client.Client {
	t.Helper()
	k := fmt.Sprintf("%p/%s", n, id)
	if c, ok := criticalSessions.Load(k); ok {
		return c.(*client.Client)
	}
	c := n.SessionClient(t, id, "critical")
	criticalSessions.Store(k, c)
	t.Cleanup(func() { criticalSessions.Delete(k) })
	return c
}

// execute signs p as signer and sends it from signer's own critical
// session, stating that segment and at least the session's risk (the gate
// holds a contract call to its caller's session); p's own segment and risk
// are kept when set.
func execute(ctx context.Context, t *testing.T, n *nodetest.Node, signer string, p *types.ContractExecute) *rpc.ExecuteResult {
	t.Helper()
	c := critical(t, n, signer)
	call := *p
	if call.Segment == "" {
		call.Segment = "critical"
	}
	sv, err := c.Session(ctx)
	if err != nil {
		t.Fatalf("session of %s: %v", signer, err)
	}
	if sv.Risk != nil {
		call.Risk = max(call.Risk, int64(sv.Risk.Score))
	}
	tx, err := c.Signer(signer, n.Key(t, signer)).Build(&call)
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.ExecuteContract(ctx, tx)
	if err != nil {
		t.Fatalf("contract_execute %s by %s: %v", p.ContractID, signer, err)
	}
	return r
}

// registerClinician registers a clinician id with a new key, saved where
// nodetest finds the dev keys, so that a second identity can enter the
// critical segment.
func registerClinician(ctx context.Context, t *testing.T, n *nodetest.Node, id string) {
	t.Helper()
	k, err := crypto.GenerateKey(crypto.MLDSA65, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := crypto.SaveKey(filepath.Join(n.Config.Node.DataDir, node.KeysDir, id+".key"), k); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Signer(t, "admin").Send(ctx, &types.IdentityRegister{ID: id, Kind: types.KindPerson, Roles: []string{types.RoleClinician}, PublicKey: k.Public()}); err != nil {
		t.Fatalf("register %s: %v", id, err)
	}
}

func terms(t *testing.T, v map[string]any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSeedSmartContractWorkflow runs the seed's smart-contract workflow
// through JSON-RPC on a real node: create contracts with terms, execute
// them allowed and denied (wrong party, wrong purpose, expired, outside
// the allowed hours), and read back the recorded decisions, the contract
// and its executions; a dry run agrees with the chain and records nothing.
func TestSeedSmartContractWorkflow(t *testing.T) {
	n := nodetest.Start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	now := time.Now().UTC()
	h := now.Hour()
	base := map[string]any{
		"allowed_actions":    []string{"read", "view"},
		"authorized_parties": []string{"doctor456"},
		"allowed_purposes":   []string{"treatment"},
		"expiration":         now.Add(365 * 24 * time.Hour).Format(time.RFC3339),
		"time_zone":          "UTC",
		"allowed_hours":      map[string]int{"start": (h + 23) % 24, "end": (h + 2) % 24}, // now, with an hour either side
	}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for bk, bv := range base {
			m[bk] = bv
		}
		m[k] = v
		return m
	}
	seed := createAndDeploy(ctx, t, n, "admin", rpc.CreateParams{ID: "contract123", Owner: "patient123", Template: "terms", Terms: terms(t, base)})
	if seed.CostEstimate == 0 || len(seed.Contract.Rules) != 6 {
		t.Fatalf("contract_create built %+v", seed)
	}
	createAndDeploy(ctx, t, n, "admin", rpc.CreateParams{ID: "expired", Owner: "patient123", Template: "terms",
		Terms: terms(t, with("expiration", now.Add(-time.Minute).UnixMilli()))})
	createAndDeploy(ctx, t, n, "privacy_officer", rpc.CreateParams{ID: "night", Owner: "patient123", Template: "terms",
		Terms: terms(t, with("allowed_hours", map[string]int{"start": (h + 4) % 24, "end": (h + 6) % 24}))})

	read := func(contract, purpose string) *types.ContractExecute {
		return &types.ContractExecute{ContractID: contract, Action: "read", Purpose: purpose, Patient: "patient123", Resource: "Observation/bp-1"}
	}
	steps := []struct {
		signer string
		call   *types.ContractExecute
		want   contracts.Decision
		rule   string
	}{
		{"doctor456", read("contract123", "treatment"), contracts.Allow, "terms"},
		{"nurse789", read("contract123", "treatment"), contracts.Deny, "party_not_authorized"},
		{"doctor456", read("contract123", "marketing"), contracts.Deny, "purpose_not_allowed"},
		{"doctor456", &types.ContractExecute{ContractID: "contract123", Action: "delete", Purpose: "treatment", Patient: "patient123"}, contracts.Deny, "action_not_allowed"},
		{"doctor456", read("expired", "treatment"), contracts.Deny, "expired"},
		{"doctor456", read("night", "treatment"), contracts.Deny, "outside_allowed_hours"},
	}
	// A clinician the contract does not name (the gate lets only clinicians
	// and physicians call contracts, from their own critical session).
	registerClinician(ctx, t, n, "nurse789")
	for _, s := range steps {
		sim, err := critical(t, n, "doctor456").SimulateContract(ctx, rpc.SimulateParams{ContractExecute: *s.call, Requester: s.signer})
		if err != nil {
			t.Fatalf("simulate %s: %v", s.call.ContractID, err)
		}
		r := execute(ctx, t, n, s.signer, s.call)
		if r.Decision != s.want || r.Rule != s.rule || r.Cost == 0 || r.TxHash.IsZero() || r.Height == 0 {
			t.Fatalf("%s by %s: got %+v, want %s by %s", s.call.ContractID, s.signer, r.Result, s.want, s.rule)
		}
		if sim.Decision != r.Decision || sim.Rule != r.Rule || sim.Cost != r.Cost {
			t.Fatalf("simulation %+v disagrees with the chain %+v", sim.Result, r.Result)
		}
		tx, err := n.Client.Tx(ctx, r.TxHash)
		if err != nil || tx.Result == nil || !tx.Result.OK() || len(tx.Result.Data) == 0 {
			t.Fatalf("tx_get of the execution: %+v %v", tx, err)
		}
	}

	page, err := n.Client.ContractExecutions(ctx, rpc.PageParams{ContractID: "contract123", Limit: 2})
	if err != nil || len(page.Entries) != 2 || page.Next == "" {
		t.Fatalf("executions: %+v %v", page, err)
	}
	if e := page.Entries[1]; e.Call.Requester != "nurse789" || e.Result.Rule != "party_not_authorized" {
		t.Fatalf("second execution: %+v %+v", e.Call, e.Result)
	}
	rest, err := n.Client.ContractExecutions(ctx, rpc.PageParams{ContractID: "contract123", Cursor: page.Next})
	if err != nil || len(rest.Entries) != 2 || rest.Next != "" {
		t.Fatalf("executions page 2: %+v %v", rest, err)
	}
	got, err := n.Client.Contract(ctx, "contract123", 0)
	if err != nil || got.Record.Executions != 4 || got.Record.Owner != "patient123" || len(got.Versions) != 1 || got.Current.Contract.Template != "terms" {
		t.Fatalf("contract_get: %+v %v", got, err)
	}

	// Bad input through the API: named errors, nothing recorded.
	_, err = n.Client.CreateContract(ctx, rpc.CreateParams{ID: "bad", Owner: "admin", Rules: []types.ContractRule{{Name: "r", Effect: "allow", Condition: "requester =="}}})
	if code, _, _ := client.RPCError(err); code != rpc.CodeInvalidParams || !strings.Contains(err.Error(), "Syntax error") {
		t.Fatalf("create with a syntax error: %v", err)
	}
	_, err = n.Client.CreateContract(ctx, rpc.CreateParams{ID: "bad", Owner: "admin", Template: "smart"})
	if code, _, _ := client.RPCError(err); code != rpc.CodeInvalidParams || !strings.Contains(err.Error(), "unknown template") {
		t.Fatalf("create from an unknown template: %v", err)
	}
	_, err = n.Client.CreateContract(ctx, rpc.CreateParams{ID: "bad", Owner: "admin", Template: "quota", Terms: json.RawMessage(`{"max": 1.5, "period_ms": 1000}`)})
	if code, _, _ := client.RPCError(err); code != rpc.CodeInvalidParams || !strings.Contains(err.Error(), "not an integer") {
		t.Fatalf("create with a fractional term: %v", err)
	}
	tx, _ := n.Signer(t, "doctor456").Build(&types.ContractDeploy{ID: "mine", Source: types.ContractSource{Template: "terms"}})
	_, err = n.Client.DeployContract(ctx, tx)
	if code, _, _ := client.RPCError(err); code != rpc.CodeTxRejected || !strings.Contains(err.Error(), "requires one of [admin privacy_officer]") {
		t.Fatalf("deploy by a clinician: %v", err)
	}
	if _, err := n.Client.Contract(ctx, "mine", 0); err == nil {
		t.Fatal("a refused deploy created a contract")
	}
	_, err = critical(t, n, "doctor456").SimulateContract(ctx, rpc.SimulateParams{ContractExecute: *read("nope", "treatment"), Requester: "doctor456"})
	if code, _, _ := client.RPCError(err); code != rpc.CodeNotFound {
		t.Fatalf("simulate an unknown contract: %v", err)
	}
}

// TestBreakGlassWorkflow: a physician in the critical segment reaches a
// patient without consent; the access is allowed and flagged, an open review
// is listed, a privacy officer records the outcome and the review closes.
func TestBreakGlassWorkflow(t *testing.T) {
	n := nodetest.Start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	createAndDeploy(ctx, t, n, "privacy_officer", rpc.CreateParams{ID: "emergency", Owner: "privacy_officer", Template: "break-glass"})

	emergency := &types.ContractExecute{ContractID: "emergency", Action: "read", Purpose: "emergency", Patient: "patient123", Segment: "critical", Risk: 30}
	r := execute(ctx, t, n, "doctor456", emergency)
	if !r.Allowed() || !r.ReviewRequired || r.Rule != "break_glass" || !slices.Contains(r.Flags, contracts.FlagReviewRequired) {
		t.Fatalf("emergency access: %+v", r.Result)
	}
	// A non-physician, and a physician outside the critical segment: the
	// contract refuses both (a dry run: the gate keeps an EHR service out of
	// the critical segment, and a call stating another segment than the
	// caller's session, before any contract runs).
	doctor := critical(t, n, "doctor456")
	if e, err := doctor.SimulateContract(ctx, rpc.SimulateParams{ContractExecute: *emergency, Requester: "epic_system"}); err != nil || e.Allowed() || e.ReviewRequired {
		t.Fatalf("a non-physician broke the glass: %+v %v", e, err)
	}
	epic, err := client.Dial(ctx, n.URL, n.SessionOptions(t, "epic_system", "")...)
	if err != nil {
		t.Fatal(err)
	}
	defer epic.Close()
	if _, err := epic.MoveSegment(ctx, "critical"); err == nil {
		t.Fatal("an EHR service entered the critical segment")
	} else if code, _, _ := client.RPCError(err); code != rpc.CodeForbidden {
		t.Fatalf("EHR service into critical: %v, want %d", err, rpc.CodeForbidden)
	}
	epic.Logout(ctx)
	outside := *emergency
	outside.Segment = "clinical"
	if e, err := doctor.SimulateContract(ctx, rpc.SimulateParams{ContractExecute: outside, Requester: "doctor456"}); err != nil || e.Allowed() {
		t.Fatalf("break-glass outside the critical segment: %+v %v", e, err)
	}
	tx, err := doctor.Signer("doctor456", n.Key(t, "doctor456")).Build(&outside)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := doctor.ExecuteContract(ctx, tx); err == nil {
		t.Fatal("a call stating the clinical segment from a critical session was executed")
	}

	open, err := n.Client.ContractReviews(ctx, rpc.PageParams{})
	if err != nil || len(open.Entries) != 1 || open.Entries[0].ExecutionTx != r.TxHash || open.Entries[0].Status != "open" {
		t.Fatalf("open reviews: %+v %v", open, err)
	}
	review := &types.ReviewRecord{ExecutionTx: r.TxHash, Outcome: types.ReviewJustified, Notes: "unconscious patient, no consent on file"}
	if _, err := n.Signer(t, "doctor456").Send(ctx, review); err == nil {
		t.Fatal("a physician closed their own review")
	}
	if _, err := n.Signer(t, "privacy_officer").Send(ctx, review); err != nil {
		t.Fatalf("review record: %v", err)
	}
	open, err = n.Client.ContractReviews(ctx, rpc.PageParams{ContractID: "emergency"})
	if err != nil || len(open.Entries) != 0 {
		t.Fatalf("reviews after the outcome: %+v %v", open, err)
	}
	got, err := n.Client.ContractReview(ctx, r.TxHash)
	if err != nil || got.Status != "closed" || got.Outcome != types.ReviewJustified || got.Reviewer != "privacy_officer" {
		t.Fatalf("closed review: %+v %v", got, err)
	}
}

// BenchmarkContractSimulateRPC measures contract_simulate over JSON-RPC
// (HTTP, one client) on the terms template and reports p50 and p99.
func BenchmarkContractSimulateRPC(b *testing.B) {
	n := nodetest.Start(b, nil)
	ctx := context.Background()
	built, err := n.Client.CreateContract(ctx, rpc.CreateParams{ID: "c", Owner: "admin", Template: "terms", Terms: json.RawMessage(
		`{"allowed_actions": ["read"], "authorized_parties": ["doctor456"], "allowed_purposes": ["treatment"], "expiration": "2099-01-01T00:00:00Z"}`)})
	if err != nil {
		b.Fatal(err)
	}
	tx, err := n.Signer(b, "admin").Build(&built.Deploy)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := n.Client.DeployContract(ctx, tx); err != nil {
		b.Fatal(err)
	}
	p := rpc.SimulateParams{ContractExecute: types.ContractExecute{ContractID: "c", Action: "read", Purpose: "treatment", Patient: "patient123"}, Requester: "doctor456"}
	doctor := critical(b, n, "doctor456") // contract_simulate is served in the critical segment
	var lat []time.Duration
	for b.Loop() {
		start := time.Now()
		r, err := doctor.SimulateContract(ctx, p)
		lat = append(lat, time.Since(start))
		if err != nil || !r.Allowed() {
			b.Fatal(r, err)
		}
	}
	slices.Sort(lat)
	pct := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) }
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
	if testing.Verbose() {
		fmt.Printf("contract_simulate over JSON-RPC: %d calls, p50 %.0f µs, p99 %.0f µs\n", len(lat), pct(0.5), pct(0.99))
	}
}
