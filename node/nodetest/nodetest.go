package nodetest

import (
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/node/client"
	"github.com/medchain/medchain/node/config"
)

// Node is a running in-process node with a client.
type Node struct {
	*node.Node
	Config config.Config
	Client *client.Client
	URL    string
	cancel context.CancelFunc
	done   chan error

	// keyDir holds the dev identities' keys: the data dir's keys/, or for
	// a node that joined a cluster, the keys of the node that created it.
	keyDir string
	// secretDir holds the TOTP secrets nodetest enrolled: the data dir, or
	// for a cluster's node the cluster's dir.
	secretDir string
}

// Start initializes a dev chain (node.InitOptions{Dev: true}) in a temp dir
// and starts a node on it; the test's cleanup stops it. configure, if not
// nil, adjusts the config before init.
func Start(t testing.TB, configure func(*config.Config)) *Node {
	t.Helper()
	return StartWith(t, configure, node.Options{})
}

// StartWith is Start with node options (the transport and logger are the
// harness's own).
func StartWith(t testing.TB, configure func(*config.Config), opts node.Options) *Node {
	t.Helper()
	cfg := config.DefaultConfig()
	cfg.Node.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.RPC.Listen = "127.0.0.1:0"
	cfg.Consensus.MaxBlockDelay = config.Duration(2 * time.Millisecond)
	cfg.Store.CacheMB = 16
	allowTestLoad(&cfg)
	if configure != nil {
		configure(&cfg)
	}
	if _, err := node.Init(node.InitOptions{DataDir: cfg.Node.DataDir, Dev: true, Config: &cfg, Algorithm: crypto.MLDSA65}); err != nil {
		t.Fatalf("init: %v", err)
	}
	return restart(t, cfg, opts)
}

// allowTestLoad lets tests open many sessions of one identity and load the
// node through the gate (the pentest and gate tests set production limits
// back in their configure function).
func allowTestLoad(c *config.Config) {
	c.ZeroTrust.MaxSessionsPerIdentity = 256
	c.ZeroTrust.AdminPerMinute, c.ZeroTrust.UserPerMinute, c.ZeroTrust.Burst = 10_000_000, 10_000_000, 1_000_000
}

// Restart starts a node on an existing data dir.
func Restart(t testing.TB, cfg config.Config) *Node {
	t.Helper()
	return restart(t, cfg, node.Options{})
}

func restart(t testing.TB, cfg config.Config, opts node.Options) *Node {
	t.Helper()
	_, trans := raft.NewInmemTransport(raft.ServerAddress(cfg.Consensus.RaftListen))
	opts.Transport = trans
	opts.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	n, err := node.Open(cfg, opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if err := n.Listen(); err != nil {
		n.Close()
		t.Fatalf("listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tn := &Node{Node: n, Config: cfg, URL: n.RPCURL(), cancel: cancel, done: make(chan error, 1)}
	go func() { tn.done <- n.Run(ctx) }()
	rctx, rcancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer rcancel()
	if err := n.WaitReady(rctx); err != nil {
		tn.Stop()
		t.Fatal(err)
	}
	c, err := client.Dial(rctx, tn.URL, tn.ClientOptions()...)
	if err != nil {
		tn.Stop()
		t.Fatal(err)
	}
	tn.Client = c
	t.Cleanup(func() { tn.Stop() })
	return tn
}

// Stop closes the client and the node and waits for it; calling it twice is fine.
func (n *Node) Stop() error {
	if n.cancel == nil {
		return nil
	}
	if n.Client != nil {
		n.Client.Close()
	}
	n.cancel()
	n.cancel = nil
	return <-n.done
}

// ClientOptions are the client.Dial options that reach this node: trust
// of its data dir's dev CA and, with the gate on, a session of GateIdentity
// (enrolled in MFA, codes made when a segment needs them).
func (n *Node) ClientOptions() []client.Option {
	opts := n.tlsOptions()
	if n.Gate() != nil {
		if key, err := n.loadKey(GateIdentity); err == nil {
			opts = append(opts, client.WithLogin(client.Login{Identity: GateIdentity, Key: key, DeviceKeyID: "nodetest", TOTPCode: n.codeFunc(GateIdentity)}))
		}
	}
	return opts
}

// LoginOptions are ClientOptions with a session of identity id instead
// (without MFA: see SessionOptions for a session that may need it).
func (n *Node) LoginOptions(t testing.TB, id string) []client.Option {
	return append(n.tlsOptions(), client.WithLogin(client.Login{Identity: id, Key: n.Key(t, id)}))
}

// tlsOptions trust the node's dev CA (nothing over plain HTTP).
func (n *Node) tlsOptions() []client.Option {
	if n.Config.RPC.InsecureHTTP {
		return nil
	}
	return []client.Option{client.WithCAFile(n.caFile())}
}

func (n *Node) caFile() string { return n.Config.Path(node.CACertFile) }

func (n *Node) loadKey(id string) (*crypto.PrivateKey, error) {
	dir := n.keyDir
	if dir == "" {
		dir = filepath.Join(n.Config.Node.DataDir, node.KeysDir)
	}
	return crypto.LoadKey(filepath.Join(dir, id+".key"))
}

// HTTPClient returns an HTTP client that trusts this node's dev CA, for raw
// JSON-RPC requests.
func (n *Node) HTTPClient(t testing.TB) *http.Client {
	t.Helper()
	var opts []client.Option
	if !n.Config.RPC.InsecureHTTP {
		opts = append(opts, client.WithCAFile(n.caFile()))
	}
	hc, err := client.HTTPClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return hc
}

// Key loads the dev key of identity id.
func (n *Node) Key(t testing.TB, id string) *crypto.PrivateKey {
	t.Helper()
	k, err := n.loadKey(id)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Signer returns a client signer for dev identity id.
func (n *Node) Signer(t testing.TB, id string) *client.Signer {
	return n.Client.Signer(id, n.Key(t, id))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
