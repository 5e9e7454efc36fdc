package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/node/fhir"
	"github.com/medchain/medchain/node/zerotrust"
)

// JSON-RPC error codes of the zero-trust gate.
const (
	CodeUnauthenticated = -32020 // no, unknown or expired session; a failed login
	CodeReauthRequired  = -32021 // sign a refresh challenge (auth_refresh) and retry
	CodeForbidden       = -32022 // segment, policy, risk, or a served method outside the gate's table
	CodeRateLimited     = -32023 // identity or address over its rate
	CodeLocked          = -32024 // identity locked out or address quarantined
)

// Denial describes one refused request, for the audit trail. Every field
// but Reason, Method and Policy may hold caller input (Identity, Patient,
// Resource, Address): the recorder decides what of it reaches the chain.
type Denial struct {
	// Identity is the session's identity, or for a refused login the
	// identity the caller claimed (any id-shaped string: the recorder names
	// it only if it is registered); "" when unauthenticated.
	Identity  string
	SessionID string
	Method    string // a method the server serves (refusals of others are not recorded)
	Policy    string // from the gate's config
	// Reason is the refusal's class (denialReason): fixed text, never caller
	// input, since it is recorded on chain in clear.
	Reason   string
	Address  string
	Patient  string // from the params, when the call names one
	Resource string
}

// denialReasons maps the gate's error classes to the reason a refusal is
// recorded with, first match first (ErrKeyRotated comes with
// ErrSessionUnknown). The texts are fixed: an error's own message may quote
// caller input (the identity a challenge was issued for, a method name, an
// address) and a denial naming no patient is stored in clear for good.
var denialReasons = []struct {
	err    error
	reason string
}{
	{zerotrust.ErrKeyRotated, "identity key rotated since the session authenticated"},
	{zerotrust.ErrSessionUnknown, "no session or an unknown session"},
	{zerotrust.ErrReauthRequired, "reauthentication required"},
	{zerotrust.ErrIdleTimeout, "session idle timeout"},
	{zerotrust.ErrAbsoluteTimeout, "session absolute timeout"},
	{zerotrust.ErrChallengeUnknown, "challenge unknown or already used"},
	{zerotrust.ErrChallengeExpired, "challenge expired"},
	{zerotrust.ErrChallengeMismatch, "challenge not issued for this identity, device or session"},
	{zerotrust.ErrTooManyChallenges, "too many pending challenges"},
	{zerotrust.ErrUnknownIdentity, "unknown identity"},
	{zerotrust.ErrRevoked, "identity revoked"},
	{zerotrust.ErrBadSignature, "bad signature"},
	{zerotrust.ErrMFARequired, "MFA code required"},
	{zerotrust.ErrMFAFailed, "MFA code rejected"},
	{zerotrust.ErrMFANotEnrolled, "no MFA enrolment"},
	{zerotrust.ErrMFAUnavailable, "MFA verification unavailable"},
	{zerotrust.ErrLocked, "identity locked out"},
	{zerotrust.ErrTooSoon, "retry too soon after a failed attempt"},
	{zerotrust.ErrQuarantined, "address quarantined"},
	{zerotrust.ErrTooManySessions, "concurrent session limit reached"},
	{zerotrust.ErrRateLimited, "rate limit exceeded"},
	{zerotrust.ErrUnknownMethod, "method has no access rule"},
	{zerotrust.ErrRiskTooHigh, "risk score too high"},
	{zerotrust.ErrSegment, "segment access refused"},
	{zerotrust.ErrPolicyDenied, "policy denied"},
	{zerotrust.ErrPolicy, "policy evaluation failed"},
	{zerotrust.ErrInvalidRequest, "invalid request"},
}

// denialReason is the reason refusal err (with decision d) is recorded
// with: its class, and for a policy or segment refusal the rule that
// refused (d.Reason, text of the gate's config: a policy rule's reason or a
// segment requirement, never caller input). When d.Reason is only a copy of
// the error's message (the gate fills it so when no rule decided), it is
// left out. An error of no class (the identity store or the session journal
// failing) is "internal error".
func denialReason(err error, d zerotrust.Decision) string {
	for _, c := range denialReasons {
		if !errors.Is(err, c.err) {
			continue
		}
		rule := c.err == zerotrust.ErrPolicyDenied || c.err == zerotrust.ErrSegment
		if rule && d.Reason != "" && d.Reason != err.Error() {
			return c.reason + ": " + d.Reason
		}
		return c.reason
	}
	return "internal error"
}

// ErrAlreadyEnrolled is wrapped by Enroller.Enroll for an identity that
// already has a TOTP seed.
var ErrAlreadyEnrolled = errors.New("already enrolled in MFA")

// Enroller enrols identities in TOTP MFA (the node's sealed seed store).
type Enroller interface {
	// Enroll creates id's seed and returns its otpauth:// URI, once; a
	// second enrolment of the same id fails with ErrAlreadyEnrolled. It
	// returns only once the node that runs it can verify codes of the new
	// seed (a login right after it, on this node, must not fail for want
	// of the seed), within a bounded wait: past it, an *Error with
	// CodeTimeout.
	Enroll(ctx context.Context, id string) (string, error)
}

// GateConfig puts a zero-trust gate in front of every JSON-RPC method.
type GateConfig struct {
	Gate *zerotrust.Gate
	// MFA enrols TOTP seeds for auth_mfaEnroll; nil disables enrolment.
	MFA Enroller
	// OnDenied is called for every refused request (it must not block).
	OnDenied func(Denial)
}

// openMethods need no session: they create or end one.
var openMethods = map[string]bool{"auth_challenge": true, "auth_login": true, "auth_refresh": true, "auth_logout": true}

// sessionMethods need a live session but not a method rule: they manage it.
var sessionMethods = map[string]bool{"auth_mfaEnroll": true, "session_status": true, "session_segment": true}

// CodeMethodNotFound is JSON-RPC 2.0's "method not found". With the gate on,
// the gate answers it itself for a method the server does not serve, before
// any session check, so the call never reaches the JSON-RPC server.
const CodeMethodNotFound = -32601

// builtinMethods are the methods go-ethereum's server answers by itself for
// any server. They exist, so the gate's table decides them like any other
// (none has a rule: refused, -32022 unknown_method).
var builtinMethods = []string{"rpc_modules"}

// servedMethods is the set of methods the gate treats as existing: every
// method the server registered (s.methods) and go-ethereum's built-ins. Anything else is answered CodeMethodNotFound by
// the gate, so a name outside this set never reaches the server, whatever
// go-ethereum would do with it (X_subscribe over HTTP, a future built-in).
func (s *Server) servedMethods() map[string]bool {
	known := map[string]bool{}
	for _, m := range s.methods {
		known[m] = true
	}
	for _, m := range builtinMethods {
		known[m] = true
	}
	return known
}

// methodNotFound is the gate's answer to a call of a method the server does
// not serve: the JSON-RPC server's own wording, so a client sees the same
// error with the gate on or off.
func methodNotFound(id json.RawMessage, method string) map[string]any {
	return errObj(id, CodeMethodNotFound, fmt.Sprintf("the method %s does not exist/is not available", method), nil)
}

type ctxKey struct{}

// reqInfo is what the gate middleware passes to the auth_ and session_
// services.
type reqInfo struct {
	token, remote string
}

func infoFrom(ctx context.Context) reqInfo {
	ri, _ := ctx.Value(ctxKey{}).(reqInfo)
	return ri
}

// bearer returns the token of an "Authorization: Bearer <token>" header.
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// gateHandler authorizes every call of a request (single or batch) before
// next sees it. A batch runs only if every call in it is allowed; otherwise
// each call gets an error (the refused ones their reason). The calls come
// decoded from the validator (zerotrust.RequestFrom): the body is parsed
// once here, and once more by the JSON-RPC server (a CBOR body is not: its
// handler runs the calls scanned here). Refusals of a CBOR request are CBOR.
//
// A call of a method the server does not serve is answered -32601 (method
// not found) before any session check, like a malformed call: it is a fault
// of the request, not an access decision, so it is not audited as one. It
// never reaches the server; in a batch, the other calls are not run.
func (s *Server) gateHandler(next http.Handler) http.Handler {
	gc := s.cfg.Gate
	served := s.servedMethods()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" {
			writeReply(w, isCBOR(r.Header), http.StatusForbidden, errObj(nil, CodeForbidden, "WebSocket is not served while the zero-trust gate is on: POST JSON-RPC over HTTPS", nil))
			return
		}
		if r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		req := zerotrust.RequestFrom(r.Context())
		asCBOR := isCBOR(r.Header)
		if req == nil { // not behind the validator: read and check the body here
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, gc.Gate.Config().Request.MaxBodyBytes))
			if err != nil {
				writeReply(w, asCBOR, http.StatusBadRequest, errObj(nil, -32600, "unreadable body", nil))
				return
			}
			if req, err = gc.Gate.Validator().ScanAs(body, asCBOR); err != nil {
				code := -32600
				if errors.Is(err, zerotrust.ErrMalformedJSON) || errors.Is(err, zerotrust.ErrMalformedCBOR) {
					code = -32700
				}
				writeReply(w, asCBOR, http.StatusOK, errObj(nil, code, err.Error(), nil))
				return
			}
			r = r.WithContext(zerotrust.WithRequest(r.Context(), req))
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		asCBOR = req.CBOR
		if req.CallErr != nil {
			writeReply(w, asCBOR, http.StatusOK, errObj(nil, -32600, "invalid request: "+req.CallErr.Error(), nil))
			return
		}
		calls, batch := req.Calls, req.Batch
		token := bearer(r)
		errs := make([]map[string]any, len(calls))
		denied := false
		for i, c := range calls {
			if c.Method == "" { // no method: not a call, the server answers -32600
				continue
			}
			if !served[c.Method] {
				errs[i], denied = methodNotFound(c.ID, c.Method), true
				continue
			}
			if openMethods[c.Method] {
				continue
			}
			if sessionMethods[c.Method] {
				if token == "" {
					errs[i], denied = errObj(c.ID, CodeUnauthenticated, "authentication required: send Authorization: Bearer <token> from auth_login", nil), true
				}
				continue
			}
			patient, resource := c.Patient, c.Resource
			if resource == "" {
				resource = patient
			}
			sess, dec, err := gc.Gate.Authorize(r.Context(), token, c.Method, r.RemoteAddr, zerotrust.RequestMeta{Resource: resource})
			if err == nil {
				continue
			}
			denied = true
			code, data := classify(err)
			if seg, ok := gc.Gate.MethodSegment(c.Method); ok {
				data["method_segment"] = seg.String()
			}
			if dec.Policy != "" {
				data["policy"] = dec.Policy
			}
			if dec.Risk.Score > 0 || len(dec.Risk.Factors) > 0 {
				data["risk"] = dec.Risk
			}
			msg := err.Error()
			if token == "" {
				msg = "authentication required: send Authorization: Bearer <token> from auth_login"
			}
			errs[i] = errObj(c.ID, code, msg, data)
			if gc.OnDenied != nil {
				gc.OnDenied(Denial{Identity: sess.Identity, SessionID: sess.ID, Method: c.Method, Policy: dec.Policy,
					Reason: denialReason(err, dec), Address: r.RemoteAddr, Patient: patient, Resource: resource})
			}
		}
		if denied {
			for i := range errs {
				if errs[i] == nil {
					errs[i] = errObj(calls[i].ID, CodeForbidden, "not run: another call in this batch was refused or names an unknown method", nil)
				}
			}
			if batch {
				writeReply(w, asCBOR, http.StatusOK, errs)
			} else {
				writeReply(w, asCBOR, http.StatusOK, errs[0])
			}
			return
		}
		ctx := context.WithValue(r.Context(), ctxKey{}, reqInfo{token: token, remote: r.RemoteAddr})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// restMethods names the JSON-RPC method whose policy guards each read-only
// REST path (the FHIR surface): the same session, segment and policy apply.
var restMethods = map[string]string{
	"/fhir/AuditEvent": "fhir_auditTrail",
	"/fhir/Consent":    "fhir_consents",
	"/fhir/metadata":   "fhir_metadata",
}

// gateREST authorizes a REST request as the JSON-RPC method that returns
// the same data; a path with no such method is refused.
func (s *Server) gateREST(next http.Handler) http.Handler {
	gc := s.cfg.Gate
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		method, ok := restMethods[strings.TrimSuffix(r.URL.Path, "/")]
		if !ok {
			writeFHIR(w, http.StatusNotFound, fhir.Outcome("not-found", "no such FHIR resource type here: the endpoint serves metadata, AuditEvent and Consent"))
			return
		}
		token := bearer(r)
		patient := r.URL.Query().Get("patient")
		sess, dec, err := gc.Gate.Authorize(r.Context(), token, method, r.RemoteAddr, zerotrust.RequestMeta{Resource: patient})
		if err != nil {
			code, data := classify(err)
			status := http.StatusForbidden
			if code == CodeUnauthenticated || code == CodeReauthRequired {
				status = http.StatusUnauthorized
			} else if code == CodeRateLimited {
				status = http.StatusTooManyRequests
			}
			if gc.OnDenied != nil {
				gc.OnDenied(Denial{Identity: sess.Identity, SessionID: sess.ID, Method: method, Policy: dec.Policy,
					Reason: denialReason(err, dec), Address: r.RemoteAddr, Patient: patientParam(r.URL.Query()), Resource: patient})
			}
			writeFHIR(w, status, fhir.Outcome("security", fmt.Sprintf("%s (%v)", err.Error(), data["reason"])))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// classify maps a gate error to a JSON-RPC code and the data every refusal carries.
func classify(err error) (int, map[string]any) {
	data := map[string]any{}
	switch {
	case errors.Is(err, zerotrust.ErrReauthRequired):
		data["reason"] = "reauth_required"
		return CodeReauthRequired, data
	case errors.Is(err, zerotrust.ErrRateLimited):
		data["reason"] = "rate_limited"
		return CodeRateLimited, data
	case errors.Is(err, zerotrust.ErrLocked), errors.Is(err, zerotrust.ErrQuarantined), errors.Is(err, zerotrust.ErrTooSoon):
		data["reason"] = "locked"
		return CodeLocked, data
	case errors.Is(err, zerotrust.ErrSegment):
		data["reason"] = "segment"
		return CodeForbidden, data
	case errors.Is(err, zerotrust.ErrRiskTooHigh):
		data["reason"] = "risk"
		return CodeForbidden, data
	case errors.Is(err, zerotrust.ErrPolicyDenied), errors.Is(err, zerotrust.ErrPolicy):
		data["reason"] = "policy"
		return CodeForbidden, data
	case errors.Is(err, zerotrust.ErrTooManySessions):
		data["reason"] = "session_limit"
		return CodeForbidden, data
	case errors.Is(err, zerotrust.ErrUnknownMethod):
		data["reason"] = "unknown_method"
		return CodeForbidden, data
	case errors.Is(err, zerotrust.ErrMFAUnavailable):
		data["reason"] = "mfa_unavailable"
		return CodeUnavailable, data
	case errors.Is(err, zerotrust.ErrMFARequired), errors.Is(err, zerotrust.ErrMFAFailed), errors.Is(err, zerotrust.ErrMFANotEnrolled):
		data["reason"] = "mfa"
		return CodeUnauthenticated, data
	case errors.Is(err, zerotrust.ErrKeyRotated):
		data["reason"] = "key_rotated"
		return CodeUnauthenticated, data
	case errors.Is(err, zerotrust.ErrIdleTimeout), errors.Is(err, zerotrust.ErrAbsoluteTimeout):
		data["reason"] = "expired"
		return CodeUnauthenticated, data
	case errors.Is(err, zerotrust.ErrInvalidRequest):
		data["reason"] = "invalid_request"
		return CodeInvalidParams, data
	}
	data["reason"] = "unauthenticated"
	return CodeUnauthenticated, data
}

func errObj(id json.RawMessage, code int, msg string, data map[string]any) map[string]any {
	if id == nil {
		id = json.RawMessage("null")
	}
	e := map[string]any{"code": code, "message": msg}
	if len(data) > 0 {
		e["data"] = data
	}
	return map[string]any{"jsonrpc": "2.0", "id": id, "error": e}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// gateErr turns a gate error into a JSON-RPC error for the auth_ and
// session_ methods. Login failures reach the client as one generic message
// (which check failed is logged and alerted, not told to a guesser),
// except lockouts, which the client must know to wait.
func gateErr(err error, generic bool) error {
	code, data := classify(err)
	if generic && code == CodeUnauthenticated {
		return &Error{Code: code, Msg: "authentication failed", Data: map[string]any{"reason": "authentication_failed"}}
	}
	return &Error{Code: code, Msg: err.Error(), Data: data}
}

// AuthAPI is the auth_ namespace: challenge-response login, refresh,
// logout and MFA enrolment.
type AuthAPI struct{ g GateConfig }

// ChallengeParams are auth_challenge's params.
type ChallengeParams struct {
	Identity    string `json:"identity"`
	DeviceKeyID string `json:"device_key_id"`
	// Refresh asks for a refresh challenge for the session of the
	// Authorization header instead of a login challenge.
	Refresh bool `json:"refresh,omitempty"`
}

// Challenge returns a nonce bound to the chain, identity, device and
// purpose; the client signs zerotrust.Challenge.SignBytes of it.
func (a *AuthAPI) Challenge(ctx context.Context, p ChallengeParams) (*zerotrust.Challenge, error) {
	ri := infoFrom(ctx)
	var c zerotrust.Challenge
	var err error
	if p.Refresh {
		c, err = a.g.Gate.RefreshChallenge(ctx, ri.token, ri.remote)
	} else {
		c, err = a.g.Gate.IssueChallenge(ctx, p.Identity, p.DeviceKeyID, ri.remote)
	}
	if err != nil {
		return nil, gateErr(err, false)
	}
	return &c, nil
}

// LoginParams are auth_login's params.
type LoginParams struct {
	Identity    string           `json:"identity"`
	DeviceKeyID string           `json:"device_key_id"`
	Nonce       []byte           `json:"nonce"`
	Signature   crypto.Signature `json:"signature"`
	TOTP        string           `json:"totp,omitempty"`
	Segment     string           `json:"segment,omitempty"` // enter this segment at once
}

// SessionView is a session as clients see it (never the token hash).
type SessionView struct {
	ID             string              `json:"id"`
	Identity       string              `json:"identity"`
	Roles          []string            `json:"roles"`
	Clearance      string              `json:"clearance"`
	Segment        string              `json:"segment"`
	MFA            bool                `json:"mfa"`
	DeviceKeyID    string              `json:"device_key_id"`
	Created        time.Time           `json:"created"`
	LastAuth       time.Time           `json:"last_auth"`
	ReauthInterval float64             `json:"reauth_interval_s"`
	Risk           *zerotrust.Risk     `json:"risk,omitempty"`
	Decision       *zerotrust.Decision `json:"decision,omitempty"`
}

func (a *AuthAPI) view(s zerotrust.Session) *SessionView {
	return &SessionView{ID: s.ID, Identity: s.Identity, Roles: s.Roles, Clearance: s.Clearance.String(), Segment: s.Segment.String(),
		MFA: s.MFA, DeviceKeyID: s.DeviceKeyID, Created: s.Created, LastAuth: s.LastAuth,
		ReauthInterval: a.g.Gate.Config().ReauthInterval.Seconds()}
}

// LoginResult is auth_login's result: the bearer token (shown once) and the session.
type LoginResult struct {
	Token   string       `json:"token"`
	Session *SessionView `json:"session"`
}

// Login verifies a signed login challenge (and TOTP) and opens a session.
func (a *AuthAPI) Login(ctx context.Context, p LoginParams) (*LoginResult, error) {
	ri := infoFrom(ctx)
	req := zerotrust.LoginRequest{Identity: p.Identity, DeviceKeyID: p.DeviceKeyID, Nonce: p.Nonce, Signature: p.Signature, TOTP: p.TOTP, RemoteAddr: ri.remote}
	if p.Segment != "" {
		seg, err := zerotrust.ParseSegment(p.Segment)
		if err != nil {
			return nil, invalidParams("segment: %v", err)
		}
		req.Segment = seg
	}
	tok, s, err := a.g.Gate.Login(ctx, req)
	if err != nil {
		if a.g.OnDenied != nil {
			a.g.OnDenied(Denial{Identity: p.Identity, Method: "auth_login", Reason: denialReason(err, zerotrust.Decision{}), Address: ri.remote, Policy: "login"})
		}
		return nil, gateErr(err, true)
	}
	return &LoginResult{Token: tok, Session: a.view(s)}, nil
}

// RefreshParams are auth_refresh's params.
type RefreshParams struct {
	Nonce     []byte           `json:"nonce"`
	Signature crypto.Signature `json:"signature"`
	TOTP      string           `json:"totp,omitempty"`
}

// Refresh verifies a signed refresh challenge for the session of the
// Authorization header and restarts its reauthentication interval.
func (a *AuthAPI) Refresh(ctx context.Context, p RefreshParams) (*SessionView, error) {
	ri := infoFrom(ctx)
	s, err := a.g.Gate.Refresh(ctx, zerotrust.RefreshRequest{Token: ri.token, Nonce: p.Nonce, Signature: p.Signature, TOTP: p.TOTP, RemoteAddr: ri.remote})
	if err != nil {
		return nil, gateErr(err, true)
	}
	return a.view(s), nil
}

// Logout ends the session of the Authorization header.
func (a *AuthAPI) Logout(ctx context.Context) (bool, error) {
	if err := a.g.Gate.Logout(ctx, infoFrom(ctx).token); err != nil {
		return false, gateErr(err, false)
	}
	return true, nil
}

// MFAEnrollResult is auth_mfaEnroll's result.
type MFAEnrollResult struct {
	Identity string `json:"identity"`
	// URI is the otpauth:// URI for an authenticator app, shown this once.
	URI string `json:"otpauth_uri"`
}

// MfaEnroll creates a TOTP seed for the session's identity and returns its
// otpauth URI once, after the enrolment is applied on this node: a login
// with a code of it may follow at once. The session must be live and
// recently authenticated; an identity already enrolled is refused
// (-32022); an enrolment not applied within the node's wait timeout is
// -32013 and may still commit.
func (a *AuthAPI) MfaEnroll(ctx context.Context) (*MFAEnrollResult, error) {
	ri := infoFrom(ctx)
	if a.g.MFA == nil {
		return nil, &Error{Code: CodeUnavailable, Msg: "MFA enrolment is not configured on this node"}
	}
	s, _, err := a.g.Gate.Status(ctx, ri.token, ri.remote)
	if err != nil {
		return nil, gateErr(err, false)
	}
	uri, err := a.g.MFA.Enroll(ctx, s.Identity)
	if err != nil {
		var re *Error
		switch {
		case errors.As(err, &re):
			return nil, re
		case errors.Is(err, ErrTimeout), errors.Is(err, ErrUnavailable), errors.Is(err, ErrBusy):
			return nil, toRPC(err)
		}
		return nil, &Error{Code: CodeForbidden, Msg: err.Error()}
	}
	return &MFAEnrollResult{Identity: s.Identity, URI: uri}, nil
}

// SessionAPI is the session_ namespace.
type SessionAPI struct{ a *AuthAPI }

// Status returns the session of the Authorization header with its current
// risk score and factors.
func (x *SessionAPI) Status(ctx context.Context) (*SessionView, error) {
	ri := infoFrom(ctx)
	s, risk, err := x.a.g.Gate.Status(ctx, ri.token, ri.remote)
	if err != nil {
		return nil, gateErr(err, false)
	}
	v := x.a.view(s)
	v.Risk = &risk
	return v, nil
}

// Segment moves the session into a segment (public, internal, clinical,
// critical) when its roles, clearance, MFA and risk allow.
func (x *SessionAPI) Segment(ctx context.Context, name string) (*SessionView, error) {
	ri := infoFrom(ctx)
	seg, err := zerotrust.ParseSegment(name)
	if err != nil {
		return nil, invalidParams("%v", err)
	}
	s, d, err := x.a.g.Gate.MoveSegment(ctx, ri.token, seg, ri.remote)
	if err != nil {
		if x.a.g.OnDenied != nil && s.ID != "" {
			x.a.g.OnDenied(Denial{Identity: s.Identity, SessionID: s.ID, Method: "session_segment", Policy: d.Policy, Reason: denialReason(err, d), Address: ri.remote})
		}
		e := gateErr(err, false).(*Error)
		if m, ok := e.Data.(map[string]any); ok {
			m["risk"] = d.Risk
		}
		return nil, e
	}
	v := x.a.view(s)
	v.Risk, v.Decision = &d.Risk, &d
	return v, nil
}
