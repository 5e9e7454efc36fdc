package contracts

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types/ref"
)

// shuffledMap rebuilds m inserting keys in a random order (Go map layout
// then differs run to run), recursing into nested maps.
func shuffledMap(r *rand.Rand, m map[string]any) map[string]any {
	keys := sortedKeys(m)
	r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	out := make(map[string]any, len(m))
	for _, k := range keys {
		v := m[k]
		if sub, ok := v.(map[string]any); ok {
			v = shuffledMap(r, sub)
		}
		out[k] = v
	}
	return out
}

func TestSameInputsSameResultOnEveryVM(t *testing.T) {
	contracts := []*Contract{
		template(t, TemplateTerms, seedTerms()),
		template(t, TemplateBreakGlass, nil),
		template(t, TemplateQuota, map[string]any{"max": 5, "period_ms": 60_000}),
		{ID: "iter", Owner: "o", Version: 1,
			Params: map[string]any{"weights": map[string]any{"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}},
			Rules: []Rule{
				{Name: "first_key", Effect: Deny, Condition: `params.weights.exists(k, k == "zz" || 10 / params.weights[k] > 20)`},
				allowIf(`state.m.all(k, state.m[k] > 0)`),
			},
			Effects: []Effect{
				{Key: "keys", Expression: `state.m.map(k, k) + {"z": 1, "y": 2, "x": 3}.map(k, k)`},
				{Key: "m", Expression: `map_set(state.m, requester, size(state.m))`},
			}},
		{ID: "iter2", Owner: "o", Version: 1,
			Rules:   []Rule{allowIf(`state.m.exists(k, state.m[k] == 3)`)},
			Effects: []Effect{{Key: "filtered", Expression: `state.m.filter(k, state.m[k] % 2 == 1)`}}},
	}
	state := map[string]any{"m": map[string]any{"p": 1, "q": 2, "r": 3, "s": 4, "t": 5, "u": 6}}
	attrs := map[string]string{"deidentified": "true", "a": "1", "b": "2", "c": "3", "d": "4"}
	calls := []*Call{treatmentCall(), {Requester: "nurse1", Action: "read", Purpose: "emergency", Patient: "patient999",
		Segment: "critical", BlockTime: parisNight, Height: 9, Roles: []string{"b", "a", "c"}}}
	vms := []*VM{newVM(t), newVM(t), newVM(t)}
	want := map[string]string{}
	r := rand.New(rand.NewPCG(1, 2))
	for rep := range 100 {
		for ci, c := range contracts {
			for ki, base := range calls {
				for vi, vm := range vms {
					call := *base
					call.Roles = append([]string(nil), base.Roles...)
					r.Shuffle(len(call.Roles), func(i, j int) { call.Roles[i], call.Roles[j] = call.Roles[j], call.Roles[i] })
					call.Attrs = make(map[string]string)
					for k, v := range shuffledMap(r, stringMap(attrs)) {
						call.Attrs[k] = v.(string)
					}
					cc := *c
					if c.Params != nil {
						cc.Params = shuffledMap(r, c.Params)
					}
					res, err := vm.Execute(&cc, seedView(), shuffledMap(r, state), &call)
					if err != nil {
						t.Fatal(err)
					}
					b, err := res.Encode()
					if err != nil {
						t.Fatal(err)
					}
					key := fmt.Sprintf("%d/%d", ci, ki)
					if prev, ok := want[key]; !ok {
						want[key] = string(b)
						t.Logf("contract %s call %d: %v %q cost %d effects %v", c.ID, ki, res.Decision, res.Reason, res.Cost, res.Effects)
					} else if prev != string(b) {
						t.Fatalf("rep %d vm %d contract %s call %d: result differs", rep, vi, c.ID, ki)
					}
				}
			}
		}
	}
	// Comprehensions saw map keys in sorted order, for maps passed in and map literals alike.
	res, err := vms[0].Execute(contracts[3], seedView(), state, calls[0])
	if err != nil || res.Decision != Allow {
		t.Fatalf("got %+v %v", res, err)
	}
	if got := fmt.Sprint(res.Effects["keys"]); got != "[p q r s t u x y z]" {
		t.Fatalf("keys visited as %s", got)
	}
}

// panicProgram stands in for a CEL program that panics, to prove the
// last-resort recover turns it into a deterministic deny.
type panicProgram struct{ cel.Program }

func (panicProgram) Eval(any) (ref.Val, *cel.EvalDetails, error) { panic("interpreter bug") }

func TestPanicInEvaluationDenies(t *testing.T) {
	vm := newVM(t)
	p, err := vm.Compile(contract(Rule{Name: "d", Effect: Deny, Condition: "false"}, allowIf("true")))
	if err != nil {
		t.Fatal(err)
	}
	broken := *p
	broken.deny = []compiledRule{{Rule: p.deny[0].Rule, prg: panicProgram{}}}
	res, err := broken.Execute(seedView(), nil, treatmentCall())
	if err != nil || res.Decision != Deny || res.Rule != "d" || res.Reason != "rule d: internal error: interpreter bug" {
		t.Fatalf("got %+v %v", res, err)
	}
}

// TestStateViewConformance runs the StateView contract against every implementation.
func TestStateViewConformance(t *testing.T) {
	impls := map[string]func() interface {
		StateView
		SetConsent(string, string, ConsentInfo)
		SetRoles(string, ...string)
		FailWith(error)
	}{
		"MapView": func() interface {
			StateView
			SetConsent(string, string, ConsentInfo)
			SetRoles(string, ...string)
			FailWith(error)
		} {
			return &MapView{}
		},
	}
	for name, mk := range impls {
		t.Run(name, func(t *testing.T) {
			v := mk()
			if _, found, err := v.Consent("p", "t"); found || err != nil {
				t.Fatalf("empty view: found=%v err=%v", found, err)
			}
			if roles, err := v.Roles("x"); len(roles) != 0 || err != nil {
				t.Fatalf("empty view roles: %v %v", roles, err)
			}
			v.SetConsent("p", "t", ConsentInfo{Granted: true, Purposes: []string{"treatment"}})
			v.SetRoles("x", "admin")
			if c, found, err := v.Consent("p", "t"); !found || err != nil || !c.Granted {
				t.Fatalf("consent: %+v %v %v", c, found, err)
			}
			if roles, err := v.Roles("x"); len(roles) != 1 || err != nil {
				t.Fatalf("roles: %v %v", roles, err)
			}
			sentinel := errors.New("io")
			v.FailWith(sentinel)
			if _, _, err := v.Consent("p", "t"); !errors.Is(err, sentinel) {
				t.Fatalf("consent error: %v", err)
			}
			if _, err := v.Roles("x"); !errors.Is(err, sentinel) {
				t.Fatalf("roles error: %v", err)
			}
		})
	}
}

func FuzzCompileAndExecute(f *testing.F) {
	for _, s := range []string{
		`true`, `requester == "doctor456"`, `1 / 0 == 1`, `attrs["x"] == "y"`, `state.m.all(k, true)`,
		`consent(patient, "data_sharing").active`, `hour_in(attrs["tz"]) > 3`, `{"b": 1, "a": 2}.map(k, k) == ["a"]`,
		`map_set(state.m, requester, 1).size() > 0`, `requester_roles.exists(r, r.matches(purpose))`,
		`params.x.all(a, params.x.all(b, a == b))`, `(((((true)))))`, `1.5 > 1.0`, `int(purpose) > 0`,
		`size(roles(requester)) > risk`, `string(block_time).startsWith("17")`, `dyn(state).m.p + 1 > 0`,
	} {
		f.Add(s, "read", "treatment", "tz", "Europe/Paris", int64(1_700_000_000_000))
	}
	vm, err := New(TestConfig())
	if err != nil {
		f.Fatal(err)
	}
	view := seedView()
	f.Fuzz(func(t *testing.T, cond, action, purpose, attrKey, attrVal string, blockTime int64) {
		c := &Contract{ID: "fuzz", Owner: "o", Params: map[string]any{"x": []any{int64(1), "a"}},
			Rules:   []Rule{{Name: "r", Effect: Allow, Condition: cond}},
			Effects: []Effect{{Key: "e", Expression: cond}}}
		p, err := vm.Compile(c)
		if err != nil {
			return
		}
		if p.EstimatedCost() > vm.Config().DeployCostLimit {
			t.Fatalf("accepted a contract over the deploy limit: %d", p.EstimatedCost())
		}
		call := &Call{Requester: "doctor456", Action: action, Purpose: purpose, Patient: "patient123",
			BlockTime: blockTime, Attrs: map[string]string{attrKey: attrVal}}
		state := map[string]any{"m": map[string]any{"p": int64(1), "q": "s"}}
		r1, err1 := p.Execute(view, state, call)
		r2, err2 := p.Execute(view, state, call)
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("errors differ: %v / %v", err1, err2)
		}
		if err1 != nil {
			if errors.Is(err1, ErrView) {
				t.Fatalf("view error from a healthy view: %v", err1)
			}
			return
		}
		b1, e1 := r1.Encode()
		b2, e2 := r2.Encode()
		if e1 != nil || e2 != nil || string(b1) != string(b2) {
			t.Fatalf("non-deterministic result: %+v / %+v", r1, r2)
		}
		if r1.Cost > vm.Config().ExecCostLimit && r1.Reason != ReasonOverBudget {
			t.Fatalf("cost %d over the limit without failing: %+v", r1.Cost, r1)
		}
	})
}

func BenchmarkExecuteTerms(b *testing.B) {
	vm := newVM(b)
	p, err := vm.Compile(template(b, TemplateTerms, seedTerms()))
	if err != nil {
		b.Fatal(err)
	}
	view, call := seedView(), treatmentCall()
	b.ReportAllocs()
	for b.Loop() {
		res, err := p.Execute(view, nil, call)
		if err != nil || res.Decision != Allow {
			b.Fatal(res, err)
		}
	}
}

func BenchmarkExecute20Rules(b *testing.B) {
	rules := make([]Rule, 0, 20)
	for i := range 19 {
		rules = append(rules, Rule{Name: fmt.Sprintf("deny_%02d", i), Effect: Deny,
			Condition: fmt.Sprintf(`risk > %d && action == "delete-%d" || !(purpose in consent(patient, "data_sharing").purposes)`, 90+i%10, i)})
	}
	rules = append(rules, Rule{Name: "allow", Effect: Allow, Condition: `"physician" in roles(requester) && hour_in("Europe/Paris") >= 8`})
	vm := newVM(b)
	p, err := vm.Compile(&Contract{ID: "twenty", Owner: "o", Rules: rules})
	if err != nil {
		b.Fatal(err)
	}
	view, call := seedView(), treatmentCall()
	b.ReportAllocs()
	for b.Loop() {
		res, err := p.Execute(view, nil, call)
		if err != nil || res.Decision != Allow {
			b.Fatal(res, err)
		}
	}
}
