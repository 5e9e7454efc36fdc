package zerotrust

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDefaultConfigIsTheSeeds(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	tc := TestConfig()
	if err := tc.Validate(); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"reauth", c.ReauthInterval, 300 * time.Second},
		{"idle", c.IdleTimeout, 30 * time.Minute},
		{"absolute", c.AbsoluteTimeout, 8 * time.Hour},
		{"sessions", c.MaxSessionsPerIdentity, 1},
		{"max risk", c.MaxRisk, 70},
		{"lockout failures", c.Lockout.MaxFailures, 5},
		{"lockout duration", c.Lockout.Duration, 15 * time.Minute},
		{"progressive", c.Lockout.ProgressiveDelays, true},
		{"quarantine", c.Quarantine.Duration, 24 * time.Hour},
		{"admin rate", c.RateLimit.AdminPerMinute, 500},
		{"user rate", c.RateLimit.UserPerMinute, 100},
		{"burst", c.RateLimit.Burst, 50},
		{"body", c.Request.MaxBodyBytes, int64(10485760)},
		{"depth", c.Request.MaxJSONDepth, 10},
		{"content type", c.Request.AllowedContentTypes[0], "application/json"},
		{"length required", c.Request.RequireContentLength, true},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s: %v, want %v", ck.name, ck.got, ck.want)
		}
	}
}

func TestValidateNamesEveryBadField(t *testing.T) {
	c := DefaultConfig()
	c.ChainID = ""
	c.ReauthInterval = 0
	c.IdleTimeout = -time.Second
	c.MaxRisk = 101
	c.Risk.NoMFA = -1
	c.Lockout.MaxFailures = 0
	c.Lockout.MaxDelay = time.Millisecond
	c.Quarantine.Duration = 0
	c.RateLimit.UserPerMinute = 0
	c.Request.MaxBodyBytes = 0
	c.Request.AllowedContentTypes = []string{"application/json; charset=utf-8"}
	c.Methods["bad_*"] = MethodRule{Segment: 9, Policy: "nope"}
	c.Policies = append(c.Policies, Policy{Name: PolicyAdministrative})
	delete(c.Segments, SegmentCritical)
	err := c.Validate()
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("got %v", err)
	}
	for _, field := range []string{
		"chain_id", "reauth_interval", "idle_timeout", "max_risk", "risk.no_mfa", "lockout.max_failures",
		"lockout.max_delay", "quarantine.duration", "rate_limit.user_per_minute", "request.max_body_bytes",
		"request.allowed_content_types[0]", "methods.bad_*.segment", "methods.bad_*.policy",
		"policies[3].name", "policies[3].rules", "segments.critical",
	} {
		if !strings.Contains(err.Error(), field+":") {
			t.Errorf("error does not name %s: %v", field, err)
		}
	}
}

func TestApplyEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    func(Config) bool
		wantErr string
	}{
		{"seed names", map[string]string{"ZEROTRUST_ENABLED": "false", "ZEROTRUST_REAUTH_INTERVAL": "600", "ZEROTRUST_MAX_RISK": "50"},
			func(c Config) bool { return !c.Enabled && c.ReauthInterval == 10*time.Minute && c.MaxRisk == 50 }, ""},
		{"medchain names", map[string]string{"MEDCHAIN_ZEROTRUST_REAUTH_INTERVAL": "2m", "MEDCHAIN_ZEROTRUST_MAX_RISK": "0"},
			func(c Config) bool { return c.Enabled && c.ReauthInterval == 2*time.Minute && c.MaxRisk == 0 }, ""},
		{"both agree", map[string]string{"ZEROTRUST_MAX_RISK": "40", "MEDCHAIN_ZEROTRUST_MAX_RISK": "40"},
			func(c Config) bool { return c.MaxRisk == 40 }, ""},
		{"unset", map[string]string{}, func(c Config) bool { return c.MaxRisk == 70 && c.ReauthInterval == 5*time.Minute }, ""},
		{"both disagree", map[string]string{"ZEROTRUST_MAX_RISK": "40", "MEDCHAIN_ZEROTRUST_MAX_RISK": "50"}, nil, "disagree"},
		{"bad bool", map[string]string{"ZEROTRUST_ENABLED": "yes please"}, nil, `ZEROTRUST_ENABLED="yes please"`},
		{"negative interval", map[string]string{"ZEROTRUST_REAUTH_INTERVAL": "-5"}, nil, "ZEROTRUST_REAUTH_INTERVAL"},
		{"interval junk", map[string]string{"MEDCHAIN_ZEROTRUST_REAUTH_INTERVAL": "soon"}, nil, "MEDCHAIN_ZEROTRUST_REAUTH_INTERVAL"},
		{"risk over 100", map[string]string{"ZEROTRUST_MAX_RISK": "101"}, nil, "0-100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			err := ApplyEnv(&c, func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			if tt.wantErr != "" {
				if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !tt.want(c) {
				t.Fatalf("err %v, config %+v", err, c)
			}
		})
	}
}

func TestSegmentNamesRoundTrip(t *testing.T) {
	for _, s := range Segments {
		b, err := s.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back Segment
		if err := back.UnmarshalText(b); err != nil || back != s {
			t.Fatalf("%v: %v %v", s, back, err)
		}
	}
	if Segment(0).Valid() || Segment(5).Valid() || Segment(0).String() != "Segment(0)" {
		t.Fatal("zero or out-of-range segment valid")
	}
	if _, err := ParseSegment("dmz"); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("got %v", err)
	}
	if !(SegmentPublic < SegmentInternal && SegmentInternal < SegmentClinical && SegmentClinical < SegmentCritical) {
		t.Fatal("segments out of order")
	}
}

func TestMethodRuleLookup(t *testing.T) {
	rules := map[string]MethodRule{
		"audit_*":      {Segment: SegmentClinical, Policy: "p"},
		"audit_admin*": {Segment: SegmentInternal},
		"chain_head":   {Segment: SegmentPublic},
	}
	tests := []struct {
		method string
		want   Segment
		ok     bool
	}{
		{"audit_trail", SegmentClinical, true},
		{"audit_admin_purge", SegmentInternal, true},
		{"chain_head", SegmentPublic, true},
		{"chain_headx", 0, false},
		{"audit", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		r, ok := lookupMethod(rules, tt.method)
		if ok != tt.ok || r.Segment != tt.want {
			t.Errorf("%q: %v %v, want %v %v", tt.method, r.Segment, ok, tt.want, tt.ok)
		}
	}
}

func TestAssessRiskShowsEachWeight(t *testing.T) {
	w := DefaultConfig().Risk
	tests := []struct {
		name  string
		s     RiskSignals
		score int
		n     int
	}{
		{"none", RiskSignals{}, 0, 0},
		{"no mfa", RiskSignals{NoMFA: true}, 30, 1},
		{"device and address", RiskSignals{NewDevice: true, AddressChange: true}, 45, 2},
		{"everything caps at 100", RiskSignals{true, true, true, true, true, true, true}, 100, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := AssessRisk(w, tt.s)
			if r.Score != tt.score || len(r.Factors) != tt.n {
				t.Fatalf("got %+v", r)
			}
			sum := 0
			for _, f := range r.Factors {
				sum += f.Weight
			}
			if min(sum, 100) != r.Score {
				t.Fatalf("weights sum %d, score %d", sum, r.Score)
			}
		})
	}
}
