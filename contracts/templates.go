package contracts

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Template names accepted by FromTemplate.
const (
	TemplateTerms      = "terms"
	TemplateBreakGlass = "break-glass"
	TemplateResearch   = "research"
	TemplateQuota      = "quota"
)

// Templates returns the names of the standard templates, sorted.
func Templates() []string {
	return []string{TemplateBreakGlass, TemplateQuota, TemplateResearch, TemplateTerms}
}

// FromTemplate builds a contract from a standard template and its
// parameters, so callers get the seed's behaviour without writing CEL. The
// contract still needs ID, Owner and Version; Params holds the validated
// parameters the rules read. Unknown names fail with ErrUnknownTemplate,
// bad parameters with ErrInvalidParams naming the parameter.
//
// terms: the seed's create_smart_contract terms.
//
//	allowed_actions     []string  actions permitted (empty or absent: any)
//	authorized_parties  []string  requester identities permitted (empty or absent: any)
//	allowed_purposes    []string  purposes permitted (empty or absent: any)
//	allowed_hours       {"start": int, "end": int}  local hours [start, end); start > end wraps midnight
//	time_zone           string    IANA zone for allowed_hours and a zone-less expiration (default UTC)
//	expiration          string (RFC 3339, or "2006-01-02T15:04:05" in time_zone) or int (Unix ms)
//
// break-glass: emergency access for physicians in the critical segment
// when no consent allows it. Allowed results from the emergency rule carry
// FlagReviewRequired.
//
//	consent_type  string  consent consulted first (default "data_sharing")
//	role          string  on-chain role required for emergency access (default "physician")
//	segment       string  zero-trust segment required (default "critical")
//	purpose       string  purpose the request must state (default "emergency")
//
// research: requires a granted research consent and a de-identification
// flag in the request.
//
//	consent_type  string  (default "research")
//	purpose       string  request purpose and consent purpose (default "research")
//	attribute     string  request attribute that must be "true" (default "deidentified")
//
// quota: at most max accesses per requester per period; stateful (state
// keys quota_window and quota_counts).
//
//	max           int  accesses per requester per period (> 0)
//	period_ms     int  period length in milliseconds (> 0); periods are aligned to Unix time 0
func FromTemplate(name string, params map[string]any) (*Contract, error) {
	switch name {
	case TemplateTerms:
		return termsTemplate(params)
	case TemplateBreakGlass:
		return breakGlassTemplate(params)
	case TemplateResearch:
		return researchTemplate(params)
	case TemplateQuota:
		return quotaTemplate(params)
	}
	return nil, fmt.Errorf("%w: %q (known: %s)", ErrUnknownTemplate, name, strings.Join(Templates(), ", "))
}

// paramReader reads template parameters, rejecting unknown ones.
type paramReader struct {
	template string
	in       map[string]any
	seen     map[string]bool
}

func newParams(template string, in map[string]any) *paramReader {
	return &paramReader{template: template, in: in, seen: make(map[string]bool)}
}

func (r *paramReader) errorf(name, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s: %s", ErrInvalidParams, r.template, name, fmt.Sprintf(format, args...))
}

func (r *paramReader) get(name string) (any, bool) {
	r.seen[name] = true
	v, ok := r.in[name]
	return v, ok && v != nil
}

func (r *paramReader) stringList(name string) ([]string, error) {
	v, ok := r.get(name)
	if !ok {
		return nil, nil
	}
	var out []string
	switch x := v.(type) {
	case []string:
		out = slices.Clone(x)
	case []any:
		for i, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, r.errorf(name, "element %d is %T, want string", i, e)
			}
			out = append(out, s)
		}
	default:
		return nil, r.errorf(name, "is %T, want a list of strings", v)
	}
	for i, s := range out {
		if err := checkIdent(fmt.Sprintf("%s[%d]", name, i), s); err != nil {
			return nil, r.errorf(name, "%v", err)
		}
	}
	return sortedUnique(out), nil
}

func (r *paramReader) str(name, def string) (string, error) {
	v, ok := r.get(name)
	if !ok {
		return def, nil
	}
	s, isStr := v.(string)
	if !isStr || s == "" {
		return "", r.errorf(name, "is %T %v, want a non-empty string", v, v)
	}
	if err := checkIdent(name, s); err != nil {
		return "", r.errorf(name, "%v", err)
	}
	return s, nil
}

func (r *paramReader) integer(name string, v any) (int64, error) {
	n, err := normalize(v, name, 1, valueLimits{depth: 1, coll: 1, str: 1})
	if err != nil {
		return 0, r.errorf(name, "%v", err)
	}
	i, ok := n.(int64)
	if !ok {
		return 0, r.errorf(name, "is %T, want an integer", v)
	}
	return i, nil
}

func (r *paramReader) done() error {
	for _, k := range sortedKeys(r.in) {
		if !r.seen[k] {
			return r.errorf(k, "unknown parameter")
		}
	}
	return nil
}

func termsTemplate(in map[string]any) (*Contract, error) {
	r := newParams(TemplateTerms, in)
	params := map[string]any{}
	var rules []Rule
	zone := "UTC"
	if v, ok := r.get("time_zone"); ok {
		s, isStr := v.(string)
		if !isStr {
			return nil, r.errorf("time_zone", "is %T, want a string", v)
		}
		if _, err := loadZone(s); err != nil {
			return nil, r.errorf("time_zone", "%v", err)
		}
		zone = s
	}
	params["time_zone"] = zone
	if v, ok := r.get("expiration"); ok {
		ms, err := parseExpiration(r, v, zone)
		if err != nil {
			return nil, err
		}
		params["expiration"] = ms
		rules = append(rules, Rule{Name: "expired", Effect: Deny, Condition: `block_time >= params.expiration`})
	}
	if v, ok := r.get("allowed_hours"); ok {
		m, isMap := v.(map[string]any)
		if !isMap {
			return nil, r.errorf("allowed_hours", "is %T, want {\"start\": int, \"end\": int}", v)
		}
		var hours [2]int64
		for i, k := range []string{"start", "end"} {
			hv, ok := m[k]
			if !ok {
				return nil, r.errorf("allowed_hours", "missing %q", k)
			}
			h, err := r.integer("allowed_hours."+k, hv)
			if err != nil {
				return nil, err
			}
			if h < 0 || h > 24 {
				return nil, r.errorf("allowed_hours."+k, "%d is outside [0, 24]", h)
			}
			hours[i] = h
		}
		if len(m) != 2 {
			return nil, r.errorf("allowed_hours", "only \"start\" and \"end\" are allowed")
		}
		if hours[0] == hours[1] {
			return nil, r.errorf("allowed_hours", "start and end are equal: no hour is allowed")
		}
		params["hours_start"], params["hours_end"] = hours[0], hours[1]
		cond := `!(hour_in(params.time_zone) >= params.hours_start && hour_in(params.time_zone) < params.hours_end)`
		if hours[0] > hours[1] { // wraps midnight, e.g. 22 to 6
			cond = `!(hour_in(params.time_zone) >= params.hours_start || hour_in(params.time_zone) < params.hours_end)`
		}
		rules = append(rules, Rule{Name: "outside_allowed_hours", Effect: Deny, Condition: cond})
	}
	for _, l := range []struct{ param, rule, variable string }{
		{"authorized_parties", "party_not_authorized", varRequester},
		{"allowed_actions", "action_not_allowed", varAction},
		{"allowed_purposes", "purpose_not_allowed", varPurpose},
	} {
		list, err := r.stringList(l.param)
		if err != nil {
			return nil, err
		}
		if len(list) == 0 {
			continue
		}
		params[l.param] = list
		rules = append(rules, Rule{Name: l.rule, Effect: Deny, Condition: fmt.Sprintf(`!(%s in params.%s)`, l.variable, l.param)})
	}
	if err := r.done(); err != nil {
		return nil, err
	}
	rules = append(rules, Rule{Name: "terms", Effect: Allow, Condition: `true`})
	return &Contract{Template: TemplateTerms, Params: toAnyParams(params), Rules: rules}, nil
}

func parseExpiration(r *paramReader, v any, zone string) (int64, error) {
	if s, ok := v.(string); ok {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			return t.UnixMilli(), nil
		}
		loc, err := loadZone(zone)
		if err != nil {
			return 0, r.errorf("expiration", "%v", err)
		}
		t, err := time.ParseInLocation("2006-01-02T15:04:05", s, loc)
		if err != nil {
			return 0, r.errorf("expiration", "%q is not RFC 3339 or 2006-01-02T15:04:05", s)
		}
		return t.UnixMilli(), nil
	}
	ms, err := r.integer("expiration", v)
	if err != nil {
		return 0, err
	}
	if ms <= 0 {
		return 0, r.errorf("expiration", "%d is not a positive Unix ms time", ms)
	}
	return ms, nil
}

// consentAllows is the CEL condition "the consent of type params.consent_type
// is active and covers this requester, purpose and action".
const consentAllows = `consent(patient, params.consent_type).active &&
  purpose in consent(patient, params.consent_type).purposes &&
  (size(consent(patient, params.consent_type).parties) == 0 || requester in consent(patient, params.consent_type).parties) &&
  (size(consent(patient, params.consent_type).actions) == 0 || action in consent(patient, params.consent_type).actions)`

func breakGlassTemplate(in map[string]any) (*Contract, error) {
	r := newParams(TemplateBreakGlass, in)
	params := map[string]any{}
	for _, p := range []struct{ name, def string }{
		{"consent_type", "data_sharing"}, {"role", "physician"}, {"segment", "critical"}, {"purpose", "emergency"},
	} {
		s, err := r.str(p.name, p.def)
		if err != nil {
			return nil, err
		}
		params[p.name] = s
	}
	if err := r.done(); err != nil {
		return nil, err
	}
	return &Contract{Template: TemplateBreakGlass, Params: params, Rules: []Rule{
		{Name: "consent", Effect: Allow, Condition: consentAllows},
		{Name: "break_glass", Effect: Allow, Flags: []string{FlagReviewRequired}, Condition: `purpose == params.purpose &&
  segment == params.segment &&
  params.role in roles(requester)`},
	}}, nil
}

func researchTemplate(in map[string]any) (*Contract, error) {
	r := newParams(TemplateResearch, in)
	params := map[string]any{}
	for _, p := range []struct{ name, def string }{
		{"consent_type", "research"}, {"purpose", "research"}, {"attribute", "deidentified"},
	} {
		s, err := r.str(p.name, p.def)
		if err != nil {
			return nil, err
		}
		params[p.name] = s
	}
	if err := r.done(); err != nil {
		return nil, err
	}
	return &Contract{Template: TemplateResearch, Params: params, Rules: []Rule{
		{Name: "not_research_purpose", Effect: Deny, Condition: `purpose != params.purpose`},
		{Name: "not_deidentified", Effect: Deny, Condition: `!(params.attribute in attrs && attrs[params.attribute] == "true")`},
		{Name: "research_consent", Effect: Allow, Condition: consentAllows},
	}}, nil
}

func quotaTemplate(in map[string]any) (*Contract, error) {
	r := newParams(TemplateQuota, in)
	params := map[string]any{}
	for _, name := range []string{"max", "period_ms"} {
		v, ok := r.get(name)
		if !ok {
			return nil, r.errorf(name, "required")
		}
		n, err := r.integer(name, v)
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			return nil, r.errorf(name, "%d must be positive", n)
		}
		params[name] = n
	}
	if err := r.done(); err != nil {
		return nil, err
	}
	const sameWindow = `("quota_window" in state && state.quota_window == block_time / params.period_ms)`
	return &Contract{Template: TemplateQuota, Params: params,
		Rules: []Rule{
			{Name: "quota_exhausted", Effect: Deny, Condition: sameWindow + ` &&
  requester in state.quota_counts && state.quota_counts[requester] >= params.max`},
			{Name: "quota", Effect: Allow, Condition: `true`},
		},
		Effects: []Effect{
			{Key: "quota_window", Expression: `block_time / params.period_ms`},
			{Key: "quota_counts", Expression: sameWindow + `
  ? map_set(state.quota_counts, requester, (requester in state.quota_counts ? state.quota_counts[requester] : 0) + 1)
  : map_set({}, requester, 1)`},
		},
	}, nil
}

func toAnyParams(p map[string]any) map[string]any {
	out := make(map[string]any, len(p))
	for k, v := range p {
		if l, ok := v.([]string); ok {
			a := make([]any, len(l))
			for i, s := range l {
				a[i] = s
			}
			v = a
		}
		out[k] = v
	}
	return out
}
