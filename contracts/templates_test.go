package contracts

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestFromTemplateRejectsBadInput(t *testing.T) {
	cases := []struct {
		name    string
		params  map[string]any
		wantErr error
		want    string
	}{
		{"smart", nil, ErrUnknownTemplate, `"smart" (known: break-glass, quota, research, terms)`},
		{TemplateTerms, map[string]any{"allowed_action": []string{"read"}}, ErrInvalidParams, "allowed_action: unknown parameter"},
		{TemplateTerms, map[string]any{"allowed_actions": "read"}, ErrInvalidParams, "want a list of strings"},
		{TemplateTerms, map[string]any{"time_zone": "Mars/Olympus"}, ErrInvalidParams, "unknown time zone"},
		{TemplateTerms, map[string]any{"expiration": "next year"}, ErrInvalidParams, "not RFC 3339"},
		{TemplateTerms, map[string]any{"expiration": 1.5}, ErrInvalidParams, "floating point"},
		{TemplateTerms, map[string]any{"allowed_hours": map[string]any{"start": 8}}, ErrInvalidParams, `missing "end"`},
		{TemplateTerms, map[string]any{"allowed_hours": map[string]any{"start": 8, "end": 25}}, ErrInvalidParams, "outside [0, 24]"},
		{TemplateQuota, map[string]any{"max": 3}, ErrInvalidParams, "period_ms: required"},
		{TemplateQuota, map[string]any{"max": 0, "period_ms": 1000}, ErrInvalidParams, "must be positive"},
		{TemplateBreakGlass, map[string]any{"role": ""}, ErrInvalidParams, "non-empty string"},
	}
	for _, tc := range cases {
		t.Run(tc.name+" "+tc.want, func(t *testing.T) {
			c, err := FromTemplate(tc.name, tc.params)
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.want) || c != nil {
				t.Fatalf("got %v, want %v containing %q", err, tc.wantErr, tc.want)
			}
		})
	}
}

// seedTerms are the terms from the seed's create_smart_contract example,
// with office hours added.
func seedTerms() map[string]any {
	return map[string]any{
		"allowed_actions":    []string{"read", "view"},
		"authorized_parties": []string{"doctor456"},
		"allowed_purposes":   []string{"treatment"},
		"expiration":         "2027-12-31T23:59:59",
		"allowed_hours":      map[string]any{"start": 8, "end": 18},
		"time_zone":          "Europe/Paris",
	}
}

func TestTemplates(t *testing.T) {
	afterExpiry := time.Date(2028, 1, 1, 10, 0, 0, 0, mustZone("Europe/Paris")).UnixMilli()
	nightTerms := seedTerms()
	nightTerms["allowed_hours"] = map[string]any{"start": 22, "end": 6} // wraps midnight
	cases := []struct {
		name       string
		template   string
		params     map[string]any
		call       func(*Call)
		want       Decision
		wantRule   string
		wantReview bool
	}{
		{"terms allow", TemplateTerms, seedTerms(), nil, Allow, "terms", false},
		{"terms wrong party", TemplateTerms, seedTerms(), func(c *Call) { c.Requester = "nurse1" }, Deny, "party_not_authorized", false},
		{"terms wrong action", TemplateTerms, seedTerms(), func(c *Call) { c.Action = "delete" }, Deny, "action_not_allowed", false},
		{"terms wrong purpose", TemplateTerms, seedTerms(), func(c *Call) { c.Purpose = "marketing" }, Deny, "purpose_not_allowed", false},
		{"terms expired", TemplateTerms, seedTerms(), func(c *Call) { c.BlockTime = afterExpiry }, Deny, "expired", false},
		{"terms outside hours", TemplateTerms, seedTerms(), func(c *Call) { c.BlockTime = parisNight }, Deny, "outside_allowed_hours", false},
		{"terms overnight window allows 23h", TemplateTerms, nightTerms, func(c *Call) { c.BlockTime = parisNight }, Allow, "terms", false},
		{"terms overnight window denies 10h", TemplateTerms, nightTerms, nil, Deny, "outside_allowed_hours", false},
		{"terms without terms allows", TemplateTerms, nil, nil, Allow, "terms", false},

		{"break-glass consent allows unflagged", TemplateBreakGlass, nil, nil, Allow, "consent", false},
		{"break-glass emergency flagged", TemplateBreakGlass, nil, func(c *Call) {
			c.Patient, c.Purpose, c.Segment = "patient999", "emergency", "critical"
		}, Allow, "break_glass", true},
		{"break-glass needs physician", TemplateBreakGlass, nil, func(c *Call) {
			c.Requester, c.Patient, c.Purpose, c.Segment = "nurse1", "patient999", "emergency", "critical"
		}, Deny, "", false},
		{"break-glass needs critical segment", TemplateBreakGlass, nil, func(c *Call) {
			c.Patient, c.Purpose, c.Segment = "patient999", "emergency", "clinical"
		}, Deny, "", false},
		{"break-glass refused consent", TemplateBreakGlass, nil, func(c *Call) { c.Patient = "patient999" }, Deny, "", false},

		{"research allow", TemplateResearch, nil, func(c *Call) {
			c.Requester, c.Purpose, c.Attrs = "researcher789", "research", map[string]string{"deidentified": "true"}
		}, Allow, "research_consent", false},
		{"research identified data", TemplateResearch, nil, func(c *Call) {
			c.Requester, c.Purpose, c.Attrs = "researcher789", "research", map[string]string{"deidentified": "false"}
		}, Deny, "not_deidentified", false},
		{"research flag missing", TemplateResearch, nil, func(c *Call) {
			c.Requester, c.Purpose = "researcher789", "research"
		}, Deny, "not_deidentified", false},
		{"research no consent", TemplateResearch, nil, func(c *Call) {
			c.Requester, c.Purpose, c.Patient, c.Attrs = "researcher789", "research", "patient999", map[string]string{"deidentified": "true"}
		}, Deny, "", false},
		{"research wrong purpose", TemplateResearch, nil, func(c *Call) {
			c.Attrs = map[string]string{"deidentified": "true"}
		}, Deny, "not_research_purpose", false},
	}
	vm := newVM(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			call := treatmentCall()
			if tc.call != nil {
				tc.call(call)
			}
			res, err := vm.Execute(template(t, tc.template, tc.params), seedView(), nil, call)
			if err != nil {
				t.Fatal(err)
			}
			if res.Decision != tc.want || res.Rule != tc.wantRule || res.ReviewRequired() != tc.wantReview {
				t.Fatalf("got %+v, want %v by %q review=%v", res, tc.want, tc.wantRule, tc.wantReview)
			}
			if tc.want == Deny && tc.wantRule == "" && res.Reason != ReasonNoRule {
				t.Fatalf("reason %q, want %q", res.Reason, ReasonNoRule)
			}
		})
	}
}

func TestQuotaTemplate(t *testing.T) {
	vm := newVM(t)
	c := template(t, TemplateQuota, map[string]any{"max": 2, "period_ms": 3_600_000})
	state := map[string]any{}
	call := treatmentCall()
	apply := func(res *Result) {
		for k, v := range res.Effects {
			state[k] = v
		}
	}
	for i := range 2 {
		res, err := vm.Execute(c, seedView(), state, call)
		if err != nil || res.Decision != Allow {
			t.Fatalf("access %d: %+v %v", i+1, res, err)
		}
		if n := res.Effects["quota_counts"].(map[string]any)["doctor456"]; n != int64(i+1) {
			t.Fatalf("access %d: count %v", i+1, n)
		}
		apply(res)
	}
	res, err := vm.Execute(c, seedView(), state, call)
	if err != nil || res.Decision != Deny || res.Rule != "quota_exhausted" || len(res.Effects) != 0 {
		t.Fatalf("third access: %+v %v", res, err)
	}
	other := treatmentCall()
	other.Requester = "nurse1"
	if res, err := vm.Execute(c, seedView(), state, other); err != nil || res.Decision != Allow {
		t.Fatalf("quota is per requester: %+v %v", res, err)
	}
	call.BlockTime += 3_600_000 // next period
	res, err = vm.Execute(c, seedView(), state, call)
	if err != nil || res.Decision != Allow {
		t.Fatalf("next period: %+v %v", res, err)
	}
	if counts := res.Effects["quota_counts"].(map[string]any); len(counts) != 1 || counts["doctor456"] != int64(1) {
		t.Fatalf("a new period must reset the counts: %v", counts)
	}
}
