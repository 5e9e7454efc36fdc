package p2p

import (
	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// gater admits only registered, non-removed, non-revoked nodes. It runs at
// every stage where libp2p knows the remote peer id: before dialing and right
// after the TLS handshake has proved the remote's libp2p key (InterceptSecured),
// so an unadmitted peer never reaches the muxer or any protocol.
type gater struct{ n *Node }

var _ connmgr.ConnectionGater = (*gater)(nil)

func (g *gater) InterceptPeerDial(p peer.ID) bool {
	return g.allow(p, "dial")
}

func (g *gater) InterceptAddrDial(peer.ID, ma.Multiaddr) bool { return true }

// InterceptAccept allows every inbound socket: the peer id is not known
// before the TLS handshake; InterceptSecured decides.
func (g *gater) InterceptAccept(network.ConnMultiaddrs) bool { return true }

func (g *gater) InterceptSecured(dir network.Direction, p peer.ID, addrs network.ConnMultiaddrs) bool {
	stage := "secured-inbound"
	if dir == network.DirOutbound {
		stage = "secured-outbound"
	}
	return g.allow(p, stage, "remote_addr", addrs.RemoteMultiaddr().String())
}

// InterceptUpgraded enforces the post-quantum key exchange on QUIC
// connections, whose TLS handshake the TLS security transport does not see.
func (g *gater) InterceptUpgraded(c network.Conn) (bool, control.DisconnectReason) {
	curve, ok := quicCurve(c)
	if !ok {
		return true, 0
	}
	if err := checkCurve(curve, g.n.cfg.RequirePostQuantum); err != nil {
		g.n.log.Warn("p2p: refused peer", "peer", c.RemotePeer(), "stage", "upgraded", "reason", err.Error())
		return false, 0
	}
	return true, 0
}

func (g *gater) allow(p peer.ID, stage string, kv ...any) bool {
	if _, err := g.n.admitted(p); err != nil {
		g.n.log.Warn("p2p: refused peer", append([]any{"peer", p, "stage", stage, "reason", err.Error()}, kv...)...)
		return false
	}
	return true
}
