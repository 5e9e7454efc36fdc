package contracts

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

// Block times used by the tests: 2026-03-02 (a Monday) at 10:00 and 23:00 in Paris.
var (
	parisMorning = time.Date(2026, 3, 2, 10, 0, 0, 0, mustZone("Europe/Paris")).UnixMilli()
	parisNight   = time.Date(2026, 3, 2, 23, 0, 0, 0, mustZone("Europe/Paris")).UnixMilli()
)

func mustZone(name string) *time.Location {
	loc, err := loadZone(name)
	if err != nil {
		panic(err)
	}
	return loc
}

func newVM(t testing.TB, mod ...func(*Config)) *VM {
	t.Helper()
	cfg := TestConfig()
	for _, m := range mod {
		m(&cfg)
	}
	vm, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return vm
}

func contract(rules ...Rule) *Contract {
	return &Contract{ID: "contract123", Owner: "patient123", Version: 1, Rules: rules}
}

func allowIf(cond string) Rule { return Rule{Name: "r", Effect: Allow, Condition: cond} }

func template(t testing.TB, name string, params map[string]any) *Contract {
	t.Helper()
	c, err := FromTemplate(name, params)
	if err != nil {
		t.Fatal(err)
	}
	c.ID, c.Owner, c.Version = "contract-"+name, "patient123", 1
	return c
}

func treatmentCall() *Call {
	return &Call{Requester: "doctor456", Roles: []string{"clinician"}, Action: "read", Purpose: "treatment",
		Patient: "patient123", Resource: "Observation/1", Segment: "clinical", Risk: 10, BlockTime: parisMorning, Height: 7}
}

func seedView() *MapView {
	v := &MapView{}
	v.SetConsent("patient123", "data_sharing", ConsentInfo{Granted: true, Purposes: []string{"treatment", "research"},
		Parties: []string{"doctor456", "researcher789"}, Expiration: time.Date(2027, 12, 31, 23, 59, 59, 0, time.UTC).UnixMilli()})
	v.SetConsent("patient123", "research", ConsentInfo{Granted: true, Purposes: []string{"research"}})
	v.SetConsent("patient999", "data_sharing", ConsentInfo{Granted: false, Purposes: []string{"treatment"}})
	v.SetRoles("doctor456", "clinician", "physician")
	v.SetRoles("nurse1", "clinician")
	v.SetRoles("researcher789", "researcher")
	return v
}

func TestConfigValidateNamesEveryBadField(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	bad := DefaultConfig()
	bad.ExecCostLimit, bad.MaxRules, bad.CacheSize = 0, 0, -1
	err := bad.Validate()
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("got %v", err)
	}
	for _, f := range []string{"ExecCostLimit", "MaxRules", "CacheSize"} {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error does not name %s: %v", f, err)
		}
	}
	if _, err := New(bad); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("New accepted a bad config: %v", err)
	}
}

func TestCompileRejectsBadContracts(t *testing.T) {
	nested := func(depth int) string {
		s := "true"
		for i := range depth {
			s = fmt.Sprintf("params.x.all(v%d, %s)", i, s)
		}
		return s
	}
	cases := []struct {
		name    string
		c       *Contract
		wantErr error
		want    string // substring of the message
	}{
		{"syntax error", contract(allowIf(`requester == `)), ErrCompile, "Syntax error"},
		{"undeclared variable", contract(allowIf(`reqester == "a"`)), ErrCompile, "undeclared reference to 'reqester'"},
		{"wrong argument type", contract(allowIf(`consent(patient, 1).granted`)), ErrCompile, "found no matching overload for 'consent'"},
		{"condition not bool", contract(allowIf(`requester`)), ErrCompile, "must be bool"},
		{"double literal", contract(allowIf(`1.5 == 1.5`)), ErrCompile, "floating point is not allowed"},
		{"double conversion", contract(allowIf(`double(risk) > 0.0`)), ErrCompile, "floating point is not allowed"},
		{"double effect", &Contract{ID: "c", Owner: "o", Rules: []Rule{allowIf("true")},
			Effects: []Effect{{Key: "ratio", Expression: `double(risk) / 3.0`}}}, ErrCompile, "floating point"},
		{"timestamp effect", &Contract{ID: "c", Owner: "o", Rules: []Rule{allowIf("true")},
			Effects: []Effect{{Key: "at", Expression: `timestamp("2026-01-01T00:00:00Z")`}}}, ErrCompile, "cannot store a value of type"},
		{"deep nesting", contract(allowIf(strings.Repeat("(", 200) + "true" + strings.Repeat(")", 200))), ErrCompile, "recursion"},
		{"estimate too high", contract(allowIf(nested(3))), ErrCostEstimate, "exceeds the deploy limit 1000000"},
		{"estimate unbounded", contract(allowIf(nested(7))), ErrCostEstimate, "unbounded"},
		{"no rules", &Contract{ID: "c", Owner: "o"}, ErrInvalidContract, "at least one rule"},
		{"duplicate rule", contract(allowIf("true"), allowIf("false")), ErrInvalidContract, "duplicate rule"},
		{"bad effect", contract(Rule{Name: "r", Effect: 7, Condition: "true"}), ErrInvalidContract, "not allow or deny"},
		{"bad id", &Contract{ID: "a b", Owner: "o", Rules: []Rule{allowIf("true")}}, ErrInvalidContract, "not allowed"},
		{"source too long", contract(allowIf(`requester == "` + strings.Repeat("a", 5000) + `"`)), ErrInvalidContract, "limit 4096"},
		{"float param", &Contract{ID: "c", Owner: "o", Params: map[string]any{"p": 0.5}, Rules: []Rule{allowIf("true")}}, ErrInvalidValue, "floating point"},
		{"duplicate effect key", &Contract{ID: "c", Owner: "o", Rules: []Rule{allowIf("true")},
			Effects: []Effect{{Key: "k", Expression: "1"}, {Key: "k", Expression: "2"}}}, ErrInvalidContract, "duplicate state key"},
	}
	vm := newVM(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := vm.Compile(tc.c)
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %v containing %q", err, tc.wantErr, tc.want)
			}
		})
	}
}

func TestExecutionFailuresDenyDeterministically(t *testing.T) {
	manyRoles := make([]string, 64)
	for i := range manyRoles {
		manyRoles[i] = fmt.Sprintf("role-%02d", i)
	}
	cases := []struct {
		name       string
		c          *Contract
		call       func(*Call)
		state      map[string]any
		wantReason string
		wantRule   string
	}{
		{"dyn condition not bool", contract(allowIf(`consent(patient, "data_sharing").purposes`)), nil, nil,
			"rule r: condition returned list, not bool", "r"},
		{"divide by zero", contract(allowIf(`risk / (risk - risk) > 0`)), nil, nil,
			"rule r: evaluation error: division by zero", "r"},
		{"missing attribute key", contract(allowIf(`attrs["deidentified"] == "true"`)), nil, nil,
			"rule r: evaluation error: no such key: deidentified", "r"},
		{"missing state key", contract(allowIf(`state.count < 3`)), nil, nil,
			"rule r: evaluation error: no such key: count", "r"},
		{"error in deny rule denies", contract(Rule{Name: "d", Effect: Deny, Condition: `params.limit > 1`}, allowIf("true")), nil, nil,
			"rule d: evaluation error: no such key: limit", "d"},
		{"unknown time zone", contract(allowIf(`hour_in("Mars/Olympus") > 1`)), nil, nil,
			`rule r: evaluation error: hour_in: unknown time zone "Mars/Olympus"`, "r"},
		{"over budget at execution", contract(allowIf(`requester_roles.all(a, requester_roles.all(b, a + b != ""))`)),
			func(c *Call) { c.Roles = manyRoles }, nil, ReasonOverBudget, "r"},
		{"effect error denies", &Contract{ID: "c", Owner: "o", Rules: []Rule{allowIf("true")},
			Effects: []Effect{{Key: "n", Expression: `state.n + 1`}}}, nil, nil, "effect n: evaluation error: no such key: n", "n"},
		{"effect int overflow denies", &Contract{ID: "c", Owner: "o", Rules: []Rule{allowIf("true")},
			Effects: []Effect{{Key: "n", Expression: `state.n + 1`}}}, nil, map[string]any{"n": int64(math.MaxInt64)},
			"effect n: evaluation error: integer overflow", "n"},
	}
	vm := newVM(t, func(c *Config) { c.ExecCostLimit = 5000 })
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			call := treatmentCall()
			if tc.call != nil {
				tc.call(call)
			}
			var first []byte
			for range 3 { // the same failure, the same bytes, every time
				res, err := vm.Execute(tc.c, seedView(), tc.state, call)
				if err != nil {
					t.Fatal(err)
				}
				if res.Decision != Deny || res.Reason != tc.wantReason || res.Rule != tc.wantRule || len(res.Effects) != 0 {
					t.Fatalf("got %+v, want deny %q by %q", res, tc.wantReason, tc.wantRule)
				}
				b, err := res.Encode()
				if err != nil {
					t.Fatal(err)
				}
				if first != nil && string(b) != string(first) {
					t.Fatal("result bytes differ between runs")
				}
				first = b
			}
		})
	}
}

func TestOverBudgetAcrossRulesIsCumulative(t *testing.T) {
	// Each rule alone fits the budget; together they do not.
	rule := func(name string) Rule {
		return Rule{Name: name, Effect: Deny, Condition: `requester_roles.exists(r, r == "nobody")`}
	}
	c := contract(rule("a"), rule("b"), rule("c"), allowIf("true"))
	roles := make([]string, 40)
	for i := range roles {
		roles[i] = fmt.Sprintf("role-%02d", i)
	}
	call := treatmentCall()
	call.Roles = roles
	one := newVM(t)
	res, err := one.Execute(contract(rule("a"), allowIf("true")), seedView(), nil, call)
	if err != nil || res.Decision != Allow {
		t.Fatalf("single rule: %+v %v", res, err)
	}
	limit := res.Cost*2 + 1 // room for two rules, not three
	vm := newVM(t, func(c *Config) { c.ExecCostLimit = limit })
	res, err = vm.Execute(c, seedView(), nil, call)
	if err != nil {
		t.Fatal(err)
	}
	if res.Decision != Deny || res.Reason != ReasonOverBudget || res.Rule != "c" || res.Cost <= limit {
		t.Fatalf("got %+v, want over budget in rule c with cost > %d", res, limit)
	}
}

func TestBadCallsAndStatesAreRejected(t *testing.T) {
	deep := map[string]any{"v": 1}
	for range 10 {
		deep = map[string]any{"n": deep}
	}
	bigAttrs := map[string]string{}
	for i := range 40 {
		bigAttrs[fmt.Sprintf("k%d", i)] = "v"
	}
	wideAttrs := map[string]string{}
	for i := range 30 {
		wideAttrs[fmt.Sprintf("k%d", i)] = strings.Repeat("x", 1000)
	}
	hugeList := make([]any, 300)
	for i := range hugeList {
		hugeList[i] = int64(i)
	}
	cases := []struct {
		name    string
		call    func(*Call)
		state   map[string]any
		wantErr error
		want    string
	}{
		{"nil-equivalent requester", func(c *Call) { c.Requester = "" }, nil, ErrInvalidCall, "requester: required"},
		{"long string", func(c *Call) { c.Resource = strings.Repeat("r", 2000) }, nil, ErrInvalidCall, "resource: 2000 bytes"},
		{"bad utf-8", func(c *Call) { c.Purpose = "\xff" }, nil, ErrInvalidCall, "not UTF-8"},
		{"too many roles", func(c *Call) { c.Roles = make([]string, 65) }, nil, ErrInvalidCall, "roles: 65"},
		{"too many attrs", func(c *Call) { c.Attrs = bigAttrs }, nil, ErrInvalidCall, "attrs: 40 entries"},
		{"context too large", func(c *Call) { c.Attrs = wideAttrs }, nil, ErrInvalidCall, "limit 16384"},
		{"risk out of range", func(c *Call) { c.Risk = 101 }, nil, ErrInvalidCall, "risk"},
		{"negative block time", func(c *Call) { c.BlockTime = -1 }, nil, ErrInvalidCall, "block_time"},
		{"deep state", nil, deep, ErrInvalidValue, "nested deeper than 8"},
		{"huge state list", nil, map[string]any{"l": hugeList}, ErrInvalidValue, "300 elements"},
		{"float state", nil, map[string]any{"f": 1.5}, ErrInvalidValue, "floating point"},
		{"uint overflow", nil, map[string]any{"u": uint64(math.MaxUint64)}, ErrInvalidValue, "overflows"},
		{"non-string key", nil, map[string]any{"m": map[any]any{1: 2}}, ErrInvalidValue, "only string keys"},
	}
	vm := newVM(t)
	c := contract(allowIf("true"))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			call := treatmentCall()
			if tc.call != nil {
				tc.call(call)
			}
			res, err := vm.Execute(c, seedView(), tc.state, call)
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.want) || res != nil {
				t.Fatalf("got %v %v, want %v containing %q", res, err, tc.wantErr, tc.want)
			}
		})
	}
	if _, err := vm.Execute(c, seedView(), nil, nil); !errors.Is(err, ErrInvalidCall) {
		t.Fatalf("nil call: %v", err)
	}
}

func TestDenyWinsAndReasonsNameTheRule(t *testing.T) {
	c := contract(
		Rule{Name: "treating", Effect: Allow, Condition: `purpose == "treatment"`},
		Rule{Name: "high_risk", Effect: Deny, Condition: `risk > 50`},
	)
	vm := newVM(t)
	call := treatmentCall()
	res, err := vm.Execute(c, seedView(), nil, call)
	if err != nil || res.Decision != Allow || res.Reason != "allowed by rule treating" || res.Rule != "treating" {
		t.Fatalf("got %+v %v", res, err)
	}
	call.Risk = 80
	res, err = vm.Execute(c, seedView(), nil, call)
	if err != nil || res.Decision != Deny || res.Reason != "denied by rule high_risk" || res.Rule != "high_risk" {
		t.Fatalf("deny must win over allow: %+v %v", res, err)
	}
	call.Risk, call.Purpose = 0, "marketing"
	res, err = vm.Execute(c, seedView(), nil, call)
	if err != nil || res.Decision != Deny || res.Reason != ReasonNoRule || res.Rule != "" {
		t.Fatalf("no matching allow must deny: %+v %v", res, err)
	}
}

func TestHostFunctions(t *testing.T) {
	cases := []struct {
		cond string
		want Decision
	}{
		{`consent(patient, "data_sharing").exists && consent(patient, "data_sharing").granted`, Allow},
		{`consent(patient, "data_sharing").purposes == ["research", "treatment"]`, Allow}, // sorted
		{`consent(patient, "data_sharing").expiration > block_time`, Allow},
		{`consent(patient, "nope").exists`, Deny},
		{`consent("patient999", "data_sharing").exists && !consent("patient999", "data_sharing").active`, Allow},
		{`roles(requester) == ["clinician", "physician"]`, Allow},
		{`roles("stranger") == []`, Allow},
		{`hour_in("Europe/Paris") == 10 && hour_in("UTC") == 9`, Allow},
		{`weekday_in("Europe/Paris") == 1`, Allow},
		{`{"b": 1, "a": 2, "c": 3}.map(k, k) == ["a", "b", "c"]`, Allow}, // literal maps iterate in key order
		{`map_set({"b": 1}, "a", 2).map(k, k) == ["a", "b"]`, Allow},
		{`requester_roles == ["admin", "clinician"]`, Allow}, // sorted, deduplicated
		{`block_height == 7 && contract_id == "contract123" && owner == "patient123"`, Allow},
	}
	vm := newVM(t)
	for _, tc := range cases {
		t.Run(tc.cond, func(t *testing.T) {
			call := treatmentCall()
			call.Roles = []string{"clinician", "admin", "clinician"}
			res, err := vm.Execute(contract(allowIf(tc.cond)), seedView(), nil, call)
			if err != nil || res.Decision != tc.want {
				t.Fatalf("got %+v %v, want %v", res, err, tc.want)
			}
		})
	}
}

func TestViewFailureIsAnErrorNotADecision(t *testing.T) {
	vm := newVM(t)
	for _, cond := range []string{`consent(patient, "data_sharing").granted`, `"physician" in roles(requester)`} {
		view := seedView()
		view.FailWith(errors.New("disk on fire"))
		res, err := vm.Execute(contract(allowIf(cond)), view, nil, treatmentCall())
		if !errors.Is(err, ErrView) || !strings.Contains(err.Error(), "disk on fire") || res != nil {
			t.Fatalf("%s: got %+v %v", cond, res, err)
		}
		res, err = vm.Execute(contract(allowIf(cond)), panicView{}, nil, treatmentCall())
		if !errors.Is(err, ErrView) || !strings.Contains(err.Error(), "panic") || res != nil {
			t.Fatalf("%s with panicking view: got %+v %v", cond, res, err)
		}
	}
	oversized := seedView()
	oversized.SetRoles("doctor456", make([]string, 65)...)
	if _, err := vm.Execute(contract(allowIf(`"x" in roles(requester)`)), oversized, nil, treatmentCall()); !errors.Is(err, ErrView) {
		t.Fatalf("oversized view answer: %v", err)
	}
}

type panicView struct{}

func (panicView) Consent(string, string) (ConsentInfo, bool, error) { panic("boom") }
func (panicView) Roles(string) ([]string, error)                    { panic("boom") }

func TestCompileOnceAndEvict(t *testing.T) {
	vm := newVM(t)
	c := template(t, TemplateTerms, map[string]any{"allowed_actions": []string{"read"}})
	done := make(chan *Program)
	for range 16 {
		go func() {
			p, err := vm.Compile(c)
			if err != nil {
				t.Error(err)
			}
			done <- p
		}()
	}
	first := <-done
	for range 15 {
		if p := <-done; p != first {
			t.Fatal("concurrent compiles returned different programs")
		}
	}
	if n := vm.Compiles(); n != 1 {
		t.Fatalf("compiled %d times, want 1", n)
	}
	for i := range vm.Config().CacheSize {
		other := *c
		other.Version = uint64(100 + i)
		if _, err := vm.Compile(&other); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := vm.Compile(c); err != nil {
		t.Fatal(err)
	}
	if n, want := vm.Compiles(), uint64(vm.Config().CacheSize+2); n != want {
		t.Fatalf("after eviction compiled %d times, want %d (LRU bound)", n, want)
	}
}

func TestEncodingIsCanonical(t *testing.T) {
	a := &Contract{ID: "c", Owner: "o", Version: 2, Params: map[string]any{"n": int(5), "l": []string{"x"}, "m": map[string]any{"b": uint8(1), "a": true}},
		Rules: []Rule{allowIf("true")}}
	b := &Contract{ID: "c", Owner: "o", Version: 2, Params: map[string]any{"m": map[string]any{"a": true, "b": int64(1)}, "l": []any{"x"}, "n": uint64(5)},
		Rules: []Rule{allowIf("true")}}
	cfg := DefaultConfig()
	for _, c := range []*Contract{a, b} {
		if err := c.ValidateBasic(cfg); err != nil {
			t.Fatal(err)
		}
	}
	ha, _ := a.Hash()
	hb, _ := b.Hash()
	if ha != hb {
		t.Fatal("equal contracts with different Go integer kinds hash differently")
	}
	enc, err := a.Encode()
	if err != nil {
		t.Fatal(err)
	}
	dec, err := DecodeContract(enc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := dec.Hash(); h != ha {
		t.Fatal("decode/encode changed the version hash")
	}
	if _, ok := dec.Params["n"].(int64); !ok {
		t.Fatalf("decoded integer is %T, want int64", dec.Params["n"])
	}
	b.Version = 3
	if hb, _ = b.Hash(); hb == ha {
		t.Fatal("version not covered by the hash")
	}

	vm := newVM(t)
	q := template(t, TemplateQuota, map[string]any{"max": 3, "period_ms": 60_000})
	res, err := vm.Execute(q, seedView(), nil, treatmentCall())
	if err != nil || res.Decision != Allow {
		t.Fatal(res, err)
	}
	rb, err := res.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeResult(rb, cfg)
	if err != nil {
		t.Fatal(err)
	}
	rb2, _ := back.Encode()
	if string(rb) != string(rb2) || back.Version != res.Version || back.Cost != res.Cost {
		t.Fatal("result does not round-trip")
	}
	if _, err := DecodeResult([]byte{0xff}, cfg); err == nil {
		t.Fatal("garbage decoded")
	}
}
