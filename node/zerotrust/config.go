package zerotrust

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/medchain/medchain/chain/types"
)

// Config configures a Gate. Every duration is wall time on the gate's Clock;
// every zero field is invalid (Validate says which), so start from
// DefaultConfig or TestConfig and change what you need.
type Config struct {
	// Enabled turns the gate on. A node with the gate off serves no
	// authenticated methods at all (NewGate returns ErrDisabled). Default true.
	Enabled bool `json:"enabled"`
	// ChainID is bound into every challenge, so a login signature is never
	// valid on another chain. Required.
	ChainID string `json:"chain_id"`

	// ReauthInterval is how long a session may go without proving key
	// possession again (Refresh). Default 300 s.
	ReauthInterval time.Duration `json:"reauth_interval"`
	// IdleTimeout ends a session with no request for this long. Default 30 min.
	IdleTimeout time.Duration `json:"idle_timeout"`
	// AbsoluteTimeout ends a session this long after login, whatever it
	// does. Default 8 h.
	AbsoluteTimeout time.Duration `json:"absolute_timeout"`
	// ChallengeTTL is how long an issued challenge may be answered. Default 60 s.
	ChallengeTTL time.Duration `json:"challenge_ttl"`
	// MaxPendingChallenges bounds the unanswered challenges held in memory;
	// past it, new challenges are refused. Default 100,000.
	MaxPendingChallenges int `json:"max_pending_challenges"`
	// MaxSessionsPerIdentity is the concurrent session limit per identity;
	// a login past it is refused (log out first). Default 1 (the seed's).
	MaxSessionsPerIdentity int `json:"max_sessions_per_identity"`
	// RequireMFAAtLogin refuses logins without a valid TOTP code. When
	// false, a login without a code gets a session without MFA, which
	// policies that require MFA refuse. Identities enrolled in MFA that send
	// a code always have it checked. Default false.
	RequireMFAAtLogin bool `json:"require_mfa_at_login"`

	// MaxRisk refuses any request whose risk score exceeds it, before any
	// policy runs. 0-100. Default 70.
	MaxRisk int `json:"max_risk"`
	// Risk holds the risk factor weights and detectors.
	Risk RiskConfig `json:"risk"`

	// Lockout limits failed logins per identity.
	Lockout LockoutConfig `json:"lockout"`
	// Quarantine blocks addresses that brute-force.
	Quarantine QuarantineConfig `json:"quarantine"`
	// RateLimit limits requests per identity and per address, by role.
	RateLimit RateLimitConfig `json:"rate_limit"`
	// Request bounds HTTP request shape (see Validator).
	Request RequestConfig `json:"request"`

	// Segments says who may enter each segment. Every segment needs a rule.
	Segments map[Segment]SegmentRule `json:"segments"`
	// AllowLowerSegments lets a session call methods of segments below its
	// own (with the segment-mismatch risk factor). Default false: any
	// cross-segment access is refused.
	AllowLowerSegments bool `json:"allow_lower_segments"`
	// Methods maps RPC method names (exact, or a "prefix*" wildcard) to
	// their segment and policy. A method with no rule is refused.
	Methods map[string]MethodRule `json:"methods"`
	// Policies are the CEL policies that method rules name.
	Policies []Policy `json:"policies"`
	// PolicyCostLimit bounds the CEL cost of one rule, statically at compile
	// and at run time. Default 10,000.
	PolicyCostLimit uint64 `json:"policy_cost_limit"`
}

// RiskConfig weighs the risk factors. A request's score is the sum of the
// weights of the factors present, capped at 100. Weights are 0-100.
type RiskConfig struct {
	NoMFA           int `json:"no_mfa"`           // the session did not pass MFA. Default 30.
	NewDevice       int `json:"new_device"`       // first successful login from this device key. Default 20.
	UnusualHour     int `json:"unusual_hour"`     // an hour this identity rarely works. Default 15.
	FailedAttempts  int `json:"failed_attempts"`  // failed logins for this identity inside the lockout window. Default 20.
	RateAnomaly     int `json:"rate_anomaly"`     // request rate near the role's limit. Default 20.
	AddressChange   int `json:"address_change"`   // the request comes from another IP than the login. Default 25.
	SegmentMismatch int `json:"segment_mismatch"` // the method's segment differs from the session's. Default 20.

	// UnusualHourMinHistory is how many recorded requests an identity needs
	// before hours can be unusual. Default 50.
	UnusualHourMinHistory int `json:"unusual_hour_min_history"`
	// UnusualHourPercent: an hour holding less than this share of the
	// identity's history is unusual. 1-100. Default 2.
	UnusualHourPercent int `json:"unusual_hour_percent"`
	// RateAnomalyPercent: requests in the last minute above this share of
	// the role's per-minute limit are an anomaly. 1-100. Default 80.
	RateAnomalyPercent int `json:"rate_anomaly_percent"`
}

// LockoutConfig locks an identity after repeated failed logins.
type LockoutConfig struct {
	// MaxFailures inside Window locks the identity. Default 5.
	MaxFailures int `json:"max_failures"`
	// Window is how long a failure counts. Default 15 min.
	Window time.Duration `json:"window"`
	// Duration is how long a lockout lasts. Default 15 min.
	Duration time.Duration `json:"duration"`
	// ProgressiveDelays makes the n-th failure forbid attempts for
	// BaseDelay·2^(n-1), capped at MaxDelay. Default true.
	ProgressiveDelays bool          `json:"progressive_delays"`
	BaseDelay         time.Duration `json:"base_delay"` // Default 1 s.
	MaxDelay          time.Duration `json:"max_delay"`  // Default 60 s.
	// MaxTracked bounds the identities and addresses tracked; expired
	// entries are pruned first. Default 100,000.
	MaxTracked int `json:"max_tracked"`
}

// QuarantineConfig blocks an address after Threshold failures inside Window.
type QuarantineConfig struct {
	Threshold int           `json:"threshold"` // Default 20.
	Window    time.Duration `json:"window"`    // Default 1 h.
	Duration  time.Duration `json:"duration"`  // Default 24 h (the seed's).
}

// RateLimitConfig sets per-minute token-bucket rates by role.
type RateLimitConfig struct {
	// Enabled turns rate limiting on. Default true.
	Enabled bool `json:"enabled"`
	// AdminPerMinute applies to identities holding any of AdminRoles. Default 500.
	AdminPerMinute int `json:"admin_per_minute"`
	// UserPerMinute applies to every other identity. Default 100.
	UserPerMinute int `json:"user_per_minute"`
	// AnonymousPerMinute applies per address to challenge and login calls. Default 30.
	AnonymousPerMinute int `json:"anonymous_per_minute"`
	// Burst is the bucket size. Default 50.
	Burst int `json:"burst"`
	// AdminRoles are the roles that get the admin rate. Default ["admin"].
	AdminRoles []string `json:"admin_roles"`
	// MaxTracked bounds the limiters kept; idle ones are pruned first. Default 100,000.
	MaxTracked int `json:"max_tracked"`
}

// RequestConfig bounds the shape of an HTTP request.
type RequestConfig struct {
	MaxBodyBytes         int64    `json:"max_body_bytes"`         // Default 10 MiB.
	MaxJSONDepth         int      `json:"max_json_depth"`         // Default 10.
	AllowedContentTypes  []string `json:"allowed_content_types"`  // Default ["application/json"].
	RequireContentLength bool     `json:"require_content_length"` // Default true.
	MaxBatch             int      `json:"max_batch"`              // JSON-RPC batch entries. Default 100.
}

// SegmentRule says who may move a session into a segment.
type SegmentRule struct {
	// Roles: the session needs one of them. Empty means any role.
	Roles []string `json:"roles"`
	// MaxRisk is the highest risk score allowed to enter. 0-100.
	MaxRisk int `json:"max_risk"`
	// RequireMFA refuses sessions that did not pass MFA.
	RequireMFA bool `json:"require_mfa"`
}

// DefaultConfig returns the production defaults: the seed's values.
func DefaultConfig() Config {
	return Config{
		Enabled:                true,
		ChainID:                "medchain",
		ReauthInterval:         300 * time.Second,
		IdleTimeout:            30 * time.Minute,
		AbsoluteTimeout:        8 * time.Hour,
		ChallengeTTL:           60 * time.Second,
		MaxPendingChallenges:   100_000,
		MaxSessionsPerIdentity: 1,
		MaxRisk:                70,
		Risk: RiskConfig{
			NoMFA: 30, NewDevice: 20, UnusualHour: 15, FailedAttempts: 20,
			RateAnomaly: 20, AddressChange: 25, SegmentMismatch: 20,
			UnusualHourMinHistory: 50, UnusualHourPercent: 2, RateAnomalyPercent: 80,
		},
		Lockout: LockoutConfig{
			MaxFailures: 5, Window: 15 * time.Minute, Duration: 15 * time.Minute,
			ProgressiveDelays: true, BaseDelay: time.Second, MaxDelay: time.Minute,
			MaxTracked: 100_000,
		},
		Quarantine: QuarantineConfig{Threshold: 20, Window: time.Hour, Duration: 24 * time.Hour},
		RateLimit: RateLimitConfig{
			Enabled: true, AdminPerMinute: 500, UserPerMinute: 100, AnonymousPerMinute: 30,
			Burst: 50, AdminRoles: []string{types.RoleAdmin}, MaxTracked: 100_000,
		},
		Request: RequestConfig{
			MaxBodyBytes: 10 << 20, MaxJSONDepth: 10, AllowedContentTypes: []string{"application/json"},
			RequireContentLength: true, MaxBatch: 100,
		},
		Segments:        DefaultSegmentRules(),
		Methods:         DefaultMethods(),
		Policies:        DefaultPolicies(),
		PolicyCostLimit: 10_000,
	}
}

// TestConfig returns DefaultConfig with short timeouts and delays, for tests
// that run on a real clock.
func TestConfig() Config {
	c := DefaultConfig()
	c.ChainID = "medchain-test"
	c.ReauthInterval = 2 * time.Second
	c.IdleTimeout = 5 * time.Second
	c.AbsoluteTimeout = 30 * time.Second
	c.ChallengeTTL = time.Second
	c.MaxPendingChallenges = 1000
	c.Lockout.Window = 10 * time.Second
	c.Lockout.Duration = 10 * time.Second
	c.Lockout.BaseDelay = 10 * time.Millisecond
	c.Lockout.MaxDelay = 100 * time.Millisecond
	c.Lockout.MaxTracked = 1000
	c.Quarantine.Window = 10 * time.Second
	c.Quarantine.Duration = 30 * time.Second
	c.RateLimit.MaxTracked = 1000
	return c
}

// DefaultSegmentRules returns who may enter each segment: anyone enters
// public; internal needs an admin, privacy officer or auditor; clinical a
// clinician, physician or admin with MFA; critical a clinician or physician
// with MFA. Risk ceilings follow the seed's policies.
func DefaultSegmentRules() map[Segment]SegmentRule {
	return map[Segment]SegmentRule{
		SegmentPublic:   {MaxRisk: 70},
		SegmentInternal: {Roles: []string{types.RoleAdmin, types.RolePrivacyOfficer, types.RoleAuditor}, MaxRisk: 40, RequireMFA: true},
		SegmentClinical: {Roles: []string{types.RoleClinician, types.RolePhysician, types.RoleAdmin, types.RoleEHR}, MaxRisk: 30, RequireMFA: true},
		SegmentCritical: {Roles: []string{types.RoleClinician, types.RolePhysician}, MaxRisk: 20, RequireMFA: true},
	}
}

// DefaultMethods maps the JSON-RPC namespaces to segments and policies. The
// RPC server refines it as it registers methods; anything unlisted is refused.
func DefaultMethods() map[string]MethodRule {
	return map[string]MethodRule{
		"chain_*":      {Segment: SegmentPublic},
		"proof_*":      {Segment: SegmentPublic},
		"node_*":       {Segment: SegmentInternal, Policy: PolicyAdministrative},
		"identity_*":   {Segment: SegmentInternal, Policy: PolicyAdministrative},
		"governance_*": {Segment: SegmentInternal, Policy: PolicyAdministrative},
		"ehr_*":        {Segment: SegmentInternal, Policy: PolicyAdministrative},
		"audit_*":      {Segment: SegmentClinical, Policy: PolicyPatientDataAccess},
		"consent_*":    {Segment: SegmentClinical, Policy: PolicyPatientDataAccess},
		"patient_*":    {Segment: SegmentClinical, Policy: PolicyPatientDataAccess},
		"contract_*":   {Segment: SegmentCritical, Policy: PolicyClinicalDecision},
		"clinical_*":   {Segment: SegmentCritical, Policy: PolicyClinicalDecision},
		// Privacy officers and auditors (the internal segment's roles) read
		// the compliance report and k-anonymous research statistics.
		"compliance_*": {Segment: SegmentInternal},
		"audit_stats":  {Segment: SegmentInternal},
	}
}

// Validate reports every invalid field, each by its JSON path, in one error
// wrapping ErrInvalidConfig.
func (c *Config) Validate() error {
	var bad []string
	add := func(field, format string, args ...any) {
		bad = append(bad, field+": "+fmt.Sprintf(format, args...))
	}
	positive := func(field string, d time.Duration) {
		if d <= 0 {
			add(field, "must be positive, got %v", d)
		}
	}
	atLeast := func(field string, v, min int) {
		if v < min {
			add(field, "must be at least %d, got %d", min, v)
		}
	}
	score := func(field string, v int) {
		if v < 0 || v > 100 {
			add(field, "must be 0-100, got %d", v)
		}
	}
	if err := types.ValidateID("chain_id", c.ChainID); err != nil {
		add("chain_id", "%v", err)
	}
	positive("reauth_interval", c.ReauthInterval)
	positive("idle_timeout", c.IdleTimeout)
	positive("absolute_timeout", c.AbsoluteTimeout)
	positive("challenge_ttl", c.ChallengeTTL)
	if c.AbsoluteTimeout > 0 && c.IdleTimeout > c.AbsoluteTimeout {
		add("idle_timeout", "%v exceeds absolute_timeout %v", c.IdleTimeout, c.AbsoluteTimeout)
	}
	if c.AbsoluteTimeout > 0 && c.ReauthInterval > c.AbsoluteTimeout {
		add("reauth_interval", "%v exceeds absolute_timeout %v", c.ReauthInterval, c.AbsoluteTimeout)
	}
	atLeast("max_pending_challenges", c.MaxPendingChallenges, 1)
	atLeast("max_sessions_per_identity", c.MaxSessionsPerIdentity, 1)
	score("max_risk", c.MaxRisk)

	r := c.Risk
	for _, w := range []struct {
		f string
		v int
	}{{"no_mfa", r.NoMFA}, {"new_device", r.NewDevice}, {"unusual_hour", r.UnusualHour},
		{"failed_attempts", r.FailedAttempts}, {"rate_anomaly", r.RateAnomaly},
		{"address_change", r.AddressChange}, {"segment_mismatch", r.SegmentMismatch}} {
		score("risk."+w.f, w.v)
	}
	atLeast("risk.unusual_hour_min_history", r.UnusualHourMinHistory, 1)
	if r.UnusualHourPercent < 1 || r.UnusualHourPercent > 100 {
		add("risk.unusual_hour_percent", "must be 1-100, got %d", r.UnusualHourPercent)
	}
	if r.RateAnomalyPercent < 1 || r.RateAnomalyPercent > 100 {
		add("risk.rate_anomaly_percent", "must be 1-100, got %d", r.RateAnomalyPercent)
	}

	l := c.Lockout
	atLeast("lockout.max_failures", l.MaxFailures, 1)
	positive("lockout.window", l.Window)
	positive("lockout.duration", l.Duration)
	if l.ProgressiveDelays {
		positive("lockout.base_delay", l.BaseDelay)
		if l.MaxDelay < l.BaseDelay {
			add("lockout.max_delay", "%v is below base_delay %v", l.MaxDelay, l.BaseDelay)
		}
	}
	atLeast("lockout.max_tracked", l.MaxTracked, 1)

	q := c.Quarantine
	atLeast("quarantine.threshold", q.Threshold, 1)
	positive("quarantine.window", q.Window)
	positive("quarantine.duration", q.Duration)

	rl := c.RateLimit
	if rl.Enabled {
		atLeast("rate_limit.admin_per_minute", rl.AdminPerMinute, 1)
		atLeast("rate_limit.user_per_minute", rl.UserPerMinute, 1)
		atLeast("rate_limit.anonymous_per_minute", rl.AnonymousPerMinute, 1)
		atLeast("rate_limit.burst", rl.Burst, 1)
		atLeast("rate_limit.max_tracked", rl.MaxTracked, 1)
	}

	rq := c.Request
	if rq.MaxBodyBytes <= 0 {
		add("request.max_body_bytes", "must be positive, got %d", rq.MaxBodyBytes)
	}
	atLeast("request.max_json_depth", rq.MaxJSONDepth, 1)
	atLeast("request.max_batch", rq.MaxBatch, 1)
	if len(rq.AllowedContentTypes) == 0 {
		add("request.allowed_content_types", "at least one required")
	}
	for i, ct := range rq.AllowedContentTypes {
		if ct == "" || strings.ContainsAny(ct, "; \t") || !strings.Contains(ct, "/") {
			add(fmt.Sprintf("request.allowed_content_types[%d]", i), "%q is not a bare media type", ct)
		}
	}

	for _, s := range Segments {
		rule, ok := c.Segments[s]
		if !ok {
			add("segments."+s.String(), "missing")
			continue
		}
		score("segments."+s.String()+".max_risk", rule.MaxRisk)
	}
	for s := range c.Segments {
		if !s.Valid() {
			add("segments", "unknown segment %d", uint8(s))
		}
	}
	if len(c.Methods) == 0 {
		add("methods", "at least one required")
	}
	names := make([]string, 0, len(c.Policies))
	for i, p := range c.Policies {
		if p.Name == "" {
			add(fmt.Sprintf("policies[%d].name", i), "required")
		} else if slices.Contains(names, p.Name) {
			add(fmt.Sprintf("policies[%d].name", i), "%q listed twice", p.Name)
		}
		names = append(names, p.Name)
		if len(p.Rules) == 0 {
			add(fmt.Sprintf("policies[%d].rules", i), "at least one required")
		}
	}
	keys := make([]string, 0, len(c.Methods))
	for k := range c.Methods {
		keys = append(keys, k)
	}
	slices.Sort(keys) // report in a stable order
	for _, k := range keys {
		m := c.Methods[k]
		if k == "" || strings.Contains(strings.TrimSuffix(k, "*"), "*") {
			add("methods", "key %q: want a method name or a \"prefix*\" wildcard", k)
		}
		if !m.Segment.Valid() {
			add("methods."+k+".segment", "unknown segment %d", uint8(m.Segment))
		}
		if m.Policy != "" && !slices.Contains(names, m.Policy) {
			add("methods."+k+".policy", "no policy named %q", m.Policy)
		}
	}
	if c.PolicyCostLimit == 0 {
		add("policy_cost_limit", "must be positive")
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, strings.Join(bad, "; "))
	}
	return nil
}

// The environment variables ApplyEnv reads. The seed's names and the
// MEDCHAIN_-prefixed names are equivalent; setting both to different values
// is an error.
const (
	EnvEnabled        = "ZEROTRUST_ENABLED"         // true or false
	EnvReauthInterval = "ZEROTRUST_REAUTH_INTERVAL" // seconds ("300") or a Go duration ("5m")
	EnvMaxRisk        = "ZEROTRUST_MAX_RISK"        // 0-100
	envPrefix         = "MEDCHAIN_"
)

// ApplyEnv overrides c from the environment through lookup (pass
// os.LookupEnv). It does not call Validate: do that after.
func ApplyEnv(c *Config, lookup func(string) (string, bool)) error {
	get := func(name string) (string, string, bool, error) {
		v1, ok1 := lookup(name)
		v2, ok2 := lookup(envPrefix + name)
		v1, v2 = strings.TrimSpace(v1), strings.TrimSpace(v2)
		switch {
		case ok1 && ok2 && v1 != v2:
			return "", "", false, fmt.Errorf("%w: %s=%q and %s%s=%q disagree", ErrInvalidConfig, name, v1, envPrefix, name, v2)
		case ok2:
			return envPrefix + name, v2, true, nil
		case ok1:
			return name, v1, true, nil
		}
		return "", "", false, nil
	}
	if name, v, ok, err := get(EnvEnabled); err != nil {
		return err
	} else if ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%w: %s=%q: want true or false", ErrInvalidConfig, name, v)
		}
		c.Enabled = b
	}
	if name, v, ok, err := get(EnvReauthInterval); err != nil {
		return err
	} else if ok {
		d, err := parseSeconds(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("%w: %s=%q: want a positive number of seconds or a duration such as 5m", ErrInvalidConfig, name, v)
		}
		c.ReauthInterval = d
	}
	if name, v, ok, err := get(EnvMaxRisk); err != nil {
		return err
	} else if ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 100 {
			return fmt.Errorf("%w: %s=%q: want an integer 0-100", ErrInvalidConfig, name, v)
		}
		c.MaxRisk = n
	}
	return nil
}

func parseSeconds(v string) (time.Duration, error) {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n > int64(365*24*time.Hour/time.Second) {
			return 0, fmt.Errorf("too large")
		}
		return time.Duration(n) * time.Second, nil
	}
	return time.ParseDuration(v)
}
