package node_test

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"

	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/node/nodetest"
)

func devCAPool(t *testing.T, dataDir string) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(filepath.Join(dataDir, node.CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("dev CA is not PEM")
	}
	return pool
}

// TestRPCNegotiatesTLS13WithHybridPostQuantumKeyExchange dials the RPC
// listener of a running node and checks what a real handshake agreed.
func TestRPCNegotiatesTLS13WithHybridPostQuantumKeyExchange(t *testing.T) {
	n := nodetest.Start(t, nil)
	pool := devCAPool(t, n.Config.Node.DataDir)
	conn, err := tls.Dial("tcp", n.RPCAddr(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	st := conn.ConnectionState()
	if st.Version != tls.VersionTLS13 {
		t.Errorf("negotiated %s, want TLS 1.3", tls.VersionName(st.Version))
	}
	if st.CurveID != tls.X25519MLKEM768 {
		t.Errorf("key exchange %s, want X25519MLKEM768", st.CurveID)
	}

	// A client limited to TLS 1.2 is refused.
	if c, err := tls.Dial("tcp", n.RPCAddr(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MaxVersion: tls.VersionTLS12}); err == nil {
		c.Close()
		t.Error("a TLS 1.2 client completed a handshake")
	}
	// A client that does not trust the dev CA is refused.
	if c, err := tls.Dial("tcp", n.RPCAddr(), &tls.Config{ServerName: "127.0.0.1"}); err == nil {
		c.Close()
		t.Error("a client without the dev CA verified the server certificate")
	}
}

func TestDevCertsKeysArePrivateAndCAIsReused(t *testing.T) {
	dir := t.TempDir()
	r1, err := node.DevCerts(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{r1.Key, filepath.Join(dir, "tls", "ca.key")} {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, st.Mode().Perm())
		}
	}
	ca1, _ := os.ReadFile(r1.CA)
	if _, err := node.DevCerts(dir); err != nil {
		t.Fatal(err)
	}
	ca2, _ := os.ReadFile(r1.CA)
	if string(ca1) != string(ca2) {
		t.Error("a second DevCerts replaced the CA: clients that trusted it would break")
	}
	// The server certificate verifies against the CA for 127.0.0.1 and localhost.
	pair, err := tls.LoadX509KeyPair(r1.Cert, r1.Key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(pair.Certificate[0])
	for _, h := range []string{"127.0.0.1", "localhost", "::1"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: devCAPool(t, dir), DNSName: h}); err != nil {
			t.Errorf("%s: %v", h, err)
		}
	}
}
