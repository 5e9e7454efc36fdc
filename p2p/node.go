package p2p

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	ci "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	libp2pquic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/medchain/medchain/chain/crypto"
)

// Node is a medchain peer: a libp2p host that admits only registered nodes,
// authenticates each with the ML-DSA handshake, re-authenticates them
// continuously and serves the Raft and tx protocols only to authenticated
// peers whose role permits them. Create it with New; stop it with Close.
type Node struct {
	cfg   Config
	key   *crypto.PrivateKey
	reg   Registry
	host  host.Host
	log   *slog.Logger
	now   func() time.Time
	seen  nonceCache
	ctx   context.Context
	stop  context.CancelFunc
	wg    sync.WaitGroup
	unwat func()

	mu sync.Mutex
	// guards the following
	authed   map[peer.ID]*peerState   // peers that completed a handshake on a live connection
	pending  map[peer.ID]time.Time    // connected, not yet authenticated, since
	inflight map[peer.ID]*handshakeOp // running handshakes we initiated
	revoked  map[peer.ID]string       // locally revoked peers and why
	curves   map[peer.ID]tls.CurveID  // last negotiated TLS group per peer
	txh      TxHandler
	tbh      TxBatchHandler
	qh       QueryHandler
	loh      LeftOutHandler
	lol      func() peer.ID // the leader, for loh
	raft     *StreamLayer
	closed   bool
}

type peerState struct {
	rec      NodeRecord
	authedAt time.Time
}

type handshakeOp struct {
	done chan struct{}
	rec  NodeRecord
	err  error
}

// New validates cfg, loads or creates the libp2p identity, and starts a host
// listening on cfg.ListenAddrs with the TLS security transport only and the
// registry-backed connection gater. key is the node's ML-DSA key; reg decides
// admission. If reg implements RegistryWatcher, changes are applied at once.
func New(cfg Config, key *crypto.PrivateKey, reg Registry) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if key == nil {
		return nil, fmt.Errorf("%w: nil node key", ErrConfig)
	}
	if reg == nil {
		return nil, fmt.Errorf("%w: nil registry", ErrConfig)
	}
	var priv ci.PrivKey
	var err error
	if cfg.IdentityKeyFile == "" {
		priv, _, err = ci.GenerateEd25519Key(rand.Reader)
	} else {
		priv, err = LoadOrCreateIdentity(cfg.IdentityKeyFile)
	}
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	ctx, stop := context.WithCancel(context.Background())
	n := &Node{
		cfg:      cfg,
		key:      key,
		reg:      reg,
		log:      log.With("component", "p2p", "node", cfg.NodeID),
		now:      time.Now,
		ctx:      ctx,
		stop:     stop,
		authed:   make(map[peer.ID]*peerState),
		pending:  make(map[peer.ID]time.Time),
		inflight: make(map[peer.ID]*handshakeOp),
		revoked:  make(map[peer.ID]string),
		curves:   make(map[peer.ID]tls.CurveID),
	}
	h, err := libp2p.New(
		libp2p.Identity(priv),
		libp2p.ListenAddrStrings(cfg.ListenAddrs...),
		libp2p.Security(libp2ptls.ID, n.tlsConstructor()),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(libp2pquic.NewTransport),
		libp2p.ConnectionGater(&gater{n: n}),
		libp2p.Ping(false),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
		libp2p.UserAgent("medchain"),
	)
	if err != nil {
		stop()
		return nil, fmt.Errorf("p2p: start host: %w", err)
	}
	n.host = h
	for _, s := range cfg.BootstrapPeers {
		ai, err := peer.AddrInfoFromString(s)
		if err != nil {
			h.Close()
			stop()
			return nil, fmt.Errorf("%w: BootstrapPeers: %q: %v", ErrConfig, s, err)
		}
		h.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.PermanentAddrTTL)
	}
	h.Network().Notify(&network.NotifyBundle{
		ConnectedF:    n.connected,
		DisconnectedF: n.disconnected,
	})
	h.SetStreamHandler(HandshakeProtocol, n.handleHandshake)
	h.SetStreamHandler(TxProtocol, n.guard(TxProtocol, n.handleTx))
	if w, ok := reg.(RegistryWatcher); ok {
		n.unwat = w.Watch(func(p peer.ID) {
			n.spawn(func() { n.Recheck(p) })
		})
	}
	n.wg.Go(n.maintain)
	return n, nil
}

// ID returns the node's libp2p peer id.
func (n *Node) ID() peer.ID { return n.host.ID() }

// Host returns the underlying libp2p host. Streams opened on it directly
// bypass this package's checks on the local side; the remote still enforces
// them.
func (n *Node) Host() host.Host { return n.host }

// Addrs returns the node's listen addresses as full multiaddrs ending in
// /p2p/<peer id>, suitable for NodeRecord.Addrs and BootstrapPeers.
func (n *Node) Addrs() []string {
	pid, err := ma.NewComponent("p2p", n.host.ID().String())
	if err != nil {
		return nil
	}
	var out []string
	for _, a := range n.host.Addrs() {
		out = append(out, a.Encapsulate(pid.Multiaddr()).String())
	}
	return out
}

// Close stops maintenance, closes every connection and the host. It waits
// for the node's goroutines to finish.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	sl := n.raft
	n.mu.Unlock()
	if n.unwat != nil {
		n.unwat()
	}
	if sl != nil {
		sl.Close()
	}
	n.stop()
	err := n.host.Close()
	n.wg.Wait()
	return err
}

// Authenticated returns the record of p if p completed a handshake on its
// current connection and is still admitted.
func (n *Node) Authenticated(p peer.ID) (NodeRecord, bool) {
	n.mu.Lock()
	st, ok := n.authed[p]
	n.mu.Unlock()
	if !ok {
		return NodeRecord{}, false
	}
	return st.rec, true
}

// NegotiatedCurve returns the TLS key-exchange group of the last connection
// secured with p (TCP through the TLS transport, QUIC through quic-go).
func (n *Node) NegotiatedCurve(p peer.ID) (tls.CurveID, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	c, ok := n.curves[p]
	return c, ok
}

func (n *Node) observeCurve(p peer.ID, c tls.CurveID) {
	n.mu.Lock()
	n.curves[p] = c
	n.mu.Unlock()
}

// Connect makes sure there is an authenticated connection to p: it dials p
// (addresses from the registry record and bootstrap peers) if needed and runs
// the handshake if p is not yet authenticated. It returns p's record.
func (n *Node) Connect(ctx context.Context, p peer.ID) (NodeRecord, error) {
	if p == n.host.ID() {
		return NodeRecord{}, fmt.Errorf("%w: cannot connect to self", ErrIdentityMismatch)
	}
	if n.host.Network().Connectedness(p) == network.Connected {
		if rec, ok := n.Authenticated(p); ok {
			return rec, nil
		}
	}
	rec, err := n.admitted(p)
	if err != nil {
		return NodeRecord{}, err
	}
	if n.host.Network().Connectedness(p) != network.Connected {
		ai := peer.AddrInfo{ID: p}
		for _, s := range rec.Addrs {
			a, err := ma.NewMultiaddr(s)
			if err != nil {
				n.log.Warn("p2p: bad address in node record", "peer", p, "node_id", rec.NodeID, "addr", s, "err", err)
				continue
			}
			if t, _ := peer.SplitAddr(a); t != nil {
				ai.Addrs = append(ai.Addrs, t)
			}
		}
		if err := n.host.Connect(ctx, ai); err != nil {
			return NodeRecord{}, fmt.Errorf("p2p: dial %s (%s): %w", rec.NodeID, p, err)
		}
	}
	return n.authenticate(ctx, p)
}

// admitted checks the registry and the local revocation list.
func (n *Node) admitted(p peer.ID) (NodeRecord, error) {
	n.mu.Lock()
	reason, revoked := n.revoked[p]
	n.mu.Unlock()
	if revoked {
		return NodeRecord{}, fmt.Errorf("%w: %s revoked: %s", ErrRemoved, p, reason)
	}
	return admit(n.reg, p)
}

// Revoke disconnects p at once and refuses it (dial, accept, streams) for
// the life of this Node, whatever the registry says. Use it when governance
// removes a node and the registry may lag, or on operator command.
func (n *Node) Revoke(p peer.ID, reason string) {
	n.mu.Lock()
	n.revoked[p] = reason
	n.mu.Unlock()
	n.disconnect(p, fmt.Errorf("%w: revoked: %s", ErrRemoved, reason))
}

// Recheck re-reads p's record from the registry. A peer that is no longer
// admitted is disconnected at once; a peer whose record changed (key, role,
// node id) must authenticate again. RegistryWatcher registries call it
// automatically; other consumers call it when a node record changes.
func (n *Node) Recheck(p peer.ID) {
	rec, err := n.admitted(p)
	n.mu.Lock()
	st, authed := n.authed[p]
	n.mu.Unlock()
	connected := n.host.Network().Connectedness(p) == network.Connected
	if err != nil {
		if authed || connected {
			n.disconnect(p, err)
		}
		return
	}
	if authed && !sameRecord(st.rec, rec) {
		n.mu.Lock()
		delete(n.authed, p)
		n.pending[p] = n.now()
		n.mu.Unlock()
		n.log.Info("p2p: node record changed, re-authenticating", "peer", p, "node_id", rec.NodeID)
		if connected {
			n.spawn(func() { n.authenticate(n.ctx, p) })
		}
	}
}

func sameRecord(a, b NodeRecord) bool {
	return a.NodeID == b.NodeID && a.PeerID == b.PeerID && a.Role == b.Role && a.PublicKey.Equal(b.PublicKey) && a.Removed == b.Removed
}

// disconnect drops p's authentication and closes every connection to it.
func (n *Node) disconnect(p peer.ID, reason error) {
	n.mu.Lock()
	delete(n.authed, p)
	delete(n.pending, p)
	n.mu.Unlock()
	if n.host.Network().Connectedness(p) == network.Connected {
		n.log.Warn("p2p: disconnecting peer", "peer", p, "reason", reason.Error())
	}
	n.host.Network().ClosePeer(p)
}

func (n *Node) connected(_ network.Network, c network.Conn) {
	p := c.RemotePeer()
	if curve, ok := quicCurve(c); ok {
		n.observeCurve(p, curve)
	}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	if _, ok := n.authed[p]; !ok {
		if _, ok := n.pending[p]; !ok {
			n.pending[p] = n.now()
		}
	}
	n.mu.Unlock()
	if c.Stat().Direction == network.DirOutbound {
		n.spawn(func() {
			if _, err := n.authenticate(n.ctx, p); err != nil && n.ctx.Err() == nil {
				n.log.Debug("p2p: handshake after dial failed", "peer", p, "err", err)
			}
		})
	}
}

func (n *Node) disconnected(net network.Network, c network.Conn) {
	p := c.RemotePeer()
	if net.Connectedness(p) == network.Connected {
		return
	}
	n.mu.Lock()
	delete(n.authed, p)
	delete(n.pending, p)
	n.mu.Unlock()
}

// maintain re-authenticates peers every ReauthInterval, disconnects peers
// whose reauthentication is overdue and inbound peers that never
// authenticated.
func (n *Node) maintain() {
	tick := min(time.Second, n.cfg.HandshakeTimeout/4)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		now := n.now()
		var reauth, overdue, silent []peer.ID
		n.mu.Lock()
		for p, st := range n.authed {
			age := now.Sub(st.authedAt)
			switch {
			case age > n.cfg.ReauthInterval+2*n.cfg.HandshakeTimeout:
				overdue = append(overdue, p)
			case age > n.cfg.ReauthInterval:
				if _, running := n.inflight[p]; !running {
					reauth = append(reauth, p)
				}
			}
		}
		for p, since := range n.pending {
			if now.Sub(since) > n.cfg.HandshakeTimeout {
				silent = append(silent, p)
			}
		}
		n.mu.Unlock()
		for _, p := range overdue {
			n.disconnect(p, fmt.Errorf("%w: reauthentication overdue", ErrUnauthenticated))
		}
		for _, p := range silent {
			n.disconnect(p, fmt.Errorf("%w: no handshake within %v", ErrUnauthenticated, n.cfg.HandshakeTimeout))
		}
		for _, p := range reauth {
			n.spawn(func() { n.authenticate(n.ctx, p) })
		}
	}
}

// authenticate runs one initiator handshake with the connected peer p, or
// waits for the one already running. Failure disconnects p.
func (n *Node) authenticate(ctx context.Context, p peer.ID) (NodeRecord, error) {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return NodeRecord{}, ErrClosed
	}
	op, running := n.inflight[p]
	if !running {
		op = &handshakeOp{done: make(chan struct{})}
		n.inflight[p] = op
	}
	n.mu.Unlock()
	if !running {
		hctx, cancel := context.WithTimeout(n.ctx, n.cfg.HandshakeTimeout)
		op.rec, op.err = n.initiate(hctx, p)
		cancel()
		if op.err != nil {
			n.log.Warn("p2p: handshake refused", "peer", p, "role", "initiator", "reason", op.err.Error())
			n.disconnect(p, op.err)
		}
		n.mu.Lock()
		delete(n.inflight, p)
		n.mu.Unlock()
		close(op.done)
	}
	select {
	case <-op.done:
		return op.rec, op.err
	case <-ctx.Done():
		return NodeRecord{}, ctx.Err()
	}
}

// spawn runs f on a goroutine that Close waits for, unless the node is
// closing.
func (n *Node) spawn(f func()) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	n.wg.Go(f)
}

// markAuthenticated records a successful handshake with p, if p is still
// connected (the disconnect notification clears the record).
func (n *Node) markAuthenticated(p peer.ID, rec NodeRecord) {
	connected := n.host.Network().Connectedness(p) == network.Connected
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed || !connected {
		return
	}
	delete(n.pending, p)
	n.authed[p] = &peerState{rec: rec, authedAt: n.now()}
}

// authorize decides whether the authenticated peer p may use proto: it must
// have completed the handshake, still be admitted, and its current role must
// be allowed by the protocol table (doc.go).
func (n *Node) authorize(p peer.ID, proto protocol.ID) (NodeRecord, error) {
	if _, ok := n.Authenticated(p); !ok {
		return NodeRecord{}, fmt.Errorf("%w: %s on %s", ErrUnauthenticated, p, proto)
	}
	rec, err := n.admitted(p)
	if err != nil {
		return NodeRecord{}, err
	}
	if err := permitted(proto, rec.Role); err != nil {
		return NodeRecord{}, fmt.Errorf("%w: node %q", err, rec.NodeID)
	}
	return rec, nil
}

// guard wraps a stream handler so that it only runs for peers authorized
// for proto; others get a reset stream and a log line.
func (n *Node) guard(proto protocol.ID, h func(network.Stream, NodeRecord)) network.StreamHandler {
	return func(s network.Stream) {
		p := s.Conn().RemotePeer()
		rec, err := n.authorize(p, proto)
		if err != nil {
			n.log.Warn("p2p: refused stream", "peer", p, "protocol", string(proto), "reason", err.Error())
			s.Reset()
			return
		}
		h(s, rec)
	}
}

// openStream opens an outbound stream to p on proto after making sure p is
// authenticated and that this node's own role may use proto.
func (n *Node) openStream(ctx context.Context, p peer.ID, proto protocol.ID) (network.Stream, NodeRecord, error) {
	self, err := admit(n.reg, n.host.ID())
	if err != nil {
		return nil, NodeRecord{}, fmt.Errorf("p2p: this node is not admitted: %w", err)
	}
	if err := permitted(proto, self.Role); err != nil {
		return nil, NodeRecord{}, fmt.Errorf("%w: this node %q", err, self.NodeID)
	}
	rec, err := n.Connect(ctx, p)
	if err != nil {
		return nil, NodeRecord{}, err
	}
	s, err := n.host.NewStream(ctx, p, proto)
	if err != nil {
		return nil, NodeRecord{}, fmt.Errorf("p2p: open %s to %s: %w", proto, rec.NodeID, err)
	}
	return s, rec, nil
}

// errorString renders err for the wire: valid UTF-8 (the decoder refuses
// anything else) and at most maxErrorLen bytes.
func errorString(err error) string {
	s := strings.ToValidUTF8(err.Error(), "?")
	if len(s) > maxErrorLen {
		s = strings.ToValidUTF8(s[:maxErrorLen], "")
	}
	return s
}
