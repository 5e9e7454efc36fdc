package p2p

import (
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/medchain/medchain/chain/codec"
	"github.com/medchain/medchain/chain/crypto"
)

// HandshakeProtocol is the protocol id of the mutual node handshake.
const HandshakeProtocol = "/medchain/handshake/1"

// transcriptTag separates handshake signatures from every other ML-DSA
// signature a node key makes (txs, block headers).
const transcriptTag = "medchain/handshake/1"

const (
	nonceSize = 32
	// maxHandshakeMsg bounds one handshake frame: an ML-DSA-87 signature
	// (4,627 bytes) plus small fields, with room to spare.
	maxHandshakeMsg = 16 << 10
	maxNodeIDLen    = 256
	maxChainIDLen   = 256
	maxErrorLen     = 512
)

// msgType numbers the four handshake messages. Values are wire format.
type msgType uint8

const (
	msgHello  msgType = 1 + iota // initiator -> responder
	msgReply                     // responder -> initiator, signed
	msgFinish                    // initiator -> responder, signed
	msgResult                    // responder -> initiator: accepted or the reason
)

func (t msgType) String() string {
	switch t {
	case msgHello:
		return "hello"
	case msgReply:
		return "reply"
	case msgFinish:
		return "finish"
	case msgResult:
		return "result"
	}
	return fmt.Sprintf("msgType(%d)", uint8(t))
}

// handshakeMsg is the one wire type of the handshake; Type decides which
// fields are present (see doc.go). Peer ids travel as bytes because their
// binary form is not UTF-8.
type handshakeMsg struct {
	Type      msgType           `cbor:"1,keyasint"`
	ChainID   string            `cbor:"2,keyasint,omitempty"`
	Initiator []byte            `cbor:"3,keyasint,omitempty"`
	Responder []byte            `cbor:"4,keyasint,omitempty"`
	Nonce     []byte            `cbor:"5,keyasint,omitempty"`
	Time      int64             `cbor:"6,keyasint,omitempty"` // Unix nanoseconds
	NodeID    string            `cbor:"7,keyasint,omitempty"`
	Sig       *crypto.Signature `cbor:"8,keyasint,omitempty"`
	Error     string            `cbor:"9,keyasint,omitempty"`
}

// ValidateBasic checks the fields required by the message type, without
// state. It is called on every decoded message.
func (m *handshakeMsg) ValidateBasic() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s: "+format, append([]any{ErrHandshake, m.Type}, a...)...)
	}
	switch m.Type {
	case msgHello:
		if m.ChainID == "" || len(m.ChainID) > maxChainIDLen {
			return bad("chain id length %d", len(m.ChainID))
		}
		if _, err := peer.IDFromBytes(m.Initiator); err != nil {
			return bad("initiator: %v", err)
		}
		if _, err := peer.IDFromBytes(m.Responder); err != nil {
			return bad("responder: %v", err)
		}
		if len(m.Nonce) != nonceSize {
			return bad("nonce has %d bytes, want %d", len(m.Nonce), nonceSize)
		}
		if m.Time <= 0 || m.NodeID != "" || m.Sig != nil || m.Error != "" {
			return bad("unexpected fields")
		}
	case msgReply, msgFinish:
		if m.Type == msgReply && len(m.Nonce) != nonceSize {
			return bad("nonce has %d bytes, want %d", len(m.Nonce), nonceSize)
		}
		if m.Type == msgFinish && m.Nonce != nil {
			return bad("unexpected nonce")
		}
		if m.NodeID == "" || len(m.NodeID) > maxNodeIDLen {
			return bad("node id length %d", len(m.NodeID))
		}
		if m.Sig == nil {
			return bad("missing signature")
		}
		if err := m.Sig.Validate(); err != nil {
			return bad("%v", err)
		}
		if m.Time <= 0 || m.ChainID != "" || m.Initiator != nil || m.Responder != nil || m.Error != "" {
			return bad("unexpected fields")
		}
	case msgResult:
		if len(m.Error) > maxErrorLen {
			return bad("error string of %d bytes", len(m.Error))
		}
		if m.ChainID != "" || m.Initiator != nil || m.Responder != nil || m.Nonce != nil || m.Time != 0 || m.NodeID != "" || m.Sig != nil {
			return bad("unexpected fields")
		}
	default:
		return fmt.Errorf("%w: unknown message type %d", ErrHandshake, uint8(m.Type))
	}
	return nil
}

// decodeHandshakeMsg decodes and validates one handshake message. It never
// panics on any input.
func decodeHandshakeMsg(b []byte) (handshakeMsg, error) {
	if len(b) > maxHandshakeMsg {
		return handshakeMsg{}, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(b))
	}
	var m handshakeMsg
	if err := codec.Unmarshal(b, &m); err != nil {
		return handshakeMsg{}, fmt.Errorf("%w: %v", ErrHandshake, err)
	}
	if err := m.ValidateBasic(); err != nil {
		return handshakeMsg{}, err
	}
	return m, nil
}

// signerRole says which side of the handshake signed a transcript.
type signerRole string

const (
	roleInitiator signerRole = "initiator"
	roleResponder signerRole = "responder"
)

// transcript is the canonical value each side signs. Both nonces bind the
// signature to this session; the role stops a reflection of one side's
// signature back at it; the chain id and both peer ids bind it to this
// consortium and this TLS-authenticated pair.
type transcript struct {
	Tag            string     `cbor:"1,keyasint"`
	Role           signerRole `cbor:"2,keyasint"`
	ChainID        string     `cbor:"3,keyasint"`
	Initiator      []byte     `cbor:"4,keyasint"`
	Responder      []byte     `cbor:"5,keyasint"`
	InitiatorNonce []byte     `cbor:"6,keyasint"`
	ResponderNonce []byte     `cbor:"7,keyasint"`
	Time           int64      `cbor:"8,keyasint"`
	NodeID         string     `cbor:"9,keyasint"`
}

// session is one handshake's shared state, identical on both sides once the
// hello and reply have been exchanged.
type session struct {
	chainID        string
	initiator      peer.ID
	responder      peer.ID
	initiatorNonce []byte
	responderNonce []byte
}

func (s *session) signBytes(role signerRole, t int64, nodeID string) ([]byte, error) {
	return codec.Marshal(transcript{
		Tag:            transcriptTag,
		Role:           role,
		ChainID:        s.chainID,
		Initiator:      []byte(s.initiator),
		Responder:      []byte(s.responder),
		InitiatorNonce: s.initiatorNonce,
		ResponderNonce: s.responderNonce,
		Time:           t,
		NodeID:         nodeID,
	})
}

// sign produces the signed message (reply or finish) of the given side.
func (s *session) sign(key *crypto.PrivateKey, role signerRole, typ msgType, now time.Time, nodeID string) (handshakeMsg, error) {
	t := now.UnixNano()
	b, err := s.signBytes(role, t, nodeID)
	if err != nil {
		return handshakeMsg{}, err
	}
	sig, err := key.Sign(b)
	if err != nil {
		return handshakeMsg{}, fmt.Errorf("p2p: sign handshake: %w", err)
	}
	m := handshakeMsg{Type: typ, Time: t, NodeID: nodeID, Sig: &sig}
	if typ == msgReply {
		m.Nonce = s.responderNonce
	}
	return m, nil
}

// verify checks the signed message m from the remote side, whose
// TLS-authenticated peer id is remote, against the registry. It returns the
// remote node's record on success.
func (s *session) verify(reg Registry, remote peer.ID, role signerRole, m handshakeMsg, now time.Time, skew time.Duration) (NodeRecord, error) {
	rec, err := admit(reg, remote)
	if err != nil {
		return NodeRecord{}, err
	}
	if m.NodeID != rec.NodeID {
		return NodeRecord{}, fmt.Errorf("%w: peer %s claims node %q, registry says %q", ErrIdentityMismatch, remote, m.NodeID, rec.NodeID)
	}
	if err := checkTime(m.Time, now, skew); err != nil {
		return NodeRecord{}, err
	}
	b, err := s.signBytes(role, m.Time, m.NodeID)
	if err != nil {
		return NodeRecord{}, err
	}
	if m.Sig == nil {
		return NodeRecord{}, fmt.Errorf("%w: missing signature", ErrHandshake)
	}
	if err := crypto.Verify(rec.PublicKey, b, *m.Sig); err != nil {
		return NodeRecord{}, fmt.Errorf("%w: node %q (%s): %v", ErrBadSignature, rec.NodeID, remote, err)
	}
	return rec, nil
}

func checkTime(t int64, now time.Time, skew time.Duration) error {
	d := now.Sub(time.Unix(0, t))
	if d > skew || d < -skew {
		return fmt.Errorf("%w: timestamp is %v away from local time (window %v)", ErrStale, d.Round(time.Millisecond), skew)
	}
	return nil
}

// maxSeenNonces bounds the replay cache. Only admitted peers reach the
// handshake (the gater refuses the rest), so the bound is generous.
const maxSeenNonces = 1 << 16

// nonceCache remembers remote nonces for twice the clock-skew window: a
// message older than that is refused as stale, so it need not be remembered.
type nonceCache struct {
	mu sync.Mutex
	// guards the following
	seen map[string]time.Time // nonce -> expiry
}

// add records nonce and reports ErrReplay if it was seen before.
func (c *nonceCache) add(nonce []byte, now time.Time, ttl time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = make(map[string]time.Time)
	}
	if exp, ok := c.seen[string(nonce)]; ok && now.Before(exp) {
		return fmt.Errorf("%w: nonce %x", ErrReplay, nonce[:8])
	}
	if len(c.seen) >= maxSeenNonces {
		for k, exp := range c.seen {
			if !now.Before(exp) {
				delete(c.seen, k)
			}
		}
		if len(c.seen) >= maxSeenNonces {
			return fmt.Errorf("%w: replay cache full", ErrHandshake)
		}
	}
	c.seen[string(nonce)] = now.Add(ttl)
	return nil
}
