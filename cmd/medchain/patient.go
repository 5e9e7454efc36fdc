package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/spf13/cobra"

	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/node/client"
	"github.com/medchain/medchain/node/rpc"
)

func newPatient(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "patient", Short: "Patients' rights: signed, provable exports of everything the chain holds about a patient"}
	c.AddCommand(newPatientExport(g), newPatientVerifyExport(g))
	c.AddCommand(newPatientErase(g), newPatientErasureStatus(g)) // erasure.go
	return c
}

func newPatientExport(g *globals) *cobra.Command {
	var patient, out, fhirOut string
	c := &cobra.Command{
		Use:   "export --patient ID --out FILE [--fhir FILE]",
		Short: "Export a patient's audit trail, consents and contract decisions, signed by the node, with inclusion proofs",
		RunE: func(cmd *cobra.Command, args []string) error {
			if patient == "" || out == "" {
				return fmt.Errorf("--patient and --out are required")
			}
			return g.withClient(func(ctx context.Context, c *client.Client) error {
				e, err := c.PatientExport(ctx, patient, fhirOut != "")
				if err != nil {
					return err
				}
				bundle := e.FHIR
				e.FHIR = nil
				if err := writeJSON(out, e); err != nil {
					return err
				}
				if fhirOut != "" {
					if err := writeJSON(fhirOut, bundle); err != nil {
						return err
					}
				}
				counts := map[string]int{}
				for _, en := range e.Body.Entries {
					counts[en.Kind]++
				}
				return g.print(map[string]any{"file": out, "fhir_file": fhirOut, "entries": counts, "head_height": e.Body.Head.Height, "node_id": e.Body.NodeID}, func(w io.Writer) {
					fmt.Fprintf(w, "Exported patient %s to %s: %d audit events, %d consent versions, %d contract executions\n  signed by node %s at head %d; check it with: medchain patient verify-export %s\n",
						patient, out, counts[rpc.EntryAudit], counts[rpc.EntryConsent], counts[rpc.EntryExecution], e.Body.NodeID, e.Body.Head.Height, out)
					if fhirOut != "" {
						fmt.Fprintf(w, "  FHIR R4 collection Bundle: %s\n", fhirOut)
					}
				})
			})
		},
	}
	c.Flags().StringVar(&patient, "patient", "", "patient id")
	c.Flags().StringVar(&out, "out", "", "file to write the signed export to (JSON)")
	c.Flags().StringVar(&fhirOut, "fhir", "", "also write the export as a FHIR R4 collection Bundle to this file")
	return c
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o600)
}

func newPatientVerifyExport(g *globals) *cobra.Command {
	var genesis string
	c := &cobra.Command{
		Use:   "verify-export FILE [--genesis genesis.json]",
		Short: "Check an export offline: the node's signature, the head's signature and every entry's inclusion proof",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if genesis == "" {
				genesis = filepath.Join(g.dataDir, "genesis.json")
			}
			gen, err := state.LoadGenesis(genesis)
			if err != nil {
				return err
			}
			b, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			var e rpc.PatientExport
			if err := json.Unmarshal(b, &e); err != nil {
				return fmt.Errorf("%s: not a patient export: %v", args[0], err)
			}
			rep, err := client.VerifyExport(&e, gen)
			if err != nil {
				return fmt.Errorf("%s does NOT verify: %w", args[0], err)
			}
			return g.print(rep, func(w io.Writer) {
				kinds := make([]string, 0, len(rep.Entries))
				for k := range rep.Entries {
					kinds = append(kinds, k)
				}
				sort.Strings(kinds)
				fmt.Fprintf(w, "%s verifies: patient %s, signed by node %s (genesis key), head %d (log size %d)\n", args[0], rep.Patient, rep.NodeID, rep.Height, rep.LogSize)
				for _, k := range kinds {
					fmt.Fprintf(w, "  %-10s %d entries, each proven in the log\n", k, rep.Entries[k])
				}
			})
		},
	}
	c.Flags().StringVar(&genesis, "genesis", "", "genesis file to trust (default <data-dir>/genesis.json)")
	return c
}
