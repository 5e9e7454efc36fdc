package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/node/rpc"
	"github.com/medchain/medchain/node/zerotrust"
)

// DefaultDeviceKeyID names the device of a client that gives none.
const DefaultDeviceKeyID = "medchain-client"

// Login says how a client opens and keeps a zero-trust session on a gated
// node: it answers an auth_challenge with the identity's ML-DSA key, logs
// in (with a TOTP code when it has one), sends the token as
// "Authorization: Bearer" on every call, signs a refresh challenge when the
// node answers -32021 (or just before the reauthentication interval ends),
// moves the session into the segment a method needs when the node refuses
// it for its segment, and logs in again when the session has expired.
type Login struct {
	// Identity and Key sign the challenges. Key may be nil when Token is
	// set: the session then lives until it needs reauthentication.
	Identity string
	Key      *crypto.PrivateKey
	// DeviceKeyID names this device. Default DefaultDeviceKeyID.
	DeviceKeyID string
	// TOTP is a current code from the identity's authenticator, used once
	// at the first login.
	TOTP string
	// TOTPSecret, the base32 seed of the otpauth URI, lets the client make
	// its own codes (for unattended integrations); it never leaves the client.
	// Codes are made only when needed: at a login straight into a segment
	// above public, and when a segment move asks for MFA.
	TOTPSecret string
	// TOTPCode, if set, makes the codes instead of TOTPSecret; clients of
	// one identity share it so that none sends a code another already used.
	TOTPCode func(ctx context.Context) (string, error)
	// Segment is entered at login ("" stays public).
	Segment string
	// Token resumes an existing session (a cached login) instead of
	// logging in first.
	Token string
	// OnToken is called with every new token (to cache it), and with ""
	// when the session ends.
	OnToken func(token string)
}

// WithLogin makes the client log in and keep its session (see Login).
func WithLogin(l Login) Option {
	return func(o *dialOptions) error {
		if l.Identity == "" {
			return errors.New("client: login: identity required")
		}
		if l.Key == nil && l.Token == "" {
			return errors.New("client: login: a key or a session token is required")
		}
		if l.DeviceKeyID == "" {
			l.DeviceKeyID = DefaultDeviceKeyID
		}
		o.login = &l
		return nil
	}
}

// session is the http.RoundTripper that authenticates a client's calls.
type session struct {
	base http.RoundTripper
	url  string
	l    Login

	mu       sync.Mutex
	token    string
	lastAuth time.Time
	reauth   time.Duration
	lastCode string
	// noGate is set when the node has no auth_ methods (its gate is off):
	// calls then go without a token.
	noGate bool
	// segment is where the session is, as far as this client knows.
	segment string
	// mfa is whether the session has proved MFA; mfaKnown whether the
	// client has seen it (a resumed token has not).
	mfa, mfaKnown bool
}

// methodRules is the node's method table (rpc.MethodRules): the client
// moves its session into a method's segment before calling it, so that a
// legitimate call is not first refused (and audited as a denial).
var methodRules = rpc.MethodRules()

// segmentOf returns the segment of method's rule: exact, else the longest
// "prefix*" wildcard, as the gate looks it up.
func segmentOf(method string) string {
	if r, ok := methodRules[method]; ok {
		return r.Segment.String()
	}
	best, n := "", -1
	for k, r := range methodRules {
		if p, ok := strings.CutSuffix(k, "*"); ok && strings.HasPrefix(method, p) && len(p) > n {
			best, n = r.Segment.String(), len(p)
		}
	}
	return best
}

// wantSegment returns the one segment every method named in the first 4 KiB
// of a request body needs, or "" (unknown, mixed, or the gate's own
// methods). The body is JSON, or CBOR when cbor is set (the client's own
// tx submissions, node/client/cbor.go).
func wantSegment(body []byte, cbor bool) string {
	body = body[:min(len(body), 4096)]
	next := nextJSONMethod
	if cbor {
		next = nextCBORMethod
	}
	want := ""
	for {
		m, rest, ok := next(body)
		if !ok {
			return want
		}
		body = rest
		if strings.HasPrefix(m, "auth_") || strings.HasPrefix(m, "session_") {
			return ""
		}
		seg := segmentOf(m)
		if seg == "" || (want != "" && seg != want) {
			return ""
		}
		want = seg
	}
}

// nextJSONMethod finds the next "method":"NAME" in body.
func nextJSONMethod(body []byte) (method string, rest []byte, ok bool) {
	const key = `"method":"`
	i := bytes.Index(body, []byte(key))
	if i < 0 {
		return "", nil, false
	}
	body = body[i+len(key):]
	j := bytes.IndexByte(body, '"')
	if j < 0 {
		return "", nil, false
	}
	return string(body[:j]), body[j:], true
}

// nextCBORMethod finds the next map key "method" in a CBOR body and the text
// string after it (a method name is shorter than 256 bytes).
func nextCBORMethod(body []byte) (method string, rest []byte, ok bool) {
	const key = "\x66method" // text string of 6 bytes
	for {
		i := bytes.Index(body, []byte(key))
		if i < 0 {
			return "", nil, false
		}
		body = body[i+len(key):]
		if len(body) == 0 {
			return "", nil, false
		}
		n, off := -1, 0
		switch h := body[0]; {
		case h >= 0x60 && h < 0x78: // text string, length in the head
			n, off = int(h-0x60), 1
		case h == 0x78 && len(body) > 1: // text string, one length byte
			n, off = int(body[1]), 2
		}
		if n < 0 || len(body) < off+n {
			continue
		}
		return string(body[off : off+n]), body[off+n:], true
	}
}

// moveTo moves the session into seg before a call that needs it; a refusal
// is left to the call itself, which the gate then refuses with its reason.
func (s *session) moveTo(ctx context.Context, seg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token == "" || s.segment == seg {
		return
	}
	// Segments above public need MFA (zerotrust.DefaultSegmentRules): prove
	// it first when a code can be made, rather than have the move refused,
	// which the node audits on chain as a denial.
	if seg != "public" && !s.mfa && (s.l.TOTPSecret != "" || s.l.TOTPCode != nil) && s.l.Key != nil {
		if !s.mfaKnown {
			var v rpc.SessionView
			if s.call(ctx, s.token, "session_status", nil, &v) == nil {
				s.mfa, s.mfaKnown = v.MFA, true
			}
		}
		if !s.mfa {
			_ = s.refresh(ctx, true)
		}
	}
	err := s.call(ctx, s.token, "session_segment", seg, nil)
	var ae *authError
	if errors.As(err, &ae) && ae.Code == rpc.CodeForbidden && (s.l.TOTPSecret != "" || s.l.TOTPCode != nil) && s.l.Key != nil {
		if s.refresh(ctx, true) == nil {
			err = s.call(ctx, s.token, "session_segment", seg, nil)
		}
	}
	if err == nil {
		s.segment = seg
	}
}

// authError is a JSON-RPC error from the gate.
type authError struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

func (e *authError) Error() string {
	if len(e.Data) > 0 {
		return fmt.Sprintf("%s (code %d, %s)", e.Message, e.Code, e.Data)
	}
	return fmt.Sprintf("%s (code %d)", e.Message, e.Code)
}

// ErrorCode makes authError a go-ethereum rpc.Error, so RPCError reads it.
func (e *authError) ErrorCode() int { return e.Code }

// call posts one JSON-RPC call straight to the node (not through the
// session's retry logic) with token, if any.
func (s *session) call(ctx context.Context, token, method string, params any, result any) error {
	var ps []any
	if params != nil {
		ps = []any{params}
	}
	body, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": ps})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.base.RoundTrip(req)
	if err != nil {
		return fmt.Errorf("client: %s: %w", method, err)
	}
	defer resp.Body.Close()
	var r struct {
		Result json.RawMessage `json:"result"`
		Error  *authError      `json:"error"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&r); err != nil {
		return fmt.Errorf("client: %s: HTTP %d: %w", method, resp.StatusCode, err)
	}
	if r.Error != nil {
		return fmt.Errorf("client: %s: %w", method, r.Error)
	}
	if result != nil {
		return json.Unmarshal(r.Result, result)
	}
	return nil
}

// code returns a fresh TOTP code from the secret, never one already sent
// (the gate refuses a reused code): it waits for the next period if needed.
func (s *session) code(ctx context.Context) (string, error) {
	if s.l.TOTPCode != nil {
		return s.l.TOTPCode(ctx)
	}
	if s.l.TOTPSecret == "" {
		return "", nil
	}
	for {
		c, err := totp.GenerateCode(s.l.TOTPSecret, time.Now())
		if err != nil {
			return "", fmt.Errorf("client: TOTP secret: %w", err)
		}
		if c != s.lastCode {
			s.lastCode = c
			return c, nil
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// login opens a new session. s.mu is held.
func (s *session) login(ctx context.Context) error {
	if s.l.Key == nil {
		return fmt.Errorf("client: the session of %q ended and no key was given to log in again", s.l.Identity)
	}
	var c zerotrust.Challenge
	if err := s.call(ctx, "", "auth_challenge", rpc.ChallengeParams{Identity: s.l.Identity, DeviceKeyID: s.l.DeviceKeyID}, &c); err != nil {
		var ae *authError
		if errors.As(err, &ae) && ae.Code == -32601 { // method not found: the node's gate is off
			s.noGate = true
			return nil
		}
		return err
	}
	sig, err := s.l.Key.Sign(c.SignBytes())
	if err != nil {
		return err
	}
	code := s.l.TOTP
	s.l.TOTP = "" // a code is good once
	if code == "" && s.l.Segment != "" && s.l.Segment != "public" {
		if code, err = s.code(ctx); err != nil {
			return err
		}
	}
	var r rpc.LoginResult
	if err := s.call(ctx, "", "auth_login", rpc.LoginParams{Identity: s.l.Identity, DeviceKeyID: s.l.DeviceKeyID,
		Nonce: c.Nonce, Signature: sig, TOTP: code, Segment: s.l.Segment}, &r); err != nil {
		return err
	}
	s.setSession(r.Token, r.Session)
	return nil
}

func (s *session) setSession(token string, v *rpc.SessionView) {
	if token != s.token && s.l.OnToken != nil {
		s.l.OnToken(token)
	}
	if v != nil && v.Segment != "" {
		s.segment = v.Segment
	}
	if v != nil {
		s.mfa, s.mfaKnown = v.MFA, true
	}
	s.token = token
	s.lastAuth = time.Now()
	if v != nil && v.ReauthInterval > 0 {
		s.reauth = time.Duration(v.ReauthInterval * float64(time.Second))
	}
}

// refresh signs a refresh challenge for the current session. s.mu is held.
func (s *session) refresh(ctx context.Context, withCode bool) error {
	if s.l.Key == nil {
		return fmt.Errorf("client: the session of %q needs reauthentication and no key was given", s.l.Identity)
	}
	var c zerotrust.Challenge
	if err := s.call(ctx, s.token, "auth_challenge", rpc.ChallengeParams{Refresh: true}, &c); err != nil {
		return err
	}
	sig, err := s.l.Key.Sign(c.SignBytes())
	if err != nil {
		return err
	}
	var code string
	if withCode {
		if code, err = s.code(ctx); err != nil {
			return err
		}
	}
	var v rpc.SessionView
	if err := s.call(ctx, s.token, "auth_refresh", rpc.RefreshParams{Nonce: c.Nonce, Signature: sig, TOTP: code}, &v); err != nil {
		return err
	}
	s.setSession(s.token, &v)
	return nil
}

// current returns a token, logging in first or refreshing shortly before
// the reauthentication interval ends.
func (s *session) current(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.noGate {
		return "", nil
	}
	if s.token == "" {
		if err := s.login(ctx); err != nil {
			return "", err
		}
	} else if s.reauth > 0 && s.l.Key != nil && time.Since(s.lastAuth) > s.reauth*4/5 {
		if err := s.refresh(ctx, false); err != nil {
			s.lastAuth = time.Now().Add(-s.reauth * 3 / 5) // try again later; the node says when it must
		}
	}
	return s.token, nil
}

// recover acts on a gate refusal of a call made with token: it refreshes,
// logs in again or moves segment, and reports whether a retry may succeed.
func (s *session) recover(ctx context.Context, token string, e *authError) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if token != s.token { // another call already recovered
		return true
	}
	var data struct {
		Reason  string `json:"reason"`
		Segment string `json:"method_segment"`
	}
	_ = json.Unmarshal(e.Data, &data)
	switch {
	case e.Code == rpc.CodeReauthRequired:
		return s.refresh(ctx, false) == nil
	case e.Code == rpc.CodeUnauthenticated && s.l.Key != nil && (data.Reason == "expired" || data.Reason == "unauthenticated"):
		s.token = ""
		if s.l.OnToken != nil {
			s.l.OnToken("")
		}
		return s.login(ctx) == nil
	case e.Code == rpc.CodeForbidden && data.Reason == "segment" && data.Segment != "":
		err := s.call(ctx, s.token, "session_segment", data.Segment, nil)
		var ae *authError
		if errors.As(err, &ae) && ae.Code == rpc.CodeForbidden && (s.l.TOTPSecret != "" || s.l.TOTPCode != nil) && s.l.Key != nil {
			// Most likely MFA: prove it with a fresh code, then move.
			if s.refresh(ctx, true) == nil {
				err = s.call(ctx, s.token, "session_segment", data.Segment, nil)
			}
		}
		if err == nil {
			s.segment = data.Segment
		}
		return err == nil
	}
	return false
}

// RoundTrip sends req with the session's token and, when the gate refuses
// it for a reason the client can fix, fixes it and sends it again.
func (s *session) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	for attempt := 0; ; attempt++ {
		token, err := s.current(ctx)
		if err != nil {
			return nil, err
		}
		r := req.Clone(ctx)
		if req.GetBody != nil {
			if r.Body, err = req.GetBody(); err != nil {
				return nil, err
			}
			if token != "" && attempt == 0 {
				head := make([]byte, 4096)
				k, _ := io.ReadFull(r.Body, head)
				cbor := false
				if mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type")); mt == rpc.ContentTypeCBOR {
					cbor = true
				}
				if seg := wantSegment(head[:k], cbor); seg != "" {
					s.moveTo(ctx, seg)
					if token, err = s.current(ctx); err != nil {
						return nil, err
					}
				}
				if r.Body, err = req.GetBody(); err != nil {
					return nil, err
				}
			}
		}
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := s.base.RoundTrip(r)
		if err != nil || resp.StatusCode != http.StatusOK || req.GetBody == nil || attempt == 2 || token == "" {
			return resp, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		var e *authError
		if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == rpc.ContentTypeCBOR {
			e = cborGateRefusal(body)
		} else {
			e = gateRefusal(body)
		}
		if e == nil || !s.recover(ctx, token, e) {
			return resp, nil
		}
	}
}

// gateRefusal returns the first gate error (-32020..-32022) in a response,
// single or batch; cheap for responses that hold none.
func gateRefusal(body []byte) *authError {
	if !bytes.Contains(body, []byte(`"code":-3202`)) {
		return nil
	}
	type resp struct {
		Error *authError `json:"error"`
	}
	var rs []resp
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) > 0 && t[0] == '[' {
		if json.Unmarshal(body, &rs) != nil {
			return nil
		}
	} else {
		var r resp
		if json.Unmarshal(body, &r) != nil {
			return nil
		}
		rs = []resp{r}
	}
	for _, r := range rs {
		if r.Error != nil && r.Error.Code <= rpc.CodeUnauthenticated && r.Error.Code >= rpc.CodeForbidden {
			if r.Error.Code == rpc.CodeForbidden && !bytes.Contains(r.Error.Data, []byte(`"segment"`)) {
				continue
			}
			return r.Error
		}
	}
	return nil
}

// Token returns the current session token ("" before login or without a
// login option).
func (c *Client) Token() string {
	if c.sess == nil {
		return ""
	}
	c.sess.mu.Lock()
	defer c.sess.mu.Unlock()
	return c.sess.token
}

// ErrNoGate is returned by Login when the node serves without a gate.
var ErrNoGate = errors.New("client: the node's zero-trust gate is off: no login needed")

// Login logs in now (it otherwise happens at the first call) and returns
// the session.
func (c *Client) Login(ctx context.Context) (*rpc.SessionView, error) {
	if c.sess == nil {
		return nil, errors.New("client: no login configured (WithLogin)")
	}
	if _, err := c.sess.current(ctx); err != nil {
		return nil, err
	}
	if c.sess.noGate {
		return nil, ErrNoGate
	}
	return c.Session(ctx)
}

// Session returns session_status: the session with its risk and factors.
func (c *Client) Session(ctx context.Context) (*rpc.SessionView, error) {
	var v rpc.SessionView
	if err := c.c.CallContext(ctx, &v, "session_status"); err != nil {
		return nil, err
	}
	return &v, nil
}

// MoveSegment moves the session into segment (session_segment).
func (c *Client) MoveSegment(ctx context.Context, segment string) (*rpc.SessionView, error) {
	var v rpc.SessionView
	if err := c.c.CallContext(ctx, &v, "session_segment", segment); err != nil {
		return nil, err
	}
	return &v, nil
}

// EnrollMFA enrols the session's identity in TOTP and returns the otpauth
// URI, which the node shows this once.
func (c *Client) EnrollMFA(ctx context.Context) (*rpc.MFAEnrollResult, error) {
	var r rpc.MFAEnrollResult
	if err := c.c.CallContext(ctx, &r, "auth_mfaEnroll"); err != nil {
		return nil, err
	}
	return &r, nil
}

// Logout ends the session (auth_logout).
func (c *Client) Logout(ctx context.Context) error {
	if c.sess == nil {
		return errors.New("client: no login configured (WithLogin)")
	}
	c.sess.mu.Lock()
	defer c.sess.mu.Unlock()
	if c.sess.token == "" {
		return nil
	}
	err := c.sess.call(ctx, c.sess.token, "auth_logout", nil, nil)
	c.sess.token = ""
	if c.sess.l.OnToken != nil {
		c.sess.l.OnToken("")
	}
	return err
}
