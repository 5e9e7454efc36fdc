package p2p

import (
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
)

func TestConfigValidate(t *testing.T) {
	good := TestConfig("c", "n")
	tests := []struct {
		name   string
		mutate func(*Config)
		want   []string // substrings that must all be reported
	}{
		{"test config is valid", func(*Config) {}, nil},
		{"default config needs ids", func(c *Config) { *c = DefaultConfig() }, []string{"ChainID", "NodeID"}},
		{"bad listen addr", func(c *Config) { c.ListenAddrs = []string{"127.0.0.1:80"} }, []string{"ListenAddrs"}},
		{"no listen addr", func(c *Config) { c.ListenAddrs = nil }, []string{"ListenAddrs"}},
		{"every bad field at once", func(c *Config) {
			c.HandshakeTimeout = 0
			c.ClockSkew = -1
			c.MaxTxBytes = 0
			c.TxTimeout = 0
			c.BootstrapPeers = []string{"nope"}
		}, []string{"HandshakeTimeout", "ClockSkew", "MaxTxBytes", "TxTimeout", "BootstrapPeers"}},
		{"reauth shorter than two handshakes", func(c *Config) { c.ReauthInterval = c.HandshakeTimeout }, []string{"ReauthInterval"}},
		{"huge tx limit", func(c *Config) { c.MaxTxBytes = 1 << 30 }, []string{"MaxTxBytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.mutate(&c)
			err := c.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("got %v, want ErrConfig", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %s", err, w)
				}
			}
		})
	}
	if d := DefaultConfig(); d.ReauthInterval != 300*time.Second || !d.RequirePostQuantum || !strings.HasPrefix(d.ListenAddrs[0], "/ip4/127.0.0.1/") {
		t.Errorf("defaults changed: %+v", d)
	}
}

func TestIdentityKeyIsPersistedPrivately(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "p2p.key")
	k1, err := LoadOrCreateIdentity(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %04o, want 0600", st.Mode().Perm())
	}
	k2, err := LoadOrCreateIdentity(path)
	if err != nil {
		t.Fatal(err)
	}
	if !k1.Equals(k2) {
		t.Fatal("reloaded key differs")
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateIdentity(path); !errors.Is(err, ErrIdentityFile) {
		t.Fatalf("world-readable key: got %v, want ErrIdentityFile", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.key")
	os.WriteFile(bad, []byte("not a key"), 0o600)
	if _, err := LoadOrCreateIdentity(bad); !errors.Is(err, ErrIdentityFile) {
		t.Fatalf("garbage key: got %v, want ErrIdentityFile", err)
	}
}

// TestTCPConnectionNegotiatesX25519MLKEM768 dials a real TCP connection
// between two hosts and reads the key-exchange group from the TLS connection
// state, which the security transport captures on both sides.
func TestTCPConnectionNegotiatesX25519MLKEM768(t *testing.T) {
	for _, transport := range []string{"tcp", "quic-v1"} {
		t.Run(transport, func(t *testing.T) {
			reg := &MemRegistry{}
			a := startNode(t, reg, nil, "a", 1, RoleVoter, nil)
			b := startNode(t, reg, nil, "b", 2, RoleVoter, nil)
			if err := a.Host().Connect(ctxT(t, 5*time.Second), addrInfo(b, transport)); err != nil {
				t.Fatal(err)
			}
			conns := a.Host().Network().ConnsToPeer(b.ID())
			if len(conns) != 1 {
				t.Fatalf("%d connections", len(conns))
			}
			st := conns[0].ConnState()
			if !strings.Contains(conns[0].RemoteMultiaddr().String(), "/"+transport) {
				t.Fatalf("connection is over %s", conns[0].RemoteMultiaddr())
			}
			if transport == "tcp" && st.Security != libp2ptls.ID {
				t.Fatalf("security %q, want %q", st.Security, libp2ptls.ID)
			}
			for _, side := range []struct {
				n    *testNode
				peer *testNode
			}{{a, b}, {b, a}} {
				var curve tls.CurveID
				var ok bool
				eventually(t, 2*time.Second, "curve observed", func() bool {
					curve, ok = side.n.NegotiatedCurve(side.peer.ID())
					return ok
				})
				if curve != tls.X25519MLKEM768 {
					t.Fatalf("%s negotiated %v, want X25519MLKEM768", side.n.cfg.NodeID, curve)
				}
			}
			eventually(t, 5*time.Second, "mutual authentication", func() bool {
				_, ab := a.Authenticated(b.ID())
				_, ba := b.Authenticated(a.ID())
				return ab && ba
			})
			t.Logf("%s: security %s, muxer %s, key exchange %v", transport, st.Security, st.StreamMultiplexer, tls.X25519MLKEM768)
		})
	}
}

func TestClassicalKeyExchangeIsRefused(t *testing.T) {
	tests := []struct {
		curve   tls.CurveID
		require bool
		want    error
	}{
		{tls.X25519MLKEM768, true, nil},
		{tls.X25519, true, ErrNotPostQuantum},
		{tls.CurveP256, true, ErrNotPostQuantum},
		{0, true, ErrNotPostQuantum},
		{tls.X25519, false, nil},
	}
	for _, tt := range tests {
		if err := checkCurve(tt.curve, tt.require); !errors.Is(err, tt.want) && !(err == nil && tt.want == nil) {
			t.Errorf("checkCurve(%v, %v) = %v, want %v", tt.curve, tt.require, err, tt.want)
		}
	}
}
