package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/store"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/chain/verify"
	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/node/client"
)

func newVerify(g *globals) *cobra.Command {
	var opts verify.Options
	var offline bool
	c := &cobra.Command{
		Use:   "verify",
		Short: "Verify the whole chain: links, signatures, roots, log, index and state",
		Long: `verify re-derives the chain from its genesis and reports every fault with its
height: broken hash links, bad header or tx signatures, tx roots, results,
log roots and stored log nodes, tx index entries, and state that differs from
re-execution. By default a running node verifies itself (--rpc); with
--offline this process opens the data dir of a stopped node.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			g.out = cmd.OutOrStdout()
			bar := progressbar.NewOptions64(-1, progressbar.OptionSetDescription("verifying blocks"),
				progressbar.OptionSetWriter(os.Stderr), progressbar.OptionShowCount(), progressbar.OptionThrottle(100e6),
				progressbar.OptionClearOnFinish(), progressbar.OptionSetVisibility(isTerminal(os.Stderr)))
			progress := func(done, total uint64) {
				if bar.GetMax64() != int64(total) {
					bar.ChangeMax64(int64(total))
				}
				bar.Set64(int64(done))
			}
			var rep *verify.Report
			var err error
			if offline {
				rep, err = verifyOffline(g.dataDir, opts, progress)
			} else {
				err = g.withClient(func(ctx context.Context, c *client.Client) error {
					rep, err = c.Verify(ctx, opts, progress)
					return err
				})
			}
			bar.Finish()
			if err != nil {
				return err
			}
			if err := g.print(rep, func(w io.Writer) { printReport(w, rep) }); err != nil {
				return err
			}
			if !rep.OK {
				return fmt.Errorf("the chain failed verification: %d faults", len(rep.Faults))
			}
			return nil
		},
	}
	f := c.Flags()
	f.Uint64Var(&opts.From, "from", 0, "first height (default: genesis, with state re-execution)")
	f.Uint64Var(&opts.To, "to", 0, "last height (default: head)")
	f.BoolVar(&opts.Signatures, "signatures", true, "re-check every tx signature")
	f.BoolVar(&offline, "offline", false, "verify the data dir directly (the node must be stopped)")
	c.PreRun = func(*cobra.Command, []string) {
		if g.timeout < 3600e9 {
			g.timeout = 3600e9 // verification of a large chain takes a while
		}
	}
	return c
}

func verifyOffline(dataDir string, opts verify.Options, progress func(done, total uint64)) (*verify.Report, error) {
	dir := filepath.Join(dataDir, "chain")
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("no chain at %s: %w", dir, err)
	}
	st, err := store.Open(dir, store.DefaultOptions())
	if err != nil {
		return nil, fmt.Errorf("open %s (is the node still running? stop it or drop --offline): %w", dir, err)
	}
	defer st.Close()
	return verify.Verify(context.Background(), st, opts, progress)
}

func printReport(w io.Writer, r *verify.Report) {
	verdict := "OK"
	if !r.OK {
		verdict = "FAILED"
	}
	fmt.Fprintf(w, "Chain verification %s: blocks %d..%d (%d blocks, %d txs) in %.2fs, %.0f tx/s\n", verdict, r.From, r.To, r.Blocks, r.Txs, r.Seconds, r.TxsPerSec)
	for _, c := range r.Checked {
		fmt.Fprintf(w, "  checked: %s\n", c)
	}
	if r.Redacted > 0 {
		fmt.Fprintf(w, "  redacted txs (pseudonymized): %d; checked as attested by the proposer only (key erased or not available): %d\n", r.Redacted, r.AttestedOnly)
	}
	if r.Pruned > 0 {
		fmt.Fprintf(w, "  sealed payloads pruned under the retention policy (their hash checked, their signature attested): %d\n", r.Pruned)
	}
	for _, f := range r.Faults {
		where := fmt.Sprintf("height %d", f.Height)
		if f.Height == 0 {
			where = "state"
		}
		fmt.Fprintf(w, "  FAULT at %s: %s\n", where, f.What)
	}
}

func newProof(g *globals) *cobra.Command {
	var height, from, to uint64
	var genesisFile string
	c := &cobra.Command{
		Use:   "proof TXHASH | proof --from H1 [--to H2]",
		Short: "Fetch and check an inclusion (or consistency) proof against signed headers",
		Long: `proof fetches an RFC 6962 inclusion proof of a tx in the global log and checks
it here, without trusting the node: the proof against the header's log root,
and the header's ML-DSA signature against the proposer's key taken from the
genesis file (--genesis, default <data-dir>/genesis.json). With --from it
checks a consistency proof between the logs committed at two heights.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if genesisFile == "" {
				genesisFile = filepath.Join(g.dataDir, node.GenesisFile)
			}
			gen, err := state.LoadGenesis(genesisFile)
			if err != nil {
				return fmt.Errorf("trusted keys: %w (pass --genesis)", err)
			}
			keyOf := func(id string) (crypto.PublicKey, error) {
				for _, i := range gen.Identities {
					if i.ID == id {
						return i.PublicKey, nil
					}
				}
				return crypto.PublicKey{}, fmt.Errorf("proposer %q is not in the genesis file; its key cannot be checked", id)
			}
			return g.withClient(func(ctx context.Context, c *client.Client) error {
				if from > 0 {
					p, err := c.Consistency(ctx, from, to)
					if err != nil {
						return err
					}
					k1, err := keyOf(p.From.Proposer)
					if err != nil {
						return err
					}
					k2, err := keyOf(p.To.Proposer)
					if err != nil {
						return err
					}
					if err := client.VerifyConsistency(p, k1, k2); err != nil {
						return err
					}
					return g.print(p, func(w io.Writer) {
						fmt.Fprintf(w, "Consistency proof VERIFIED: the log at height %d (size %d) extends the log at height %d (size %d), %d hashes, both headers signed\n",
							p.To.Height, p.ToSize, p.From.Height, p.FromSize, len(p.Proof))
					})
				}
				if len(args) != 1 {
					return fmt.Errorf("give a tx hash, or --from for a consistency proof")
				}
				h, err := types.ParseHash(args[0])
				if err != nil {
					return err
				}
				p, err := c.Proof(ctx, h, height)
				if err != nil {
					return err
				}
				k, err := keyOf(p.Header.Proposer)
				if err != nil {
					return err
				}
				if err := client.VerifyInclusion(p, k); err != nil {
					return err
				}
				return g.print(p, func(w io.Writer) {
					fmt.Fprintf(w, "Inclusion proof VERIFIED: tx %s is leaf %d of the log of size %d committed by block %d (%d hashes), signed by %s\n",
						h, p.LeafIndex, p.LogSize, p.Header.Height, len(p.Proof), p.Header.Proposer)
				})
			})
		},
	}
	f := c.Flags()
	f.Uint64Var(&height, "height", 0, "prove against this height's header (default head)")
	f.Uint64Var(&from, "from", 0, "consistency proof: from this height")
	f.Uint64Var(&to, "to", 0, "consistency proof: to this height (default head)")
	f.StringVar(&genesisFile, "genesis", "", "genesis file with the trusted node keys")
	return c
}
