package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/node/client"
)

func newPatientErase(g *globals) *cobra.Command {
	var s signerFlags
	var patient, reason string
	c := &cobra.Command{
		Use:   "erase --patient ID --reason CODE [--as ID]",
		Short: "Erase a patient (crypto-shredding): destroy their pseudonym mapping and key on every node",
		Long: `Submit a patient_erase tx. The patient, a delegate acting for them or a privacy officer signs it;
the reason is a code kept on chain (e.g. gdpr-art17), so it must not carry personal data. Once applied, every
node deletes the patient's pseudonym mapping and key, then compacts, snapshots and prunes so no copy is
left: follow it with medchain patient erasure-status.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if patient == "" || reason == "" {
				return fmt.Errorf("--patient and --reason are required")
			}
			g.out = cmd.OutOrStdout()
			return g.send(&s, &types.PatientErase{Patient: patient, Reason: reason})
		},
	}
	s.add(c, "privacy_officer")
	c.Flags().StringVar(&patient, "patient", "", "patient id")
	c.Flags().StringVar(&reason, "reason", "", "reason code recorded on chain (an identifier, e.g. gdpr-art17)")
	return c
}

func newPatientErasureStatus(g *globals) *cobra.Command {
	var patient string
	c := &cobra.Command{
		Use:   "erasure-status --patient ID",
		Short: "Show whether a patient is erased and which clean-up steps are complete on the node asked",
		Long: `Ask the node (--rpc) whether the patient's erasure is recorded and which steps that leave no copy of
the key are complete on it: mapping deleted, Pebble compacted, Raft log compacted, older snapshots pruned.
Each node answers for itself: ask every node of a cluster.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if patient == "" {
				return fmt.Errorf("--patient is required")
			}
			g.out = cmd.OutOrStdout()
			return g.withClient(func(ctx context.Context, c *client.Client) error {
				st, err := c.ErasureStatus(ctx, patient)
				if err != nil {
					return err
				}
				return g.print(st, func(w io.Writer) {
					switch {
					case !st.Erased:
						fmt.Fprintf(w, "patient %s is not erased on node %s\n", patient, st.NodeID)
						return
					case st.Complete:
						fmt.Fprintf(w, "patient %s is erased on node %s: complete, no copy of the key is left\n", patient, st.NodeID)
					default:
						fmt.Fprintf(w, "patient %s is erased on node %s: clean-up in progress\n", patient, st.NodeID)
					}
					for _, s := range st.Steps {
						mark := "pending"
						if s.Done {
							mark = "done"
						}
						fmt.Fprintf(w, "  %-19s %-8s %s\n", s.Name, mark, s.Evidence)
					}
				})
			})
		},
	}
	c.Flags().StringVar(&patient, "patient", "", "patient id")
	return c
}
