// Package zerotrust is the node's zero-trust gate: the policy enforcement
// point between the JSON-RPC server and everything behind it. Nothing is
// trusted for being on the network or for having logged in once: every
// request is checked against a live, recently re-authenticated session, a
// fresh risk score, its micro-segment and a CEL policy.
//
// Usage (the RPC server wires this; see Gate):
//
//	gate, err := zerotrust.NewGate(cfg, zerotrust.Options{Identities: ids, MFA: zerotrust.NewTOTP(seeds), Store: store})
//	handler = gate.Validator().Middleware(handler)          // shape checks, one pass over the body (JSON or CBOR)
//	req := zerotrust.RequestFrom(r.Context())                // in handler: the calls, decoded once
//	ch, _ := gate.IssueChallenge(ctx, "dr.lee", "laptop-7f3a", remote)
//	sig, _ := key.Sign(ch.SignBytes())                       // on the client
//	token, sess, err := gate.Login(ctx, zerotrust.LoginRequest{Identity: "dr.lee",
//		DeviceKeyID: "laptop-7f3a", Nonce: ch.Nonce, Signature: sig, TOTP: code, RemoteAddr: remote})
//	sess, dec, err = gate.MoveSegment(ctx, token, zerotrust.SegmentClinical, remote)
//	sess, dec, err = gate.Authorize(ctx, token, "audit_trail", remote, zerotrust.RequestMeta{Resource: "Patient/123"})
//	// every ReauthInterval: RefreshChallenge + Refresh; at the end: Logout
//
// Login challenge, signed with the identity's ML-DSA key:
//
//	"medchain/zerotrust/challenge/v1" 0x00 ||
//	CBOR{1 chain id, 2 purpose (1 login, 2 refresh), 3 identity, 4 nonce (32 random bytes),
//	     5 device key id, 6 session id (refresh only), 7 expiry (Unix ms)}
//
// Authorize, in order (the first refusal wins and is named in the Decision):
//
//	address quarantined? ─► token → SHA-256 → session? ─► absolute / idle timeout? ─► identity revoked?
//	─► reauth interval passed? ─► rate (identity, address; by role) ─► method rule? (default deny)
//	─► risk ≤ MaxRisk? ─► method segment == session segment? ─► CEL policy ─► allow, touch session
//
// Invariants:
//
//  1. A session exists only after an ML-DSA signature by the identity's
//     registered key over a challenge the gate issued, for this chain,
//     identity, device and purpose, before its expiry.
//  2. A challenge nonce is answered at most once: it is removed before the
//     signature is checked, so a replayed transcript fails.
//  3. Tokens are 256 random bits; only SHA-256(token) is stored, in memory
//     or on disk. Tokens, TOTP codes and seeds are never logged or alerted.
//  4. A request is refused once the reauthentication interval, idle timeout
//     or absolute timeout has passed, and the error names which; idle and
//     absolute expiry and revocation delete the session.
//  5. Access is denied by default: an unknown method, a cross-segment call,
//     a policy that fails to evaluate or exceeds its cost limit, all refuse.
//  6. Policies see request values as data (CEL variables), never as code.
//  7. Every time-dependent decision reads the injected Clock.
//  8. Failed authentications count per identity (lockout with progressive
//     delays) and per address (quarantine); both raise alerts.
//  9. A persistent store's restart can only shorten a session, never extend it.
package zerotrust
