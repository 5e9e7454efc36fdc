package node_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/node/fhir/fhirtest"
	"github.com/medchain/medchain/node/nodetest"
	"github.com/medchain/medchain/node/rpc"
)

// TestConsentsAndContractCallsArePseudonymized: a patient's consents, the
// revocation's reason and the contract calls about the patient are stored
// under the patient's pseudonym with their personal fields sealed; every
// query takes the patient id and shows them opened; the contract decides on
// the consent granted under the pseudonym; after the patient's erasure the
// queries are refused or show the pseudonym only, and nothing more is
// recorded about the patient.
func TestConsentsAndContractCallsArePseudonymized(t *testing.T) {
	n := nodetest.Start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const (
		reason   = "moved to Lyon with my daughter"
		resource = "Observation/knee-mri-31"
	)
	patient, officer := n.Signer(t, "patient123"), n.Signer(t, "privacy_officer")
	if _, err := officer.Send(ctx, &types.ContractDeploy{ID: "emergency", Source: types.ContractSource{Template: "break-glass"}}); err != nil {
		t.Fatal(err)
	}
	call := &types.ContractExecute{ContractID: "emergency", Action: "read", Purpose: "treatment", Patient: "patient123", Resource: resource}
	if r := execute(ctx, t, n, "doctor456", call); r.Allowed() {
		t.Fatalf("allowed with no consent: %+v", r.Result)
	}
	grant := &types.ConsentGrant{Patient: "patient123", ConsentType: "data_sharing", Granted: true,
		Scope: types.ConsentScope{Purposes: []string{"treatment"}, Parties: []string{"doctor456"}}}
	g, err := patient.Send(ctx, grant)
	if err != nil {
		t.Fatal(err)
	}
	allowed := execute(ctx, t, n, "doctor456", call)
	if !allowed.Allowed() || allowed.Rule != "consent" {
		t.Fatalf("the consent granted under the pseudonym did not decide the call: %+v", allowed.Result)
	}
	flagged := execute(ctx, t, n, "doctor456", &types.ContractExecute{ContractID: "emergency", Action: "read", Purpose: "emergency", Patient: "patient123", Resource: resource})
	if !flagged.ReviewRequired {
		t.Fatalf("break-glass call: %+v", flagged.Result)
	}
	if _, err := patient.Send(ctx, &types.ConsentRevoke{Patient: "patient123", ConsentType: "data_sharing", Reason: reason}); err != nil {
		t.Fatal(err)
	}

	// Stored: pseudonyms and no personal field, in the blocks and in state.
	st := n.Consensus().Store()
	for h := uint64(1); h <= st.Height(); h++ {
		raw, err := st.RawBlock(h)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{reason, resource} {
			if bytes.Contains(raw, []byte(s)) {
				t.Fatalf("block %d holds %q in clear", h, s)
			}
		}
	}
	stored, _, _, _, err := st.Tx(g.TxHash)
	if err != nil {
		t.Fatal(err)
	}
	pl, _ := stored.DecodePayload()
	pseudonym := types.PatientOf(pl)
	if stored.Redaction == nil || !types.IsPseudonym(pseudonym) {
		t.Fatalf("the grant is stored as %+v", pl)
	}

	// Queries take the patient id and open what is sealed.
	c, err := n.Client.Consent(ctx, "patient123", "data_sharing")
	if err != nil || c.Patient != "patient123" || c.Status != "revoked" || c.Reason != reason {
		t.Fatalf("consent_get: %+v %v", c, err)
	}
	hist, err := n.Client.ConsentHistory(ctx, "patient123", "data_sharing")
	if err != nil || len(hist) != 2 || hist[0].Patient != "patient123" || hist[1].Reason != reason {
		t.Fatalf("consent_history: %+v %v", hist, err)
	}
	v, err := n.Client.VerifyConsent(ctx, rpc.VerifyParams{Patient: "patient123", ConsentType: "data_sharing", Purpose: "treatment", Requester: "doctor456"})
	if err != nil || v.Granted || v.Consent == nil || v.Consent.Patient != "patient123" {
		t.Fatalf("consent_verify of a revoked consent: %+v %v", v, err)
	}
	if sim, err := critical(t, n, "doctor456").SimulateContract(ctx, rpc.SimulateParams{ContractExecute: *call, Requester: "doctor456"}); err != nil || sim.Allowed() {
		t.Fatalf("contract_simulate after the revocation: %+v %v", sim, err)
	}
	ex, err := n.Client.ContractExecutions(ctx, rpc.PageParams{ContractID: "emergency"})
	if err != nil || len(ex.Entries) != 3 {
		t.Fatalf("contract_executions: %+v %v", ex, err)
	}
	for _, e := range ex.Entries {
		if e.Call.Patient != "patient123" || e.Call.Resource != resource {
			t.Fatalf("execution not opened: %+v", e.Call)
		}
	}
	rv, err := n.Client.ContractReview(ctx, flagged.TxHash)
	if err != nil || rv.Patient != "patient123" {
		t.Fatalf("contract_review: %+v %v", rv, err)
	}
	exp, err := n.Client.PatientExport(ctx, "patient123", false)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, e := range exp.Body.Entries {
		kinds[e.Kind]++
	}
	if kinds[rpc.EntryConsent] != 2 || kinds[rpc.EntryExecution] != 3 {
		t.Fatalf("export entries by kind: %v", kinds)
	}

	// Erased: the queries are refused, the decisions name the pseudonym only.
	if _, err := officer.Send(ctx, &types.PatientErase{Patient: "patient123", Reason: "gdpr-art17"}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Client.Consent(ctx, "patient123", "data_sharing"); rpcCode(t, err) != rpc.CodePatientErased {
		t.Fatalf("consent_get of an erased patient: %v", err)
	}
	if _, err := n.Client.FHIRConsents(ctx, "patient123"); rpcCode(t, err) != rpc.CodePatientErased {
		t.Fatalf("fhir consents of an erased patient: %v", err)
	}
	// FHIR REST: an erased patient's resources are gone (410, OperationOutcome "deleted").
	clinical := n.SessionClient(t, "admin", "clinical")
	for _, path := range []string{"/fhir/Consent?patient=patient123", "/fhir/AuditEvent?patient=patient123"} {
		req, _ := http.NewRequestWithContext(ctx, "GET", n.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+clinical.Token())
		resp, err := n.HTTPClient(t).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusGone || !strings.Contains(string(body), `"deleted"`) {
			t.Fatalf("GET %s after the erasure: %d %s", path, resp.StatusCode, body)
		}
		fhirtest.Validate(t, body)
	}
	ex, err = n.Client.ContractExecutions(ctx, rpc.PageParams{ContractID: "emergency"})
	if err != nil || len(ex.Entries) != 3 {
		t.Fatalf("contract_executions after the erasure: %+v %v", ex, err)
	}
	for _, e := range ex.Entries {
		if e.Call.Patient != pseudonym || e.Call.Resource != "" {
			t.Fatalf("an erased patient's call is readable: %+v", e.Call)
		}
	}
	if _, err := patient.Send(ctx, grant); err == nil || !strings.Contains(err.Error(), "is erased") {
		t.Fatalf("a grant for an erased patient: %v", err)
	}
}
