package p2p

import "errors"

// Errors returned by this package. Refusals wrap one of them so callers can
// classify with errors.Is; the wrapped message names the peer and the reason.
var (
	// ErrConfig is wrapped by every Config.Validate failure.
	ErrConfig = errors.New("p2p: invalid config")
	// ErrIdentityFile is returned for an unreadable, malformed or too-open libp2p key file.
	ErrIdentityFile = errors.New("p2p: bad identity key file")
	// ErrNotAdmitted is returned for a peer the registry does not know.
	ErrNotAdmitted = errors.New("p2p: peer not admitted")
	// ErrRemoved is returned for a peer whose node was removed by governance or revoked locally.
	ErrRemoved = errors.New("p2p: node removed")
	// ErrIdentityMismatch is returned when a peer's claimed node id or the
	// registry's record does not match the authenticated libp2p peer id.
	ErrIdentityMismatch = errors.New("p2p: node identity mismatch")
	// ErrBadSignature is returned when a handshake transcript signature does not verify.
	ErrBadSignature = errors.New("p2p: handshake signature invalid")
	// ErrStale is returned for a handshake message whose timestamp is outside the window.
	ErrStale = errors.New("p2p: stale handshake")
	// ErrReplay is returned for a handshake nonce that was already seen.
	ErrReplay = errors.New("p2p: replayed handshake")
	// ErrWrongChain is returned for a handshake that names another chain id.
	ErrWrongChain = errors.New("p2p: wrong chain id")
	// ErrHandshake is wrapped by malformed or out-of-order handshake messages
	// and by a refusal reported by the remote side.
	ErrHandshake = errors.New("p2p: handshake failed")
	// ErrUnauthenticated is returned when a protocol is used with a peer that
	// has not completed the handshake.
	ErrUnauthenticated = errors.New("p2p: peer not authenticated")
	// ErrForbidden is returned when a peer's role does not permit a protocol.
	ErrForbidden = errors.New("p2p: protocol not permitted for role")
	// ErrTooLarge is returned for a frame over its size limit.
	ErrTooLarge = errors.New("p2p: message too large")
	// ErrRemote wraps an error string returned by the remote tx handler.
	ErrRemote = errors.New("p2p: remote error")
	// ErrNotPostQuantum is returned for a TLS connection whose key exchange
	// is not the hybrid X25519MLKEM768 group while RequirePostQuantum is set.
	ErrNotPostQuantum = errors.New("p2p: key exchange is not post-quantum")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("p2p: closed")
)
