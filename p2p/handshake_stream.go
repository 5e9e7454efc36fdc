package p2p

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/medchain/medchain/chain/codec"
)

func writeMsg(w io.Writer, m handshakeMsg) error {
	b, err := codec.Marshal(m)
	if err != nil {
		return err
	}
	return writeFrame(w, b)
}

func readMsg(r io.Reader, want msgType) (handshakeMsg, error) {
	b, err := readFrame(r, maxHandshakeMsg)
	if err != nil {
		return handshakeMsg{}, fmt.Errorf("%w: read %s: %v", ErrHandshake, want, err)
	}
	m, err := decodeHandshakeMsg(b)
	if err != nil {
		return handshakeMsg{}, err
	}
	if m.Type == msgResult && m.Error != "" {
		return handshakeMsg{}, fmt.Errorf("%w: refused by remote: %s", ErrHandshake, m.Error)
	}
	if m.Type != want {
		return handshakeMsg{}, fmt.Errorf("%w: got %s, want %s", ErrHandshake, m.Type, want)
	}
	return m, nil
}

// refuseLinger bounds how long a refused peer gets to read the reason before
// its connection is closed.
const refuseLinger = 500 * time.Millisecond

// refuse sends err as a result message, half-closes the stream and waits
// (at most refuseLinger) for the remote to close its side, so that the reason
// is delivered before the caller disconnects the peer.
func refuse(s network.Stream, err error) {
	if werr := writeMsg(s, handshakeMsg{Type: msgResult, Error: errorString(err)}); werr != nil {
		s.Reset()
		return
	}
	s.CloseWrite()
	s.SetReadDeadline(time.Now().Add(refuseLinger))
	io.Copy(io.Discard, io.LimitReader(s, maxHandshakeMsg))
	s.Reset()
}

func newNonce() ([]byte, error) {
	b := make([]byte, nonceSize)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("p2p: nonce: %w", err)
	}
	return b, nil
}

// nonceTTL is how long a remote nonce is remembered: any message older than
// the skew window is refused as stale, so twice the window is enough.
func (n *Node) nonceTTL() time.Duration { return 2 * n.cfg.ClockSkew }

// initiate runs the initiator side of the handshake with the connected peer
// p (hello, reply, finish, result; see doc.go).
func (n *Node) initiate(ctx context.Context, p peer.ID) (NodeRecord, error) {
	if _, err := n.admitted(p); err != nil {
		return NodeRecord{}, err
	}
	s, err := n.host.NewStream(network.WithNoDial(ctx, "handshake"), p, HandshakeProtocol)
	if err != nil {
		return NodeRecord{}, fmt.Errorf("%w: open stream: %v", ErrHandshake, err)
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		s.SetDeadline(dl)
	}
	rec, err := n.initiateOn(s, p)
	if err != nil {
		// Tell the responder why, best effort, so both logs name the reason.
		refuse(s, err)
		return NodeRecord{}, err
	}
	n.markAuthenticated(p, rec)
	return rec, nil
}

func (n *Node) initiateOn(rw io.ReadWriter, p peer.ID) (NodeRecord, error) {
	nonce, err := newNonce()
	if err != nil {
		return NodeRecord{}, err
	}
	sess := session{chainID: n.cfg.ChainID, initiator: n.host.ID(), responder: p, initiatorNonce: nonce}
	hello := handshakeMsg{
		Type:      msgHello,
		ChainID:   n.cfg.ChainID,
		Initiator: []byte(sess.initiator),
		Responder: []byte(sess.responder),
		Nonce:     nonce,
		Time:      n.now().UnixNano(),
	}
	if err := writeMsg(rw, hello); err != nil {
		return NodeRecord{}, fmt.Errorf("%w: send hello: %v", ErrHandshake, err)
	}
	reply, err := readMsg(rw, msgReply)
	if err != nil {
		return NodeRecord{}, err
	}
	now := n.now()
	if err := n.seen.add(reply.Nonce, now, n.nonceTTL()); err != nil {
		return NodeRecord{}, err
	}
	sess.responderNonce = reply.Nonce
	rec, err := sess.verify(n.reg, p, roleResponder, reply, now, n.cfg.ClockSkew)
	if err != nil {
		return NodeRecord{}, err
	}
	if _, err := n.admitted(p); err != nil { // local revocation
		return NodeRecord{}, err
	}
	fin, err := sess.sign(n.key, roleInitiator, msgFinish, n.now(), n.cfg.NodeID)
	if err != nil {
		return NodeRecord{}, err
	}
	if err := writeMsg(rw, fin); err != nil {
		return NodeRecord{}, fmt.Errorf("%w: send finish: %v", ErrHandshake, err)
	}
	if _, err := readMsg(rw, msgResult); err != nil {
		return NodeRecord{}, err
	}
	return rec, nil
}

// handleHandshake serves the responder side. The gater has already checked
// that the peer is admitted; every other check happens here.
func (n *Node) handleHandshake(s network.Stream) {
	p := s.Conn().RemotePeer()
	s.SetDeadline(n.now().Add(n.cfg.HandshakeTimeout))
	rec, err := n.respondOn(s, p)
	if err != nil {
		n.log.Warn("p2p: handshake refused", "peer", p, "role", "responder", "reason", err.Error())
		refuse(s, err)
		n.disconnect(p, err)
		return
	}
	n.markAuthenticated(p, rec)
	if err := writeMsg(s, handshakeMsg{Type: msgResult}); err != nil {
		n.log.Warn("p2p: handshake result not delivered", "peer", p, "err", err)
		s.Reset()
		return
	}
	s.Close()
	n.log.Debug("p2p: peer authenticated", "peer", p, "node_id", rec.NodeID, "role", rec.Role.String())
}

func (n *Node) respondOn(rw io.ReadWriter, p peer.ID) (NodeRecord, error) {
	if _, err := n.admitted(p); err != nil {
		return NodeRecord{}, err
	}
	hello, err := readMsg(rw, msgHello)
	if err != nil {
		return NodeRecord{}, err
	}
	if hello.ChainID != n.cfg.ChainID {
		return NodeRecord{}, fmt.Errorf("%w: peer %s is on %q, this node on %q", ErrWrongChain, p, hello.ChainID, n.cfg.ChainID)
	}
	if peer.ID(hello.Initiator) != p {
		return NodeRecord{}, fmt.Errorf("%w: hello names initiator %s on a connection from %s", ErrIdentityMismatch, peer.ID(hello.Initiator), p)
	}
	if peer.ID(hello.Responder) != n.host.ID() {
		return NodeRecord{}, fmt.Errorf("%w: hello addressed to %s, this node is %s", ErrIdentityMismatch, peer.ID(hello.Responder), n.host.ID())
	}
	now := n.now()
	if err := checkTime(hello.Time, now, n.cfg.ClockSkew); err != nil {
		return NodeRecord{}, err
	}
	if err := n.seen.add(hello.Nonce, now, n.nonceTTL()); err != nil {
		return NodeRecord{}, err
	}
	nonce, err := newNonce()
	if err != nil {
		return NodeRecord{}, err
	}
	sess := session{chainID: n.cfg.ChainID, initiator: p, responder: n.host.ID(), initiatorNonce: hello.Nonce, responderNonce: nonce}
	reply, err := sess.sign(n.key, roleResponder, msgReply, now, n.cfg.NodeID)
	if err != nil {
		return NodeRecord{}, err
	}
	if err := writeMsg(rw, reply); err != nil {
		return NodeRecord{}, fmt.Errorf("%w: send reply: %v", ErrHandshake, err)
	}
	fin, err := readMsg(rw, msgFinish)
	if err != nil {
		return NodeRecord{}, err
	}
	return sess.verify(n.reg, p, roleInitiator, fin, n.now(), n.cfg.ClockSkew)
}
