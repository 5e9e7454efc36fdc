package zerotrust

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/crypto"
)

func TestLoginOpensSessionAndAuthorizes(t *testing.T) {
	h := newHarness(t, nil)
	h.addIdentity("dr.lee", SegmentCritical, true, "clinician")
	tok := h.login("dr.lee", SegmentClinical)
	if len(tok) != 43 {
		t.Fatalf("token length %d, want 43 (256 bits base64url)", len(tok))
	}
	s, d, err := h.gate.Authorize(h.ctx, tok, "audit_trail", testAddr, RequestMeta{Resource: "Patient/1"})
	if err != nil || !d.Allowed {
		t.Fatalf("authorize: %v %+v", err, d)
	}
	if d.Policy != PolicyPatientDataAccess || s.Identity != "dr.lee" || s.Segment != SegmentClinical {
		t.Fatalf("decision %+v session %+v", d, s)
	}
	// A first login from this device is a new device: its weight is shown.
	if d.Risk.Score != 20 || len(d.Risk.Factors) != 1 || d.Risk.Factors[0] != (RiskFactor{FactorNewDevice, 20}) {
		t.Fatalf("risk %+v", d.Risk)
	}
}

func TestForgedChallengeSignatureRejected(t *testing.T) {
	h := newHarness(t, nil)
	h.addIdentity("dr.lee", SegmentCritical, false, "clinician")
	other := testKey(t, 99)
	tests := []struct {
		name string
		sign func(Challenge) crypto.Signature
	}{
		{"another key", func(c Challenge) crypto.Signature { s, _ := other.Sign(c.SignBytes()); return s }},
		{"other chain id", func(c Challenge) crypto.Signature {
			c.ChainID = "other-chain"
			s, _ := h.keys["dr.lee"].Sign(c.SignBytes())
			return s
		}},
		{"other device", func(c Challenge) crypto.Signature {
			c.DeviceKeyID = "phone-1"
			s, _ := h.keys["dr.lee"].Sign(c.SignBytes())
			return s
		}},
		{"no domain tag", func(c Challenge) crypto.Signature {
			s, _ := h.keys["dr.lee"].Sign(c.SignBytes()[len(challengeDomain):])
			return s
		}},
		{"flipped bit", func(c Challenge) crypto.Signature {
			s, _ := h.keys["dr.lee"].Sign(c.SignBytes())
			s.Sig[100] ^= 1
			return s
		}},
		{"truncated", func(c Challenge) crypto.Signature {
			s, _ := h.keys["dr.lee"].Sign(c.SignBytes())
			s.Sig = s.Sig[:64]
			return s
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.clock.Advance(2 * time.Minute) // past any progressive delay
			ch, err := h.gate.IssueChallenge(h.ctx, "dr.lee", testDevice, testAddr)
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = h.gate.Login(h.ctx, LoginRequest{Identity: "dr.lee", DeviceKeyID: testDevice, Nonce: ch.Nonce, Signature: tt.sign(ch), RemoteAddr: testAddr})
			if !errors.Is(err, ErrBadSignature) {
				t.Fatalf("got %v, want ErrBadSignature", err)
			}
		})
		h.clock.Advance(16 * time.Minute) // past any lockout
	}
}

func TestReplayedLoginTranscriptRejected(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxSessionsPerIdentity = 5 })
	h.addIdentity("dr.lee", SegmentCritical, false, "clinician")
	h.addIdentity("nurse.kim", SegmentClinical, false, "clinician")
	req := h.signedLogin("dr.lee", "")
	tok, _, err := h.gate.Login(h.ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.gate.Login(h.ctx, req); !errors.Is(err, ErrChallengeUnknown) {
		t.Fatalf("replay: got %v, want ErrChallengeUnknown", err)
	}
	if err := h.gate.Logout(h.ctx, tok); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Minute)
	if _, _, err := h.gate.Login(h.ctx, req); !errors.Is(err, ErrChallengeUnknown) {
		t.Fatalf("replay after logout: got %v, want ErrChallengeUnknown", err)
	}
	h.waitAlerts()
	if h.alerts.kinds()[AlertReplay] != 2 {
		t.Fatalf("alerts %v, want 2 replay", h.alerts.kinds())
	}

	// A challenge issued to one identity does not log in another, even
	// signed by the other's key; the nonce is spent by the attempt.
	h.clock.Advance(time.Minute)
	ch, _ := h.gate.IssueChallenge(h.ctx, "dr.lee", testDevice, testAddr)
	ch2 := ch
	ch2.Identity = "nurse.kim"
	sig, _ := h.keys["nurse.kim"].Sign(ch2.SignBytes())
	_, _, err = h.gate.Login(h.ctx, LoginRequest{Identity: "nurse.kim", DeviceKeyID: testDevice, Nonce: ch.Nonce, Signature: sig, RemoteAddr: testAddr})
	if !errors.Is(err, ErrChallengeMismatch) {
		t.Fatalf("cross-identity: got %v, want ErrChallengeMismatch", err)
	}
	sig, _ = h.keys["dr.lee"].Sign(ch.SignBytes())
	h.clock.Advance(time.Minute)
	_, _, err = h.gate.Login(h.ctx, LoginRequest{Identity: "dr.lee", DeviceKeyID: testDevice, Nonce: ch.Nonce, Signature: sig, RemoteAddr: testAddr})
	if !errors.Is(err, ErrChallengeUnknown) {
		t.Fatalf("nonce reuse after a failed attempt: got %v, want ErrChallengeUnknown", err)
	}

	// An expired challenge is refused even with a valid signature.
	h.clock.Advance(time.Minute)
	req = h.signedLogin("dr.lee", "")
	h.clock.Advance(h.gate.cfg.ChallengeTTL)
	if _, _, err := h.gate.Login(h.ctx, req); !errors.Is(err, ErrChallengeExpired) {
		t.Fatalf("expired: got %v, want ErrChallengeExpired", err)
	}

	// A refresh challenge cannot open a session.
	h.clock.Advance(time.Minute)
	tok = h.login("dr.lee", 0)
	rch, err := h.gate.RefreshChallenge(h.ctx, tok, testAddr)
	if err != nil {
		t.Fatal(err)
	}
	sig, _ = h.keys["dr.lee"].Sign(rch.SignBytes())
	_, _, err = h.gate.Login(h.ctx, LoginRequest{Identity: "dr.lee", DeviceKeyID: testDevice, Nonce: rch.Nonce, Signature: sig, RemoteAddr: testAddr})
	if !errors.Is(err, ErrChallengeMismatch) {
		t.Fatalf("refresh challenge at login: got %v, want ErrChallengeMismatch", err)
	}
}

func TestStolenTokenUselessAfterLogoutOrExpiry(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxSessionsPerIdentity = 10 })
	h.addIdentity("dr.lee", SegmentCritical, false, "clinician")
	call := func(tok string) error {
		_, d, err := h.gate.Authorize(h.ctx, tok, "chain_head", testAddr, RequestMeta{})
		if (err == nil) != d.Allowed {
			t.Fatalf("decision %+v disagrees with error %v", d, err)
		}
		return err
	}

	t.Run("logout", func(t *testing.T) {
		tok := h.login("dr.lee", 0)
		if err := call(tok); err != nil {
			t.Fatal(err)
		}
		if err := h.gate.Logout(h.ctx, tok); err != nil {
			t.Fatal(err)
		}
		if err := call(tok); !errors.Is(err, ErrSessionUnknown) {
			t.Fatalf("after logout: got %v, want ErrSessionUnknown", err)
		}
		if err := h.gate.Logout(h.ctx, tok); !errors.Is(err, ErrSessionUnknown) {
			t.Fatalf("second logout: got %v", err)
		}
	})
	t.Run("reauth interval", func(t *testing.T) {
		tok := h.login("dr.lee", 0)
		h.clock.Advance(299 * time.Second)
		if err := call(tok); err != nil {
			t.Fatalf("inside the interval: %v", err)
		}
		h.clock.Advance(time.Second)
		err := call(tok)
		if !errors.Is(err, ErrReauthRequired) || !strings.Contains(err.Error(), "reauthentication interval 5m0s") {
			t.Fatalf("at 300 s: got %v, want ErrReauthRequired naming the interval", err)
		}
		if err := h.refresh(tok); err != nil {
			t.Fatalf("refresh: %v", err)
		}
		if err := call(tok); err != nil {
			t.Fatalf("after refresh: %v", err)
		}
	})
	t.Run("idle timeout", func(t *testing.T) {
		tok := h.login("dr.lee", 0)
		h.clock.Advance(30 * time.Minute)
		err := call(tok)
		if !errors.Is(err, ErrIdleTimeout) || !strings.Contains(err.Error(), "idle timeout 30m0s") {
			t.Fatalf("idle: got %v, want ErrIdleTimeout", err)
		}
		if err := h.refresh(tok); !errors.Is(err, ErrSessionUnknown) {
			t.Fatalf("refresh of an idle-expired session: got %v, want ErrSessionUnknown", err)
		}
	})
	t.Run("absolute timeout", func(t *testing.T) {
		tok := h.login("dr.lee", 0)
		for range 8 * 12 { // refresh every 5 min: never idle, never stale
			if err := h.refresh(tok); err != nil {
				t.Fatal(err)
			}
			h.clock.Advance(5 * time.Minute)
		}
		err := call(tok)
		if !errors.Is(err, ErrAbsoluteTimeout) || !strings.Contains(err.Error(), "absolute timeout 8h0m0s") {
			t.Fatalf("absolute: got %v, want ErrAbsoluteTimeout", err)
		}
		if err := call(tok); !errors.Is(err, ErrSessionUnknown) {
			t.Fatalf("expired session still stored: %v", err)
		}
	})
	t.Run("forged token", func(t *testing.T) {
		for _, tok := range []string{"", "x", strings.Repeat("A", 43), strings.Repeat("!", 43)} {
			if err := call(tok); !errors.Is(err, ErrSessionUnknown) {
				t.Fatalf("%q: got %v", tok, err)
			}
		}
	})
	t.Run("revoked identity", func(t *testing.T) {
		h.addIdentity("dr.gone", SegmentCritical, false, "clinician")
		tok := h.login("dr.gone", 0)
		h.ids.Revoke("dr.gone")
		if err := call(tok); !errors.Is(err, ErrRevoked) {
			t.Fatalf("got %v, want ErrRevoked", err)
		}
		if err := call(tok); !errors.Is(err, ErrSessionUnknown) {
			t.Fatalf("revoked session kept: %v", err)
		}
	})
}

func TestClinicalMethodRefusedFromPublicSession(t *testing.T) {
	h := newHarness(t, nil)
	h.addIdentity("dr.lee", SegmentCritical, true, "clinician")
	tok := h.login("dr.lee", SegmentPublic)
	s, d, err := h.gate.Authorize(h.ctx, tok, "patient_record", testAddr, RequestMeta{Resource: "Patient/1"})
	if !errors.Is(err, ErrSegment) || d.Allowed {
		t.Fatalf("got %v %+v, want ErrSegment", err, d)
	}
	if !strings.Contains(d.Reason, "segment clinical, session is in public") {
		t.Fatalf("reason %q", d.Reason)
	}
	if !hasFactor(d.Risk, FactorSegmentMismatch) || s.Segment != SegmentPublic {
		t.Fatalf("risk %+v", d.Risk)
	}
	// And from above: a critical session may not call clinical methods either.
	if _, _, err := h.gate.MoveSegment(h.ctx, tok, SegmentCritical, testAddr); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.gate.Authorize(h.ctx, tok, "audit_trail", testAddr, RequestMeta{}); !errors.Is(err, ErrSegment) {
		t.Fatalf("critical → clinical: got %v, want ErrSegment", err)
	}
	// Clearance bounds the move: a clinical-cleared identity cannot enter critical.
	h.addIdentity("nurse.kim", SegmentClinical, false, "clinician")
	tok2 := h.login("nurse.kim", 0)
	_, d, err = h.gate.MoveSegment(h.ctx, tok2, SegmentCritical, testAddr)
	if !errors.Is(err, ErrSegment) || !strings.Contains(d.Reason, "clearance clinical") {
		t.Fatalf("got %v %q", err, d.Reason)
	}
	// Roles bound the move: an auditor with critical clearance cannot enter clinical.
	h.addIdentity("auditor.ng", SegmentCritical, true, "auditor")
	h.clock.Advance(30 * time.Second)
	tok3 := h.login("auditor.ng", 0)
	_, d, err = h.gate.MoveSegment(h.ctx, tok3, SegmentClinical, testAddr)
	if !errors.Is(err, ErrSegment) || !strings.Contains(d.Reason, "requires role") {
		t.Fatalf("got %v %q", err, d.Reason)
	}
}

func hasFactor(r Risk, name string) bool {
	for _, f := range r.Factors {
		if f.Name == name {
			return true
		}
	}
	return false
}

func TestRiskOverPolicyThresholdDenied(t *testing.T) {
	h := newHarness(t, nil)
	h.addIdentity("dr.lee", SegmentCritical, true, "clinician")
	tok := h.login("dr.lee", SegmentClinical) // new device: risk 20
	// Same session, another address: +25 → 45 > patient_data_access's 30.
	_, d, err := h.gate.Authorize(h.ctx, tok, "audit_trail", "203.0.113.7:4444", RequestMeta{})
	if !errors.Is(err, ErrPolicyDenied) || d.Policy != PolicyPatientDataAccess || d.Reason != "risk score above 30" {
		t.Fatalf("got %v %+v", err, d)
	}
	if d.Risk.Score != 45 || !hasFactor(d.Risk, FactorAddressChange) || !hasFactor(d.Risk, FactorNewDevice) {
		t.Fatalf("risk %+v", d.Risk)
	}
	// From the login address it passes.
	if _, _, err := h.gate.Authorize(h.ctx, tok, "audit_trail", testAddr, RequestMeta{}); err != nil {
		t.Fatal(err)
	}
	// Over the gate's MaxRisk nothing runs, not even public methods.
	h2 := newHarness(t, func(c *Config) { c.MaxRisk = 40; c.Segments[SegmentPublic] = SegmentRule{MaxRisk: 100} })
	h2.addIdentity("dr.lee", SegmentCritical, false, "clinician")
	tok = h2.login("dr.lee", 0) // no MFA 30 + new device 20 = 50
	_, d, err = h2.gate.Authorize(h2.ctx, tok, "chain_head", testAddr, RequestMeta{})
	if !errors.Is(err, ErrRiskTooHigh) || d.Risk.Score != 50 {
		t.Fatalf("got %v %+v, want ErrRiskTooHigh at 50", err, d)
	}
	h2.waitAlerts()
	if h2.alerts.kinds()[AlertHighRisk] != 1 {
		t.Fatalf("alerts %v", h2.alerts.kinds())
	}
}

func TestMFASkippedWhereRequiredDenied(t *testing.T) {
	// The segment rule refuses the move without MFA.
	h := newHarness(t, nil)
	h.addIdentity("dr.lee", SegmentCritical, true, "clinician")
	req := h.signedLogin("dr.lee", "") // enrolled, but skips the code
	req.Segment = SegmentClinical
	if _, _, err := h.gate.Login(h.ctx, req); !errors.Is(err, ErrSegment) || !strings.Contains(err.Error(), "requires MFA") {
		t.Fatalf("login into clinical without MFA: got %v", err)
	}
	// The policy refuses too, when segments do not require MFA.
	h = newHarness(t, func(c *Config) {
		r := c.Segments[SegmentClinical]
		r.RequireMFA, r.MaxRisk = false, 100
		c.Segments[SegmentClinical] = r
	})
	h.addIdentity("dr.lee", SegmentCritical, true, "clinician")
	req = h.signedLogin("dr.lee", "")
	req.Segment = SegmentClinical
	tok, s, err := h.gate.Login(h.ctx, req)
	if err != nil || s.MFA {
		t.Fatalf("login: %v mfa=%v", err, s.MFA)
	}
	_, d, err := h.gate.Authorize(h.ctx, tok, "audit_trail", testAddr, RequestMeta{})
	if !errors.Is(err, ErrPolicyDenied) {
		t.Fatalf("got %v, want ErrPolicyDenied", err)
	}
	// No MFA (30) + new device (20) = 50: the risk rule fails before the MFA rule.
	if d.Reason != "risk score above 30" || !hasFactor(d.Risk, FactorNoMFA) {
		t.Fatalf("decision %+v", d)
	}
	// With risk out of the way the MFA rule itself refuses.
	pols, err := CompilePolicies(DefaultPolicies(), 10_000)
	if err != nil {
		t.Fatal(err)
	}
	d, err = pols.Evaluate(PolicyPatientDataAccess, &PolicyInput{Roles: []string{"clinician"}, Segment: SegmentClinical, MFA: false})
	if !errors.Is(err, ErrPolicyDenied) || d.Reason != "requires MFA" {
		t.Fatalf("got %v %+v", err, d)
	}
	// RequireMFAAtLogin refuses outright.
	h = newHarness(t, func(c *Config) { c.RequireMFAAtLogin = true })
	h.addIdentity("dr.lee", SegmentCritical, true, "clinician")
	if _, _, err := h.gate.Login(h.ctx, h.signedLogin("dr.lee", "")); !errors.Is(err, ErrMFARequired) {
		t.Fatalf("got %v, want ErrMFARequired", err)
	}
}

func TestWrongTOTPRejected(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxSessionsPerIdentity = 5 })
	h.addIdentity("dr.lee", SegmentCritical, true, "clinician")
	good := h.code()
	wrong := "000000"
	if wrong == good {
		wrong = "111111"
	}
	for _, code := range []string{wrong, "12345", "1234567", "abcdef"} {
		h.clock.Advance(2 * time.Minute)
		if _, _, err := h.gate.Login(h.ctx, h.signedLogin("dr.lee", code)); !errors.Is(err, ErrMFAFailed) {
			t.Fatalf("code %q: got %v, want ErrMFAFailed", code, err)
		}
	}
	if n := h.gate.lockouts.recentFailures("dr.lee", h.clock.Now()); n != 4 {
		t.Fatalf("wrong codes counted %d failures, want 4", n)
	}
	h.clock.Advance(16 * time.Minute)
	good = h.code()
	if _, _, err := h.gate.Login(h.ctx, h.signedLogin("dr.lee", good)); err != nil {
		t.Fatalf("right code: %v", err)
	}
	// The same code again, inside its window: replay.
	h.clock.Advance(time.Second)
	if _, _, err := h.gate.Login(h.ctx, h.signedLogin("dr.lee", good)); !errors.Is(err, ErrMFAFailed) {
		t.Fatalf("reused code: got %v, want ErrMFAFailed", err)
	}
	// A code from two steps ago is stale.
	h.clock.Advance(2 * time.Minute)
	stale, _ := generateAt(h.clock.Now().Add(-90 * time.Second))
	if _, _, err := h.gate.Login(h.ctx, h.signedLogin("dr.lee", stale)); !errors.Is(err, ErrMFAFailed) {
		t.Fatalf("stale code: got %v", err)
	}
	// An identity without a seed cannot pass MFA.
	h.addIdentity("clerk", SegmentInternal, false, "auditor")
	if _, _, err := h.gate.Login(h.ctx, h.signedLogin("clerk", h.code())); !errors.Is(err, ErrMFANotEnrolled) {
		t.Fatalf("not enrolled: got %v", err)
	}
}

func TestBruteForceLocksOutWithProgressiveDelay(t *testing.T) {
	h := newHarness(t, nil)
	h.addIdentity("dr.lee", SegmentCritical, false, "clinician")
	forged := func() error {
		ch, err := h.gate.IssueChallenge(h.ctx, "dr.lee", testDevice, testAddr)
		if err != nil {
			return err
		}
		sig, _ := testKey(t, 77).Sign(ch.SignBytes())
		_, _, err = h.gate.Login(h.ctx, LoginRequest{Identity: "dr.lee", DeviceKeyID: testDevice, Nonce: ch.Nonce, Signature: sig, RemoteAddr: testAddr})
		return err
	}
	delay := time.Second
	for i := 1; i <= 5; i++ {
		if err := forged(); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("attempt %d: got %v", i, err)
		}
		if i == 5 {
			break
		}
		// Inside the delay: refused before any signature is looked at.
		h.clock.Advance(delay - time.Millisecond)
		if err := forged(); !errors.Is(err, ErrTooSoon) {
			t.Fatalf("attempt %d + %v: got %v, want ErrTooSoon", i, delay-time.Millisecond, err)
		}
		h.clock.Advance(time.Millisecond)
		delay *= 2 // 1 s, 2 s, 4 s, 8 s
	}
	// Locked: even the right key is refused.
	h.clock.Advance(time.Minute)
	if _, err := h.gate.IssueChallenge(h.ctx, "dr.lee", testDevice, testAddr); !errors.Is(err, ErrLocked) {
		t.Fatalf("after 5 failures: got %v, want ErrLocked", err)
	}
	h.waitAlerts()
	if h.alerts.kinds()[AlertLockout] != 1 {
		t.Fatalf("alerts %v, want one lockout", h.alerts.kinds())
	}
	h.clock.Advance(14 * time.Minute)
	if _, err := h.gate.IssueChallenge(h.ctx, "dr.lee", testDevice, testAddr); err != nil {
		t.Fatalf("after 15 min: %v", err)
	}
	h.login("dr.lee", 0)
	if n := h.gate.lockouts.recentFailures("dr.lee", h.clock.Now()); n != 0 {
		t.Fatalf("success left %d failures", n)
	}
}

func TestBruteForceAddressQuarantined(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.RateLimit.AnonymousPerMinute = 1000; c.RateLimit.Burst = 1000 })
	h.addIdentity("dr.lee", SegmentCritical, false, "clinician")
	// Spray 20 invented identities from one address: no identity locks, the address does.
	for i := range 20 {
		id := "guess" + string(rune('a'+i))
		ch, err := h.gate.IssueChallenge(h.ctx, id, testDevice, testAddr)
		if err != nil {
			t.Fatalf("spray %d: %v", i, err)
		}
		sig, _ := testKey(t, 5).Sign(ch.SignBytes())
		if _, _, err := h.gate.Login(h.ctx, LoginRequest{Identity: id, DeviceKeyID: testDevice, Nonce: ch.Nonce, Signature: sig, RemoteAddr: testAddr}); !errors.Is(err, ErrUnknownIdentity) {
			t.Fatalf("spray %d: got %v", i, err)
		}
	}
	if _, err := h.gate.IssueChallenge(h.ctx, "dr.lee", testDevice, testAddr); !errors.Is(err, ErrQuarantined) {
		t.Fatalf("got %v, want ErrQuarantined", err)
	}
	// Same /64 in IPv6 terms does not apply to v4: another address works.
	if _, err := h.gate.IssueChallenge(h.ctx, "dr.lee", testDevice, "192.0.2.11:1"); err != nil {
		t.Fatalf("other address: %v", err)
	}
	h.waitAlerts()
	if h.alerts.kinds()[AlertQuarantine] != 1 {
		t.Fatalf("alerts %v", h.alerts.kinds())
	}
	h.clock.Advance(24*time.Hour - time.Second)
	if _, err := h.gate.IssueChallenge(h.ctx, "dr.lee", testDevice, testAddr); !errors.Is(err, ErrQuarantined) {
		t.Fatalf("before 24 h: got %v", err)
	}
	h.clock.Advance(time.Second)
	if _, err := h.gate.IssueChallenge(h.ctx, "dr.lee", testDevice, testAddr); err != nil {
		t.Fatalf("after 24 h: %v", err)
	}
}

func TestRateFloodThrottled(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxSessionsPerIdentity = 2 })
	h.addIdentity("user", SegmentPublic, false, "researcher")
	h.addIdentity("root", SegmentInternal, false, "admin")
	flood := func(tok, addr string) (allowed int, anomaly bool) {
		for range 200 {
			_, d, err := h.gate.Authorize(h.ctx, tok, "chain_head", addr, RequestMeta{})
			if err == nil {
				allowed++
				continue
			}
			if !errors.Is(err, ErrRateLimited) {
				t.Fatalf("flood: %v", err)
			}
			_ = d
		}
		_, d, _ := h.gate.Authorize(h.ctx, tok, "chain_head", addr, RequestMeta{})
		return allowed, hasFactor(d.Risk, FactorRateAnomaly)
	}
	tok := h.login("user", 0)
	if n, _ := flood(tok, testAddr); n != 50 {
		t.Fatalf("user burst: %d allowed, want 50", n)
	}
	// Refill at 100/min: 0.6 s gives one token.
	h.clock.Advance(600 * time.Millisecond)
	if _, _, err := h.gate.Authorize(h.ctx, tok, "chain_head", testAddr, RequestMeta{}); err != nil {
		t.Fatalf("after refill: %v", err)
	}
	if _, _, err := h.gate.Authorize(h.ctx, tok, "chain_head", testAddr, RequestMeta{}); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("second after refill: %v", err)
	}
	// A second session of the same identity shares the identity's bucket.
	tok2 := h.login("user", 0)
	if n, _ := flood(tok2, testAddr); n != 0 {
		t.Fatalf("second session escaped the identity limit: %d", n)
	}
	// An admin gets the higher rate: after a minute it has taken more.
	root := h.login("root", 0)
	total := 0
	for range 60 {
		n, _ := flood(root, testAddr)
		total += n
		h.clock.Advance(time.Second)
	}
	if total < 500 || total > 560 {
		t.Fatalf("admin over 60 s: %d allowed, want about 500+50", total)
	}
	// Anonymous challenge floods are throttled per address.
	refused := 0
	for range 100 {
		if _, err := h.gate.IssueChallenge(h.ctx, "user", testDevice, "198.51.100.9:1"); errors.Is(err, ErrRateLimited) {
			refused++
		}
	}
	if refused != 50 {
		t.Fatalf("anonymous flood: %d refused, want 50", refused)
	}
}

func TestRateAnomalyRaisesRisk(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.RateLimit.Burst = 200 })
	h.addIdentity("user", SegmentPublic, false, "researcher")
	tok := h.login("user", 0)
	var last Decision
	for range 85 {
		_, d, err := h.gate.Authorize(h.ctx, tok, "chain_head", testAddr, RequestMeta{})
		if err != nil {
			t.Fatal(err)
		}
		last = d
	}
	if !hasFactor(last.Risk, FactorRateAnomaly) {
		t.Fatalf("85 requests in a second at 100/min: risk %+v", last.Risk)
	}
}

func TestInjectionStringsInert(t *testing.T) {
	payloads := []string{
		`'; DROP TABLE users; --`,
		`<script>alert('xss')</script>`,
		`") || true || ("`,
		`session.mfa || true`,
		"admin\x00",
		`${jndi:ldap://x}`,
	}
	h := newHarness(t, func(c *Config) {
		c.Policies = append(c.Policies, Policy{Name: "exact", Rules: []Rule{{Expr: `request.resource == "Patient/1"`, Reason: "only Patient/1"}}})
		c.Methods["exact_read"] = MethodRule{Segment: SegmentPublic, Policy: "exact"}
	})
	h.addIdentity("dr.lee", SegmentCritical, true, "clinician")
	tok := h.login("dr.lee", 0)
	for _, p := range payloads {
		if _, err := h.gate.IssueChallenge(h.ctx, p, testDevice, testAddr); !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("identity %q: got %v, want ErrInvalidRequest", p, err)
		}
		if _, err := h.gate.IssueChallenge(h.ctx, "dr.lee", p, testAddr); !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("device %q: got %v, want ErrInvalidRequest", p, err)
		}
		if _, _, err := h.gate.Authorize(h.ctx, tok, p, testAddr, RequestMeta{}); !errors.Is(err, ErrUnknownMethod) {
			t.Errorf("method %q: got %v, want ErrUnknownMethod", p, err)
		}
		_, d, err := h.gate.Authorize(h.ctx, tok, "exact_read", testAddr, RequestMeta{Resource: "Patient/1" + p})
		if !errors.Is(err, ErrPolicyDenied) || d.Reason != "only Patient/1" {
			t.Errorf("resource %q: got %v %+v, want the policy to compare it as data", p, err, d)
		}
		if _, _, err := h.gate.Authorize(h.ctx, tok, "exact_read", p, RequestMeta{}); !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("address %q: got %v", p, err)
		}
	}
	if _, _, err := h.gate.Authorize(h.ctx, tok, "exact_read", testAddr, RequestMeta{Resource: "Patient/1"}); err != nil {
		t.Fatalf("the exact resource: %v", err)
	}
}

func TestConcurrentSessionLimit(t *testing.T) {
	h := newHarness(t, nil) // the seed's limit: 1
	h.addIdentity("dr.lee", SegmentCritical, false, "clinician")
	tok := h.login("dr.lee", 0)
	h.clock.Advance(time.Second)
	if _, _, err := h.gate.Login(h.ctx, h.signedLogin("dr.lee", "")); !errors.Is(err, ErrTooManySessions) {
		t.Fatalf("second session: got %v, want ErrTooManySessions", err)
	}
	if err := h.gate.Logout(h.ctx, tok); err != nil {
		t.Fatal(err)
	}
	tok = h.login("dr.lee", 0)
	// An expired session does not hold a slot.
	h.clock.Advance(31 * time.Minute)
	h.login("dr.lee", 0)
}

func TestMoveSegmentNeedsRiskWithinSegmentLimit(t *testing.T) {
	h := newHarness(t, nil)
	h.addIdentity("dr.lee", SegmentCritical, true, "physician")
	tok := h.login("dr.lee", SegmentClinical) // risk 20 (new device)
	// Critical allows risk ≤ 20: from the login address it enters.
	if _, d, err := h.gate.MoveSegment(h.ctx, tok, SegmentCritical, testAddr); err != nil {
		t.Fatalf("%v %+v", err, d)
	}
	if _, _, err := h.gate.MoveSegment(h.ctx, tok, SegmentClinical, testAddr); err != nil {
		t.Fatalf("moving down: %v", err)
	}
	// From another address (+25) it does not.
	_, d, err := h.gate.MoveSegment(h.ctx, tok, SegmentCritical, "203.0.113.9:1")
	if !errors.Is(err, ErrSegment) || !strings.Contains(d.Reason, "risk 45 above segment critical limit 20") {
		t.Fatalf("got %v %+v", err, d)
	}
}

func TestRefreshReloadsRolesAndUpgradesMFA(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		r := c.Segments[SegmentClinical]
		r.RequireMFA, r.MaxRisk = false, 100
		c.Segments[SegmentClinical] = r
	})
	h.addIdentity("dr.lee", SegmentCritical, true, "clinician")
	req := h.signedLogin("dr.lee", "")
	req.Segment = SegmentClinical
	tok, _, err := h.gate.Login(h.ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	ch, _ := h.gate.RefreshChallenge(h.ctx, tok, testAddr)
	sig, _ := h.keys["dr.lee"].Sign(ch.SignBytes())
	s, err := h.gate.Refresh(h.ctx, RefreshRequest{Token: tok, Nonce: ch.Nonce, Signature: sig, TOTP: h.code(), RemoteAddr: testAddr})
	if err != nil || !s.MFA {
		t.Fatalf("refresh with TOTP: %v mfa=%v", err, s.MFA)
	}
	if _, _, err := h.gate.Authorize(h.ctx, tok, "audit_trail", testAddr, RequestMeta{}); err != nil {
		t.Fatalf("after MFA upgrade: %v", err)
	}
	// Roles are read on every request: removing clinician denies at once.
	id, _ := h.ids.Lookup(h.ctx, "dr.lee")
	id.Roles = []string{"researcher"}
	h.ids.Put("dr.lee", id)
	_, d, err := h.gate.Authorize(h.ctx, tok, "audit_trail", testAddr, RequestMeta{})
	if !errors.Is(err, ErrPolicyDenied) || d.Reason != "requires role clinician or admin" {
		t.Fatalf("got %v %+v", err, d)
	}
}

func TestUnusualHourRaisesRisk(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Risk.UnusualHourMinHistory = 20
		c.MaxSessionsPerIdentity = 100
		c.RateLimit.Burst = 1000
	})
	h.addIdentity("dr.lee", SegmentCritical, false, "clinician")
	tok := h.login("dr.lee", 0)
	for range 30 { // a day-shift history at 10:00 UTC
		if _, _, err := h.gate.Authorize(h.ctx, tok, "chain_head", testAddr, RequestMeta{}); err != nil {
			t.Fatal(err)
		}
	}
	h.clock.Set(t0.Add(15 * time.Hour)) // 01:00 UTC
	tok = h.login("dr.lee", 0)
	_, d, err := h.gate.Authorize(h.ctx, tok, "chain_head", testAddr, RequestMeta{})
	if err != nil || !hasFactor(d.Risk, FactorUnusualHour) {
		t.Fatalf("01:00 for a 10:00 worker: %v %+v", err, d.Risk)
	}
	h.clock.Set(t0.Add(24 * time.Hour)) // 10:00 next day
	tok = h.login("dr.lee", 0)
	_, d, _ = h.gate.Authorize(h.ctx, tok, "chain_head", testAddr, RequestMeta{})
	if hasFactor(d.Risk, FactorUnusualHour) || hasFactor(d.Risk, FactorNewDevice) {
		t.Fatalf("usual hour, known device: %+v", d.Risk)
	}
}

func TestDisabledGateRefusesToStart(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Enabled = false
	if _, err := NewGate(cfg, Options{Identities: NewMemIdentities()}); !errors.Is(err, ErrDisabled) {
		t.Fatalf("got %v", err)
	}
	if _, err := NewGate(DefaultConfig(), Options{}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("no identities: got %v", err)
	}
}

// flakyMFA fails with an infrastructure error while down, then defers to
// the TOTP verifier.
type flakyMFA struct {
	down bool
	next MFA
}

func (f *flakyMFA) Verify(ctx context.Context, id, code string, now time.Time) error {
	if f.down {
		return errors.New("no leader to confirm the code is unused")
	}
	return f.next.Verify(ctx, id, code, now)
}

// TestMFAUnavailableIsNotAFailedAttempt: when the node cannot check codes
// (no cluster key yet, no leader), a login with a valid signature is refused
// as unavailable and does not count towards the identity's lockout or the
// address's quarantine; once the verifier is back the same identity logs in.
func TestMFAUnavailableIsNotAFailedAttempt(t *testing.T) {
	var f *flakyMFA
	h := newHarness(t, nil, func(o *Options) {
		f = &flakyMFA{down: true, next: o.MFA}
		o.MFA = f
	})
	h.addIdentity("dr.lee", SegmentCritical, true, "clinician")
	for range 8 { // more than the lockout's 5 failures
		h.clock.Advance(time.Minute)
		_, _, err := h.gate.Login(h.ctx, h.signedLogin("dr.lee", h.code()))
		if !errors.Is(err, ErrMFAUnavailable) || errors.Is(err, ErrMFAFailed) {
			t.Fatalf("verifier down: got %v, want ErrMFAUnavailable (not ErrMFAFailed)", err)
		}
	}
	if n := h.gate.lockouts.recentFailures("dr.lee", h.clock.Now()); n != 0 {
		t.Fatalf("an unavailable verifier counted %d failed attempts, want 0", n)
	}
	f.down = false
	h.clock.Advance(time.Minute)
	if _, s, err := h.gate.Login(h.ctx, h.signedLogin("dr.lee", h.code())); err != nil || !s.MFA {
		t.Fatalf("verifier back: login %+v, %v; want a session with MFA", s, err)
	}
}
