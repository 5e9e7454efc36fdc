package p2p

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// RaftProtocol is the protocol id that carries hashicorp/raft's network
// transport.
const RaftProtocol = "/medchain/raft/1"

// StreamLayer is a raft.StreamLayer over libp2p streams: each Raft
// connection is one stream on RaftProtocol on the authenticated connection
// between two nodes. A raft.ServerAddress is a peer id string.
//
// Both ends check the peer: Dial authenticates the remote (handshake) before
// opening the stream and requires this node's role to permit Raft; Accept
// only returns streams from authenticated peers whose role permits Raft.
type StreamLayer struct {
	n      *Node
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

var _ raft.StreamLayer = (*StreamLayer)(nil)

// RaftStreamLayer returns the node's Raft stream layer, creating it and
// registering the RaftProtocol handler on first use.
func (n *Node) RaftStreamLayer() *StreamLayer {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.raft == nil {
		n.raft = &StreamLayer{n: n, conns: make(chan net.Conn), closed: make(chan struct{})}
		if n.closed {
			close(n.raft.closed)
		} else {
			n.host.SetStreamHandler(RaftProtocol, n.guard(RaftProtocol, n.raft.handle))
		}
	}
	return n.raft
}

// RaftAddress returns the raft.ServerAddress of this node.
func (n *Node) RaftAddress() raft.ServerAddress { return raft.ServerAddress(n.host.ID().String()) }

func (l *StreamLayer) handle(s network.Stream, _ NodeRecord) {
	select {
	case l.conns <- &streamConn{Stream: s}:
	case <-l.closed:
		s.Reset()
	}
}

// Accept waits for the next inbound Raft stream. It returns net.ErrClosed
// after Close.
func (l *StreamLayer) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

// Close stops Accept and removes the protocol handler. Open streams stay
// open until Raft closes them.
func (l *StreamLayer) Close() error {
	l.once.Do(func() {
		close(l.closed)
		l.n.host.RemoveStreamHandler(RaftProtocol)
	})
	return nil
}

// Addr returns this node's address: its peer id.
func (l *StreamLayer) Addr() net.Addr { return peerAddr(l.n.host.ID()) }

// Dial opens a Raft stream to the peer whose id is address.
func (l *StreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	select {
	case <-l.closed:
		return nil, net.ErrClosed
	default:
	}
	p, err := peer.Decode(string(address))
	if err != nil {
		return nil, fmt.Errorf("p2p: raft address %q is not a peer id: %w", address, err)
	}
	ctx, cancel := context.WithTimeout(l.n.ctx, timeout)
	defer cancel()
	s, _, err := l.n.openStream(ctx, p, RaftProtocol)
	if err != nil {
		return nil, err
	}
	return &streamConn{Stream: s}, nil
}

// peerAddr is a net.Addr naming a libp2p peer.
type peerAddr peer.ID

func (a peerAddr) Network() string { return "libp2p" }
func (a peerAddr) String() string  { return peer.ID(a).String() }

// streamConn adapts a libp2p stream to net.Conn.
type streamConn struct {
	network.Stream
}

var _ net.Conn = (*streamConn)(nil)

func (c *streamConn) LocalAddr() net.Addr  { return peerAddr(c.Conn().LocalPeer()) }
func (c *streamConn) RemoteAddr() net.Addr { return peerAddr(c.Conn().RemotePeer()) }
