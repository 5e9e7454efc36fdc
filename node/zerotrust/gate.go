package zerotrust

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/chain/types"
)

// Options are a Gate's collaborators. Identities is required.
type Options struct {
	// Identities resolves identities to roles, keys and clearance.
	Identities Identities
	// MFA checks TOTP codes; nil refuses every code (no MFA possible).
	MFA MFA
	// Store keeps sessions; nil means a new MemStore.
	Store SessionStore
	// Alerter receives security alerts; nil means SlogAlerter{Logger}.
	Alerter Alerter
	// Logger records refusals (never tokens, codes or seeds); nil means slog.Default().
	Logger *slog.Logger
	// Clock; nil means SystemClock.
	Clock Clock
	// Rand supplies nonces, tokens and session ids; nil means crypto/rand.
	Rand io.Reader
	// AlertTimeout bounds one alert delivery. Default 5 s.
	AlertTimeout time.Duration
}

// Gate is the zero-trust policy enforcement point: it issues challenges,
// opens sessions from signed challenges (plus TOTP), re-authenticates them,
// scores each request's risk, confines sessions to micro-segments, runs the
// CEL policies, locks out brute force, quarantines addresses and rate
// limits. It is safe for concurrent use. Close waits for pending alerts.
type Gate struct {
	cfg       Config
	ids       Identities
	mfa       MFA
	store     SessionStore
	alerter   Alerter
	log       *slog.Logger
	clock     Clock
	rand      io.Reader
	alertTO   time.Duration
	policies  *Policies
	validator *Validator

	challenges *challenges
	lockouts   *lockouts
	limiters   *limiters
	profiles   *profiles
	keyPrints  *keyPrints

	alertSem chan struct{}
	alertWG  sync.WaitGroup
}

// maxPendingAlerts bounds alert deliveries in flight; past it alerts are
// logged and dropped rather than queued without bound.
const maxPendingAlerts = 64

// NewGate validates cfg, compiles its policies and returns a gate.
func NewGate(cfg Config, o Options) (*Gate, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !cfg.Enabled {
		return nil, ErrDisabled
	}
	if o.Identities == nil {
		return nil, fmt.Errorf("%w: Options.Identities is required", ErrInvalidConfig)
	}
	pols, err := CompilePolicies(cfg.Policies, cfg.PolicyCostLimit)
	if err != nil {
		return nil, err
	}
	g := &Gate{
		cfg: cfg, ids: o.Identities, mfa: o.MFA, store: o.Store, alerter: o.Alerter,
		log: o.Logger, clock: o.Clock, rand: o.Rand, alertTO: o.AlertTimeout,
		policies: pols, validator: NewValidator(cfg.Request),
		challenges: newChallenges(cfg.MaxPendingChallenges),
		lockouts:   newLockouts(cfg.Lockout, cfg.Quarantine),
		limiters:   newLimiters(cfg.RateLimit),
		profiles:   newProfiles(cfg.Risk.UnusualHourMinHistory, cfg.Risk.UnusualHourPercent),
		keyPrints:  newKeyPrints(),
		alertSem:   make(chan struct{}, maxPendingAlerts),
	}
	if g.store == nil {
		g.store = NewMemStore()
	}
	if g.log == nil {
		g.log = slog.Default()
	}
	if g.alerter == nil {
		g.alerter = SlogAlerter{Logger: g.log}
	}
	if g.clock == nil {
		g.clock = SystemClock{}
	}
	if g.rand == nil {
		g.rand = rand.Reader
	}
	if g.alertTO <= 0 {
		g.alertTO = 5 * time.Second
	}
	return g, nil
}

// Config returns the gate's configuration.
func (g *Gate) Config() Config { return g.cfg }

// Validator returns the request validator built from Config.Request.
func (g *Gate) Validator() *Validator { return g.validator }

// Close waits for alert deliveries in flight, then closes the store.
func (g *Gate) Close() error {
	g.alertWG.Wait()
	return g.store.Close()
}

// RequestMeta is what the RPC layer knows about a request beyond its method.
type RequestMeta struct {
	// Resource names what the request touches (a FHIR reference, a patient
	// id); policies see it as data.
	Resource string
}

// LoginRequest answers a login challenge.
type LoginRequest struct {
	Identity    string
	DeviceKeyID string
	Nonce       []byte
	Signature   crypto.Signature
	// TOTP is the current code, or empty.
	TOTP string
	// Segment, if set, moves the new session into that segment at once
	// (checked as MoveSegment). Zero means public.
	Segment    Segment
	RemoteAddr string
}

// RefreshRequest answers a refresh challenge.
type RefreshRequest struct {
	Token     string
	Nonce     []byte
	Signature crypto.Signature
	// TOTP, if set, is checked and marks the session as MFA-verified.
	TOTP       string
	RemoteAddr string
}

const maxDeviceKeyIDLen = 128

// IssueChallenge returns a fresh login challenge for identity on device.
// Quarantined addresses, locked identities and floods are refused before
// any state is kept.
func (g *Gate) IssueChallenge(ctx context.Context, identity, deviceKeyID, remoteAddr string) (Challenge, error) {
	now := g.clock.Now()
	if _, err := g.admitAnonymous(remoteAddr, now); err != nil {
		return Challenge{}, err
	}
	if err := checkIdentityAndDevice(identity, deviceKeyID); err != nil {
		return Challenge{}, err
	}
	if err := g.lockouts.check(identity, now); err != nil {
		return Challenge{}, err
	}
	return g.newChallenge(PurposeLogin, identity, deviceKeyID, "", now)
}

func checkIdentityAndDevice(identity, device string) error {
	if err := types.ValidateID("identity", identity); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidRequest, err)
	}
	if len(device) > maxDeviceKeyIDLen {
		return fmt.Errorf("%w: device key id: %d bytes, limit %d", ErrInvalidRequest, len(device), maxDeviceKeyIDLen)
	}
	if err := types.ValidateID("device key id", device); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidRequest, err)
	}
	return nil
}

func (g *Gate) newChallenge(p Purpose, identity, device, sessionID string, now time.Time) (Challenge, error) {
	nonce := make([]byte, NonceSize)
	if _, err := io.ReadFull(g.rand, nonce); err != nil {
		return Challenge{}, fmt.Errorf("zerotrust: nonce: %w", err)
	}
	c := Challenge{
		ChainID: g.cfg.ChainID, Purpose: p, Identity: identity, Nonce: nonce,
		DeviceKeyID: device, SessionID: sessionID,
		Expires: now.Add(g.cfg.ChallengeTTL).Truncate(time.Millisecond),
	}
	if err := g.challenges.put(c, now); err != nil {
		return Challenge{}, err
	}
	return c, nil
}

// admitAnonymous checks quarantine and the per-address anonymous rate for
// challenge and login calls, and returns the address key.
func (g *Gate) admitAnonymous(remoteAddr string, now time.Time) (string, error) {
	ip, err := parseAddr(remoteAddr)
	if err != nil {
		return "", err
	}
	key := addrKey(ip)
	if err := g.lockouts.checkAddr(key, now); err != nil {
		return "", err
	}
	if g.cfg.RateLimit.Enabled {
		if ok, _ := g.limiters.allow("anon:"+key, g.cfg.RateLimit.AnonymousPerMinute, now); !ok {
			return "", rateErr("address "+key, g.cfg.RateLimit.AnonymousPerMinute)
		}
	}
	return key, nil
}

// Login verifies a signed login challenge (and TOTP) and opens a session.
// It returns the session token (shown once: the gate keeps only its hash)
// and the session. Every failure that proves nothing about key possession
// counts towards the identity's lockout and the address's quarantine.
func (g *Gate) Login(ctx context.Context, req LoginRequest) (string, Session, error) {
	now := g.clock.Now()
	addr, err := g.admitAnonymous(req.RemoteAddr, now)
	if err != nil {
		return "", Session{}, err
	}
	ip, _ := parseAddr(req.RemoteAddr)
	if err := checkIdentityAndDevice(req.Identity, req.DeviceKeyID); err != nil {
		return "", Session{}, err
	}
	if err := g.lockouts.check(req.Identity, now); err != nil {
		return "", Session{}, err
	}
	ident, identErr := g.ids.Lookup(ctx, req.Identity)
	known := identErr == nil
	fail := func(err error) (string, Session, error) {
		g.recordFailure(req.Identity, known, addr, now, err)
		return "", Session{}, err
	}

	c, ok := g.challenges.take(req.Nonce)
	if !ok {
		g.alert(Alert{Kind: AlertReplay, Time: now, Identity: knownOr(req.Identity, known), Address: addr, Detail: "login with an unknown or used nonce"})
		return fail(ErrChallengeUnknown)
	}
	if c.Purpose != PurposeLogin || c.Identity != req.Identity || c.DeviceKeyID != req.DeviceKeyID {
		// Not quoted: the challenge's identity and device are whatever a
		// caller asked a challenge for (a patient's MRN, a name).
		return fail(fmt.Errorf("%w: issued for a %s of another identity or device", ErrChallengeMismatch, c.Purpose))
	}
	if !now.Before(c.Expires) {
		return fail(fmt.Errorf("%w: at %s", ErrChallengeExpired, c.Expires.UTC().Format(time.RFC3339)))
	}
	if identErr != nil {
		if errors.Is(identErr, ErrUnknownIdentity) {
			return fail(identErr)
		}
		return "", Session{}, fmt.Errorf("zerotrust: identity lookup: %w", identErr) // infrastructure, not the client
	}
	if ident.Revoked {
		g.alert(Alert{Kind: AlertRevokedAccess, Time: now, Identity: req.Identity, Address: addr, Detail: "login attempt"})
		return fail(fmt.Errorf("%w: %q", ErrRevoked, req.Identity))
	}
	if err := crypto.Verify(ident.PublicKey, c.SignBytes(), req.Signature); err != nil {
		return fail(fmt.Errorf("%w: %v", ErrBadSignature, err))
	}
	mfa, err := g.checkTOTP(ctx, req.Identity, req.TOTP, now)
	if errors.Is(err, ErrMFAUnavailable) {
		return "", Session{}, err // infrastructure, not the client
	}
	if err != nil {
		return fail(err)
	}
	if !mfa && g.cfg.RequireMFAAtLogin {
		return "", Session{}, fmt.Errorf("%w: the gate requires MFA at login", ErrMFARequired)
	}

	token, hash, err := g.newToken()
	if err != nil {
		return "", Session{}, err
	}
	id := make([]byte, 16)
	if _, err := io.ReadFull(g.rand, id); err != nil {
		return "", Session{}, fmt.Errorf("zerotrust: session id: %w", err)
	}
	clearance := ident.Clearance
	if !clearance.Valid() {
		clearance = SegmentPublic
	}
	s := Session{
		ID: hex.EncodeToString(id), TokenHash: hash, Identity: req.Identity, Roles: ident.Roles,
		Clearance: clearance, Segment: SegmentPublic, MFA: mfa, DeviceKeyID: req.DeviceKeyID,
		KeyFingerprint: g.keyPrints.of(req.Identity, ident.PublicKey),
		NewDevice:      !g.profiles.knownDevice(req.Identity, req.DeviceKeyID),
		Address:        ip.String(), Created: now, LastAuth: now, LastSeen: now,
	}
	var dec Decision
	if req.Segment != 0 && req.Segment != SegmentPublic {
		if dec, err = g.segmentCheck(&s, ident, req.Segment, ip, now); err != nil {
			return "", Session{}, err
		}
		s.Segment = req.Segment
	}
	s.Risk = dec.Risk.Score
	if err := g.store.Create(s, g.cfg.MaxSessionsPerIdentity, func(old Session) bool { return g.expiredAt(old, now) != nil }); err != nil {
		return "", Session{}, err
	}
	g.lockouts.succeed(req.Identity)
	g.profiles.addDevice(req.Identity, req.DeviceKeyID)
	return token, s.clone(), nil
}

func (g *Gate) checkTOTP(ctx context.Context, identity, code string, now time.Time) (bool, error) {
	if code == "" {
		return false, nil
	}
	if g.mfa == nil {
		return false, fmt.Errorf("%w: no MFA verifier configured", ErrMFAFailed)
	}
	if err := g.mfa.Verify(ctx, identity, code, now); err != nil {
		if errors.Is(err, ErrMFAFailed) || errors.Is(err, ErrMFANotEnrolled) {
			return false, err
		}
		return false, fmt.Errorf("%w: %v", ErrMFAUnavailable, err)
	}
	return true, nil
}

// recordFailure counts a failed authentication and raises alerts for new
// lockouts and quarantines. Unknown identities count only against the
// address, and are neither logged nor alerted: the identity a caller claims
// may be any id-shaped string, a patient's MRN or a person's name.
func (g *Gate) recordFailure(identity string, known bool, addr string, now time.Time, cause error) {
	g.log.Info("zerotrust: authentication failed", "identity", knownOr(identity, known), "address", addr, "reason", cause.Error())
	if known && g.lockouts.fail(identity, now) {
		g.alert(Alert{Kind: AlertLockout, Time: now, Identity: identity, Address: addr,
			Detail: fmt.Sprintf("%d failed attempts; locked for %v", g.cfg.Lockout.MaxFailures, g.cfg.Lockout.Duration)})
	}
	if g.lockouts.failAddr(addr, now) {
		g.alert(Alert{Kind: AlertQuarantine, Time: now, Identity: knownOr(identity, known), Address: addr,
			Detail: fmt.Sprintf("%d failed attempts; quarantined for %v", g.cfg.Quarantine.Threshold, g.cfg.Quarantine.Duration)})
	}
}

// unregisteredIdentity stands in logs and alerts for an identity a caller
// claimed that the identity registry does not know.
const unregisteredIdentity = "(unregistered)"

// knownOr returns identity if known, else unregisteredIdentity.
func knownOr(identity string, known bool) string {
	if known {
		return identity
	}
	return unregisteredIdentity
}

// tokenLen is the length of an encoded token: 32 bytes in unpadded base64url.
var tokenLen = base64.RawURLEncoding.EncodedLen(32)

func (g *Gate) newToken() (string, TokenHash, error) {
	var raw [32]byte
	if _, err := io.ReadFull(g.rand, raw[:]); err != nil {
		return "", TokenHash{}, fmt.Errorf("zerotrust: token: %w", err)
	}
	tok := base64.RawURLEncoding.EncodeToString(raw[:])
	return tok, sha256.Sum256([]byte(tok)), nil
}

// HashToken returns the stored form of a token, or ErrSessionUnknown for a
// string that cannot be a token.
func HashToken(token string) (TokenHash, error) {
	if len(token) != tokenLen {
		return TokenHash{}, fmt.Errorf("%w: malformed token", ErrSessionUnknown)
	}
	if _, err := base64.RawURLEncoding.DecodeString(token); err != nil {
		return TokenHash{}, fmt.Errorf("%w: malformed token", ErrSessionUnknown)
	}
	return sha256.Sum256([]byte(token)), nil
}

// expiredAt reports which hard limit s has passed at now: the absolute
// timeout or the idle timeout (both end the session), or nil.
func (g *Gate) expiredAt(s Session, now time.Time) error {
	if !now.Before(s.Created.Add(g.cfg.AbsoluteTimeout)) {
		return fmt.Errorf("%w: absolute timeout %v passed since login at %s", ErrAbsoluteTimeout, g.cfg.AbsoluteTimeout, s.Created.UTC().Format(time.RFC3339))
	}
	if !now.Before(s.LastSeen.Add(g.cfg.IdleTimeout)) {
		return fmt.Errorf("%w: idle timeout %v passed since %s", ErrIdleTimeout, g.cfg.IdleTimeout, s.LastSeen.UTC().Format(time.RFC3339))
	}
	return nil
}

// openSession finds the live session for token and the identity's current
// record. Expired and revoked sessions are deleted. Reauthentication is
// checked by the callers that need it.
func (g *Gate) openSession(ctx context.Context, token string, now time.Time) (Session, Identity, error) {
	h, err := HashToken(token)
	if err != nil {
		return Session{}, Identity{}, err
	}
	s, err := g.store.Get(h)
	if err != nil {
		return Session{}, Identity{}, err
	}
	if err := g.expiredAt(s, now); err != nil {
		_ = g.store.Delete(h)
		return Session{}, Identity{}, err
	}
	ident, err := g.ids.Lookup(ctx, s.Identity)
	if err != nil && !errors.Is(err, ErrUnknownIdentity) {
		return Session{}, Identity{}, fmt.Errorf("zerotrust: identity lookup: %w", err)
	}
	if err != nil || ident.Revoked {
		_ = g.store.Delete(h)
		g.alert(Alert{Kind: AlertRevokedAccess, Time: now, Identity: s.Identity, Address: s.Address, Detail: "request on a session of a revoked or removed identity"})
		return Session{}, Identity{}, fmt.Errorf("%w: %q", ErrRevoked, s.Identity)
	}
	// Sessions from before key binding carry no fingerprint; the idle and
	// absolute timeouts end them.
	if s.KeyFingerprint != "" && s.KeyFingerprint != g.keyPrints.of(s.Identity, ident.PublicKey) {
		_ = g.store.Delete(h)
		g.alert(Alert{Kind: AlertRevokedAccess, Time: now, Identity: s.Identity, Address: s.Address, Detail: "request on a session opened with a key the identity has since rotated out"})
		return Session{}, Identity{}, fmt.Errorf("%w: %w: %q rotated its key after this session authenticated; log in again with the new key", ErrSessionUnknown, ErrKeyRotated, s.Identity)
	}
	return s, ident, nil
}

func (g *Gate) needsReauth(s Session, now time.Time) error {
	if !now.Before(s.LastAuth.Add(g.cfg.ReauthInterval)) {
		return fmt.Errorf("%w: reauthentication interval %v passed since %s", ErrReauthRequired, g.cfg.ReauthInterval, s.LastAuth.UTC().Format(time.RFC3339))
	}
	return nil
}

// RefreshChallenge issues a refresh challenge bound to token's session. It
// works after the reauthentication interval (that is its purpose) but not
// after the idle or absolute timeout.
func (g *Gate) RefreshChallenge(ctx context.Context, token, remoteAddr string) (Challenge, error) {
	now := g.clock.Now()
	if _, err := g.admitAnonymous(remoteAddr, now); err != nil {
		return Challenge{}, err
	}
	s, _, err := g.openSession(ctx, token, now)
	if err != nil {
		return Challenge{}, err
	}
	return g.newChallenge(PurposeRefresh, s.Identity, s.DeviceKeyID, s.ID, now)
}

// Refresh verifies a signed refresh challenge and restarts the session's
// reauthentication interval; it also reloads the identity's roles and
// clearance. A TOTP code, if sent, is checked and marks the session MFA.
func (g *Gate) Refresh(ctx context.Context, req RefreshRequest) (Session, error) {
	now := g.clock.Now()
	addr, err := g.admitAnonymous(req.RemoteAddr, now)
	if err != nil {
		return Session{}, err
	}
	s, ident, err := g.openSession(ctx, req.Token, now)
	if err != nil {
		return Session{}, err
	}
	if err := g.lockouts.check(s.Identity, now); err != nil {
		return Session{}, err
	}
	fail := func(err error) (Session, error) {
		g.recordFailure(s.Identity, true, addr, now, err)
		return Session{}, err
	}
	c, ok := g.challenges.take(req.Nonce)
	if !ok {
		g.alert(Alert{Kind: AlertReplay, Time: now, Identity: s.Identity, Address: addr, Detail: "refresh with an unknown or used nonce"})
		return fail(ErrChallengeUnknown)
	}
	if c.Purpose != PurposeRefresh || c.SessionID != s.ID || c.Identity != s.Identity || c.DeviceKeyID != s.DeviceKeyID {
		return fail(fmt.Errorf("%w: issued for %s of session %q", ErrChallengeMismatch, c.Purpose, c.SessionID))
	}
	if !now.Before(c.Expires) {
		return fail(fmt.Errorf("%w: at %s", ErrChallengeExpired, c.Expires.UTC().Format(time.RFC3339)))
	}
	if err := crypto.Verify(ident.PublicKey, c.SignBytes(), req.Signature); err != nil {
		return fail(fmt.Errorf("%w: %v", ErrBadSignature, err))
	}
	mfa, err := g.checkTOTP(ctx, s.Identity, req.TOTP, now)
	if errors.Is(err, ErrMFAUnavailable) {
		return Session{}, err // infrastructure, not the client
	}
	if err != nil {
		return fail(err)
	}
	s.MFA = s.MFA || mfa
	s.LastAuth, s.LastSeen = now, now
	s.KeyFingerprint = g.keyPrints.of(s.Identity, ident.PublicKey)
	s.Roles = ident.Roles
	if ident.Clearance.Valid() {
		s.Clearance = ident.Clearance
	}
	if s.Segment > s.Clearance {
		s.Segment = SegmentPublic // clearance lowered: fall back to the bottom
	}
	if err := g.store.Update(s); err != nil {
		return Session{}, err
	}
	g.lockouts.succeed(s.Identity)
	return s, nil
}

// Logout ends token's session. An unknown token is reported, so a client
// learns that its session was already gone.
func (g *Gate) Logout(ctx context.Context, token string) error {
	h, err := HashToken(token)
	if err != nil {
		return err
	}
	if _, err := g.store.Get(h); err != nil {
		return err
	}
	return g.store.Delete(h)
}

// Sweep deletes every session past its idle or absolute timeout; call it
// periodically. It returns how many went.
func (g *Gate) Sweep() (int, error) {
	now := g.clock.Now()
	return g.store.DeleteExpired(func(s Session) bool { return g.expiredAt(s, now) != nil })
}

// Authorize decides one request: the session must be live and recently
// re-authenticated, the identity unrevoked, the rates respected, the
// method known, the risk within Config.MaxRisk, the method in the
// session's segment, and the method's policy satisfied. It always returns
// a Decision saying why; err is nil exactly when Decision.Allowed.
func (g *Gate) Authorize(ctx context.Context, token, method, remoteAddr string, meta RequestMeta) (Session, Decision, error) {
	now := g.clock.Now()
	deny := func(s Session, d Decision, err error) (Session, Decision, error) {
		d.Allowed = false
		if d.Reason == "" {
			d.Reason = err.Error()
		}
		return s, d, err
	}
	ip, err := parseAddr(remoteAddr)
	if err != nil {
		return deny(Session{}, Decision{}, err)
	}
	addr := addrKey(ip)
	if err := g.lockouts.checkAddr(addr, now); err != nil {
		return deny(Session{}, Decision{}, err)
	}
	s, ident, err := g.openSession(ctx, token, now)
	if err != nil {
		return deny(Session{}, Decision{}, err)
	}
	if err := g.needsReauth(s, now); err != nil {
		return deny(s, Decision{}, err)
	}
	perMin := g.limiters.perMinute(ident.Roles)
	lastMinute := 0
	if g.cfg.RateLimit.Enabled {
		ok, n := g.limiters.allow("id:"+s.Identity, perMin, now)
		if !ok {
			return deny(s, Decision{}, rateErr("identity "+s.Identity, perMin))
		}
		lastMinute = n
		if ok, _ := g.limiters.allow(fmt.Sprintf("addr:%d:%s", perMin, addr), perMin, now); !ok {
			return deny(s, Decision{}, rateErr("address "+addr, perMin))
		}
	}
	rule, ok := lookupMethod(g.cfg.Methods, method)
	if !ok {
		return deny(s, Decision{}, fmt.Errorf("%w: %q", ErrUnknownMethod, method))
	}
	risk := g.assess(s, ident, ip, rule.Segment, lastMinute, perMin, now)
	d := Decision{Policy: rule.Policy, Risk: risk}
	if risk.Score > g.cfg.MaxRisk {
		g.alert(Alert{Kind: AlertHighRisk, Time: now, Identity: s.Identity, Address: addr,
			Detail: fmt.Sprintf("method %s refused at risk %d (max %d)", method, risk.Score, g.cfg.MaxRisk)})
		return deny(s, d, fmt.Errorf("%w: %d > %d", ErrRiskTooHigh, risk.Score, g.cfg.MaxRisk))
	}
	if rule.Segment != s.Segment && !(g.cfg.AllowLowerSegments && rule.Segment < s.Segment) {
		return deny(s, d, fmt.Errorf("%w: method %s is in segment %s, session is in %s", ErrSegment, method, rule.Segment, s.Segment))
	}
	if rule.Policy != "" {
		pd, err := g.policies.Evaluate(rule.Policy, &PolicyInput{
			Identity: s.Identity, Roles: ident.Roles, Risk: risk.Score, Segment: s.Segment, MFA: s.MFA,
			Device: s.DeviceKeyID, Method: method, Resource: meta.Resource,
		})
		d.Reason = pd.Reason
		if err != nil {
			return deny(s, d, err)
		}
	} else {
		d.Reason = "segment " + rule.Segment.String() + " allows"
	}
	d.Allowed = true
	if err := g.store.Touch(s.TokenHash, now, risk.Score); err != nil {
		return deny(s, d, err)
	}
	s.LastSeen, s.Risk, s.Roles = now, risk.Score, ident.Roles
	g.profiles.record(s.Identity, now)
	return s, d, nil
}

// assess computes the risk of a request by s from ip to a method in seg.
func (g *Gate) assess(s Session, ident Identity, ip netip.Addr, seg Segment, lastMinute, perMin int, now time.Time) Risk {
	return AssessRisk(g.cfg.Risk, RiskSignals{
		NoMFA:           !s.MFA,
		NewDevice:       s.NewDevice,
		UnusualHour:     g.profiles.unusualHour(s.Identity, now),
		FailedAttempts:  g.lockouts.recentFailures(s.Identity, now) > 0,
		RateAnomaly:     lastMinute*100 > perMin*g.cfg.Risk.RateAnomalyPercent,
		AddressChange:   ip.String() != s.Address,
		SegmentMismatch: seg != s.Segment,
	})
}

// MoveSegment moves token's session into target when the identity's
// clearance, its roles, the session's risk and MFA allow (Config.Segments).
// Moving down is always allowed for a live session.
func (g *Gate) MoveSegment(ctx context.Context, token string, target Segment, remoteAddr string) (Session, Decision, error) {
	now := g.clock.Now()
	if !target.Valid() {
		return Session{}, Decision{Reason: "unknown segment"}, fmt.Errorf("%w: unknown segment %d", ErrInvalidRequest, uint8(target))
	}
	ip, err := parseAddr(remoteAddr)
	if err != nil {
		return Session{}, Decision{Reason: err.Error()}, err
	}
	if err := g.lockouts.checkAddr(addrKey(ip), now); err != nil {
		return Session{}, Decision{Reason: err.Error()}, err
	}
	s, ident, err := g.openSession(ctx, token, now)
	if err == nil {
		err = g.needsReauth(s, now)
	}
	if err != nil {
		return s, Decision{Reason: err.Error()}, err
	}
	d, err := g.segmentCheck(&s, ident, target, ip, now)
	if err != nil {
		return s, d, err
	}
	s.Segment, s.Risk = target, d.Risk.Score
	if err := g.store.Update(s); err != nil {
		return s, Decision{Reason: err.Error()}, err
	}
	return s, d, nil
}

// segmentCheck decides whether s may enter target.
func (g *Gate) segmentCheck(s *Session, ident Identity, target Segment, ip netip.Addr, now time.Time) (Decision, error) {
	risk := g.assess(*s, ident, ip, s.Segment, 0, 1, now) // a move is no cross-segment call
	d := Decision{Risk: risk, Policy: "segment:" + target.String()}
	refuse := func(format string, args ...any) (Decision, error) {
		d.Reason = fmt.Sprintf(format, args...)
		return d, fmt.Errorf("%w: %s", ErrSegment, d.Reason)
	}
	clearance := ident.Clearance
	if !clearance.Valid() {
		clearance = SegmentPublic
	}
	if target > s.Segment {
		rule := g.cfg.Segments[target]
		switch {
		case target > clearance:
			return refuse("clearance %s is below %s", clearance, target)
		case len(rule.Roles) > 0 && !slices.ContainsFunc(ident.Roles, func(r string) bool { return slices.Contains(rule.Roles, r) }):
			return refuse("segment %s requires role %v", target, rule.Roles)
		case rule.RequireMFA && !s.MFA:
			return refuse("segment %s requires MFA", target)
		case risk.Score > rule.MaxRisk:
			return refuse("risk %d above segment %s limit %d (%s)", risk.Score, target, rule.MaxRisk, risk)
		}
	}
	d.Allowed = true
	d.Reason = "segment " + target.String() + " entered"
	return d, nil
}

// alert delivers a asynchronously within the alert timeout; when too many
// deliveries are in flight it logs and drops.
func (g *Gate) alert(a Alert) {
	select {
	case g.alertSem <- struct{}{}:
	default:
		g.log.Warn("zerotrust: alert dropped, deliveries backed up", "kind", string(a.Kind), "identity", a.Identity, "address", a.Address)
		return
	}
	g.alertWG.Add(1)
	go func() {
		defer g.alertWG.Done()
		defer func() { <-g.alertSem }()
		ctx, cancel := context.WithTimeout(context.Background(), g.alertTO)
		defer cancel()
		if err := g.alerter.Alert(ctx, a); err != nil {
			g.log.Warn("zerotrust: alert delivery failed", "kind", string(a.Kind), "err", err)
		}
	}()
}

// Status returns token's live session and the risk it would carry in its
// own segment now, without counting a request. It refuses like Authorize
// for a quarantined address, an unknown, expired or revoked session, or
// one past its reauthentication interval.
func (g *Gate) Status(ctx context.Context, token, remoteAddr string) (Session, Risk, error) {
	now := g.clock.Now()
	ip, err := parseAddr(remoteAddr)
	if err != nil {
		return Session{}, Risk{}, err
	}
	if err := g.lockouts.checkAddr(addrKey(ip), now); err != nil {
		return Session{}, Risk{}, err
	}
	s, ident, err := g.openSession(ctx, token, now)
	if err != nil {
		return Session{}, Risk{}, err
	}
	if err := g.needsReauth(s, now); err != nil {
		return s, Risk{}, err
	}
	s.Roles = ident.Roles
	return s, g.assess(s, ident, ip, s.Segment, 0, 1, now), nil
}

// MethodSegment returns the segment of method's rule, if it has one.
func (g *Gate) MethodSegment(method string) (Segment, bool) {
	r, ok := lookupMethod(g.cfg.Methods, method)
	return r.Segment, ok
}
