package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/medchain/medchain/node/client"
	"github.com/medchain/medchain/node/compliance"
	"github.com/medchain/medchain/node/rpc"
)

// errComplianceFailed makes medchain compliance exit non-zero when a check fails.
var errComplianceFailed = errors.New("compliance: some checks failed")

func newCompliance(g *globals) *cobra.Command {
	var strict bool
	c := &cobra.Command{
		Use:   "compliance",
		Short: "Check HIPAA technical safeguards and GDPR measures against the node's live evidence",
		Long: `compliance asks a node for its compliance report (compliance_report): each HIPAA
technical safeguard (§164.312) and GDPR measure the node can check, checked
against live evidence (TLS in force, the zero-trust gate and its MFA policies,
audit events on chain, a chain verification, key ages, consents, retention),
each line pass or fail with its evidence. Administrative and physical
safeguards are listed as not checkable by the node.

The retention line is judged on the node's retention pruner: for each pass
(audit, research, erased) the height it pruned up to, the payloads pruned and
the oldest block it has not reached against its period; --json prints that
state in full as "retention".

With --strict the command exits 1 when any check fails.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			g.out = cmd.OutOrStdout()
			var rep *compliance.Report
			err := g.withClient(func(ctx context.Context, c *client.Client) error {
				var err error
				rep, err = c.ComplianceReport(ctx)
				return err
			})
			if err != nil {
				return err
			}
			if err := g.print(rep, func(w io.Writer) { printCompliance(w, rep) }); err != nil {
				return err
			}
			if strict && rep.Summary.Fail > 0 {
				return errComplianceFailed
			}
			return nil
		},
	}
	c.Flags().BoolVar(&strict, "strict", false, "exit 1 when any check fails")
	return c
}

func printCompliance(w io.Writer, r *compliance.Report) {
	fmt.Fprintf(w, "Compliance report of %s on %s at height %d (%s)\n\n", r.NodeID, r.ChainID, r.Height, r.GeneratedAt.Format(time.RFC3339))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tID\tSTANDARD\tEVIDENCE")
	for _, c := range r.Checks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", strings.ToUpper(string(c.Status)), c.ID, c.Standard, c.Evidence)
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%d pass, %d fail, %d not checkable by the node\n", r.Summary.Pass, r.Summary.Fail, r.Summary.NotCheckable)
}

func newQueryStats(g *globals) *cobra.Command {
	var p rpc.StatsParams
	var from, to string
	c := &cobra.Command{
		Use:   "stats",
		Short: "k-anonymous access counts by purpose, signer role and month (audit_stats)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			g.out = cmd.OutOrStdout()
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
				r, err := c.AuditStats(ctx, p)
				if err != nil {
					return err
				}
				return g.print(r, func(w io.Writer) { printStats(w, r) })
			})
		},
	}
	c.Flags().IntVar(&p.K, "k", rpc.DefaultStatsK, "k-anonymity threshold (at least 2): cells with fewer events or patients are suppressed")
	c.Flags().StringVar(&from, "from", "", "first block time, RFC 3339")
	c.Flags().StringVar(&to, "to", "", "end block time (exclusive), RFC 3339")
	return c
}

func printStats(w io.Writer, r *rpc.StatsResult) {
	total := "suppressed"
	if r.Total != nil {
		total = strconv.Itoa(*r.Total)
	}
	fmt.Fprintf(w, "Audit events at height %d, k = %d: %s in all\n", r.Height, r.K, total)
	for _, t := range []struct {
		name  string
		cells []rpc.StatsCell
	}{{"PURPOSE", r.ByPurpose}, {"ROLE", r.ByRole}, {"MONTH", r.ByMonth}} {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "%s\tCOUNT\n", t.name)
		for _, c := range t.cells {
			n := "suppressed (< k)"
			if c.Count != nil {
				n = strconv.Itoa(*c.Count)
			}
			fmt.Fprintf(tw, "%s\t%s\n", c.Key, n)
		}
		tw.Flush()
	}
}
