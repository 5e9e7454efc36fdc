package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/node/client"
	"github.com/medchain/medchain/node/rpc"
)

func newContract(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "contract", Short: "Access contracts: create from terms, deploy rules, execute, simulate, review (docs/CONTRACTS.md)"}
	c.AddCommand(newContractCreate(g), newContractDeploy(g), newContractUpgrade(g), newContractRetire(g), newContractGet(g),
		newContractExecute(g), newContractSimulate(g), newContractExecutions(g), newContractReviews(g), newContractReview(g))
	return c
}

// readJSONArg returns s, or the contents of the file when s is @FILE.
func readJSONArg(flag, s string) ([]byte, error) {
	if name, ok := strings.CutPrefix(s, "@"); ok {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", flag, err)
		}
		return b, nil
	}
	return []byte(s), nil
}

// signAndCall signs p as s.as and hands the tx to call.
func (g *globals) signAndCall(s *signerFlags, p types.Payload, call func(ctx context.Context, c *client.Client, tx *types.Tx) error) error {
	key, err := g.signerKey(s.as, s.key)
	if err != nil {
		return err
	}
	g.as, g.keyFile = s.as, s.key
	return g.withClient(func(ctx context.Context, c *client.Client) error {
		tx, err := c.Signer(s.as, key).Build(p)
		if err != nil {
			return err
		}
		return call(ctx, c, tx)
	})
}

func (g *globals) deployTx(s *signerFlags, p types.Payload) error {
	return g.signAndCall(s, p, func(ctx context.Context, c *client.Client, tx *types.Tx) error {
		r, err := c.DeployContract(ctx, tx)
		if err != nil {
			return err
		}
		return g.print(r, func(w io.Writer) {
			fmt.Fprintf(w, "%s tx %s committed at height %d\n", tx.Type, r.Receipt.TxHash, r.Receipt.Height)
			if rec := r.Contract; rec != nil {
				fmt.Fprintf(w, "  contract %s version %d (%s), owner %s, cost estimate %d", rec.ID, rec.Version, rec.VersionHash, rec.Owner, rec.CostEstimate)
				if rec.Retired {
					fmt.Fprint(w, ", retired")
				}
				fmt.Fprintln(w)
			}
		})
	})
}

func newContractCreate(g *globals) *cobra.Command {
	var s signerFlags
	var p rpc.CreateParams
	var termsArg string
	var dry bool
	c := &cobra.Command{
		Use:   "create --id ID --template NAME --terms JSON|@FILE",
		Short: "Build a contract from a template and its terms (the seed's create_smart_contract) and deploy it",
		Long: `Build a contract from a standard template (terms, break-glass, research, quota)
and its terms with contract_create, show its rules and cost estimate, then sign
the deploy as --as and send it with contract_deploy (unless --dry-run).

  medchain contract create --id contract123 --owner patient123 --template terms \
    --terms '{"allowed_actions":["read"],"authorized_parties":["doctor456"],
              "allowed_purposes":["treatment"],"expiration":"2027-12-31T23:59:59Z"}'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if termsArg != "" {
				b, err := readJSONArg("terms", termsArg)
				if err != nil {
					return err
				}
				p.Terms = b
			}
			if p.Owner == "" {
				p.Owner = s.as
			}
			var built *rpc.CreateResult
			err := g.withClient(func(ctx context.Context, c *client.Client) error {
				var err error
				built, err = c.CreateContract(ctx, p)
				return err
			})
			if err != nil {
				return err
			}
			if dry || g.json {
				if err := g.print(built, func(w io.Writer) { printContract(w, built) }); err != nil || dry {
					return err
				}
			} else {
				printContract(g.out, built)
			}
			return g.deployTx(&s, &built.Deploy)
		},
	}
	s.add(c, "admin")
	f := c.Flags()
	f.StringVar(&p.ID, "id", "", "contract id")
	f.StringVar(&p.Owner, "owner", "", "identity that owns the contract (default: the signer)")
	f.StringVar(&p.Template, "template", "terms", "terms, break-glass, research or quota")
	f.StringVar(&termsArg, "terms", "", "the template's terms as a JSON object, or @FILE")
	f.BoolVar(&dry, "dry-run", false, "build and show the contract; deploy nothing")
	return c
}

func printContract(w io.Writer, r *rpc.CreateResult) {
	fmt.Fprintf(w, "contract %s (owner %s), version hash %s, cost estimate %d\n", r.Contract.ID, r.Contract.Owner, r.VersionHash, r.CostEstimate)
	for _, rule := range r.Contract.Rules {
		fmt.Fprintf(w, "  %-5s %-24s %s\n", rule.Effect, rule.Name, strings.Join(strings.Fields(rule.Condition), " "))
	}
	for _, e := range r.Contract.Effects {
		fmt.Fprintf(w, "  state %-24s %s\n", e.Key, strings.Join(strings.Fields(e.Expression), " "))
	}
}

// readSource reads a contract source from a JSON file:
// {"template": ..., "params": {...}} or {"rules": [...], "effects": [...], "params": {...}}.
func readSource(file string) (types.ContractSource, error) {
	var src types.ContractSource
	if file == "" {
		return src, fmt.Errorf("--file: name a JSON file with rules (and effects, params) or a template and params")
	}
	b, err := readJSONArg("file", "@"+strings.TrimPrefix(file, "@"))
	if err != nil {
		return src, err
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&src); err != nil {
		return src, fmt.Errorf("--file %s: %w", file, err)
	}
	return src, src.ValidateBasic()
}

func newContractDeploy(g *globals) *cobra.Command {
	var s signerFlags
	var p types.ContractDeploy
	var file string
	c := &cobra.Command{
		Use:   "deploy --id ID --file RULES.json",
		Short: "Deploy a contract written in CEL (rules, effects, params) from a JSON file",
		RunE: func(cmd *cobra.Command, args []string) error {
			src, err := readSource(file)
			if err != nil {
				return err
			}
			p.Source = src
			return g.deployTx(&s, &p)
		},
	}
	s.add(c, "admin")
	c.Flags().StringVar(&p.ID, "id", "", "contract id")
	c.Flags().StringVar(&p.Owner, "owner", "", "identity that owns the contract (default: the signer)")
	c.Flags().StringVar(&file, "file", "", `JSON: {"rules": [{"name", "effect", "condition", "flags"}], "effects": [{"key", "expression"}], "params": {}}`)
	return c
}

func newContractUpgrade(g *globals) *cobra.Command {
	var s signerFlags
	var p types.ContractUpgrade
	var file string
	c := &cobra.Command{
		Use:   "upgrade --id ID --file RULES.json",
		Short: "Deploy the next version of a contract (earlier versions stay on chain)",
		RunE: func(cmd *cobra.Command, args []string) error {
			src, err := readSource(file)
			if err != nil {
				return err
			}
			p.Source = src
			if p.Version == 0 {
				err := g.withClient(func(ctx context.Context, c *client.Client) error {
					v, err := c.Contract(ctx, p.ContractID, 0)
					if err == nil {
						p.Version = v.Record.Version + 1
					}
					return err
				})
				if err != nil {
					return err
				}
			}
			return g.deployTx(&s, &p)
		},
	}
	s.add(c, "admin")
	c.Flags().StringVar(&p.ContractID, "id", "", "contract id")
	c.Flags().Uint64Var(&p.Version, "version", 0, "the new version (default: current + 1)")
	c.Flags().StringVar(&p.Reason, "reason", "", "why")
	c.Flags().StringVar(&file, "file", "", "JSON source, as for deploy")
	return c
}

func newContractRetire(g *globals) *cobra.Command {
	var s signerFlags
	var p types.ContractRetire
	c := &cobra.Command{
		Use:   "retire --id ID",
		Short: "Retire a contract: it executes no more",
		RunE:  func(cmd *cobra.Command, args []string) error { return g.deployTx(&s, &p) },
	}
	s.add(c, "admin")
	c.Flags().StringVar(&p.ContractID, "id", "", "contract id")
	c.Flags().StringVar(&p.Reason, "reason", "", "why")
	return c
}

func newContractGet(g *globals) *cobra.Command {
	var version uint64
	c := &cobra.Command{
		Use:   "get ID",
		Short: "Show a contract: record, rules, versions and state",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withClient(func(ctx context.Context, c *client.Client) error {
				v, err := c.Contract(ctx, args[0], version)
				if err != nil {
					return err
				}
				return g.print(v, func(w io.Writer) {
					r := v.Record
					fmt.Fprintf(w, "contract %s  owner %s  version %d of %d  executions %d", r.ID, r.Owner, v.Current.Version, r.Version, r.Executions)
					if r.Retired {
						fmt.Fprintf(w, "  RETIRED (%s)", r.RetireReason)
					}
					fmt.Fprintf(w, "\n  deployed by %s at height %d (%s), cost estimate %d\n", r.Deployer, r.Height, ms(r.Time), v.Current.CostEstimate)
					printContract(w, &rpc.CreateResult{Contract: v.Current.Contract, VersionHash: v.Current.Hash, CostEstimate: v.Current.CostEstimate})
					for _, s := range v.Versions {
						fmt.Fprintf(w, "  version %d  %s  height %d  by %s  %s\n", s.Version, s.Hash, s.Height, s.Signer, s.Reason)
					}
					if len(v.State) > 0 {
						b, _ := json.Marshal(v.State)
						fmt.Fprintf(w, "  state %s\n", b)
					}
				})
			})
		},
	}
	c.Flags().Uint64Var(&version, "version", 0, "show this version's rules (default: current)")
	return c
}

// callFlags are the flags of a contract call.
func callFlags(c *cobra.Command, p *types.ContractExecute, attrs *[]string) {
	f := c.Flags()
	f.StringVar(&p.ContractID, "id", "", "contract id")
	f.StringVar(&p.Action, "action", "read", "action requested")
	f.StringVar(&p.Purpose, "purpose", "", "purpose of use, e.g. treatment")
	f.StringVar(&p.Patient, "patient", "", "patient id")
	f.StringVar(&p.Resource, "resource", "", "FHIR reference, e.g. Observation/bp-1")
	f.StringVar(&p.Segment, "segment", "", "zero-trust segment asserted for the call (public, internal, clinical, critical)")
	f.Int64Var(&p.Risk, "risk", 0, "risk score 0-100 asserted for the call")
	f.StringArrayVar(attrs, "attr", nil, "request attribute key=value (repeatable), e.g. deidentified=true")
}

func parseAttrs(p *types.ContractExecute, attrs []string) error {
	for _, a := range attrs {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return fmt.Errorf("--attr %q: want key=value", a)
		}
		if p.Attrs == nil {
			p.Attrs = map[string]string{}
		}
		p.Attrs[k] = v
	}
	return nil
}

func printDecision(w io.Writer, r *rpc.ExecuteResult) {
	fmt.Fprintf(w, "%s: %s (cost %d)\n", strings.ToUpper(r.Decision.String()), r.Reason, r.Cost)
	if r.ReviewRequired {
		fmt.Fprintln(w, "  flagged: a privacy officer must review this access (medchain contract reviews)")
	}
	if len(r.Effects) > 0 {
		b, _ := json.Marshal(r.Effects)
		fmt.Fprintf(w, "  effects %s\n", b)
	}
	if !r.TxHash.IsZero() {
		fmt.Fprintf(w, "  recorded in tx %s at height %d (%s)\n", r.TxHash, r.Height, ms(r.At))
	} else {
		fmt.Fprintf(w, "  simulated as height %d at %s; nothing recorded\n", r.Height, ms(r.At))
	}
}

func newContractExecute(g *globals) *cobra.Command {
	var s signerFlags
	var p types.ContractExecute
	var attrs []string
	c := &cobra.Command{
		Use:   "execute --id ID --action A --purpose P --patient ID --as REQUESTER",
		Short: "Ask a contract for access; the decision is recorded on chain",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := parseAttrs(&p, attrs); err != nil {
				return err
			}
			return g.signAndCall(&s, &p, func(ctx context.Context, c *client.Client, tx *types.Tx) error {
				r, err := c.ExecuteContract(ctx, tx)
				if err != nil {
					return err
				}
				return g.print(r, func(w io.Writer) { printDecision(w, r) })
			})
		},
	}
	s.add(c, "")
	callFlags(c, &p, &attrs)
	return c
}

func newContractSimulate(g *globals) *cobra.Command {
	var p rpc.SimulateParams
	var attrs []string
	var at string
	c := &cobra.Command{
		Use:   "simulate --id ID --requester ID --action A --purpose P --patient ID",
		Short: "Dry-run a contract at head: the decision the chain would record, nothing recorded",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := parseAttrs(&p.ContractExecute, attrs); err != nil {
				return err
			}
			if at != "" {
				t, err := time.Parse(time.RFC3339, at)
				if err != nil {
					return fmt.Errorf("--at %q: want RFC 3339", at)
				}
				p.At = rpc.Time(t.UnixMilli())
			}
			return g.withClient(func(ctx context.Context, c *client.Client) error {
				r, err := c.SimulateContract(ctx, p)
				if err != nil {
					return err
				}
				return g.print(r, func(w io.Writer) { printDecision(w, r) })
			})
		},
	}
	callFlags(c, &p.ContractExecute, &attrs)
	c.Flags().StringVar(&p.Requester, "requester", "", "registered identity asking")
	c.Flags().StringVar(&at, "at", "", "block time to assume, RFC 3339 (default: now)")
	return c
}

func newContractExecutions(g *globals) *cobra.Command {
	var p rpc.PageParams
	c := &cobra.Command{
		Use:   "executions ID",
		Short: "A contract's recorded executions, in chain order",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p.ContractID = args[0]
			return g.withClient(func(ctx context.Context, c *client.Client) error {
				page, err := c.ContractExecutions(ctx, p)
				if err != nil {
					return err
				}
				return g.print(page, func(w io.Writer) {
					for _, e := range page.Entries {
						fmt.Fprintf(w, "%s  h%-6d %-5s %-12s %s for %s, patient %s %s: %s\n", ms(e.Time), e.Height, e.Result.Decision, e.Call.Requester,
							e.Call.Action, e.Call.Purpose, e.Call.Patient, e.Call.Resource, e.Result.Reason)
					}
					if page.Next != "" {
						fmt.Fprintf(w, "more: --cursor %s\n", page.Next)
					}
				})
			})
		},
	}
	pageFlags(c, &p)
	return c
}

func pageFlags(c *cobra.Command, p *rpc.PageParams) {
	c.Flags().StringVar(&p.Cursor, "cursor", "", "cursor from the previous page")
	c.Flags().IntVar(&p.Limit, "limit", 0, "entries per page (default 100)")
	c.Flags().BoolVar(&p.Newest, "newest", false, "newest first")
}

func newContractReviews(g *globals) *cobra.Command {
	var p rpc.PageParams
	c := &cobra.Command{
		Use:   "reviews",
		Short: "Open reviews: flagged (break-glass) executions awaiting a privacy officer",
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withClient(func(ctx context.Context, c *client.Client) error {
				page, err := c.ContractReviews(ctx, p)
				if err != nil {
					return err
				}
				return g.print(page, func(w io.Writer) {
					if len(page.Entries) == 0 {
						fmt.Fprintln(w, "no open reviews")
					}
					for _, r := range page.Entries {
						fmt.Fprintf(w, "%s  %s  %s %s %s/%s of %s by rule %s\n  record: medchain contract review --execution %s --outcome justified|unjustified|escalated\n",
							ms(r.Time), r.ContractID, r.Requester, r.Decision, r.Action, r.Purpose, r.Patient, r.Rule, r.ExecutionTx)
					}
					if page.Next != "" {
						fmt.Fprintf(w, "more: --cursor %s\n", page.Next)
					}
				})
			})
		},
	}
	c.Flags().StringVar(&p.ContractID, "contract", "", "only this contract's reviews")
	pageFlags(c, &p)
	return c
}

func newContractReview(g *globals) *cobra.Command {
	var s signerFlags
	var p types.ReviewRecord
	var execTx string
	c := &cobra.Command{
		Use:   "review --execution TXHASH --outcome justified|unjustified|escalated",
		Short: "Record a privacy officer's outcome for a flagged execution, closing its review",
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := types.ParseHash(execTx)
			if err != nil {
				return fmt.Errorf("--execution: %w", err)
			}
			p.ExecutionTx = h
			return g.send(&s, &p)
		},
	}
	s.add(c, "privacy_officer")
	c.Flags().StringVar(&execTx, "execution", "", "hash of the flagged contract_execute tx")
	c.Flags().StringVar(&p.Outcome, "outcome", "", "justified, unjustified or escalated")
	c.Flags().StringVar(&p.Notes, "notes", "", "the officer's notes")
	return c
}
