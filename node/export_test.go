package node_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/node/client"
	"github.com/medchain/medchain/node/fhir/fhirtest"
	"github.com/medchain/medchain/node/nodetest"
	"github.com/medchain/medchain/node/rpc"
)

func TestPatientExportVerifiesOfflineAndTamperingIsDetected(t *testing.T) {
	n := nodetest.Start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	doctor, patient := n.Signer(t, "doctor456"), n.Signer(t, "patient123")
	first, err := doctor.Send(ctx, docAuditRecord("view_record"))
	if err != nil {
		t.Fatal(err)
	}
	fix := docAuditRecord("update_record")
	fix.Details = map[string]string{rpc.CorrectsDetail: first.TxHash.String()}
	if _, err := doctor.Send(ctx, fix); err != nil {
		t.Fatal(err)
	}
	// Another patient's event is not exported.
	if _, err := doctor.Send(ctx, &types.AuditRecord{EventType: "data_access", Patient: "patient999", Actor: "doctor456", Action: "view_record"}); err != nil {
		t.Fatal(err)
	}
	if _, err := patient.Send(ctx, &types.ConsentGrant{Patient: "patient123", ConsentType: "imaging", Granted: true, Scope: types.ConsentScope{Purposes: []string{"treatment"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := patient.Send(ctx, &types.ConsentRevoke{Patient: "patient123", ConsentType: "imaging", Reason: "moved"}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Signer(t, "privacy_officer").Send(ctx, &types.ContractDeploy{ID: "emergency", Source: types.ContractSource{Template: "break-glass"}}); err != nil {
		t.Fatal(err)
	}
	execute(ctx, t, n, "doctor456", &types.ContractExecute{ContractID: "emergency", Action: "read", Purpose: "emergency", Patient: "patient123", Segment: "critical"})

	e, err := n.Client.PatientExport(ctx, "patient123", true)
	if err != nil {
		t.Fatal(err)
	}
	fhirtest.Validate(t, e.FHIR)
	e.FHIR = nil
	if got := e.Body.Corrections[first.TxHash.String()]; len(got) != 1 {
		t.Fatalf("corrections: %v", e.Body.Corrections)
	}

	// Through JSON and a file, as a patient would hold it.
	raw, _ := json.Marshal(e)
	var held rpc.PatientExport
	if err := json.Unmarshal(raw, &held); err != nil {
		t.Fatal(err)
	}
	g, err := state.LoadGenesis(filepath.Join(n.Config.Node.DataDir, "genesis.json"))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := client.VerifyExport(&held, g)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Entries[rpc.EntryAudit] != 2 || rep.Entries[rpc.EntryConsent] != 2 || rep.Entries[rpc.EntryExecution] != 1 {
		t.Fatalf("report: %+v", rep)
	}

	tamper := func(name, mention string, f func(e *rpc.PatientExport)) {
		t.Run(name, func(t *testing.T) {
			var c rpc.PatientExport
			json.Unmarshal(raw, &c)
			f(&c)
			if _, err := client.VerifyExport(&c, g); err == nil || !strings.Contains(err.Error(), mention) {
				t.Fatalf("got %v, want an error mentioning %q", err, mention)
			}
		})
	}
	tamper("entry dropped", "export signature", func(c *rpc.PatientExport) { c.Body.Entries = c.Body.Entries[1:] })
	tamper("payload changed", "export signature", func(c *rpc.PatientExport) { c.Body.Entries[0].Tx.Payload[5] ^= 1 })
	tamper("signature changed", "export signature", func(c *rpc.PatientExport) { c.Signature.Sig[10] ^= 1 })
	tamper("patient changed", "export signature", func(c *rpc.PatientExport) { c.Body.Patient = "patient999" })
	tamper("head signature changed", "export signature", func(c *rpc.PatientExport) { c.Body.HeadSignature.Sig[3] ^= 1 })
	tamper("node key swapped", "not the key genesis registers", func(c *rpc.PatientExport) { c.Body.NodeKey = g.Identities[0].PublicKey })
	other := *g
	other.ChainID = "other-chain"
	t.Run("another chain's genesis", func(t *testing.T) {
		if _, err := client.VerifyExport(&held, &other); err == nil || !strings.Contains(err.Error(), "chain") {
			t.Fatalf("got %v", err)
		}
	})

}

func TestPatientExportRefusesUnknownAndMalformedPatients(t *testing.T) {
	n := nodetest.Start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := n.Signer(t, "doctor456").Send(ctx, docAuditRecord("view_record")); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Client.PatientExport(ctx, "nobody", false); rpcCode(t, err) != rpc.CodeNotFound || !strings.Contains(err.Error(), "nobody") {
		t.Fatalf("unknown patient: %v", err)
	}
	if _, err := n.Client.PatientExport(ctx, "bad id", false); rpcCode(t, err) != rpc.CodeInvalidParams {
		t.Fatalf("malformed patient: %v", err)
	}
}
