package zerotrust

import (
	"fmt"
	"strconv"
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/interpreter"
)

// The seed's policy names.
const (
	PolicyPatientDataAccess = "patient_data_access"
	PolicyClinicalDecision  = "clinical_decision"
	PolicyAdministrative    = "administrative"
)

// Policy is a named list of CEL rules; a request passes when every rule is
// true. The first false rule's Reason becomes the Decision's reason.
//
// Rules see these variables (and nothing else: no clock, no I/O):
//
//	session.identity  string        the authenticated identity id
//	session.roles     list(string)  its current roles (from Identities)
//	session.risk      int           this request's risk score, 0-100
//	session.segment   string        "public", "internal", "clinical" or "critical"
//	session.mfa       bool          whether the session passed TOTP
//	session.device    string        the device key id signed at login
//	request.method    string        the RPC method name
//	request.resource  string        what the request is about (e.g. a FHIR reference)
//
// Request values are data: a resource string is never spliced into an
// expression, so quotes, CEL or SQL in it cannot change a rule's meaning.
type Policy struct {
	Name  string `json:"name"`
	Rules []Rule `json:"rules"`
}

// Rule is one boolean CEL expression and the reason shown when it is false.
type Rule struct {
	Expr   string `json:"expr"`
	Reason string `json:"reason"`
}

// SeedPolicy builds the seed's shape of policy: one of roles, risk at most
// maxRisk, the session in segment, and MFA when mfa is set.
func SeedPolicy(name string, roles []string, maxRisk int, segment Segment, mfa bool) Policy {
	quoted := make([]string, len(roles))
	for i, r := range roles {
		quoted[i] = strconv.Quote(r)
	}
	p := Policy{Name: name, Rules: []Rule{
		{Expr: "session.roles.exists(r, r in [" + strings.Join(quoted, ", ") + "])", Reason: "requires role " + strings.Join(roles, " or ")},
		{Expr: "session.risk <= " + strconv.Itoa(maxRisk), Reason: "risk score above " + strconv.Itoa(maxRisk)},
		{Expr: "session.segment == " + strconv.Quote(segment.String()), Reason: "requires segment " + segment.String()},
	}}
	if mfa {
		p.Rules = append(p.Rules, Rule{Expr: "session.mfa", Reason: "requires MFA"})
	}
	return p
}

// DefaultPolicies returns the seed's three policies.
func DefaultPolicies() []Policy {
	return []Policy{
		SeedPolicy(PolicyPatientDataAccess, []string{"clinician", "admin"}, 30, SegmentClinical, true),
		SeedPolicy(PolicyClinicalDecision, []string{"clinician", "physician"}, 20, SegmentCritical, true),
		SeedPolicy(PolicyAdministrative, []string{"admin"}, 40, SegmentInternal, true),
	}
}

// Decision is the outcome of one access check.
type Decision struct {
	Allowed bool   `json:"allowed"`
	Policy  string `json:"policy,omitempty"` // the policy that decided, if one did
	Reason  string `json:"reason"`
	Risk    Risk   `json:"risk"`
}

// PolicyInput is what a policy sees.
type PolicyInput struct {
	Identity string
	Roles    []string
	Risk     int
	Segment  Segment
	MFA      bool
	Device   string
	Method   string
	Resource string
}

// activation resolves the policy variables without building a map.
type activation struct{ in *PolicyInput }

func (a activation) ResolveName(name string) (any, bool) {
	switch name {
	case "session.identity":
		return a.in.Identity, true
	case "session.roles":
		return a.in.Roles, true
	case "session.risk":
		return int64(a.in.Risk), true
	case "session.segment":
		return a.in.Segment.String(), true
	case "session.mfa":
		return a.in.MFA, true
	case "session.device":
		return a.in.Device, true
	case "request.method":
		return a.in.Method, true
	case "request.resource":
		return a.in.Resource, true
	}
	return nil, false
}

func (activation) Parent() interpreter.Activation { return nil }

// Size bounds assumed by the static cost check.
const (
	maxRolesForCost  = 64
	maxStringForCost = 4096
)

type sizeEstimator struct{}

func (sizeEstimator) EstimateSize(n cost.AstNode) *cost.SizeEstimate {
	if n.Path() == nil {
		return nil
	}
	switch n.Type().Kind() {
	case types.ListKind:
		e := cost.RangedSizeEstimate(0, maxRolesForCost)
		return &e
	case types.StringKind:
		e := cost.RangedSizeEstimate(0, maxStringForCost)
		return &e
	}
	return nil
}

func (sizeEstimator) EstimateCallCost(string, string, *cost.AstNode, []cost.AstNode) *cost.CallEstimate {
	return nil
}

type compiledRule struct {
	prg    cel.Program
	reason string
}

type compiledPolicy struct {
	name  string
	all   cel.Program // the conjunction: one evaluation on the allow path
	rules []compiledRule
}

// Policies is a compiled, immutable set of policies; safe for concurrent use.
type Policies struct {
	byName map[string]*compiledPolicy
}

func policyEnv() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("session.identity", cel.StringType),
		cel.Variable("session.roles", cel.ListType(cel.StringType)),
		cel.Variable("session.risk", cel.IntType),
		cel.Variable("session.segment", cel.StringType),
		cel.Variable("session.mfa", cel.BoolType),
		cel.Variable("session.device", cel.StringType),
		cel.Variable("request.method", cel.StringType),
		cel.Variable("request.resource", cel.StringType),
	)
}

// CompilePolicies type-checks every rule, requires it to be boolean, and
// refuses any rule whose worst-case cost (with up to 64 roles and 4 KiB
// strings) exceeds costLimit. The same limit is enforced at evaluation.
func CompilePolicies(ps []Policy, costLimit uint64) (*Policies, error) {
	env, err := policyEnv()
	if err != nil {
		return nil, fmt.Errorf("%w: environment: %v", ErrPolicy, err)
	}
	compile := func(where, expr string) (cel.Program, error) {
		ast, iss := env.Compile(expr)
		if iss != nil && iss.Err() != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrPolicy, where, iss.Err())
		}
		if ast.OutputType() != cel.BoolType {
			return nil, fmt.Errorf("%w: %s: yields %v, want bool", ErrPolicy, where, ast.OutputType())
		}
		est, err := env.EstimateCost(ast, sizeEstimator{})
		if err != nil {
			return nil, fmt.Errorf("%w: %s: cost: %v", ErrPolicy, where, err)
		}
		if est.Max > costLimit {
			return nil, fmt.Errorf("%w: %s: worst-case cost %d exceeds limit %d", ErrPolicy, where, est.Max, costLimit)
		}
		prg, err := env.Program(ast, cel.CostLimit(costLimit), cel.EvalOptions(cel.OptOptimize))
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrPolicy, where, err)
		}
		return prg, nil
	}
	out := &Policies{byName: make(map[string]*compiledPolicy, len(ps))}
	for i, p := range ps {
		if p.Name == "" || len(p.Rules) == 0 {
			return nil, fmt.Errorf("%w: policies[%d]: needs a name and at least one rule", ErrPolicy, i)
		}
		if _, dup := out.byName[p.Name]; dup {
			return nil, fmt.Errorf("%w: policy %q defined twice", ErrPolicy, p.Name)
		}
		cp := &compiledPolicy{name: p.Name}
		parts := make([]string, len(p.Rules))
		for j, r := range p.Rules {
			prg, err := compile(fmt.Sprintf("policy %q rule %d", p.Name, j), r.Expr)
			if err != nil {
				return nil, err
			}
			reason := r.Reason
			if reason == "" {
				reason = "rule " + strconv.Itoa(j) + " false: " + r.Expr
			}
			cp.rules = append(cp.rules, compiledRule{prg: prg, reason: reason})
			parts[j] = "(" + r.Expr + ")"
		}
		// The conjunction's cost is at most the sum of the rules' costs.
		if cp.all, err = compileSum(env, strings.Join(parts, " && "), costLimit*uint64(len(p.Rules))); err != nil {
			return nil, fmt.Errorf("%w: policy %q: %v", ErrPolicy, p.Name, err)
		}
		out.byName[p.Name] = cp
	}
	return out, nil
}

func compileSum(env *cel.Env, expr string, limit uint64) (cel.Program, error) {
	ast, iss := env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		return nil, iss.Err()
	}
	return env.Program(ast, cel.CostLimit(limit), cel.EvalOptions(cel.OptOptimize))
}

// Has reports whether a policy named name exists.
func (p *Policies) Has(name string) bool { _, ok := p.byName[name]; return ok }

// Evaluate runs policy name over in. An unknown policy, an evaluation error
// or a cost overrun denies (fail closed) and is reported as ErrPolicy; a
// false rule denies with ErrPolicyDenied and the rule's reason.
func (p *Policies) Evaluate(name string, in *PolicyInput) (Decision, error) {
	cp, ok := p.byName[name]
	if !ok {
		return Decision{Policy: name, Reason: "no such policy"}, fmt.Errorf("%w: no policy named %q", ErrPolicy, name)
	}
	act := activation{in}
	if ok, err := evalBool(cp.all, act); err != nil {
		return Decision{Policy: name, Reason: "evaluation failed"}, fmt.Errorf("%w: policy %q: %v", ErrPolicy, name, err)
	} else if ok {
		return Decision{Allowed: true, Policy: name, Reason: "policy " + name + " allows"}, nil
	}
	for _, r := range cp.rules {
		ok, err := evalBool(r.prg, act)
		if err != nil {
			return Decision{Policy: name, Reason: "evaluation failed"}, fmt.Errorf("%w: policy %q: %v", ErrPolicy, name, err)
		}
		if !ok {
			return Decision{Policy: name, Reason: r.reason}, fmt.Errorf("%w: %s: %s", ErrPolicyDenied, name, r.reason)
		}
	}
	// The conjunction was false but every rule alone is true: impossible
	// for pure boolean rules.
	return Decision{Policy: name, Reason: "policy inconsistent"}, fmt.Errorf("%w: policy %q: conjunction false, every rule true", ErrPolicy, name)
}

func evalBool(prg cel.Program, act interpreter.Activation) (bool, error) {
	out, _, err := prg.Eval(act)
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("result %v is not bool", out)
	}
	return b, nil
}
