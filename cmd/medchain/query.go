package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/node/client"
	"github.com/medchain/medchain/node/rpc"
)

func newQuery(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "query", Short: "Read the chain: trails, consents, blocks, txs, identities"}
	c.AddCommand(newQueryTrail(g), newQueryConsent(g), newQueryBlock(g), newQueryTx(g), newQueryHead(g),
		newQueryIdentity(g), newQueryEHR(g), newQueryStatus(g), newQueryStats(g))
	return c
}

// withClient dials, runs fn and closes.
func (g *globals) withClient(fn func(ctx context.Context, c *client.Client) error) error {
	ctx, cancel := g.ctx()
	defer cancel()
	c, err := g.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	return fn(ctx, c)
}

func newQueryTrail(g *globals) *cobra.Command {
	var p rpc.TrailParams
	var from, to string
	var all bool
	c := &cobra.Command{
		Use:   "trail --patient ID | --actor ID",
		Short: "Who accessed a patient's record (or what an actor did), in chain order",
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, t := range []struct {
				s   string
				dst *rpc.Time
			}{{from, &p.From}, {to, &p.To}} {
				if t.s == "" {
					continue
				}
				v, err := time.Parse(time.RFC3339, t.s)
				if err != nil {
					return fmt.Errorf("--from/--to %q: want RFC 3339, e.g. 2026-11-22T10:00:00Z", t.s)
				}
				*t.dst = rpc.Time(v.UnixMilli())
			}
			return g.withClient(func(ctx context.Context, c *client.Client) error {
				var entries []state.AuditEntry
				next := p.Cursor
				for {
					p.Cursor = next
					page, err := c.Trail(ctx, p)
					if err != nil {
						return err
					}
					entries = append(entries, page.Entries...)
					next = page.Next
					if !all || next == "" {
						break
					}
				}
				out := state.TrailPage{Entries: entries, Next: next}
				if out.Entries == nil {
					out.Entries = []state.AuditEntry{}
				}
				return g.print(out, func(w io.Writer) {
					who := "patient " + p.Patient
					if p.Actor != "" {
						who = "actor " + p.Actor
					}
					fmt.Fprintf(w, "Audit trail of %s: %d events\n", who, len(entries))
					for _, e := range entries {
						r := e.Record
						fmt.Fprintf(w, "  %s  h%-6d %-14s %-12s actor=%s patient=%s purpose=%s outcome=%s", ms(e.Time), e.Height, r.EventType, r.Action, r.Actor, r.Patient, dash(r.Purpose), dash(r.Outcome))
						if r.Resource != "" {
							fmt.Fprintf(w, " resource=%s", r.Resource)
						}
						fmt.Fprintf(w, "  tx %s\n", e.TxHash.String()[:16])
					}
					if next != "" {
						fmt.Fprintf(w, "More: --cursor %s (or --all)\n", next)
					}
				})
			})
		},
	}
	f := c.Flags()
	f.StringVar(&p.Patient, "patient", "", "patient id")
	f.StringVar(&p.Actor, "actor", "", "actor id")
	f.StringVar(&from, "from", "", "from this time (RFC 3339), inclusive")
	f.StringVar(&to, "to", "", "until this time (RFC 3339), exclusive")
	f.IntVar(&p.Limit, "limit", 100, "events per page (at most 1000)")
	f.StringVar(&p.Cursor, "cursor", "", "continue from a previous page")
	f.BoolVar(&p.Newest, "newest-first", false, "newest events first")
	f.BoolVar(&all, "all", false, "follow every page")
	return c
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newQueryConsent(g *globals) *cobra.Command {
	var p rpc.VerifyParams
	var history bool
	c := &cobra.Command{
		Use:   "consent --patient ID [--purpose P --requester ID]",
		Short: "Show a consent, its history, or verify a request against it (with --purpose)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withClient(func(ctx context.Context, c *client.Client) error {
				switch {
				case history:
					h, err := c.ConsentHistory(ctx, p.Patient, p.ConsentType)
					if err != nil {
						return err
					}
					return g.print(h, func(w io.Writer) {
						fmt.Fprintf(w, "History of the %q consent of %s: %d versions\n", p.ConsentType, p.Patient, len(h))
						for _, v := range h {
							printConsent(w, &v)
						}
					})
				case p.Purpose != "":
					r, err := c.VerifyConsent(ctx, p)
					if err != nil {
						return err
					}
					return g.print(r, func(w io.Writer) {
						verdict := "REFUSED"
						if r.Granted {
							verdict = "GRANTED"
						}
						fmt.Fprintf(w, "%s: %s (patient %s, %s, purpose %s, requester %s, at height %d)\n", verdict, r.Reason, p.Patient, p.ConsentType, p.Purpose, p.Requester, r.Height)
					})
				default:
					v, err := c.Consent(ctx, p.Patient, p.ConsentType)
					if err != nil {
						return err
					}
					return g.print(v, func(w io.Writer) { printConsent(w, v) })
				}
			})
		},
	}
	f := c.Flags()
	f.StringVar(&p.Patient, "patient", "", "patient id")
	f.StringVar(&p.ConsentType, "type", "data_sharing", "consent type")
	f.StringVar(&p.Purpose, "purpose", "", "verify: purpose of the request")
	f.StringVar(&p.Requester, "requester", "", "verify: who asks")
	f.StringVar(&p.Action, "action", "", "verify: action (optional)")
	f.StringVar(&p.DataCategory, "category", "", "verify: data category (optional)")
	f.BoolVar(&history, "history", false, "show every version")
	return c
}

func printConsent(w io.Writer, c *state.Consent) {
	status := string(c.Status)
	if c.Status == state.ConsentActive && !c.Granted {
		status = "refused"
	}
	fmt.Fprintf(w, "%s consent of %s: %s (height %d, %s, by %s)\n", c.ConsentType, c.Patient, status, c.Height, ms(c.Time), c.Signer)
	fmt.Fprintf(w, "  purposes %s  parties %s  actions %s  categories %s  expires %s\n",
		list(c.Scope.Purposes), list(c.Scope.Parties), list(c.Scope.Actions), list(c.Scope.DataCategories), ms(c.Scope.Expiration))
	if c.Reason != "" {
		fmt.Fprintf(w, "  reason %s\n", c.Reason)
	}
}

func list(l []string) string {
	if len(l) == 0 {
		return "any"
	}
	return strings.Join(l, ",")
}

func newQueryBlock(g *globals) *cobra.Command {
	var full bool
	c := &cobra.Command{
		Use:   "block HEIGHT",
		Short: "Show a block",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil || h == 0 {
				return fmt.Errorf("height %q: want a number from 1", args[0])
			}
			return g.withClient(func(ctx context.Context, c *client.Client) error {
				b, err := c.Block(ctx, h, full)
				if err != nil {
					return err
				}
				return g.print(b, func(w io.Writer) {
					printHeader(w, b.Hash, &b.Header, b.Signature.Algorithm)
					fmt.Fprintf(w, "  txs          %d\n", b.TxCount)
					for i, tx := range b.Txs {
						fmt.Fprintf(w, "    %d %s %-16s by %-14s %s", i, tx.Hash.String()[:16], tx.Type, tx.Signer, b.Results[i].Code)
						if b.Results[i].Reason != "" {
							fmt.Fprintf(w, ": %s", b.Results[i].Reason)
						}
						fmt.Fprintln(w)
					}
				})
			})
		},
	}
	c.Flags().BoolVar(&full, "full", false, "include txs and results")
	return c
}

func printHeader(w io.Writer, hash types.Hash, h *types.Header, alg string) {
	fmt.Fprintf(w, "Block %d %s\n  time         %s\n  prev         %s\n  proposer     %s (%s)\n  tx root      %s\n  state hash   %s\n  log          size %d root %s\n",
		h.Height, hash, ms(h.Time), h.PrevHash, h.Proposer, alg, h.TxRoot, h.StateHash, h.LogSize, h.LogRoot)
}

func newQueryTx(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "tx HASH",
		Short: "Whether a tx committed, where, and with what result",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := types.ParseHash(args[0])
			if err != nil {
				return err
			}
			return g.withClient(func(ctx context.Context, c *client.Client) error {
				r, err := c.Tx(ctx, h)
				if err != nil {
					return err
				}
				return g.print(r, func(w io.Writer) {
					fmt.Fprintf(w, "tx %s: %s\n", h, r.Status)
					if r.Tx != nil {
						fmt.Fprintf(w, "  type %s, signer %s, signed %s (%s)\n  height %d, index %d, result %s %s\n",
							r.Tx.Type, r.Tx.Signer, ms(r.Tx.Timestamp), r.Tx.Algorithm, r.Height, r.Index, r.Result.Code, r.Result.Reason)
					}
				})
			})
		},
	}
}

func newQueryHead(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "head",
		Short: "Show the newest signed header",
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withClient(func(ctx context.Context, c *client.Client) error {
				h, err := c.Head(ctx)
				if err != nil {
					return err
				}
				return g.print(h, func(w io.Writer) {
					if h.Header == nil {
						fmt.Fprintf(w, "No blocks yet on chain %s (genesis %s)\n", c.ChainID(), h.Hash)
						return
					}
					printHeader(w, h.Hash, h.Header, h.Signature.Algorithm)
				})
			})
		},
	}
}

func newQueryIdentity(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "identity ID",
		Short: "Show a registered identity",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withClient(func(ctx context.Context, c *client.Client) error {
				id, err := c.Identity(ctx, args[0])
				if err != nil {
					return err
				}
				return g.print(id, func(w io.Writer) {
					status := "active"
					if id.Revoked {
						status = "revoked: " + id.RevokeReason
					}
					fmt.Fprintf(w, "%s (%s) %s\n  roles %s\n  key   %s %s\n  registered at height %d, updated at %d\n",
						id.ID, id.Kind, status, list(id.Roles), id.PublicKey.Algorithm, id.PublicKey.Fingerprint(), id.Height, id.Updated)
					// Patient links are shown as the chain records them: a
					// pseudonym has no reverse mapping.
					if id.Patient != "" {
						fmt.Fprintf(w, "  speaks for patient %s\n", id.Patient)
					}
					if len(id.ActsFor) > 0 {
						fmt.Fprintf(w, "  acts for %s\n", list(id.ActsFor))
					}
					for _, k := range id.OldKeys {
						fmt.Fprintf(w, "  retired key %s %s signed heights %d-%d (rotated by tx %s)\n", k.PublicKey.Algorithm, k.PublicKey.Fingerprint(), k.From, k.Until, k.RotatedBy)
					}
					if len(id.OldKeys) > 0 {
						fmt.Fprintf(w, "  key signs from height %d\n", id.CurrentKeyFrom())
					}
				})
			})
		},
	}
}

func newQueryEHR(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "ehr",
		Short: "List registered EHR systems",
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withClient(func(ctx context.Context, c *client.Client) error {
				l, err := c.EHRSystems(ctx)
				if err != nil {
					return err
				}
				return g.print(l, func(w io.Writer) {
					fmt.Fprintf(w, "%d EHR systems\n", len(l))
					for _, e := range l {
						fmt.Fprintf(w, "  %-16s vendor=%s sync=%v every %ds endpoint=%s audit_all=%v (height %d)\n",
							e.SystemID, dash(e.Vendor), e.SyncEnabled, e.SyncInterval, dash(e.Endpoint), e.AuditAllAccess, e.Height)
					}
				})
			})
		},
	}
}

func newQueryStatus(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the node's status",
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withClient(func(ctx context.Context, c *client.Client) error {
				s, err := c.Status(ctx)
				if err != nil {
					return err
				}
				return g.print(s, func(w io.Writer) {
					fmt.Fprintf(w, "node %s (%s) on chain %s: %s, leader %s, height %d, mempool %d, ready %v\n",
						s.NodeID, s.Version, s.ChainID, s.Role, dash(s.Leader), s.Height, s.MempoolSize, s.Ready)
					if s.Halted != "" {
						fmt.Fprintf(w, "HALTED: %s\n", s.Halted)
					}
				})
			})
		},
	}
}
