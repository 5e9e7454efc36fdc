package node

import (
	"testing"

	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/node/rpc"
)

// TestADenialNamingNoPatientIsRecordedNamingNone: a refusal whose request
// names no patient (or names one by no valid id) is recorded with no
// patient, not under a made-up patient id that a real patient could hold,
// and without a resource (in clear, a FHIR reference could name a patient)
// or the client's address (the chain keeps no request log in clear); a
// refusal naming a patient keeps the patient, the resource and the address.
func TestADenialNamingNoPatientIsRecordedNamingNone(t *testing.T) {
	tests := []struct {
		name                   string
		in                     rpc.Denial
		wantPatient, wantResrc string
	}{
		{"no patient", rpc.Denial{Identity: "doctor456", Method: "identity_get", Reason: "policy administrative refused"}, "", ""},
		{"no patient, a resource", rpc.Denial{Identity: "doctor456", Method: "fhir_auditTrail", Resource: "Patient/MRN-1"}, "", ""},
		{"a patient id the gate does not take", rpc.Denial{Method: "audit_trail", Patient: "x y", Resource: "x y"}, "", ""},
		{"a patient", rpc.Denial{Identity: "doctor456", Method: "audit_trail", Patient: "patient123", Resource: "Observation/1"}, "patient123", "Observation/1"},
		{"a patient id with the characters ids allow", rpc.Denial{Identity: "dr@north.example", Method: "audit_trail", Patient: "urn:mrn:4711/b#2", Resource: "Observation/1"}, "urn:mrn:4711/b#2", "Observation/1"},
		{"a patient, a resource with a control character", rpc.Denial{Identity: "doctor456", Method: "audit_trail", Patient: "patient123", Resource: "Obs\x00"}, "patient123", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.Address = "192.0.2.7:5123"
			p := denialRecord(tt.in, "node-1")
			if _, ok := p.Details["address"]; ok != (tt.wantPatient != "") {
				t.Fatalf("address recorded %v, want it only under a patient (sealed): %v", ok, p.Details)
			}
			if err := p.ValidateBasic(); err != nil {
				t.Fatalf("recorded denial is invalid: %v", err)
			}
			if p.Patient != tt.wantPatient || p.Resource != tt.wantResrc || p.EventType != types.EventAccessDenied || p.Outcome != "denied" {
				t.Fatalf("got patient %q resource %q (%+v), want patient %q resource %q", p.Patient, p.Resource, p, tt.wantPatient, tt.wantResrc)
			}
			if types.PatientOf(p) != tt.wantPatient {
				t.Fatalf("PatientOf %q", types.PatientOf(p))
			}
			if p.Details["node"] != "node-1" {
				t.Fatalf("details %v do not name the node", p.Details)
			}
		})
	}
}
