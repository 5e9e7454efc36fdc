package p2p

import (
	"bytes"
	"errors"
	"testing"
	"time"

	ci "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/medchain/medchain/chain/codec"
	"github.com/medchain/medchain/chain/crypto"
)

func testPeer(t testing.TB, seed byte) peer.ID {
	t.Helper()
	priv, _, err := ci.GenerateEd25519Key(bytes.NewReader(bytes.Repeat([]byte{seed}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// validMsgs returns one valid message of each type.
func validMsgs(t testing.TB) []handshakeMsg {
	k := testKey(t, 1)
	i, r := testPeer(t, 1), testPeer(t, 2)
	nonce := bytes.Repeat([]byte{1}, nonceSize)
	sess := &session{chainID: testChain, initiator: i, responder: r, initiatorNonce: nonce, responderNonce: bytes.Repeat([]byte{2}, nonceSize)}
	reply, err := sess.sign(k, roleResponder, msgReply, time.Unix(1700000000, 0), "b")
	if err != nil {
		t.Fatal(err)
	}
	fin, err := sess.sign(k, roleInitiator, msgFinish, time.Unix(1700000000, 0), "a")
	if err != nil {
		t.Fatal(err)
	}
	return []handshakeMsg{
		{Type: msgHello, ChainID: testChain, Initiator: []byte(i), Responder: []byte(r), Nonce: nonce, Time: 1700000000e9},
		reply,
		fin,
		{Type: msgResult},
		{Type: msgResult, Error: "p2p: node removed"},
	}
}

func TestHandshakeMsgValidateBasic(t *testing.T) {
	v := validMsgs(t)
	hello, reply, fin := v[0], v[1], v[2]
	tests := []struct {
		name string
		m    handshakeMsg
		ok   bool
	}{
		{"hello", hello, true},
		{"reply", reply, true},
		{"finish", fin, true},
		{"result", v[3], true},
		{"refusal", v[4], true},
		{"unknown type", handshakeMsg{Type: 9}, false},
		{"hello without chain", with(hello, func(m *handshakeMsg) { m.ChainID = "" }), false},
		{"hello short nonce", with(hello, func(m *handshakeMsg) { m.Nonce = m.Nonce[:8] }), false},
		{"hello bad peer id", with(hello, func(m *handshakeMsg) { m.Initiator = []byte("x") }), false},
		{"hello with signature", with(hello, func(m *handshakeMsg) { m.Sig = reply.Sig }), false},
		{"hello without time", with(hello, func(m *handshakeMsg) { m.Time = 0 }), false},
		{"reply without signature", with(reply, func(m *handshakeMsg) { m.Sig = nil }), false},
		{"reply truncated signature", with(reply, func(m *handshakeMsg) { m.Sig = &crypto.Signature{Algorithm: crypto.MLDSA65, Sig: m.Sig.Sig[:10]} }), false},
		{"reply without nonce", with(reply, func(m *handshakeMsg) { m.Nonce = nil }), false},
		{"reply without node id", with(reply, func(m *handshakeMsg) { m.NodeID = "" }), false},
		{"finish with nonce", with(fin, func(m *handshakeMsg) { m.Nonce = hello.Nonce }), false},
		{"result with time", handshakeMsg{Type: msgResult, Time: 1}, false},
		{"result with huge error", handshakeMsg{Type: msgResult, Error: string(make([]byte, maxErrorLen+1))}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.m.ValidateBasic()
			if (err == nil) != tt.ok {
				t.Fatalf("ValidateBasic = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrHandshake) {
				t.Fatalf("error %v does not wrap ErrHandshake", err)
			}
			b := codec.MustMarshal(tt.m)
			if _, err := decodeHandshakeMsg(b); (err == nil) != tt.ok {
				t.Fatalf("decode = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func with(m handshakeMsg, f func(*handshakeMsg)) handshakeMsg {
	if m.Sig != nil {
		s := *m.Sig
		m.Sig = &s
	}
	f(&m)
	return m
}

func TestTranscriptSignatureBindsEveryField(t *testing.T) {
	k := testKey(t, 1)
	i, r := testPeer(t, 1), testPeer(t, 2)
	reg := &MemRegistry{}
	reg.Put(NodeRecord{NodeID: "b", PeerID: r, PublicKey: k.Public(), Role: RoleVoter})
	now := time.Now()
	base := session{chainID: testChain, initiator: i, responder: r, initiatorNonce: bytes.Repeat([]byte{1}, nonceSize), responderNonce: bytes.Repeat([]byte{2}, nonceSize)}
	reply, err := base.sign(k, roleResponder, msgReply, now, "b")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := base.verify(reg, r, roleResponder, reply, now, time.Second); err != nil {
		t.Fatalf("valid transcript refused: %v", err)
	}
	tests := []struct {
		name string
		s    session
		role signerRole
		m    handshakeMsg
		want error
	}{
		{"other chain", with2(base, func(s *session) { s.chainID = "other" }), roleResponder, reply, ErrBadSignature},
		{"other initiator", with2(base, func(s *session) { s.initiator = testPeer(t, 3) }), roleResponder, reply, ErrBadSignature},
		{"other initiator nonce", with2(base, func(s *session) { s.initiatorNonce = bytes.Repeat([]byte{9}, nonceSize) }), roleResponder, reply, ErrBadSignature},
		{"other responder nonce", with2(base, func(s *session) { s.responderNonce = bytes.Repeat([]byte{9}, nonceSize) }), roleResponder, reply, ErrBadSignature},
		{"reflected role", base, roleInitiator, reply, ErrBadSignature},
		{"time changed", base, roleResponder, with(reply, func(m *handshakeMsg) { m.Time++ }), ErrBadSignature},
		{"time outside window", base, roleResponder, with(reply, func(m *handshakeMsg) { m.Time -= int64(2 * time.Second) }), ErrStale},
		{"node id not the registry's", base, roleResponder, with(reply, func(m *handshakeMsg) { m.NodeID = "a" }), ErrIdentityMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.s.verify(reg, r, tt.role, tt.m, now, time.Second); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func with2(s session, f func(*session)) session { f(&s); return s }

func TestNonceCacheRefusesReplayUntilExpiry(t *testing.T) {
	var c nonceCache
	now := time.Now()
	n1 := bytes.Repeat([]byte{1}, nonceSize)
	if err := c.add(n1, now, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := c.add(n1, now.Add(500*time.Millisecond), time.Second); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay within ttl: got %v", err)
	}
	if err := c.add(n1, now.Add(2*time.Second), time.Second); err != nil {
		t.Fatalf("after expiry (the timestamp window refuses it anyway): %v", err)
	}
}

func TestRegistryConformance(t *testing.T) {
	impls := map[string]func() (Registry, func(NodeRecord), func(peer.ID)){
		"MemRegistry": func() (Registry, func(NodeRecord), func(peer.ID)) {
			m := &MemRegistry{}
			return m, m.Put, func(p peer.ID) { m.Remove(p) }
		},
	}
	for name, mk := range impls {
		t.Run(name, func(t *testing.T) {
			reg, put, remove := mk()
			p := testPeer(t, 1)
			if _, err := reg.NodeByPeer(p); !errors.Is(err, ErrNotAdmitted) {
				t.Fatalf("unknown peer: got %v, want ErrNotAdmitted", err)
			}
			rec := NodeRecord{NodeID: "a", PeerID: p, PublicKey: testKey(t, 1).Public(), Role: RoleVoter, Addrs: []string{"/ip4/127.0.0.1/tcp/1"}}
			put(rec)
			got, err := reg.NodeByPeer(p)
			if err != nil || got.NodeID != "a" || got.PeerID != p || got.Removed {
				t.Fatalf("got %+v, %v", got, err)
			}
			got.Addrs[0] = "mutated"
			if again, _ := reg.NodeByPeer(p); again.Addrs[0] == "mutated" {
				t.Fatal("returned record shares memory with the registry")
			}
			if _, err := admit(reg, p); err != nil {
				t.Fatal(err)
			}
			remove(p)
			if _, err := admit(reg, p); !errors.Is(err, ErrRemoved) {
				t.Fatalf("removed: got %v, want ErrRemoved", err)
			}
		})
	}
}

func TestMemRegistryWatchReportsChanges(t *testing.T) {
	m := &MemRegistry{}
	var seen []peer.ID
	cancel := m.Watch(func(p peer.ID) { seen = append(seen, p) })
	p := testPeer(t, 1)
	m.Put(NodeRecord{NodeID: "a", PeerID: p, Role: RoleVoter})
	m.Remove(p)
	cancel()
	m.Put(NodeRecord{NodeID: "a", PeerID: p, Role: RoleVoter})
	if len(seen) != 2 || seen[0] != p || seen[1] != p {
		t.Fatalf("watch saw %v", seen)
	}
}

func FuzzDecodeHandshakeMsg(f *testing.F) {
	for _, m := range validMsgs(f) {
		f.Add(codec.MustMarshal(m))
	}
	f.Add([]byte{})
	f.Add([]byte{0xa1, 0x01, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeHandshakeMsg(b)
		if err != nil {
			return
		}
		// Anything accepted re-encodes to a message that is accepted again
		// and is byte-for-byte canonical.
		again := codec.MustMarshal(m)
		m2, err := decodeHandshakeMsg(again)
		if err != nil {
			t.Fatalf("re-encoded message refused: %v", err)
		}
		if !bytes.Equal(codec.MustMarshal(m2), again) {
			t.Fatal("encoding is not stable")
		}
	})
}

func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{0, 0, 0, 2, 'h', 'i'}, 16)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, 1024)
	f.Fuzz(func(t *testing.T, b []byte, limit int) {
		if limit < 0 || limit > maxFrameLimit {
			return
		}
		got, err := readFrame(bytes.NewReader(b), limit)
		if err == nil && len(got) > limit {
			t.Fatalf("frame of %d bytes over limit %d", len(got), limit)
		}
	})
}
