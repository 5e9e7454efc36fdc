package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/node/client"
	"github.com/medchain/medchain/node/nodetest"
)

// BenchmarkPatientExport10k measures patient_export (build, sign, JSON over
// HTTP) of a patient with 10,000 audit events, and its offline verification.
// Target (issue 6): export under 2 s.
func BenchmarkPatientExport10k(b *testing.B) {
	const events = 10000
	n := nodetest.Start(b, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	s := n.Signer(b, "doctor456")
	const batch = 100 // the gate's default zero_trust.max_batch
	for i := 0; i < events; i += batch {
		txs := make([]*types.Tx, 0, batch)
		for j := i; j < i+batch; j++ {
			tx, err := s.Build(&types.AuditRecord{EventType: "data_access", Patient: "patient123", Actor: "doctor456",
				Action: "view_record", Purpose: "treatment", Resource: fmt.Sprintf("Observation/%d", j)})
			if err != nil {
				b.Fatal(err)
			}
			txs = append(txs, tx)
		}
		if _, errs, err := n.Client.SubmitBatch(ctx, txs, true); err != nil {
			b.Fatal(err)
		} else {
			for _, e := range errs {
				if e != nil {
					b.Fatal(e)
				}
			}
		}
	}
	g, err := state.LoadGenesis(filepath.Join(n.Config.Node.DataDir, "genesis.json"))
	if err != nil {
		b.Fatal(err)
	}
	var size int
	var verify time.Duration
	var each, cpu []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0, c0 := time.Now(), processCPU(b)
		e, err := n.Client.PatientExport(ctx, "patient123", false)
		if err != nil {
			b.Fatal(err)
		}
		each, cpu = append(each, time.Since(t0)), append(cpu, processCPU(b)-c0)
		if len(e.Body.Entries) != events {
			b.Fatalf("%d entries", len(e.Body.Entries))
		}
		b.StopTimer()
		raw, _ := json.Marshal(e)
		size = len(raw)
		v0 := time.Now()
		if _, err := client.VerifyExport(e, g); err != nil {
			b.Fatal(err)
		}
		verify = time.Since(v0)
		b.StartTimer()
	}
	slices.Sort(each)
	slices.Sort(cpu)
	b.ReportMetric(float64(each[len(each)/2].Milliseconds()), "median-ms")
	// CPU time of the whole process (server and client) per export: on this
	// shared host wall time mostly measures the other tenants' load.
	b.ReportMetric(float64(cpu[len(cpu)/2].Milliseconds()), "median-cpu-ms")
	b.ReportMetric(float64(size), "export-bytes")
	b.ReportMetric(float64(verify.Milliseconds()), "verify-ms")
}

// processCPU returns the user and system CPU time this process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
