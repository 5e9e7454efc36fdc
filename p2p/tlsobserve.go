package p2p

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"

	ci "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/core/sec"
	tptu "github.com/libp2p/go-libp2p/p2p/net/upgrader"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	"github.com/quic-go/quic-go"
)

// PostQuantumCurve is the TLS key-exchange group every connection is
// expected to negotiate: the hybrid of X25519 and ML-KEM-768.
const PostQuantumCurve = tls.X25519MLKEM768

// checkCurve enforces the key-exchange policy on a negotiated group.
func checkCurve(curve tls.CurveID, require bool) error {
	if require && curve != PostQuantumCurve {
		return fmt.Errorf("%w: negotiated %v", ErrNotPostQuantum, curve)
	}
	return nil
}

// tlsStater is implemented by the libp2p TLS secure conn, which embeds
// *tls.Conn.
type tlsStater interface {
	ConnectionState() tls.ConnectionState
}

// pqTLS is libp2p's TLS 1.3 security transport with one addition: after the
// handshake it reads the negotiated key-exchange group, reports it to the
// node and, if required, refuses a connection that is not post-quantum. The
// cryptography is libp2p's and Go's; nothing here touches the handshake.
type pqTLS struct {
	inner   *libp2ptls.Transport
	require bool
	observe func(peer.ID, tls.CurveID)
}

var _ sec.SecureTransport = (*pqTLS)(nil)

// tlsConstructor returns a constructor with the signature libp2p.Security
// resolves by dependency injection.
func (n *Node) tlsConstructor() any {
	return func(id protocol.ID, key ci.PrivKey, muxers []tptu.StreamMuxer) (*pqTLS, error) {
		inner, err := libp2ptls.New(id, key, muxers)
		if err != nil {
			return nil, err
		}
		return &pqTLS{inner: inner, require: n.cfg.RequirePostQuantum, observe: n.observeCurve}, nil
	}
}

func (t *pqTLS) ID() protocol.ID { return t.inner.ID() }

func (t *pqTLS) SecureInbound(ctx context.Context, c net.Conn, p peer.ID) (sec.SecureConn, error) {
	sc, err := t.inner.SecureInbound(ctx, c, p)
	if err != nil {
		return nil, err
	}
	return t.check(sc)
}

func (t *pqTLS) SecureOutbound(ctx context.Context, c net.Conn, p peer.ID) (sec.SecureConn, error) {
	sc, err := t.inner.SecureOutbound(ctx, c, p)
	if err != nil {
		return nil, err
	}
	return t.check(sc)
}

func (t *pqTLS) check(sc sec.SecureConn) (sec.SecureConn, error) {
	st, ok := sc.(tlsStater)
	if !ok {
		sc.Close()
		return nil, fmt.Errorf("%w: secure conn %T exposes no TLS state", ErrNotPostQuantum, sc)
	}
	curve := st.ConnectionState().CurveID
	t.observe(sc.RemotePeer(), curve)
	if err := checkCurve(curve, t.require); err != nil {
		sc.Close()
		return nil, fmt.Errorf("%w (peer %s)", err, sc.RemotePeer())
	}
	return sc, nil
}

// quicCurve reads the negotiated group of a QUIC connection, whose TLS
// handshake quic-go runs itself.
func quicCurve(c network.Conn) (tls.CurveID, bool) {
	var qc *quic.Conn
	if !c.As(&qc) || qc == nil {
		return 0, false
	}
	return qc.ConnectionState().TLS.CurveID, true
}
