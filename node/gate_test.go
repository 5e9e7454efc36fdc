package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/consensus"
	"github.com/medchain/medchain/node/config"
	"github.com/medchain/medchain/node/nodetest"
	"github.com/medchain/medchain/node/rpc"
	"github.com/medchain/medchain/node/zerotrust"
)

type rawRPC struct {
	t  *testing.T
	hc *http.Client
	u  string
}

type rpcResp struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int             `json:"code"`
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	} `json:"error"`
}

func (r rawRPC) call(token, method string, params ...any) rpcResp {
	r.t.Helper()
	if params == nil {
		params = []any{}
	}
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
	req, _ := http.NewRequest(http.MethodPost, r.u, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := r.hc.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out rpcResp
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		r.t.Fatalf("%s: %v", method, err)
	}
	return out
}

func (r rawRPC) challenge(id, device string) zerotrust.Challenge {
	r.t.Helper()
	res := r.call("", "auth_challenge", rpc.ChallengeParams{Identity: id, DeviceKeyID: device})
	// After a failed login the identity waits a progressive delay (1 s, 2 s, ...).
	for deadline := time.Now().Add(15 * time.Second); res.Error != nil && res.Error.Code == rpc.CodeLocked && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		res = r.call("", "auth_challenge", rpc.ChallengeParams{Identity: id, DeviceKeyID: device})
	}
	if res.Error != nil {
		r.t.Fatalf("auth_challenge: %s", res.Error.Message)
	}
	var c zerotrust.Challenge
	if err := json.Unmarshal(res.Result, &c); err != nil {
		r.t.Fatal(err)
	}
	return c
}

func (r rawRPC) login(p rpc.LoginParams) (string, rpcResp) {
	r.t.Helper()
	res := r.call("", "auth_login", p)
	if res.Error != nil {
		return "", res
	}
	var lr rpc.LoginResult
	json.Unmarshal(res.Result, &lr)
	return lr.Token, res
}

func signed(t *testing.T, key *crypto.PrivateKey, c zerotrust.Challenge) crypto.Signature {
	t.Helper()
	sig, err := key.Sign(c.SignBytes())
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

func wantCode(t *testing.T, what string, res rpcResp, code int) {
	t.Helper()
	if res.Error == nil || res.Error.Code != code {
		t.Fatalf("%s: want error %d, got %+v (result %s)", what, code, res.Error, res.Result)
	}
}

// TestGateLoginMFAAndClinicalRead runs the flow against a node with
// the gate on: challenge, ML-DSA signature, login; a clinical read from a
// public session is refused and audited on chain; MFA enrolment; login with
// TOTP into the clinical segment; the clinical read passes; forged and
// replayed logins fail; a logged-out token is dead.
func TestGateLoginMFAAndClinicalRead(t *testing.T) {
	n := nodetest.Start(t, func(c *config.Config) { c.ZeroTrust.Enabled = true })
	r := rawRPC{t: t, hc: n.HTTPClient(t), u: n.URL}
	key := n.Key(t, "doctor456")
	const dev = "laptop-1"
	// The chain records patient123, so the refusal below is recorded under
	// them (a refusal naming a patient the chain does not record names none).
	sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer scancel()
	if _, err := n.Signer(t, "doctor456").Send(sctx, erasureEvent("view_record")); err != nil {
		t.Fatal(err)
	}

	// No token: refused.
	wantCode(t, "audit_trail without a session", r.call("", "audit_trail", rpc.TrailParams{Patient: "patient123"}), rpc.CodeUnauthenticated)

	// Forged signature (another identity's key): refused, generically.
	c := r.challenge("doctor456", dev)
	_, res := r.login(rpc.LoginParams{Identity: "doctor456", DeviceKeyID: dev, Nonce: c.Nonce, Signature: signed(t, n.Key(t, "patient123"), c)})
	wantCode(t, "forged signature", res, rpc.CodeUnauthenticated)

	// A good login, then the same transcript replayed.
	c = r.challenge("doctor456", dev)
	lp := rpc.LoginParams{Identity: "doctor456", DeviceKeyID: dev, Nonce: c.Nonce, Signature: signed(t, key, c)}
	tok, res := r.login(lp)
	if tok == "" {
		t.Fatalf("login: %+v", res.Error)
	}
	_, res = r.login(lp)
	wantCode(t, "replayed login transcript", res, rpc.CodeUnauthenticated)

	// A public session reads the head but not a clinical trail.
	if res := r.call(tok, "chain_head"); res.Error != nil {
		t.Fatalf("chain_head from a public session: %+v", res.Error)
	}
	res = r.call(tok, "audit_trail", rpc.TrailParams{Patient: "patient123"})
	wantCode(t, "clinical read from a public session", res, rpc.CodeForbidden)
	if !strings.Contains(string(res.Error.Data), `"method_segment":"clinical"`) {
		t.Errorf("refusal data does not name the method's segment: %s", res.Error.Data)
	}
	// Entering clinical without MFA is refused.
	wantCode(t, "clinical segment without MFA", r.call(tok, "session_segment", "clinical"), rpc.CodeForbidden)

	// Enrol in MFA: the URI comes once.
	res = r.call(tok, "auth_mfaEnroll")
	if res.Error != nil {
		t.Fatalf("auth_mfaEnroll: %+v", res.Error)
	}
	var enr rpc.MFAEnrollResult
	json.Unmarshal(res.Result, &enr)
	u, err := url.Parse(enr.URI)
	if err != nil || u.Scheme != "otpauth" || u.Query().Get("secret") == "" {
		t.Fatalf("enrolment URI %q", enr.URI)
	}
	wantCode(t, "second enrolment", r.call(tok, "auth_mfaEnroll"), rpc.CodeForbidden)
	if res := r.call(tok, "auth_logout"); res.Error != nil {
		t.Fatalf("logout: %+v", res.Error)
	}
	wantCode(t, "token after logout", r.call(tok, "chain_head"), rpc.CodeUnauthenticated)

	// Wrong TOTP: refused.
	c = r.challenge("doctor456", dev)
	_, res = r.login(rpc.LoginParams{Identity: "doctor456", DeviceKeyID: dev, Nonce: c.Nonce, Signature: signed(t, key, c), TOTP: "000000", Segment: "clinical"})
	wantCode(t, "wrong TOTP", res, rpc.CodeUnauthenticated)

	// Signature + TOTP straight into clinical: the trail is readable.
	code, err := totp.GenerateCode(u.Query().Get("secret"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c = r.challenge("doctor456", dev)
	tok, res = r.login(rpc.LoginParams{Identity: "doctor456", DeviceKeyID: dev, Nonce: c.Nonce, Signature: signed(t, key, c), TOTP: code, Segment: "clinical"})
	if tok == "" {
		t.Fatalf("login with TOTP: %+v", res.Error)
	}
	if res := r.call(tok, "audit_trail", rpc.TrailParams{Patient: "patient123"}); res.Error != nil {
		t.Fatalf("clinical read after MFA: %+v", res.Error)
	}
	res = r.call(tok, "session_status")
	var sv rpc.SessionView
	json.Unmarshal(res.Result, &sv)
	if !sv.MFA || sv.Segment != "clinical" || sv.Risk == nil {
		t.Fatalf("session_status: %s", res.Result)
	}

	// The refused clinical read is on chain, signed by the node.
	deadline := time.Now().Add(10 * time.Second)
	for {
		res := r.call(tok, "audit_trail", rpc.TrailParams{Patient: "patient123"})
		if res.Error != nil {
			t.Fatalf("audit_trail: %+v", res.Error)
		}
		if strings.Contains(string(res.Result), `"access_denied"`) && strings.Contains(string(res.Result), "audit_trail") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no access_denied audit event for the refused clinical read: %s", res.Result)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestARefusalNamingNoPatientMapsNoPatient: the gate refuses a request that
// names no patient (an administrative read from a public session); the
// refusal is recorded on chain naming no patient, in clear, in the actor's
// trail and in no patient's, and the leader draws no pseudonym or data key
// for a stand-in patient (before, every such refusal landed in the trail
// of a patient called "unknown").
func TestARefusalNamingNoPatientMapsNoPatient(t *testing.T) {
	n := nodetest.Start(t, func(c *config.Config) { c.ZeroTrust.Enabled = true })
	r := rawRPC{t: t, hc: n.HTTPClient(t), u: n.URL}
	doc := n.SessionClient(t, "doctor456", "public")
	wantCode(t, "identity_get from a public session", r.call(doc.Token(), "identity_get", map[string]string{"id": "doctor456"}), rpc.CodeForbidden)

	st := n.Consensus().Store()
	var e *state.AuditEntry
	for deadline := time.Now().Add(10 * time.Second); e == nil; time.Sleep(50 * time.Millisecond) {
		p, err := state.Trail(st, st, state.TrailQuery{ID: "doctor456", ByActor: true})
		if err != nil {
			t.Fatal(err)
		}
		for i := range p.Entries {
			if p.Entries[i].Record.EventType == types.EventAccessDenied && p.Entries[i].Record.Action == "identity_get" {
				e = &p.Entries[i]
			}
		}
		if e == nil && time.Now().After(deadline) {
			t.Fatalf("no access_denied event for identity_get in the actor trail: %+v", p.Entries)
		}
	}
	if e.Record.Patient != "" || e.Sealed != nil || e.Record.Resource != "" || e.Record.Details["node"] == "" {
		t.Fatalf("recorded denial %+v (sealed %d bytes): want no patient, in clear, no resource, the node named", e.Record, len(e.Sealed))
	}
	for _, patient := range []string{"unknown", ""} {
		if ps, _, err := n.Consensus().Patient(patient); !errors.Is(err, consensus.ErrPatientUnknown) {
			t.Fatalf("patient %q: pseudonym %q, %v; want %v", patient, ps, err, consensus.ErrPatientUnknown)
		}
	}
	if p, err := state.Trail(st, st, state.TrailQuery{ID: "unknown"}); err != nil || len(p.Entries) != 0 {
		t.Fatalf("trail of a patient called unknown: %+v %v", p, err)
	}
}

// TestAnUnauthenticatedRefusalMintsNoPseudonym: a request without a
// session may name any string as a patient. Its refusal is recorded under
// the reserved anonymous actor and names the patient only when the chain
// already records them, so an unauthenticated caller cannot make the leader
// draw pseudonyms and keys for arbitrary ids (nor store the id in clear);
// a refusal about a recorded patient is in that patient's trail.
func TestAnUnauthenticatedRefusalMintsNoPseudonym(t *testing.T) {
	n := nodetest.Start(t, func(c *config.Config) { c.ZeroTrust.Enabled = true })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := n.Signer(t, "doctor456").Send(ctx, &types.AuditRecord{EventType: "data_access", Patient: "patient123", Actor: "doctor456", Action: "view_record"}); err != nil {
		t.Fatal(err)
	}
	r := rawRPC{t: t, hc: n.HTTPClient(t), u: n.URL}
	wantCode(t, "unauthenticated trail of an unknown id", r.call("", "audit_trail", rpc.TrailParams{Patient: "MRN-never-seen"}), rpc.CodeUnauthenticated)
	wantCode(t, "unauthenticated trail of a recorded patient", r.call("", "audit_trail", rpc.TrailParams{Patient: "patient123"}), rpc.CodeUnauthenticated)

	st := n.Consensus().Store()
	var anonymous []state.AuditEntry
	for deadline := time.Now().Add(10 * time.Second); len(anonymous) < 2; time.Sleep(50 * time.Millisecond) {
		p, err := state.Trail(st, st, state.TrailQuery{ID: types.AnonymousActor, ByActor: true})
		if err != nil {
			t.Fatal(err)
		}
		anonymous = p.Entries
		if len(anonymous) < 2 && time.Now().After(deadline) {
			t.Fatalf("refusals in the anonymous actor's trail: %+v", anonymous)
		}
	}
	if _, _, err := n.Consensus().Patient("MRN-never-seen"); !errors.Is(err, consensus.ErrPatientUnknown) {
		t.Fatalf("an unauthenticated refusal minted a pseudonym: %v", err)
	}
	named := 0
	for _, e := range anonymous {
		switch {
		case e.Record.Patient == "":
			if e.Sealed != nil || e.Record.Resource != "" {
				t.Fatalf("a refusal naming no patient carries %+v", e.Record)
			}
		case types.IsPseudonym(e.Record.Patient):
			named++
		default:
			t.Fatalf("a refusal names %q in clear", e.Record.Patient)
		}
	}
	if named != 1 {
		t.Fatalf("%d refusals under a pseudonym, want the one about the recorded patient", named)
	}
	if _, err := n.Signer(t, "admin").Send(ctx, &types.IdentityRegister{ID: types.AnonymousActor, Kind: types.KindPerson, Roles: []string{types.RoleClinician}, PublicKey: n.Key(t, "doctor456").Public()}); err == nil || !strings.Contains(err.Error(), "reserved") {
		t.Fatalf("registering the anonymous actor: %v", err)
	}
}
