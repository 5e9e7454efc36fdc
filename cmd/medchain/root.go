package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/node/client"
)

// globals are the flags every command shares.
type globals struct {
	rpcURL  string
	dataDir string
	caFile  string
	json    bool
	timeout time.Duration
	out     io.Writer
	// as is the identity whose session calls the node (--as); keyFile its
	// key (default <data-dir>/keys/<as>.key).
	as, keyFile string
	// totpFile holds the TOTP secret (--totp-file) of totpOwner, the
	// identity the command's flags named before a tx command's own --as
	// (a signer) could change g.as: the file is never used for another.
	totpFile, totpOwner string
}

func newRoot() *cobra.Command {
	g := &globals{out: os.Stdout}
	root := &cobra.Command{
		Use:   "medchain",
		Short: "medchain: a permissioned ledger for healthcare consortia",
		Long: `medchain keeps an immutable, verifiable audit trail of access to patient
records, patient consents and the identities allowed to act, replicated by
Raft and signed with post-quantum ML-DSA keys.

Start a dev ledger:  medchain init --dev && medchain start
Then try:            medchain query head`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentPreRun = func(cmd *cobra.Command, args []string) { g.totpOwner = g.sessionIdentity() }
	pf := root.PersistentFlags()
	pf.StringVar(&g.rpcURL, "rpc", envOr("MEDCHAIN_RPC", "https://127.0.0.1:8545"), "JSON-RPC URL of a node (env MEDCHAIN_RPC)")
	pf.StringVar(&g.dataDir, "data-dir", envOr("MEDCHAIN_NODE_DATA_DIR", ".medchain"), "node data dir (keys, genesis, chain)")
	pf.StringVar(&g.caFile, "ca", envOr("MEDCHAIN_CA", ""), "CA certificate that signs the node's TLS certificate (default <data-dir>/tls/ca.crt; env MEDCHAIN_CA)")
	pf.BoolVar(&g.json, "json", false, "print JSON instead of text")
	pf.DurationVar(&g.timeout, "timeout", 60*time.Second, "give up on a node call after this long")
	pf.StringVar(&g.as, "as", envOr("MEDCHAIN_AS", ""), "identity whose session calls the node (default: the last medchain login, else the dev admin of the data dir; env MEDCHAIN_AS)")
	pf.StringVar(&g.keyFile, "key", "", "key file of the --as identity (default <data-dir>/keys/<as>.key)")
	pf.StringVar(&g.totpFile, "totp-file", envOr("MEDCHAIN_TOTP_FILE", ""), "file holding the identity's TOTP secret, to make MFA codes (default <data-dir>/totp/<id>.secret if mfa enroll --save-secret wrote it; env MEDCHAIN_TOTP_FILE)")
	root.AddCommand(newInit(g), newStart(g), newCerts(g), newKeygen(g), newTx(g), newQuery(g), newVerify(g), newProof(g), newBench(g), newContract(g), newCluster(g), newJoin(g))
	root.AddCommand(newCrypto(g), newPatient(g), newCompliance(g))
	root.AddCommand(newLogin(g), newLogout(g), newMFA(g), newPentest(g))
	return root
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func (g *globals) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), g.timeout)
}

func (g *globals) dial(ctx context.Context) (*client.Client, error) {
	opts := g.clientOptions()
	lo, err := g.loginOption(client.Login{})
	if err != nil {
		return nil, err
	}
	if lo != nil {
		opts = append(opts, lo)
	}
	c, err := client.Dial(ctx, g.rpcURL, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w\n  is a node running? start one with: medchain start (or make run)", err)
	}
	return c, nil
}

// clientOptions trust --ca, else the data dir's dev CA when it exists.
func (g *globals) clientOptions() []client.Option {
	ca := g.caFile
	if ca == "" {
		ca = filepath.Join(g.dataDir, node.CACertFile)
		if _, err := os.Stat(ca); err != nil {
			return nil // system roots (or plain http://)
		}
	}
	return []client.Option{client.WithCAFile(ca)}
}

// signerKey loads the key of identity id: keyFile if set, else the data
// dir's keys/<id>.key (where medchain init --dev puts the demo keys).
func (g *globals) signerKey(id, keyFile string) (*crypto.PrivateKey, error) {
	if id == "" {
		return nil, fmt.Errorf("--as: name the identity that signs (e.g. --as doctor456)")
	}
	if keyFile == "" {
		keyFile = filepath.Join(g.dataDir, "keys", id+".key")
	}
	k, err := crypto.LoadKey(keyFile)
	if err != nil {
		return nil, fmt.Errorf("key of %q: %w (pass --key FILE)", id, err)
	}
	return k, nil
}

// print writes v as JSON with --json, else calls text.
func (g *globals) print(v any, text func(w io.Writer)) error {
	if g.json {
		enc := json.NewEncoder(g.out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	text(g.out)
	return nil
}

// isTerminal reports whether f is a terminal: progress bars are drawn only
// there, so piped output stays clean.
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func ms(t int64) string {
	if t == 0 {
		return "-"
	}
	return time.UnixMilli(t).UTC().Format(time.RFC3339)
}
