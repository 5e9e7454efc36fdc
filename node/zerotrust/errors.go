package zerotrust

import "errors"

// Errors returned by this package. Refusals wrap one of these and add the
// detail (which limit, which field, which policy); classify with errors.Is.
// The RPC layer decides how much of the detail a client sees: an
// authentication failure should reach the client as one generic message.
var (
	// ErrInvalidConfig is wrapped by every Config.Validate and ApplyEnv failure.
	ErrInvalidConfig = errors.New("zerotrust: invalid config")
	// ErrDisabled is returned by NewGate when the config is not enabled.
	ErrDisabled = errors.New("zerotrust: gate disabled")

	// ErrInvalidRequest is returned for a malformed identity id, device id,
	// nonce, token or address.
	ErrInvalidRequest = errors.New("zerotrust: invalid request")
	// ErrChallengeUnknown is returned for a nonce that was never issued, has
	// already been used (a replayed login transcript) or was evicted.
	ErrChallengeUnknown = errors.New("zerotrust: unknown or used challenge")
	// ErrChallengeExpired is returned for a challenge answered after its expiry.
	ErrChallengeExpired = errors.New("zerotrust: challenge expired")
	// ErrChallengeMismatch is returned when a challenge is answered for
	// another identity, device, purpose or session than it was issued for.
	ErrChallengeMismatch = errors.New("zerotrust: challenge bound to another identity, device or session")
	// ErrTooManyChallenges is returned when the pending challenge table is full.
	ErrTooManyChallenges = errors.New("zerotrust: too many pending challenges")
	// ErrUnknownIdentity is returned when Identities has no such identity.
	ErrUnknownIdentity = errors.New("zerotrust: unknown identity")
	// ErrRevoked is returned for a revoked identity, at login and on every request.
	ErrRevoked = errors.New("zerotrust: identity revoked")
	// ErrBadSignature is returned when the challenge signature does not verify.
	ErrBadSignature = errors.New("zerotrust: challenge signature does not verify")
	// ErrMFARequired is returned when a TOTP code is required and missing.
	ErrMFARequired = errors.New("zerotrust: MFA code required")
	// ErrMFAFailed is returned for a wrong, expired or reused TOTP code.
	ErrMFAFailed = errors.New("zerotrust: MFA code rejected")
	// ErrMFANotEnrolled is returned by an MFA verifier that holds no seed for the identity.
	ErrMFANotEnrolled = errors.New("zerotrust: identity has no MFA enrolment")
	// ErrMFAUnavailable is returned when the MFA verifier cannot check a code
	// now (no cluster data key yet, no leader to confirm the code is unused):
	// a fault of the node, not of the client, so it does not count towards a
	// lockout.
	ErrMFAUnavailable = errors.New("zerotrust: MFA verification unavailable")
	// ErrLocked is returned while an identity is locked out after repeated failures.
	ErrLocked = errors.New("zerotrust: identity locked out")
	// ErrTooSoon is returned for an attempt inside the progressive delay after a failure.
	ErrTooSoon = errors.New("zerotrust: retry too soon after a failed attempt")
	// ErrQuarantined is returned for every call from a quarantined address.
	ErrQuarantined = errors.New("zerotrust: address quarantined")
	// ErrTooManySessions is returned when an identity already holds the
	// maximum number of concurrent sessions.
	ErrTooManySessions = errors.New("zerotrust: concurrent session limit reached")

	// ErrSessionUnknown is returned for a token with no live session: never
	// issued, logged out, or removed after expiry.
	ErrSessionUnknown = errors.New("zerotrust: unknown session")
	// ErrKeyRotated is returned (with ErrSessionUnknown: the session is
	// removed) for a request on a session whose identity has rotated out the
	// key that opened it.
	ErrKeyRotated = errors.New("zerotrust: identity key rotated since the session authenticated")
	// ErrReauthRequired is returned once the reauthentication interval has
	// passed since the session last proved key possession; Refresh restores it.
	ErrReauthRequired = errors.New("zerotrust: reauthentication required")
	// ErrIdleTimeout is returned for a session idle past the idle timeout; it is removed.
	ErrIdleTimeout = errors.New("zerotrust: session idle timeout")
	// ErrAbsoluteTimeout is returned for a session older than the absolute timeout; it is removed.
	ErrAbsoluteTimeout = errors.New("zerotrust: session absolute timeout")

	// ErrRateLimited is returned when an identity or address exceeds its rate.
	ErrRateLimited = errors.New("zerotrust: rate limit exceeded")
	// ErrUnknownMethod is returned for a method with no segment rule (default deny).
	ErrUnknownMethod = errors.New("zerotrust: method has no access rule")
	// ErrRiskTooHigh is returned when a request's risk score exceeds the gate's maximum.
	ErrRiskTooHigh = errors.New("zerotrust: risk score too high")
	// ErrSegment is returned for cross-segment access and refused segment moves.
	ErrSegment = errors.New("zerotrust: segment access refused")
	// ErrPolicyDenied is returned when a policy evaluates to false.
	ErrPolicyDenied = errors.New("zerotrust: policy denied")
	// ErrPolicy is returned for a policy that does not compile, is not
	// boolean, exceeds the cost limit, or fails at evaluation (fail closed).
	ErrPolicy = errors.New("zerotrust: bad policy")

	// ErrBodyTooLarge is returned for a request body over the size cap.
	ErrBodyTooLarge = errors.New("zerotrust: request body too large")
	// ErrContentType is returned for a content type that is not allowed.
	ErrContentType = errors.New("zerotrust: content type not allowed")
	// ErrLengthRequired is returned for a request without Content-Length.
	ErrLengthRequired = errors.New("zerotrust: Content-Length required")
	// ErrJSONDepth is returned for JSON nested deeper than the limit.
	ErrJSONDepth = errors.New("zerotrust: JSON nested too deep")
	// ErrBatchTooLarge is returned for a JSON-RPC batch over the size limit.
	ErrBatchTooLarge = errors.New("zerotrust: batch too large")
	// ErrMalformedJSON is returned for a body that is not one JSON value.
	ErrMalformedJSON = errors.New("zerotrust: malformed JSON")
	// ErrMalformedCBOR is returned for a CBOR body that is not one
	// well-formed item.
	ErrMalformedCBOR = errors.New("zerotrust: malformed CBOR")
	// ErrCBORUnsupported is returned for well-formed CBOR outside the
	// accepted subset: indefinite lengths, tags, unassigned simple values.
	ErrCBORUnsupported = errors.New("zerotrust: CBOR feature not accepted")
	// ErrCBORDepth is returned for CBOR nested deeper than the limit.
	ErrCBORDepth = errors.New("zerotrust: CBOR nested too deep")

	// ErrCorrupt is returned when a persisted session file cannot be decoded.
	ErrCorrupt = errors.New("zerotrust: corrupt session store")
	// ErrClosed is returned by a store used after Close.
	ErrClosed = errors.New("zerotrust: store closed")
)
