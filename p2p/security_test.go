package p2p

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p"
	ci "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"github.com/medchain/medchain/chain/crypto"
)

func TestPeerWithoutAdmissionIsRefused(t *testing.T) {
	reg := &MemRegistry{}
	a := startNode(t, reg, nil, "a", 1, RoleVoter, nil)
	// b has a valid libp2p key and a valid ML-DSA key, but no record.
	b := startNode(t, reg, nil, "b", 2, 0, nil)
	err := b.Host().Connect(ctxT(t, 5*time.Second), addrInfo(a, "tcp"))
	if err == nil {
		// TLS 1.3 lets the client finish before the server decides; the
		// server closes at once, so the connection must vanish.
		eventually(t, 2*time.Second, "refused connection closed", func() bool { return !connected(b, a) })
	}
	if connected(a, b) {
		t.Fatal("a kept a connection from an unadmitted peer")
	}
	if _, ok := a.Authenticated(b.ID()); ok {
		t.Fatal("unadmitted peer authenticated")
	}
	logs := a.logs.String()
	if !strings.Contains(logs, "p2p: refused peer") || !strings.Contains(logs, b.ID().String()) || !strings.Contains(logs, "not admitted") {
		t.Fatalf("refusal not logged with peer id and reason:\n%s", logs)
	}
	// Nor will a dial to it: the gater refuses before dialling.
	if _, err := a.Connect(ctxT(t, 2*time.Second), b.ID()); !errors.Is(err, ErrNotAdmitted) {
		t.Fatalf("dial to unadmitted peer: got %v, want ErrNotAdmitted", err)
	}
}

func TestPeerPresentingAnotherNodesRecordIsRefused(t *testing.T) {
	tests := []struct {
		name string
		// setup returns the impostor's node id and key and edits the registry.
		setup func(reg *MemRegistry, a, c *testNode) (claimID string, key *crypto.PrivateKey)
		want  error
	}{
		{
			name: "claims another node id, signs with that node's key",
			setup: func(reg *MemRegistry, a, c *testNode) (string, *crypto.PrivateKey) {
				return "a", a.key
			},
			want: ErrIdentityMismatch,
		},
		{
			name: "claims its own node id, signs with another node's key",
			setup: func(reg *MemRegistry, a, c *testNode) (string, *crypto.PrivateKey) {
				return "c", a.key
			},
			want: ErrBadSignature,
		},
		{
			name: "registry answers with another node's record",
			setup: func(reg *MemRegistry, a, c *testNode) (string, *crypto.PrivateKey) {
				reg.PutAs(c.ID(), a.rec)
				return "a", a.key
			},
			want: ErrIdentityMismatch,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := &MemRegistry{}
			a := startNode(t, reg, nil, "a", 1, RoleVoter, nil)
			b := startNode(t, reg, nil, "b", 2, RoleVoter, nil)
			c := startNode(t, reg, nil, "c", 3, RoleVoter, nil) // admitted as "c" with key 3
			claim, key := tt.setup(reg, a, c)
			c.cfg.NodeID = claim
			c.key = key
			c.Node.key = key

			_, err := b.Connect(ctxT(t, 5*time.Second), c.ID())
			if !errors.Is(err, tt.want) {
				t.Fatalf("b authenticating c: got %v, want %v", err, tt.want)
			}
			if _, ok := b.Authenticated(c.ID()); ok {
				t.Fatal("impostor authenticated")
			}
			eventually(t, 2*time.Second, "impostor disconnected", func() bool { return !connected(b, c) })
			// Honest nodes still authenticate each other.
			if _, err := b.Connect(ctxT(t, 5*time.Second), a.ID()); err != nil {
				t.Fatalf("honest peer refused: %v", err)
			}
		})
	}
}

// rawPeer is a bare libp2p host (TLS only) that speaks the handshake by hand,
// to send replayed, stale or forged messages.
type rawPeer struct {
	host.Host
	key *crypto.PrivateKey
	id  string
}

func newRawPeer(t *testing.T, reg *MemRegistry, id string, seed byte) *rawPeer {
	t.Helper()
	priv, _, err := ci.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := libp2p.New(
		libp2p.Identity(priv),
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Security(libp2ptls.ID, libp2ptls.New),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.DisableMetrics(),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	k := testKey(t, seed)
	reg.Put(NodeRecord{NodeID: id, PeerID: h.ID(), PublicKey: k.Public(), Role: RoleVoter})
	return &rawPeer{Host: h, key: k, id: id}
}

// exchange opens a handshake stream to target, sends hello, reads the reply,
// then sends the finish built by mkFinish (nil: stop after the reply). It
// returns the final message's error string ("" if accepted) and the
// messages sent.
func (r *rawPeer) exchange(t *testing.T, target *testNode, hello handshakeMsg, mkFinish func(sess *session) handshakeMsg) (refusal string, sent []handshakeMsg) {
	t.Helper()
	ctx := ctxT(t, 5*time.Second)
	if err := r.Connect(ctx, addrInfo(target, "tcp")); err != nil {
		t.Fatal(err)
	}
	s, err := r.NewStream(ctx, target.ID(), HandshakeProtocol)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SetDeadline(time.Now().Add(5 * time.Second))
	if err := writeMsg(s, hello); err != nil {
		t.Fatal(err)
	}
	sent = append(sent, hello)
	m := readAny(t, s)
	if m.Type == msgResult {
		return m.Error, sent
	}
	sess := &session{chainID: testChain, initiator: r.ID(), responder: target.ID(), initiatorNonce: hello.Nonce, responderNonce: m.Nonce}
	fin := mkFinish(sess)
	if err := writeMsg(s, fin); err != nil {
		t.Fatal(err)
	}
	sent = append(sent, fin)
	m = readAny(t, s)
	if m.Type != msgResult {
		t.Fatalf("got %s, want result", m.Type)
	}
	return m.Error, sent
}

func readAny(t *testing.T, r io.Reader) handshakeMsg {
	t.Helper()
	b, err := readFrame(r, maxHandshakeMsg)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	m, err := decodeHandshakeMsg(b)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return m
}

func (r *rawPeer) hello(t *testing.T, target *testNode, at time.Time) handshakeMsg {
	nonce, err := newNonce()
	if err != nil {
		t.Fatal(err)
	}
	return handshakeMsg{Type: msgHello, ChainID: testChain, Initiator: []byte(r.ID()), Responder: []byte(target.ID()), Nonce: nonce, Time: at.UnixNano()}
}

func (r *rawPeer) finishAt(t *testing.T, at time.Time) func(*session) handshakeMsg {
	return func(sess *session) handshakeMsg {
		m, err := sess.sign(r.key, roleInitiator, msgFinish, at, r.id)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
}

func TestReplayedOrStaleHandshakeIsRefused(t *testing.T) {
	reg := &MemRegistry{}
	a := startNode(t, reg, nil, "a", 1, RoleVoter, nil)
	m := newRawPeer(t, reg, "m", 9)

	// A genuine handshake, recorded.
	refusal, recorded := m.exchange(t, a, m.hello(t, a, time.Now()), m.finishAt(t, time.Now()))
	if refusal != "" {
		t.Fatalf("genuine handshake refused: %s", refusal)
	}
	if _, ok := a.Authenticated(m.ID()); !ok {
		t.Fatal("genuine handshake did not authenticate")
	}
	replayedFinish := recorded[1]

	tests := []struct {
		name   string
		hello  func() handshakeMsg
		finish func(*session) handshakeMsg
		want   error
	}{
		{"replayed hello (same nonce)", func() handshakeMsg { return recorded[0] }, nil, ErrReplay},
		{"fresh hello, replayed finish", func() handshakeMsg { return m.hello(t, a, time.Now()) },
			func(*session) handshakeMsg { return replayedFinish }, ErrBadSignature},
		{"stale hello", func() handshakeMsg { return m.hello(t, a, time.Now().Add(-time.Hour)) }, nil, ErrStale},
		{"hello from the future", func() handshakeMsg { return m.hello(t, a, time.Now().Add(time.Hour)) }, nil, ErrStale},
		{"validly signed but stale finish", func() handshakeMsg { return m.hello(t, a, time.Now()) },
			m.finishAt(t, time.Now().Add(-time.Hour)), ErrStale},
		{"finish signed as responder (reflection)", func() handshakeMsg { return m.hello(t, a, time.Now()) },
			func(sess *session) handshakeMsg {
				fin, _ := sess.sign(m.key, roleResponder, msgFinish, time.Now(), "m")
				return fin
			}, ErrBadSignature},
		{"hello for another chain", func() handshakeMsg {
			h := m.hello(t, a, time.Now())
			h.ChainID = "other-chain"
			return h
		}, nil, ErrWrongChain},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			finish := tt.finish
			if finish == nil {
				finish = func(*session) handshakeMsg { t.Fatal("responder replied to a bad hello"); return handshakeMsg{} }
			}
			refusal, _ := m.exchange(t, a, tt.hello(), finish)
			if !strings.Contains(refusal, tt.want.Error()) {
				t.Fatalf("refusal %q, want %q", refusal, tt.want)
			}
			eventually(t, 2*time.Second, "refused peer unauthenticated and disconnected", func() bool {
				_, authed := a.Authenticated(m.ID())
				return !authed && a.Host().Network().Connectedness(m.ID()) != network.Connected &&
					m.Network().Connectedness(a.ID()) != network.Connected
			})
		})
	}
}

func TestUnauthenticatedPeerIsServedNothingAndDropped(t *testing.T) {
	reg := &MemRegistry{}
	a := startNode(t, reg, nil, "a", 1, RoleVoter, func(c *Config) { c.HandshakeTimeout = 300 * time.Millisecond; c.ReauthInterval = time.Second })
	a.RaftStreamLayer()
	a.SetTxHandler(func(context.Context, peer.ID, []byte) ([]byte, error) { return []byte("ok"), nil })
	a.SetTxBatchHandler(func(_ context.Context, _ peer.ID, raws [][]byte) []TxOutcome { return make([]TxOutcome, len(raws)) })
	m := newRawPeer(t, reg, "m", 9) // admitted, but never runs the handshake
	ctx := ctxT(t, 5*time.Second)
	if err := m.Connect(ctx, addrInfo(a, "tcp")); err != nil {
		t.Fatal(err)
	}
	for _, proto := range []string{TxProtocol, TxBatchProtocol, RaftProtocol} {
		s, err := m.NewStream(ctx, a.ID(), protocolID(proto))
		if err != nil {
			continue // refused during negotiation: fine
		}
		writeFrame(s, []byte("tx"))
		s.SetReadDeadline(time.Now().Add(2 * time.Second))
		if b, err := io.ReadAll(s); err == nil || len(b) > 0 {
			t.Fatalf("%s served to an unauthenticated peer: %q, %v", proto, b, err)
		}
	}
	if !strings.Contains(a.logs.String(), "p2p: refused stream") {
		t.Fatal("refused stream not logged")
	}
	took := eventually(t, 3*time.Second, "silent peer disconnected", func() bool {
		return a.Host().Network().Connectedness(m.ID()) != network.Connected
	})
	t.Logf("unauthenticated connection closed after %v (HandshakeTimeout 300ms)", took)
}

func TestRemovedNodeIsDisconnectedPromptlyAndCannotReconnect(t *testing.T) {
	reg := &MemRegistry{}
	a := startNode(t, reg, nil, "a", 1, RoleVoter, nil)
	b := startNode(t, reg, nil, "b", 2, RoleVoter, nil)
	if _, err := a.Connect(ctxT(t, 5*time.Second), b.ID()); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	reg.Remove(b.ID())
	eventually(t, 2*time.Second, "removed node disconnected", func() bool { return !connected(a, b) && !connected(b, a) })
	t.Logf("removed node disconnected %v after the registry change", time.Since(start))
	if _, err := b.Connect(ctxT(t, 2*time.Second), a.ID()); err == nil {
		t.Fatal("removed node reconnected")
	}
	if err := b.Host().Connect(ctxT(t, 2*time.Second), addrInfo(a, "tcp")); err == nil {
		eventually(t, 2*time.Second, "reconnection closed", func() bool { return !connected(b, a) })
	}
	if _, err := a.Connect(ctxT(t, 2*time.Second), b.ID()); !errors.Is(err, ErrRemoved) {
		t.Fatalf("dial to removed node: got %v, want ErrRemoved", err)
	}
	if !strings.Contains(a.logs.String(), "node removed") {
		t.Fatal("removal not logged")
	}
}

func TestRevokeDisconnectsAtOnceWhateverTheRegistrySays(t *testing.T) {
	reg := &MemRegistry{}
	a := startNode(t, reg, nil, "a", 1, RoleVoter, nil)
	b := startNode(t, reg, nil, "b", 2, RoleVoter, nil)
	if _, err := b.Connect(ctxT(t, 5*time.Second), a.ID()); err != nil {
		t.Fatal(err)
	}
	a.Revoke(b.ID(), "operator command")
	if connected(a, b) {
		t.Fatal("revoked peer still connected after Revoke returned")
	}
	eventually(t, 2*time.Second, "b notices the disconnection", func() bool { return !connected(b, a) })
	if _, err := b.Connect(ctxT(t, 2*time.Second), a.ID()); err == nil {
		t.Fatal("revoked peer reconnected")
	}
	if _, ok := a.Authenticated(b.ID()); ok {
		t.Fatal("revoked peer authenticated")
	}
}

// plainRegistry hides MemRegistry's Watch, so only reauthentication can
// notice a change.
type plainRegistry struct{ m *MemRegistry }

func (p plainRegistry) NodeByPeer(id peer.ID) (NodeRecord, error) { return p.m.NodeByPeer(id) }

func TestReauthenticationDisconnectsRemovedNodeWithoutNotification(t *testing.T) {
	mem := &MemRegistry{}
	reg := plainRegistry{mem}
	fast := func(c *Config) {
		c.HandshakeTimeout = 200 * time.Millisecond
		c.ReauthInterval = 500 * time.Millisecond
	}
	a := startNode(t, mem, reg, "a", 1, RoleVoter, fast)
	b := startNode(t, mem, reg, "b", 2, RoleVoter, fast)
	if _, err := a.Connect(ctxT(t, 5*time.Second), b.ID()); err != nil {
		t.Fatal(err)
	}
	// Healthy peers survive several reauthentications.
	a.mu.Lock()
	t0 := a.authed[b.ID()].authedAt
	a.mu.Unlock()
	time.Sleep(1500 * time.Millisecond)
	if !connected(a, b) {
		t.Fatal("healthy peer dropped by reauthentication")
	}
	a.mu.Lock()
	t1 := a.authed[b.ID()].authedAt
	a.mu.Unlock()
	if !t1.After(t0) {
		t.Fatal("peer was not reauthenticated")
	}
	start := time.Now()
	mem.Remove(b.ID()) // no notification reaches the nodes
	eventually(t, 3*time.Second, "removed node disconnected by reauthentication", func() bool { return !connected(a, b) })
	t.Logf("disconnected %v after removal (ReauthInterval 500ms)", time.Since(start))
}

func TestObserverCannotOpenRaftStreams(t *testing.T) {
	reg := &MemRegistry{}
	v := startNode(t, reg, nil, "v", 1, RoleVoter, nil)
	o := startNode(t, reg, nil, "o", 2, RoleObserver, nil)
	v.RaftStreamLayer()
	o.RaftStreamLayer()
	if _, err := o.Connect(ctxT(t, 5*time.Second), v.ID()); err != nil {
		t.Fatal(err)
	}
	// The observer's own layer refuses.
	if _, err := o.RaftStreamLayer().Dial(v.RaftAddress(), 2*time.Second); !errors.Is(err, ErrForbidden) {
		t.Fatalf("observer dial: got %v, want ErrForbidden", err)
	}
	// A modified observer that bypasses its own check is reset by the voter.
	s, err := o.Host().NewStream(ctxT(t, 2*time.Second), v.ID(), RaftProtocol)
	if err == nil {
		s.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := s.Read(make([]byte, 1)); err == nil || errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "deadline") {
			t.Fatalf("voter did not reset an observer's raft stream: %v", err)
		}
	}
	if !strings.Contains(v.logs.String(), "observer may not open /medchain/raft/1") {
		t.Fatal("refusal not logged")
	}
	// The voter may open raft streams to the observer (replication), and the
	// observer may forward txs.
	c, err := v.RaftStreamLayer().Dial(o.RaftAddress(), 2*time.Second)
	if err != nil {
		t.Fatalf("voter to observer raft: %v", err)
	}
	c.Close()
}

func TestProtocolRoleTable(t *testing.T) {
	tests := []struct {
		proto string
		role  Role
		ok    bool
	}{
		{RaftProtocol, RoleVoter, true},
		{RaftProtocol, RoleObserver, false},
		{TxProtocol, RoleVoter, true},
		{TxProtocol, RoleObserver, true},
		{TxBatchProtocol, RoleVoter, true},
		{TxBatchProtocol, RoleObserver, true},
		{TxBatchProtocol, 0, false},
		{QueryProtocol, RoleVoter, true},
		{QueryProtocol, RoleObserver, true},
		{"/medchain/unknown/1", RoleVoter, false},
		{TxProtocol, 0, false},
	}
	for _, tt := range tests {
		err := permitted(protocolID(tt.proto), tt.role)
		if (err == nil) != tt.ok {
			t.Errorf("permitted(%s, %s) = %v, want ok=%v", tt.proto, tt.role, err, tt.ok)
		}
	}
}

func TestChangedNodeKeyForcesReauthentication(t *testing.T) {
	reg := &MemRegistry{}
	a := startNode(t, reg, nil, "a", 1, RoleVoter, nil)
	b := startNode(t, reg, nil, "b", 2, RoleVoter, nil)
	if _, err := a.Connect(ctxT(t, 5*time.Second), b.ID()); err != nil {
		t.Fatal(err)
	}
	// Governance rotates b's ML-DSA key on chain, but b still signs with the
	// old one: the change triggers a handshake that b can no longer pass.
	rotated := b.rec
	rotated.PublicKey = testKey(t, 42).Public()
	reg.Put(rotated)
	eventually(t, 3*time.Second, "node with a stale key disconnected", func() bool { return !connected(a, b) })
	if !strings.Contains(a.logs.String()+b.logs.String(), ErrBadSignature.Error()) {
		t.Fatal("bad signature not logged")
	}
}

func TestErrorStringIsBoundedValidUTF8(t *testing.T) {
	for _, in := range []string{"short", string(bytes.Repeat([]byte("é"), maxErrorLen)), "bad \xff utf8"} {
		s := errorString(errors.New(in))
		if len(s) > maxErrorLen || !utf8.ValidString(s) {
			t.Errorf("errorString(%q...) = %d bytes, valid %v", in[:5], len(s), utf8.ValidString(s))
		}
		if err := (&handshakeMsg{Type: msgResult, Error: s}).ValidateBasic(); err != nil {
			t.Error(err)
		}
	}
}
