package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/node/config"
)

// errInterrupted is openOrClose's error when the start was interrupted
// while the node was opening; errCloseAfterInterrupt is joined to it when
// closing what was opened failed.
var (
	errInterrupted         = errors.New("start interrupted")
	errCloseAfterInterrupt = errors.New("closing the node after the interrupt")
)

// openOrClose runs open (node.Open, which cannot be cancelled) and returns
// what it opened. If ctx ends first (a signal), it calls interrupted, waits
// for open to return, closes what it opened, and returns errInterrupted
// (with open's error, or errCloseAfterInterrupt and Close's, if any), so
// an interrupt never leaves the store, Raft or the listeners open.
func openOrClose[N interface{ Close() error }](ctx context.Context, open func() (N, error), interrupted func()) (N, error) {
	var zero N
	if ctx.Err() != nil {
		return zero, errInterrupted // nothing opened yet
	}
	type result struct {
		n   N
		err error
	}
	ch := make(chan result, 1)
	go func() {
		n, err := open()
		ch <- result{n, err}
	}()
	select {
	case r := <-ch:
		return r.n, r.err
	case <-ctx.Done():
	}
	interrupted()
	r := <-ch
	if r.err != nil {
		return zero, fmt.Errorf("%w (opening had failed: %w)", errInterrupted, r.err)
	}
	if err := r.n.Close(); err != nil {
		return zero, fmt.Errorf("%w: %w: %w", errInterrupted, errCloseAfterInterrupt, err)
	}
	return zero, errInterrupted
}

func newInit(g *globals) *cobra.Command {
	var opts node.InitOptions
	var alg string
	var ifMissing bool
	c := &cobra.Command{
		Use:   "init",
		Short: "Create a new chain and its first node in the data dir",
		Long: `init writes the node's and the first admin's ML-DSA keys (mode 0600), the
genesis, a config file and a single-voter Raft cluster into the data dir.
With --dev it also creates demo identities (doctor456, patient123,
epic_system, privacy_officer) with their keys, for the README quick start.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.DataDir = g.dataDir
			a, err := crypto.ParseAlgorithm(alg)
			if err != nil {
				return err
			}
			opts.Algorithm = a
			res, err := node.Init(opts)
			if errors.Is(err, node.ErrInitialized) && ifMissing {
				fmt.Fprintf(g.out, "Using the existing chain in %s\n", g.dataDir)
				return nil
			}
			if err != nil {
				return err
			}
			return g.print(res, func(w io.Writer) {
				fmt.Fprintf(w, "Initialized chain %q in %s\n  genesis  %s\n  config   %s\n  keys\n", res.ChainID, g.dataDir, res.Genesis, res.ConfigPath)
				ids := make([]string, 0, len(res.Keys))
				for id := range res.Keys {
					ids = append(ids, id)
				}
				slices.Sort(ids)
				for _, id := range ids {
					fmt.Fprintf(w, "    %-16s %s\n", id, res.Keys[id])
				}
				fmt.Fprintf(w, "Keep admin.key offline in production. Start the node with:\n  medchain start --data-dir %s\n", g.dataDir)
			})
		},
	}
	f := c.Flags()
	f.StringVar(&opts.ChainID, "chain-id", "", "chain id (default medchain-dev with --dev)")
	f.StringVar(&opts.NodeID, "node-id", "node-1", "this node's identity id")
	f.BoolVar(&opts.Dev, "dev", false, "add demo identities and their keys")
	f.StringVar(&alg, "alg", "ML-DSA-65", "signature algorithm: ML-DSA-44, ML-DSA-65 or ML-DSA-87")
	f.BoolVar(&ifMissing, "if-missing", false, "do nothing if the data dir already holds a chain")
	return c
}

func newStart(g *globals) *cobra.Command {
	var cfgPath string
	c := &cobra.Command{
		Use:   "start",
		Short: "Run the node in the data dir until interrupted",
		RunE: func(cmd *cobra.Command, args []string) error {
			// Signals are caught from here on, so SIGINT or SIGTERM while
			// node.Open runs closes what it opened (openOrClose) instead of
			// killing the process with Pebble, Raft and the listeners open.
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if cfgPath == "" {
				cfgPath = filepath.Join(g.dataDir, node.ConfigFile)
			}
			if _, err := os.Stat(cfgPath); err != nil {
				return fmt.Errorf("no config at %s: run medchain init --data-dir %s first (or pass --config)", cfgPath, g.dataDir)
			}
			cfg, err := config.Load(cfgPath, os.Environ())
			if err != nil {
				return err
			}
			if !cmd.Flags().Changed("data-dir") && os.Getenv("MEDCHAIN_NODE_DATA_DIR") == "" {
				cfg.Node.DataDir = filepath.Dir(cfgPath)
			} else {
				cfg.Node.DataDir = g.dataDir
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(cfg.Node.LogLevel)); err != nil {
				return err
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			n, err := openOrClose(ctx, func() (*node.Node, error) { return node.Open(cfg, node.Options{Logger: log}) }, func() {
				log.Info("interrupted while opening the node: it closes once open (interrupt again to quit at once)")
				stop() // a second signal takes its default action
			})
			if errors.Is(err, errInterrupted) {
				log.Info("interrupted while opening the node; what it opened is closed", "err", err)
				if errors.Is(err, errCloseAfterInterrupt) {
					return err
				}
				return nil
			}
			if err != nil {
				return err
			}
			if err := n.Listen(); err != nil {
				n.Close()
				return err
			}
			wait := 30 * time.Second
			if cfg.Consensus.Join {
				wait = 2 * time.Second // a joining node has no leader until it is admitted and added
			}
			rctx, cancel := context.WithTimeout(ctx, wait)
			rerr := n.WaitReady(rctx)
			cancel()
			if ctx.Err() != nil {
				log.Info("interrupted while starting; closing the node")
				return n.Close()
			}
			if rerr != nil {
				log.Warn("node is not ready yet; serving anyway", "err", rerr)
			}
			st := n.Status()
			url := n.RPCURL()
			self := os.Args[0]
			if !filepath.IsAbs(self) && !strings.Contains(self, "/") {
				self = "medchain" // found on PATH
			}
			if url != "https://127.0.0.1:8545" {
				self += " --rpc " + url
			}
			if cfg.Node.DataDir != ".medchain" {
				self += " --data-dir " + cfg.Node.DataDir
			}
			fmt.Fprintf(g.out, `
medchain node %[1]s is running on chain %[2]q (height %[3]d).
  JSON-RPC   %[4]s   (docs/RPC.md)
  health     %[4]s/healthz   metrics %[5]s/metrics
`, st.NodeID, st.ChainID, st.Height, url, url)
			if n.Gate() != nil {
				fmt.Fprintf(g.out, `  zero-trust gate ON: every call needs a session (ZEROTRUST_ENABLED=false turns it off, for dev only).
Log in (another terminal, from this directory; the dev admin's key is in %[2]s/keys).
Once, enrol admin in TOTP MFA: it prints the otpauth:// URI for an authenticator app, and
--save-secret (dev only) keeps the secret in %[2]s/totp so that mfa code makes the codes:
  %[1]s mfa enroll --as admin --save-secret
Then sign the node's challenge with admin's key and send the code:
  %[1]s login --as admin --totp $(%[1]s mfa code --as admin) --segment clinical
Then try:
  %[1]s tx audit --as doctor456 --patient patient123 --action view_record --purpose treatment
  %[1]s query trail --patient patient123
`, self, cfg.Node.DataDir)
			} else {
				fmt.Fprintf(g.out, `  zero-trust gate OFF: every call is served without a session (dev only; never on a node that serves clients).
Try it (another terminal, from this directory):
  %[1]s query head
  %[1]s tx audit --as doctor456 --patient patient123 --action view_record --purpose treatment
  %[1]s query trail --patient patient123
`, self)
			}
			fmt.Fprintf(g.out, "The README's quick start walks through the rest. Stop with Ctrl-C; the chain is kept in %s.\n", cfg.Node.DataDir)
			return n.Run(ctx)
		},
	}
	c.Flags().StringVar(&cfgPath, "config", "", "config file (default <data-dir>/medchain.toml)")
	return c
}

func newKeygen(g *globals) *cobra.Command {
	var out, alg string
	c := &cobra.Command{
		Use:   "keygen --out FILE",
		Short: "Generate an ML-DSA key (mode 0600) and print its public key",
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return fmt.Errorf("--out: name the key file to write")
			}
			a, err := crypto.ParseAlgorithm(alg)
			if err != nil {
				return err
			}
			k, err := crypto.GenerateKey(a, rand.Reader)
			if err != nil {
				return err
			}
			if err := crypto.SaveKey(out, k); err != nil {
				return err
			}
			pub := k.Public()
			if err := crypto.SavePublicKey(out+".pub", pub); err != nil {
				return err
			}
			return g.print(map[string]any{"file": out, "public_file": out + ".pub", "public_key": pub, "fingerprint": pub.Fingerprint()}, func(w io.Writer) {
				fmt.Fprintf(w, "Wrote %s key to %s (mode 0600) and its public half to %s.pub\n  fingerprint %s\n  public key  %s...\n", a, out, out, pub.Fingerprint(), hex.EncodeToString(pub.Key[:24]))
			})
		},
	}
	c.Flags().StringVar(&out, "out", "", "key file to write (refuses to overwrite)")
	c.Flags().StringVar(&alg, "alg", "ML-DSA-65", "ML-DSA-44, ML-DSA-65 or ML-DSA-87")
	return c
}

func newCerts(g *globals) *cobra.Command {
	var hosts []string
	c := &cobra.Command{
		Use:   "certs",
		Short: "Write dev TLS certificates (a local CA and a server certificate) into the data dir",
		Long: `certs writes a development PKI into <data-dir>/tls: a local CA (ca.crt, ca.key)
and a server certificate it signs for 127.0.0.1, ::1, localhost and any
--host, with ECDSA P-256 keys of mode 0600. The node serves HTTPS with them
(TLS 1.3 only, X25519MLKEM768 preferred); the CLI and the Go client trust
ca.crt from the data dir (or --ca). An existing CA is kept. init --dev runs
this for you. In production use certificates from your consortium's CA.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := node.DevCerts(g.dataDir, hosts...)
			if err != nil {
				return err
			}
			return g.print(res, func(w io.Writer) {
				fmt.Fprintf(w, "Wrote dev TLS certificates (valid until %s) for %s\n  CA      %s\n  cert    %s\n  key     %s (0600)\n",
					res.Expiry, strings.Join(res.Hosts, ", "), res.CA, res.Cert, res.Key)
			})
		},
	}
	c.Flags().StringSliceVar(&hosts, "host", nil, "extra host names or IPs for the server certificate")
	return c
}
