package node_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/node/client"
	"github.com/medchain/medchain/node/fhir"
	"github.com/medchain/medchain/node/nodetest"
	"github.com/medchain/medchain/node/rpc"
)

// rpcDocPath is the JSON-RPC reference that TestRPCDocExamples checks.
const rpcDocPath = "../docs/RPC.md"

// rpcDocUpdateEnv, set to 1, makes TestRPCDocExamples rewrite every
// documented response in docs/RPC.md with the node's actual one (long base64
// strings shortened) instead of comparing them; set to "changed", only the
// responses whose shape no longer matches (a small diff: hashes and times of
// the others stay). Review the diff before committing it.
const rpcDocUpdateEnv = "MEDCHAIN_UPDATE_RPCDOC"

// rpcServices maps each JSON-RPC namespace to its service type, as
// rpc.NewServer registers them. The test derives every method name from these
// types the way go-ethereum does (exported methods, first letter lowered) and
// checks the namespaces against the node's rpc_modules, so a new method or
// namespace fails the test until docs/RPC.md documents it.
var rpcServices = map[string]reflect.Type{
	"tx":         reflect.TypeFor[*rpc.TxAPI](),
	"audit":      reflect.TypeFor[*rpc.AuditAPI](),
	"consent":    reflect.TypeFor[*rpc.ConsentAPI](),
	"chain":      reflect.TypeFor[*rpc.ChainAPI](),
	"ehr":        reflect.TypeFor[*rpc.EHRAPI](),
	"identity":   reflect.TypeFor[*rpc.IdentityAPI](),
	"node":       reflect.TypeFor[*rpc.NodeAPI](),
	"cluster":    reflect.TypeFor[*rpc.ClusterAPI](),
	"contract":   reflect.TypeFor[*rpc.ContractAPI](),
	"crypto":     reflect.TypeFor[*rpc.CryptoAPI](),
	"fhir":       reflect.TypeFor[*rpc.FHIRAPI](),
	"patient":    reflect.TypeFor[*rpc.PatientAPI](),
	"compliance": reflect.TypeFor[*rpc.ComplianceAPI](),
}

// rpcDocExample is one Request:/Response: pair of docs/RPC.md.
type rpcDocExample struct {
	line     int    // line of "Request:", 1-based
	section  string // the nearest heading above it
	lang     string // json (a JSON-RPC body) or http (GET /path)
	request  string
	response string
	respFrom int // first line of the response block's content, 0-based
	respTo   int // line of its closing fence, 0-based
}

// TestRPCDocExamples runs every example of docs/RPC.md against a real node
// and checks the response structurally: same JSON types, every documented
// key present (recursively; arrays by their first element), the same error
// codes. It also fails when a registered method has no section or no
// successful example.
func TestRPCDocExamples(t *testing.T) {
	raw, err := os.ReadFile(rpcDocPath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(raw), "\n")
	examples := parseRPCDoc(t, lines)
	update := os.Getenv(rpcDocUpdateEnv) == "1"
	updateChanged := os.Getenv(rpcDocUpdateEnv) == "changed"

	n := nodetest.Start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fx := newDocFixture(ctx, t, n)

	methods := registeredMethods(t)
	checkModules(t)

	documented := map[string]bool{} // methods with a successful example
	type rewrite struct {
		ex      rpcDocExample
		content []string
	}
	var rewrites []rewrite
	for _, ex := range examples {
		where := fmt.Sprintf("%s:%d (%s)", rpcDocPath, ex.line, ex.section)
		var actual []byte
		switch ex.lang {
		case "http":
			actual = fx.get(t, where, ex.request)
		default:
			body := fx.substitute(t, where, ex.request)
			actual = fx.post(t, where, body)
			if slices.Contains(requestMethods(ex.request), "chain_verifyStatus") {
				actual = fx.pollVerify(t, where, body, actual)
			}
			fx.learn(ex.request, actual)
			for _, m := range successMethods(ex.request, actual) {
				documented[m] = true
			}
		}
		if update {
			rewrites = append(rewrites, rewrite{ex, formatDocJSON(t, where, actual)})
			continue
		}
		var want, got any
		if err := json.Unmarshal([]byte(ex.response), &want); err != nil {
			t.Errorf("%s: documented response is not JSON: %v", where, err)
			continue
		}
		if err := json.Unmarshal(actual, &got); err != nil {
			t.Errorf("%s: actual response is not JSON: %v\n%s", where, err, actual)
			continue
		}
		if diffs := matchShape("$", want, got); len(diffs) > 0 && updateChanged {
			rewrites = append(rewrites, rewrite{ex, formatDocJSON(t, where, actual)})
		} else if len(diffs) > 0 {
			t.Errorf("%s: the response does not match the documented one:\n  %s\nactual response (long base64 shortened):\n%s",
				where, strings.Join(diffs, "\n  "), longBase64.ReplaceAll(actual, []byte(`"$1…"`)))
		}
	}

	if update || updateChanged {
		// Bottom up, so earlier blocks keep their line numbers.
		for i := len(rewrites) - 1; i >= 0; i-- {
			r := rewrites[i]
			lines = slices.Concat(lines[:r.ex.respFrom], r.content, lines[r.ex.respTo:])
		}
		if err := os.WriteFile(rpcDocPath, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote the responses of %s; review the diff", rpcDocPath)
		return
	}

	headings := map[string]bool{}
	for _, l := range lines {
		if m := rpcHeading.FindStringSubmatch(l); m != nil {
			headings[m[1]] = true
		}
	}
	for _, m := range methods {
		if !headings[m] {
			t.Errorf("%s: method %s has no \"### `%s`\" section", rpcDocPath, m, m)
		}
		if !documented[m] {
			t.Errorf("%s: method %s has no example with a successful response", rpcDocPath, m)
		}
	}
}

var rpcHeading = regexp.MustCompile("^###\\s+`([A-Za-z]+_[A-Za-z]+)`")

// parseRPCDoc finds every "Request:" line followed by a ```json or ```http
// block and a "Response:" line followed by a ```json block.
func parseRPCDoc(t *testing.T, lines []string) []rpcDocExample {
	t.Helper()
	var out []rpcDocExample
	section := ""
	// block reads the fenced block starting at the first non-blank line at
	// or after i; it returns the language, the content, the content's first
	// line and the closing fence's line.
	block := func(i int) (string, string, int, int) {
		for i < len(lines) && strings.TrimSpace(lines[i]) == "" {
			i++
		}
		if i >= len(lines) || !strings.HasPrefix(lines[i], "```") {
			t.Fatalf("%s:%d: want a fenced block after the label", rpcDocPath, i+1)
		}
		lang := strings.TrimSpace(strings.TrimPrefix(lines[i], "```"))
		for j := i + 1; j < len(lines); j++ {
			if strings.HasPrefix(lines[j], "```") {
				return lang, strings.Join(lines[i+1:j], "\n"), i + 1, j
			}
		}
		t.Fatalf("%s:%d: unclosed fenced block", rpcDocPath, i+1)
		return "", "", 0, 0
	}
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if strings.HasPrefix(l, "#") {
			section = strings.TrimSpace(strings.TrimLeft(l, "#"))
		}
		if l != "Request:" {
			continue
		}
		ex := rpcDocExample{line: i + 1, section: section}
		var end int
		ex.lang, ex.request, _, end = block(i + 1)
		if ex.lang != "json" && ex.lang != "http" {
			t.Fatalf("%s:%d: a request block is ```json or ```http, not %q", rpcDocPath, i+1, ex.lang)
		}
		j := end + 1
		for j < len(lines) && strings.TrimSpace(lines[j]) == "" {
			j++
		}
		if j >= len(lines) || strings.TrimSpace(lines[j]) != "Response:" {
			t.Fatalf("%s:%d: the request is not followed by a \"Response:\" line", rpcDocPath, i+1)
		}
		var lang string
		lang, ex.response, ex.respFrom, ex.respTo = block(j + 1)
		if lang != "json" {
			t.Fatalf("%s:%d: a response block is ```json, not %q", rpcDocPath, j+1, lang)
		}
		out = append(out, ex)
		i = ex.respTo
	}
	if len(out) == 0 {
		t.Fatalf("%s: no examples found", rpcDocPath)
	}
	return out
}

// registeredMethods lists namespace_method for every method rpc.NewServer
// serves, by go-ethereum's rules: exported methods of the service type,
// first letter lowered.
func registeredMethods(t *testing.T) []string {
	t.Helper()
	var out []string
	for ns, typ := range rpcServices {
		for i := range typ.NumMethod() {
			m := []rune(typ.Method(i).Name)
			m[0] = unicode.ToLower(m[0])
			out = append(out, ns+"_"+string(m))
		}
	}
	sort.Strings(out)
	if len(out) < 16 {
		t.Fatalf("found only %d methods: %v", len(out), out)
	}
	return out
}

// checkModules compares the namespaces of the gate's method table
// (rpc.MethodRules: with the gate on, the node serves nothing else, not
// even go-ethereum's rpc_modules) with rpcServices.
func checkModules(t *testing.T) {
	t.Helper()
	served := map[string]bool{}
	for m := range rpc.MethodRules() {
		ns, _, _ := strings.Cut(m, "_")
		served[ns] = true
	}
	for ns := range served {
		if _, ok := rpcServices[ns]; !ok {
			t.Errorf("the node serves namespace %q, which rpcServices (and so this test) does not know", ns)
		}
	}
	for ns := range rpcServices {
		if !served[ns] {
			t.Errorf("rpcServices names namespace %q, which the node does not serve", ns)
		}
	}
}

// requestMethods returns the method of a request, or of each call of a batch.
func requestMethods(req string) []string {
	var one struct{ Method string }
	if json.Unmarshal([]byte(req), &one) == nil {
		return []string{one.Method}
	}
	var many []struct{ Method string }
	if json.Unmarshal([]byte(req), &many) != nil {
		return nil
	}
	var out []string
	for _, c := range many {
		out = append(out, c.Method)
	}
	return out
}

// successMethods returns the methods of req whose responses carry a result.
func successMethods(req string, resp []byte) []string {
	ms := requestMethods(req)
	var one map[string]json.RawMessage
	if json.Unmarshal(resp, &one) == nil {
		if _, ok := one["result"]; ok && len(ms) == 1 {
			return ms
		}
		return nil
	}
	var many []map[string]json.RawMessage
	if json.Unmarshal(resp, &many) != nil || len(many) != len(ms) {
		return nil
	}
	var out []string
	for i, r := range many {
		if _, ok := r["result"]; ok {
			out = append(out, ms[i])
		}
	}
	return out
}

// matchShape compares an actual JSON value with a documented one: the same
// type; every documented key present, recursively; arrays by their first
// element (a documented non-empty array needs a non-empty actual one); error
// codes equal. Values otherwise may differ.
func matchShape(path string, want, got any) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: documented an object, got %s", path, jsonType(got))}
		}
		var diffs []string
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			gv, ok := g[k]
			if !ok {
				diffs = append(diffs, fmt.Sprintf("%s.%s: documented key is missing", path, k))
				continue
			}
			if k == "code" && strings.HasSuffix(path, ".error") && !reflect.DeepEqual(w[k], gv) {
				diffs = append(diffs, fmt.Sprintf("%s.code: documented error code %v, got %v", path, w[k], gv))
				continue
			}
			diffs = append(diffs, matchShape(path+"."+k, w[k], gv)...)
		}
		return diffs
	case []any:
		g, ok := got.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: documented an array, got %s", path, jsonType(got))}
		}
		if len(w) == 0 {
			return nil
		}
		if len(g) == 0 {
			return []string{fmt.Sprintf("%s: documented a non-empty array, got an empty one", path)}
		}
		if path == "$" { // a batch: every call in order
			if len(g) != len(w) {
				return []string{fmt.Sprintf("$: documented %d batch responses, got %d", len(w), len(g))}
			}
			var diffs []string
			for i := range w {
				diffs = append(diffs, matchShape(fmt.Sprintf("$[%d]", i), w[i], g[i])...)
			}
			return diffs
		}
		return matchShape(path+"[0]", w[0], g[0])
	}
	if jsonType(want) != jsonType(got) {
		return []string{fmt.Sprintf("%s: documented %s, got %s", path, jsonType(want), jsonType(got))}
	}
	return nil
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case float64:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// docFixture is the chain state the examples assume (see "The example
// chain" in docs/RPC.md) and the values that replace the doc's placeholders.
type docFixture struct {
	n         *nodetest.Node
	ctx       context.Context
	signers   map[string]*client.Signer
	txHash    types.Hash // the first audit event
	blockHash types.Hash // block 1
	verifyJob string     // the id returned by the last chain_verify example
	execTx    types.Hash // the flagged break-glass execution
	deploys   int        // contract ids handed out by the deploy placeholder
	// sessions are the sessions whose tokens the examples carry, one per
	// segment (the gate serves a method only to a session in its segment):
	// admin's in public, internal and clinical, doctor456's in critical
	// (contract calls must come from their signer's session).
	sessions map[string]*client.Client
}

// sessionFor returns the session that may call every method of req (the
// first segment wins for a batch that mixes them; unknown methods public).
func (fx *docFixture) sessionFor(t *testing.T, where, req string) *client.Client {
	t.Helper()
	seg := "public"
	for _, m := range requestMethods(req) {
		if s := docSegment(m); s != "" {
			seg = s
			break
		}
	}
	if c, ok := fx.sessions[seg]; ok {
		return c
	}
	id := "admin"
	if seg == "critical" {
		id = "doctor456"
	}
	c := fx.n.SessionClient(t, id, seg)
	fx.sessions[seg] = c
	return c
}

// docSegment is the segment of method's rule in rpc.MethodRules (exact,
// else the longest "prefix*"), or "" for a method it does not list.
func docSegment(method string) string {
	rules := rpc.MethodRules()
	if r, ok := rules[method]; ok {
		return r.Segment.String()
	}
	best, n := "", -1
	for k, r := range rules {
		if p, ok := strings.CutSuffix(k, "*"); ok && strings.HasPrefix(method, p) && len(p) > n {
			best, n = r.Segment.String(), len(p)
		}
	}
	return best
}

// restSegment is the segment of a FHIR REST path (metadata public, the
// resources clinical).
func restSegment(path string) string {
	if strings.HasPrefix(path, "/fhir/") && !strings.HasPrefix(path, "/fhir/metadata") {
		return "clinical"
	}
	return "public"
}

// newDocFixture puts the chain into the state docs/RPC.md describes.
func newDocFixture(ctx context.Context, t *testing.T, n *nodetest.Node) *docFixture {
	t.Helper()
	fx := &docFixture{n: n, ctx: ctx, signers: map[string]*client.Signer{}, sessions: map[string]*client.Client{}}
	for _, id := range []string{"doctor456", "patient123", "admin", "privacy_officer", "epic_system"} {
		fx.signers[id] = n.Signer(t, id) // one per identity: its nonces never repeat
	}
	doctor, patient, admin := fx.signers["doctor456"], fx.signers["patient123"], fx.signers["admin"]
	send := func(s *client.Signer, p types.Payload) types.Hash {
		t.Helper()
		r, err := s.Send(ctx, p)
		if err != nil {
			t.Fatalf("fixture %s: %v", p.TxType(), err)
		}
		return r.TxHash
	}
	for i, action := range []string{"view_record", "update_record", "view_record"} {
		h := send(doctor, docAuditRecord(action))
		if i == 0 {
			fx.txHash = h
		}
	}
	send(patient, &types.ConsentGrant{Patient: "patient123", ConsentType: "data_sharing", Granted: true,
		Scope: types.ConsentScope{Purposes: []string{"treatment", "research"}, Parties: []string{"doctor456", "researcher789"},
			Expiration: time.Now().Add(365 * 24 * time.Hour).UnixMilli()}})
	send(patient, &types.ConsentGrant{Patient: "patient123", ConsentType: "imaging", Granted: true,
		Scope: types.ConsentScope{Purposes: []string{"treatment"}}})
	send(patient, &types.ConsentRevoke{Patient: "patient123", ConsentType: "imaging", Reason: "moved to another provider"})
	send(admin, &types.EHRRegister{SystemID: "epic_system", Name: "Epic at St. Mary's", Vendor: "epic", SyncEnabled: true,
		SyncInterval: 300, Endpoint: "https://ehr.example.com/api", AuthMethod: "mldsa", AuditAllAccess: true, Service: "epic_system"})
	terms, err := types.ParamsFromJSON([]byte(`{"allowed_actions": ["read"], "authorized_parties": ["doctor456"], "allowed_purposes": ["treatment"], "time_zone": "UTC"}`))
	if err != nil {
		t.Fatal(err)
	}
	terms["expiration"] = time.Now().Add(365 * 24 * time.Hour).UnixMilli()
	send(admin, &types.ContractDeploy{ID: "contract123", Owner: "patient123", Source: types.ContractSource{Template: "terms", Params: terms}})
	send(fx.signers["privacy_officer"], &types.ContractDeploy{ID: "emergency", Source: types.ContractSource{Template: "break-glass"}})
	// Contract calls go through contract_execute from doctor456's critical
	// session (the gate refuses them through tx_submit).
	execute(ctx, t, n, "doctor456", docExecute())
	fx.execTx = execute(ctx, t, n, "doctor456", &types.ContractExecute{ContractID: "emergency", Action: "read", Purpose: "emergency", Patient: "patient123", Segment: "critical"}).TxHash
	b, err := n.Client.Block(ctx, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	fx.blockHash = b.Hash
	return fx
}

func docExecute() *types.ContractExecute {
	return &types.ContractExecute{ContractID: "contract123", Action: "read", Purpose: "treatment", Patient: "patient123", Resource: "Observation/bp-1"}
}

func docAuditRecord(action string) *types.AuditRecord {
	return &types.AuditRecord{EventType: "data_access", Patient: "patient123", Actor: "doctor456", Action: action,
		Purpose: "treatment", Outcome: "success", Resource: "Observation/bp-1",
		Details: map[string]string{"ip_address": "192.168.1.1", "session_id": "abc123"}}
}

var placeholderRE = regexp.MustCompile(`"<[^"<>]*>"`)

// substitute replaces each quoted placeholder of a request; every
// occurrence of a tx placeholder gets a freshly signed tx.
func (fx *docFixture) substitute(t *testing.T, where, req string) string {
	t.Helper()
	signed := func(id string, p types.Payload) string {
		tx, err := fx.signers[id].Build(p)
		if err != nil {
			t.Fatalf("%s: sign: %v", where, err)
		}
		return base64.StdEncoding.EncodeToString(tx.Encode())
	}
	return placeholderRE.ReplaceAllStringFunc(req, func(ph string) string {
		var v string
		switch ph {
		case `"<signed tx, base64>"`:
			v = signed("doctor456", docAuditRecord("view_record"))
		case `"<signed tx by patient123, base64>"`:
			v = signed("patient123", docAuditRecord("view_record"))
		case `"<signed contract_deploy tx, base64>"`:
			fx.deploys++
			v = signed("admin", &types.ContractDeploy{ID: fmt.Sprintf("policy-%d", fx.deploys), Source: types.ContractSource{
				Rules:   []types.ContractRule{{Name: "clinicians", Effect: types.EffectAllow, Condition: `"clinician" in requester_roles`}},
				Effects: []types.ContractEffect{{Key: "last_access", Expression: "block_time"}}}})
		case `"<signed contract_execute tx, base64>"`:
			// The call states the caller's session's segment and at
			// least its risk, as the gate requires of contract calls.
			call := docExecute()
			call.Segment = "critical"
			if sv, err := fx.sessionFor(t, where, `{"method": "contract_execute"}`).Session(fx.ctx); err == nil && sv.Risk != nil {
				call.Risk = int64(sv.Risk.Score)
			}
			v = signed("doctor456", call)
		case `"<signed fhir_map payload by epic_system, base64>"`:
			v = signed("epic_system", fhirMapping(t, where, req))
		case `"<execution tx hash>"`:
			v = fx.execTx.String()
		case `"<tx hash>"`:
			v = fx.txHash.String()
		case `"<block hash>"`:
			v = fx.blockHash.String()
		case `"<verify job id>"`:
			if fx.verifyJob == "" {
				t.Fatalf("%s: <verify job id> before any chain_verify example", where)
			}
			v = fx.verifyJob
		default:
			t.Fatalf("%s: unknown placeholder %s (docs/RPC.md lists the placeholders; this test must know each)", where, ph)
		}
		return `"` + v + `"`
	})
}

// fhirMapping maps the AuditEvent in a request's params[0].resource, as
// fhir_map does, for the tx the EHR signs.
func fhirMapping(t *testing.T, where, req string) *types.AuditRecord {
	t.Helper()
	var r struct {
		Params []struct {
			Resource json.RawMessage `json:"resource"`
		} `json:"params"`
	}
	if err := json.Unmarshal([]byte(placeholderRE.ReplaceAllString(req, `""`)), &r); err != nil || len(r.Params) == 0 {
		t.Fatalf("%s: want params [{\"resource\": …}]: %v", where, err)
	}
	rec, err := fhir.AuditRecordFromJSON(r.Params[0].Resource)
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	return &rec
}

// learn keeps values later examples refer to.
func (fx *docFixture) learn(req string, resp []byte) {
	if !slices.Contains(requestMethods(req), "chain_verify") {
		return
	}
	var r struct {
		Result struct{ ID string }
	}
	if json.Unmarshal(resp, &r) == nil && r.Result.ID != "" {
		fx.verifyJob = r.Result.ID
	}
}

// pollVerify repeats a chain_verifyStatus request until the job has left the
// running state, so the documented finished job (with its report) compares.
func (fx *docFixture) pollVerify(t *testing.T, where, body string, resp []byte) []byte {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var r struct {
			Result *struct{ State string }
		}
		if json.Unmarshal(resp, &r) != nil || r.Result == nil || r.Result.State != "running" {
			return resp
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the verification job is still running after 10 s", where)
		}
		time.Sleep(20 * time.Millisecond)
		resp = fx.post(t, where, body)
	}
}

func (fx *docFixture) post(t *testing.T, where, body string) []byte {
	t.Helper()
	req, err := http.NewRequestWithContext(fx.ctx, http.MethodPost, fx.n.URL, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+fx.sessionFor(t, where, body).Token())
	return fx.do(t, where, req)
}

// get runs an "GET /path" example.
func (fx *docFixture) get(t *testing.T, where, line string) []byte {
	t.Helper()
	method, path, ok := strings.Cut(strings.TrimSpace(line), " ")
	if !ok || method != http.MethodGet || !strings.HasPrefix(path, "/") {
		t.Fatalf("%s: an http request block is one line \"GET /path\", got %q", where, line)
	}
	req, err := http.NewRequestWithContext(fx.ctx, http.MethodGet, fx.n.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(path, "/fhir/") {
		if _, ok := fx.sessions[restSegment(path)]; !ok {
			fx.sessionFor(t, where, fmt.Sprintf(`{"method": %q}`, map[string]string{"public": "fhir_metadata", "clinical": "fhir_auditTrail"}[restSegment(path)]))
		}
		req.Header.Set("Authorization", "Bearer "+fx.sessions[restSegment(path)].Token())
	}
	return fx.do(t, where, req)
}

func (fx *docFixture) do(t *testing.T, where string, req *http.Request) []byte {
	t.Helper()
	resp, err := fx.n.HTTPClient(t).Do(req)
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	return bytes.TrimSpace(b)
}

var longBase64 = regexp.MustCompile(`"([A-Za-z0-9+/]{24})[A-Za-z0-9+/]{76,}={0,2}"`)

// formatDocJSON indents a response for the doc and shortens long base64
// strings (signatures, keys, raw txs) to their first 24 characters and "…".
func formatDocJSON(t *testing.T, where string, b []byte) []string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		t.Fatalf("%s: response is not JSON: %v\n%s", where, err, b)
	}
	s := longBase64.ReplaceAllString(buf.String(), `"$1…"`)
	return strings.Split(s, "\n")
}
