package node_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/store"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/chain/verify"
	"github.com/medchain/medchain/consensus"
	"github.com/medchain/medchain/node/client"
	"github.com/medchain/medchain/node/fhir"
	"github.com/medchain/medchain/node/nodetest"
	"github.com/medchain/medchain/node/rpc"
)

// TestEveryReaderReportsPrunedEvents: once the node pruned an audit event's
// sealed payload under its retention policy, every reader returns the clear
// fields and says the personal fields were pruned (none fails, none returns
// them silently empty), the export still verifies offline, the chain still
// verifies, and the compliance report shows the pruner's progress.
func TestEveryReaderReportsPrunedEvents(t *testing.T) {
	n := nodetest.Start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	doctor := n.Signer(t, "doctor456")
	old := erasureEvent("view_record") // treatment: audit_logs_days
	research := erasureEvent("view_record")
	research.Purpose = "research" // research_data_days
	ro, err := doctor.Send(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	rr, err := doctor.Send(ctx, research)
	if err != nil {
		t.Fatal(err)
	}

	// Eight years on: past the audit period (7 years), not the research one (10).
	if err := n.RunRetention(ctx, time.Now().Add(8*365*24*time.Hour)); err != nil {
		t.Fatal(err)
	}

	// tx_get: the redacted payload, marked pruned.
	tr, err := n.Client.Tx(ctx, ro.TxHash)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Tx == nil || !tr.Tx.Pruned || !tr.Tx.Redacted {
		t.Fatalf("tx_get of the pruned event: %+v", tr.Tx)
	}
	if tr, err := n.Client.Tx(ctx, rr.TxHash); err != nil || tr.Tx.Pruned || tr.Tx.Redacted {
		t.Fatalf("tx_get of the kept research event: %+v %v", tr, err)
	}

	// audit_trail: the pruned entry keeps its clear fields and says pruned;
	// the research entry is opened as before.
	page, err := n.Client.Trail(ctx, rpc.TrailParams{Patient: "patient123"})
	if err != nil {
		t.Fatal(err)
	}
	var sawPruned, sawOpen bool
	for _, e := range page.Entries {
		switch e.TxHash {
		case ro.TxHash:
			sawPruned = true
			if !e.Pruned || e.Record.Resource != "" || e.Record.Details != nil || e.Record.Action != "view_record" || e.Record.Purpose != "treatment" || e.Record.Actor != "doctor456" {
				t.Fatalf("pruned trail entry: %+v", e)
			}
		case rr.TxHash:
			sawOpen = true
			if e.Pruned || e.Record.Resource != erasureResource || e.Record.Details["note"] != erasureNote {
				t.Fatalf("kept trail entry not opened: %+v", e)
			}
		}
	}
	if !sawPruned || !sawOpen {
		t.Fatalf("trail entries %+v", page.Entries)
	}

	// fhir_auditTrail: the AuditEvent says why it has no resource or details.
	raw, err := n.Client.FHIRAuditTrail(ctx, rpc.FHIRSearchParams{Patient: "patient123"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"type":"`+fhir.PrunedDetail+`"`) || strings.Count(string(raw), "pruned from this node") != 1 {
		t.Fatalf("FHIR trail does not say which event was pruned: %s", raw)
	}

	// patient_export: the pruned event is listed apart with its proof; the
	// export verifies offline.
	exp, err := n.Client.PatientExport(ctx, "patient123", true)
	if err != nil {
		t.Fatal(err)
	}
	if len(exp.Body.Pruned) != 1 || exp.Body.Pruned[0].TxHash != ro.TxHash || exp.Body.Pruned[0].Event.Patient != "patient123" || exp.Body.Pruned[0].Event.Resource != "" {
		t.Fatalf("export's pruned entries: %+v", exp.Body.Pruned)
	}
	for _, e := range exp.Body.Entries {
		if e.TxHash == ro.TxHash {
			t.Fatal("the pruned event is also exported as a full entry")
		}
	}
	var held rpc.PatientExport
	b, _ := json.Marshal(exp)
	if err := json.Unmarshal(b, &held); err != nil {
		t.Fatal(err)
	}
	g, err := state.LoadGenesis(filepath.Join(n.Config.Node.DataDir, "genesis.json"))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := client.VerifyExport(&held, g)
	if err != nil {
		t.Fatalf("offline export verification: %v", err)
	}
	if rep.Entries[rpc.EntryAudit+"_pruned"] != 1 || rep.Entries[rpc.EntryAudit] != 1 {
		t.Fatalf("export report %+v", rep)
	}
	if !strings.Contains(string(exp.FHIR), "pruned from this node") {
		t.Fatal("the export's FHIR bundle does not say the event was pruned")
	}
	// A tampered proof of a pruned entry fails the offline check.
	bad := held
	bad.Body.Pruned = append([]rpc.PrunedEntry(nil), held.Body.Pruned...)
	bad.Body.Pruned[0].LeafIndex = held.Body.Head.LogSize
	if _, err := client.VerifyExport(&bad, g); err == nil {
		t.Fatal("an export with a pruned entry outside the log verified")
	}

	// The chain verifies; the pruned tx is attested only.
	vr, err := n.Client.Verify(ctx, verify.Options{Signatures: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !vr.OK || vr.Pruned != 1 || vr.AttestedOnly != 1 {
		t.Fatalf("verify: ok %v pruned %d attested %d faults %v", vr.OK, vr.Pruned, vr.AttestedOnly, vr.Faults)
	}

	// The status: the audit pass pruned one payload.
	st := n.RetentionStatus(time.Now())
	if len(st.Passes) != 3 || st.Passes[0].PrunedTxs != 1 || st.Passes[1].PrunedTxs != 0 {
		t.Fatalf("retention status %+v", st)
	}

}

// TestErasurePrunesThePatientsRegistrationAndDelegation: on a running node,
// a patient registered with their name sealed, who appoints a delegate
// before any audit event about them, is erased; the erased pass prunes the
// sealed payloads of the registration and the delegation (which leave no
// trail entry and come before the first one) as well as the audit event,
// from the height the node's vault recorded for the patient's key; the
// erasure itself stays and the chain still verifies.
func TestErasurePrunesThePatientsRegistrationAndDelegation(t *testing.T) {
	n := nodetest.Start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	const mrn = "MRN-550022"
	admin := n.Signer(t, "admin")
	reg := &types.IdentityRegister{ID: "pat-early", Kind: types.KindPatient, Name: "John Early", Roles: []string{types.RolePatient}, Patient: mrn}
	reg.PublicKey = newIdentityKey(t, n, reg.ID).Public()
	guardian := &types.IdentityRegister{ID: "guardian-early", Kind: types.KindPerson, Roles: []string{types.RolePatient}}
	guardian.PublicKey = newIdentityKey(t, n, guardian.ID).Public()
	var sent []*rpc.Receipt // redacted txs of the patient, oldest first
	send := func(s *client.Signer, p types.Payload) {
		t.Helper()
		r, err := s.Send(ctx, p)
		if err != nil {
			t.Fatalf("%T: %v", p, err)
		}
		sent = append(sent, r)
	}
	send(admin, reg)
	rec, err := n.Client.Identity(ctx, reg.ID)
	if err != nil || !types.IsPseudonym(rec.Patient) {
		t.Fatalf("the patient's identity: %+v %v", rec, err)
	}
	if _, err := admin.Send(ctx, guardian); err != nil {
		t.Fatal(err)
	}
	send(n.Signer(t, "pat-early"), &types.IdentityDelegate{ID: "guardian-early", Patient: mrn})
	event := erasureEvent("view_record")
	event.Patient = mrn
	send(n.Signer(t, "doctor456"), event)
	er, err := n.Signer(t, "guardian-early").Send(ctx, &types.PatientErase{Patient: mrn, Reason: "gdpr-art17"})
	if err != nil {
		t.Fatal(err)
	}

	// The vault kept the height the key came with: the registration's.
	var introduced uint64
	var known bool
	if err := n.Consensus().WithStore(func(st *store.Store) error {
		var err error
		introduced, known, err = consensus.KeyIntroduced(st, rec.Patient)
		return err
	}); err != nil || !known || introduced != sent[0].Height {
		t.Fatalf("erased key introduced at %d (known %v, %v), want the registration's height %d", introduced, known, err, sent[0].Height)
	}

	if err := n.RunRetention(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	for i, r := range sent {
		h := r.TxHash
		tr, err := n.Client.Tx(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		if tr.Tx == nil || !tr.Tx.Redacted || !tr.Tx.Pruned {
			t.Fatalf("redacted tx %d of the erased patient (%s) keeps its sealed payload: %+v", i, h, tr.Tx)
		}
	}
	if tr, err := n.Client.Tx(ctx, er.TxHash); err != nil || tr.Tx == nil || tr.Tx.Pruned {
		t.Fatalf("the erasure was pruned: %+v %v", tr, err)
	}
	if e := n.RetentionStatus(time.Now()).Passes[2]; e.PrunedTxs != uint64(len(sent)) || e.PrunedUpTo != er.Height {
		t.Fatalf("erased pass status %+v, want %d pruned up to %d", e, len(sent), er.Height)
	}
	vr, err := n.Client.Verify(ctx, verify.Options{Signatures: true}, nil)
	if err != nil || !vr.OK {
		t.Fatalf("verify after the erased pass: %+v %v", vr, err)
	}
}
