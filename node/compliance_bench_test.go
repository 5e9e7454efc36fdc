package node_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/node/nodetest"
)

// BenchmarkComplianceReport100k measures the compliance report (evidence
// gathered from the live node, chain verification included, then
// evaluated) on a node whose chain holds 100,000 audit events about 1,000
// patients, stored under pseudonyms. It reports the median wall time and the
// median process CPU time of one report: verify=all with the default
// compliance.verify_max_blocks (the whole chain is verified), verify=1 with
// it set to 1, which leaves mostly the state scans. Run it with
//
//	go test -run '^$' -bench ComplianceReport100k -benchtime 3x ./node/
func BenchmarkComplianceReport100k(b *testing.B) {
	const events, batch, patients = 100_000, 250, 1000
	n := nodetest.Start(b, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	s := n.Signer(b, "doctor456")
	for i := 0; i < events; i += batch {
		txs := make([]*types.Tx, batch)
		var wg sync.WaitGroup
		workers := runtime.GOMAXPROCS(0)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := w; j < batch; j += workers {
					tx, err := s.Build(&types.AuditRecord{EventType: "data_access", Patient: fmt.Sprintf("bench-patient-%d", (i+j)%patients),
						Actor: "doctor456", Action: "view_record", Purpose: "treatment", Outcome: "success", Resource: fmt.Sprintf("Observation/%d", i+j)})
					if err != nil {
						b.Error(err)
						return
					}
					txs[j] = tx
				}
			}()
		}
		wg.Wait()
		if b.Failed() {
			b.FailNow()
		}
		items, err := n.Client.SubmitMany(ctx, txs, true)
		if err != nil {
			b.Fatal(err)
		}
		for _, it := range items {
			if it.Error != nil || it.Receipt == nil || !it.Receipt.Result.OK() {
				b.Fatalf("tx not committed: %+v", it)
			}
		}
	}
	b.Run("verify=all", func(b *testing.B) { benchReport(ctx, b, n) })
	cfg := n.Config
	if err := n.Stop(); err != nil {
		b.Fatal(err)
	}
	cfg.Compliance.VerifyMaxBlocks = 1
	n = nodetest.Restart(b, cfg)
	b.Run("verify=1", func(b *testing.B) { benchReport(ctx, b, n) })
}

// benchReport runs the report b.N times and reports the median wall and
// CPU time.
func benchReport(ctx context.Context, b *testing.B, n *nodetest.Node) {
	var wall, cpu []time.Duration
	for b.Loop() {
		t0, c0 := time.Now(), processCPU(b)
		r, err := n.ComplianceReport(ctx)
		if err != nil {
			b.Fatal(err)
		}
		wall, cpu = append(wall, time.Since(t0)), append(cpu, processCPU(b)-c0)
		for _, id := range []string{"hipaa.integrity", "hipaa.audit_events"} {
			if c := r.Check(id); c == nil || c.Status != "pass" {
				b.Fatalf("%s: %+v", id, c)
			}
		}
	}
	slices.Sort(wall)
	slices.Sort(cpu)
	b.ReportMetric(float64(wall[len(wall)/2].Milliseconds()), "median-ms")
	b.ReportMetric(float64(cpu[len(cpu)/2].Milliseconds()), "median-cpu-ms")
	b.Logf("report wall times %v, CPU times %v", wall, cpu)
}
