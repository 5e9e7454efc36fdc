package node_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/medchain/medchain/node/nodetest"
	"github.com/medchain/medchain/node/rpc"
)

// TestAPrunedTrailEntryNamesThePatientAsAsked: once retention pruned an
// event's sealed payload, only the redacted record is left, which names the
// patient's pseudonym. audit_trail and fhir_auditTrail by the patient's id
// show it under that id, so no caller learns the id-pseudonym link (it
// would outlive an erasure in whatever the caller kept).
func TestAPrunedTrailEntryNamesThePatientAsAsked(t *testing.T) {
	n := nodetest.Start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r, err := n.Signer(t, "doctor456").Send(ctx, erasureEvent("view_record"))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.RunRetention(ctx, time.Now().Add(8*365*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	page, err := n.Client.Trail(ctx, rpc.TrailParams{Patient: "patient123"})
	if err != nil || len(page.Entries) != 1 || page.Entries[0].TxHash != r.TxHash {
		t.Fatalf("trail: %+v %v", page, err)
	}
	if e := page.Entries[0]; !e.Pruned || e.Record.Patient != "patient123" || e.Record.Details != nil {
		t.Fatalf("pruned entry: pruned %v, patient %q, details %v", e.Pruned, e.Record.Patient, e.Record.Details)
	}
	raw, err := n.Client.FHIRAuditTrail(ctx, rpc.FHIRSearchParams{Patient: "patient123"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"value":"patient123"`) || strings.Contains(string(raw), `"ps:`) {
		t.Fatalf("FHIR trail of a pruned event: %s", raw)
	}
}
