package node_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/consensus"
	"github.com/medchain/medchain/node/client"
	"github.com/medchain/medchain/node/fhir/fhirtest"
	"github.com/medchain/medchain/node/nodetest"
	"github.com/medchain/medchain/node/rpc"
)

const pseudonymRefused = "give the patient's id, not a pseudonym"

// TestAPseudonymIsNeverTakenAsAPatient: on a chain that pseudonymizes, a
// patient's pseudonym given where a patient id is expected is refused, so
// no caller learns whose it is: every JSON-RPC reader that takes a patient
// answers -32602 (before, audit_trail by pseudonym answered the opened
// entries naming the patient id), the FHIR REST searches answer a 400
// OperationOutcome, and admission refuses a signed tx naming a pseudonym
// (nothing is recorded under a pseudonym its signer chose). The patient id
// still works, and no message quotes the pseudonym.
func TestAPseudonymIsNeverTakenAsAPatient(t *testing.T) {
	n := nodetest.Start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := n.Signer(t, "doctor456").Send(ctx, erasureEvent("view_record")); err != nil {
		t.Fatal(err)
	}
	ps, err := n.Pseudonym("patient123")
	if err != nil {
		t.Fatal(err)
	}
	unused := types.NewPseudonym([types.PseudonymSize]byte{0xee, 1})

	// The reviewer's reproduction, through the Go client.
	if page, err := n.Client.Trail(ctx, rpc.TrailParams{Patient: ps}); rpcCode(t, err) != rpc.CodeInvalidParams {
		t.Fatalf("audit_trail by pseudonym: %+v, %v; want -32602", page, err)
	}
	if page, err := n.Client.Trail(ctx, rpc.TrailParams{Patient: "patient123"}); err != nil || len(page.Entries) != 1 {
		t.Fatalf("audit_trail by patient id: %+v, %v", page, err)
	}

	r := rawRPC{t: t, hc: n.HTTPClient(t), u: n.URL}
	clinical := n.SessionClient(t, "admin", "clinical").Token()
	critical := n.SessionClient(t, "doctor456", "critical").Token() // contract_simulate's segment
	readers := []struct {
		method string
		params func(patient string) any
	}{
		{"audit_trail", func(p string) any { return rpc.TrailParams{Patient: p} }},
		{"consent_get", func(p string) any { return rpc.ConsentParams{Patient: p, ConsentType: "data_sharing"} }},
		{"consent_history", func(p string) any { return rpc.ConsentParams{Patient: p, ConsentType: "data_sharing"} }},
		{"consent_verify", func(p string) any {
			return rpc.VerifyParams{Patient: p, ConsentType: "data_sharing", Purpose: "treatment", Requester: "doctor456"}
		}},
		{"fhir_auditTrail", func(p string) any { return rpc.FHIRSearchParams{Patient: p} }},
		{"fhir_consents", func(p string) any { return rpc.FHIRSearchParams{Patient: p} }},
		{"patient_export", func(p string) any { return rpc.ExportParams{Patient: p} }},
		{"patient_erasureStatus", func(p string) any { return rpc.ErasureStatusParams{Patient: p} }},
		{"contract_simulate", func(p string) any {
			return rpc.SimulateParams{ContractExecute: types.ContractExecute{ContractID: "emergency", Action: "read", Purpose: "treatment", Patient: p}, Requester: "doctor456"}
		}},
	}
	for _, tt := range readers {
		for _, p := range []string{ps, unused} {
			t.Run(tt.method, func(t *testing.T) {
				tok := clinical
				if tt.method == "contract_simulate" {
					tok = critical
				}
				res := r.call(tok, tt.method, tt.params(p))
				wantCode(t, tt.method, res, rpc.CodeInvalidParams)
				if !strings.Contains(res.Error.Message, pseudonymRefused) || strings.Contains(res.Error.Message, p) {
					t.Fatalf("%s: message %q: want the rule, not the pseudonym", tt.method, res.Error.Message)
				}
				if tt.method == "contract_simulate" {
					return // no contract deployed: the patient id is not found
				}
				if res := r.call(tok, tt.method, tt.params("patient123")); res.Error != nil && res.Error.Code == rpc.CodeInvalidParams {
					t.Fatalf("%s by patient id: %+v", tt.method, res.Error)
				}
			})
		}
	}

	for _, path := range []string{"/fhir/AuditEvent?patient=", "/fhir/Consent?patient=", "/fhir/AuditEvent?patient=Patient/", "/fhir/Consent?patient=" + url.QueryEscape("urn:medchain:patient|")} {
		t.Run(path, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, n.URL+path+url.QueryEscape(ps), nil)
			req.Header.Set("Authorization", "Bearer "+clinical)
			resp, err := r.hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var oo struct {
				ResourceType string `json:"resourceType"`
				Issue        []struct {
					Code        string `json:"code"`
					Diagnostics string `json:"diagnostics"`
				} `json:"issue"`
			}
			if resp.StatusCode != http.StatusBadRequest || json.Unmarshal(body, &oo) != nil || oo.ResourceType != "OperationOutcome" ||
				len(oo.Issue) != 1 || oo.Issue[0].Code != "value" || !strings.Contains(oo.Issue[0].Diagnostics, pseudonymRefused) {
				t.Fatalf("GET %s<pseudonym>: %d %s; want 400 OperationOutcome value", path, resp.StatusCode, body)
			}
			if strings.Contains(string(body), ps) {
				t.Fatalf("the outcome quotes the pseudonym: %s", body)
			}
			fhirtest.Validate(t, body)
		})
	}

	// Admission: no tx names a pseudonym as its patient.
	doc, officer := n.Signer(t, "doctor456"), n.Signer(t, "privacy_officer")
	txs := []struct {
		name   string
		signer *client.Signer
		pl     types.Payload
	}{
		{"an event under the patient's pseudonym", doc, &types.AuditRecord{EventType: "data_access", Patient: ps, Actor: "doctor456", Action: "view_record", Outcome: "success"}},
		{"an event under a pseudonym of nobody", doc, &types.AuditRecord{EventType: "data_access", Patient: unused, Actor: "doctor456", Action: "view_record", Outcome: "success"}},
		{"an erasure of a pseudonym", officer, &types.PatientErase{Patient: ps, Reason: "patient_request"}},
	}
	for _, tt := range txs {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.signer.Send(ctx, tt.pl)
			if code, _, _ := client.RPCError(err); code != rpc.CodeTxRejected || !strings.Contains(err.Error(), types.CodeInvalidPayload.String()) || !strings.Contains(err.Error(), pseudonymRefused) {
				t.Fatalf("tx naming a pseudonym: %v; want rejected %s", err, types.CodeInvalidPayload)
			}
		})
	}
	if p, _, err := n.Consensus().Patient(unused); !errors.Is(err, consensus.ErrPatientUnknown) {
		t.Fatalf("a pseudonym became a patient id: %q %v", p, err)
	}
}
