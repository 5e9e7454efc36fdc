package zerotrust

import (
	"errors"
	"strings"
	"testing"
)

func TestSeedPoliciesDecide(t *testing.T) {
	pols, err := CompilePolicies(DefaultPolicies(), 10_000)
	if err != nil {
		t.Fatal(err)
	}
	clin := PolicyInput{Roles: []string{"clinician"}, Risk: 10, Segment: SegmentClinical, MFA: true}
	tests := []struct {
		name   string
		policy string
		edit   func(*PolicyInput)
		reason string // empty: allowed
	}{
		{"clinician reads patient data", PolicyPatientDataAccess, nil, ""},
		{"admin reads patient data", PolicyPatientDataAccess, func(p *PolicyInput) { p.Roles = []string{"admin"} }, ""},
		{"researcher refused", PolicyPatientDataAccess, func(p *PolicyInput) { p.Roles = []string{"researcher"} }, "requires role clinician or admin"},
		{"risk 30 passes", PolicyPatientDataAccess, func(p *PolicyInput) { p.Risk = 30 }, ""},
		{"risk 31 refused", PolicyPatientDataAccess, func(p *PolicyInput) { p.Risk = 31 }, "risk score above 30"},
		{"wrong segment", PolicyPatientDataAccess, func(p *PolicyInput) { p.Segment = SegmentInternal }, "requires segment clinical"},
		{"no MFA", PolicyPatientDataAccess, func(p *PolicyInput) { p.MFA = false }, "requires MFA"},
		{"physician decides", PolicyClinicalDecision, func(p *PolicyInput) { p.Roles = []string{"physician"}; p.Segment = SegmentCritical }, ""},
		{"decision at risk 21", PolicyClinicalDecision, func(p *PolicyInput) { p.Risk = 21; p.Segment = SegmentCritical }, "risk score above 20"},
		{"admin administers", PolicyAdministrative, func(p *PolicyInput) { p.Roles = []string{"admin"}; p.Segment = SegmentInternal; p.Risk = 40 }, ""},
		{"clinician cannot administer", PolicyAdministrative, func(p *PolicyInput) { p.Segment = SegmentInternal }, "requires role admin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := clin
			in.Roles = append([]string(nil), clin.Roles...)
			if tt.edit != nil {
				tt.edit(&in)
			}
			d, err := pols.Evaluate(tt.policy, &in)
			if tt.reason == "" {
				if err != nil || !d.Allowed {
					t.Fatalf("refused: %v %+v", err, d)
				}
				return
			}
			if !errors.Is(err, ErrPolicyDenied) || d.Allowed || d.Reason != tt.reason || d.Policy != tt.policy {
				t.Fatalf("got %v %+v, want reason %q", err, d, tt.reason)
			}
		})
	}
	if _, err := pols.Evaluate("nope", &clin); !errors.Is(err, ErrPolicy) {
		t.Fatalf("unknown policy: %v", err)
	}
}

func TestPolicyCompileValidation(t *testing.T) {
	tests := []struct {
		name string
		expr string
		want string
	}{
		{"syntax", `session.risk <=`, "Syntax error"},
		{"not bool", `session.risk + 1`, "want bool"},
		{"unknown variable", `session.password == "x"`, "undeclared reference"},
		{"type error", `session.risk == "high"`, "no matching overload"},
		{"too costly", `session.roles.all(a, session.roles.all(b, session.roles.all(c, a + b + c != request.resource)))`, "exceeds limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := CompilePolicies([]Policy{{Name: "p", Rules: []Rule{{Expr: tt.expr}}}}, 10_000)
			if !errors.Is(err, ErrPolicy) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want ErrPolicy containing %q", err, tt.want)
			}
		})
	}
	if _, err := CompilePolicies([]Policy{{Name: "p", Rules: []Rule{{Expr: "true"}}}, {Name: "p", Rules: []Rule{{Expr: "true"}}}}, 10_000); !errors.Is(err, ErrPolicy) {
		t.Fatalf("duplicate: %v", err)
	}
	if _, err := CompilePolicies([]Policy{{Name: "p"}}, 10_000); !errors.Is(err, ErrPolicy) {
		t.Fatalf("no rules: %v", err)
	}
}

func TestPolicyCostLimitEnforcedAtRuntime(t *testing.T) {
	// Statically cheap enough under a generous limit, then run with far
	// more roles than the static bound assumed: the runtime limit stops it.
	expr := `session.roles.all(r, r != "x")`
	pols, err := CompilePolicies([]Policy{{Name: "p", Rules: []Rule{{Expr: expr}}}}, 1_000)
	if err != nil {
		t.Fatal(err)
	}
	roles := make([]string, 5000)
	for i := range roles {
		roles[i] = "r"
	}
	d, err := pols.Evaluate("p", &PolicyInput{Roles: roles})
	if !errors.Is(err, ErrPolicy) || d.Allowed || !strings.Contains(err.Error(), "cost") {
		t.Fatalf("got %v %+v, want a cost overrun that denies", err, d)
	}
}
