package node_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/node/client"
	"github.com/medchain/medchain/node/fhir"
	"github.com/medchain/medchain/node/fhir/fhirtest"
	"github.com/medchain/medchain/node/nodetest"
	"github.com/medchain/medchain/node/rpc"
)

// epicAuditEvent is an AuditEvent as an EHR sends it: HL7 codes only.
const epicAuditEvent = `{
  "resourceType": "AuditEvent",
  "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest"},
  "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": "read"}],
  "action": "R",
  "recorded": "2026-11-22T10:00:00Z",
  "outcome": "0",
  "purposeOfEvent": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "TREAT"}]}],
  "agent": [{"who": {"identifier": {"system": "urn:medchain:identity", "value": "doctor456"}}, "requestor": true}],
  "source": {"observer": {"display": "Epic"}},
  "entity": [
    {"what": {"reference": "Patient/patient123"}, "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1"}},
    {"what": {"reference": "Observation/bp-1"}}
  ]
}`

func rpcCode(t *testing.T, err error) int {
	t.Helper()
	code, _, ok := client.RPCError(err)
	if !ok {
		t.Fatalf("want a JSON-RPC error, got %v", err)
	}
	return code
}

func TestFHIRSubmitRecordsTheEHRSignedEventAndReturnsValidR4(t *testing.T) {
	n := nodetest.Start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	epic := n.Signer(t, "epic_system")
	if _, err := n.Signer(t, "admin").Send(ctx, &types.EHRRegister{SystemID: "epic_system", Vendor: "epic", SyncEnabled: true,
		SyncInterval: 300, AuditAllAccess: true, Service: "epic_system"}); err != nil {
		t.Fatal(err)
	}

	r, err := epic.SubmitFHIR(ctx, []byte(epicAuditEvent), true)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != "committed" || r.Receipt == nil || !r.Receipt.Result.OK() {
		t.Fatalf("not committed: %+v", r)
	}
	if r.Resource.ID != r.TxHash.String() {
		t.Fatalf("resource id %q, want the tx hash %s", r.Resource.ID, r.TxHash)
	}
	b, _ := json.Marshal(r.Resource)
	fhirtest.Validate(t, b)

	// The trail holds it, signed by the EHR, for the actor the EHR named.
	page, err := n.Client.Trail(ctx, rpc.TrailParams{Patient: "patient123"})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != 1 || page.Entries[0].Signer != "epic_system" || page.Entries[0].Record.Actor != "doctor456" {
		t.Fatalf("trail: %+v", page.Entries)
	}

	// Rectification: a correction names the event it corrects; the original stays.
	fix := fhir.AuditEventFromChain(fhir.AuditEntry{Record: types.AuditRecord{EventType: "data_access", Patient: "patient123",
		Actor: "doctor456", Action: "read", Purpose: "treatment", Resource: "Observation/bp-2",
		Details: map[string]string{rpc.CorrectsDetail: r.TxHash.String()}}, Time: time.Now()})
	fix.ID = ""
	fixJSON, _ := json.Marshal(fix)
	if _, err := epic.SubmitFHIR(ctx, fixJSON, true); err != nil {
		t.Fatalf("correction: %v", err)
	}
	for _, bad := range []string{"ab", types.HashBytes([]byte("nothing")).String()} {
		fix.Entity[len(fix.Entity)-1].Detail[1].ValueString = bad
		b, _ := json.Marshal(fix)
		if _, err := epic.SubmitFHIR(ctx, b, true); rpcCode(t, err) != rpc.CodeInvalidParams || !strings.Contains(err.Error(), "corrects") {
			t.Fatalf("correction of %q: %v", bad, err)
		}
	}

	// ehr_status counts them.
	st, err := n.Client.EHRStatus(ctx, "epic_system")
	if err != nil {
		t.Fatal(err)
	}
	if st.AuditEvents != 2 || st.Patients != 1 || st.LastEventTx == nil || *st.LastEventTx == r.TxHash || !st.ServiceRegistered {
		t.Fatalf("ehr_status: %+v", st)
	}
	// A doctor's own event does not count for the EHR.
	if _, err := n.Signer(t, "doctor456").Send(ctx, &types.AuditRecord{EventType: "data_access", Patient: "patient123", Actor: "doctor456", Action: "view_record"}); err != nil {
		t.Fatal(err)
	}
	if st, err = n.Client.EHRStatus(ctx, "epic_system"); err != nil || st.AuditEvents != 2 {
		t.Fatalf("ehr_status after a doctor's event: %+v %v", st, err)
	}
	if _, err := n.Client.EHRStatus(ctx, "cerner"); rpcCode(t, err) != rpc.CodeNotFound {
		t.Fatalf("unknown system: %v", err)
	}
}

func TestFHIRSubmitRejectsBadResourcesAndMismatchedTxs(t *testing.T) {
	n := nodetest.Start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	epic := n.Signer(t, "epic_system")
	call := func(p rpc.FHIRSubmitParams) error {
		var r rpc.FHIRSubmitResult
		return n.Client.Raw().CallContext(ctx, &r, "fhir_submit", p)
	}
	signed := func(p types.Payload) string {
		tx, err := epic.Build(p)
		if err != nil {
			t.Fatal(err)
		}
		return base64.StdEncoding.EncodeToString(tx.Encode())
	}
	m, err := n.Client.MapFHIR(ctx, []byte(epicAuditEvent))
	if err != nil {
		t.Fatal(err)
	}
	good := signed(m.Record)
	other := *m.Record
	other.Patient = "patient999"

	consent, _ := json.Marshal(fhir.ConsentFromChain(fhir.ConsentEntry{Grant: types.ConsentGrant{Patient: "p1", ConsentType: "x", Granted: true, Scope: types.ConsentScope{Purposes: []string{"treatment"}}}, Status: fhir.ConsentActive}))
	tests := []struct {
		name    string
		p       rpc.FHIRSubmitParams
		mention string
	}{
		{"no resource", rpc.FHIRSubmitParams{Tx: good}, "resource: required"},
		{"a Consent, not an AuditEvent", rpc.FHIRSubmitParams{Resource: consent, Tx: good}, "wrong resource type"},
		{"not JSON object", rpc.FHIRSubmitParams{Resource: json.RawMessage(`[1,2]`), Tx: good}, "malformed"},
		{"AuditEvent without agent", rpc.FHIRSubmitParams{Resource: json.RawMessage(strings.Replace(epicAuditEvent, `"agent"`, `"agentx"`, 1)), Tx: good}, "agent"},
		{"AuditEvent with bad recorded", rpc.FHIRSubmitParams{Resource: json.RawMessage(strings.Replace(epicAuditEvent, `2026-11-22T10:00:00Z`, `yesterday`, 1)), Tx: good}, "recorded"},
		{"no tx", rpc.FHIRSubmitParams{Resource: json.RawMessage(epicAuditEvent)}, "tx: required"},
		{"tx for another patient", rpc.FHIRSubmitParams{Resource: json.RawMessage(epicAuditEvent), Tx: signed(&other)}, "not the resource's mapping"},
		{"tx of another type", rpc.FHIRSubmitParams{Resource: json.RawMessage(epicAuditEvent), Tx: signed(&types.ConsentRevoke{Patient: "patient123", ConsentType: "x"})}, "want audit_record"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := call(tc.p)
			if rpcCode(t, err) != rpc.CodeInvalidParams || !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("got %v, want -32602 mentioning %q", err, tc.mention)
			}
		})
	}
	// Nothing was recorded.
	page, err := n.Client.Trail(ctx, rpc.TrailParams{Patient: "patient123"})
	if err != nil || len(page.Entries) != 0 {
		t.Fatalf("trail after rejected submissions: %+v %v", page, err)
	}
}

func TestFHIRBundlesAndRESTSurfaceAreValidR4(t *testing.T) {
	n := nodetest.Start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	doctor, patient := n.Signer(t, "doctor456"), n.Signer(t, "patient123")
	for i := 0; i < 3; i++ {
		if _, err := doctor.Send(ctx, docAuditRecord("view_record")); err != nil {
			t.Fatal(err)
		}
	}
	grant := func(typ string, exp int64) {
		if _, err := patient.Send(ctx, &types.ConsentGrant{Patient: "patient123", ConsentType: typ, Granted: true,
			Scope: types.ConsentScope{Purposes: []string{"treatment"}, Expiration: exp}}); err != nil {
			t.Fatal(err)
		}
	}
	grant("data_sharing", 0)
	grant("imaging", 0)
	grant("research_2020", 1) // long expired
	if _, err := patient.Send(ctx, &types.ConsentRevoke{Patient: "patient123", ConsentType: "imaging"}); err != nil {
		t.Fatal(err)
	}

	// JSON-RPC: a paged trail Bundle with a next link, then the consents.
	raw, err := n.Client.FHIRAuditTrail(ctx, rpc.FHIRSearchParams{Patient: "patient123", Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	fhirtest.Validate(t, raw)
	var b struct {
		Total int
		Link  []fhir.BundleLink
		Entry []struct{ FullURL string }
	}
	json.Unmarshal(raw, &b)
	if b.Total != 2 || len(b.Link) != 2 || b.Link[1].Relation != "next" || !strings.HasPrefix(b.Entry[0].FullURL, n.URL+"/fhir/AuditEvent/") {
		t.Fatalf("first page: %s", raw)
	}
	raw, err = n.Client.FHIRConsents(ctx, "patient123")
	if err != nil {
		t.Fatal(err)
	}
	fhirtest.Validate(t, raw)
	var cb struct {
		Entry []struct{ Resource fhir.Consent }
	}
	json.Unmarshal(raw, &cb)
	status := map[string]fhir.ConsentStatus{}
	for _, e := range cb.Entry {
		status[e.Resource.Category[1].Coding[0].Code] = e.Resource.Status
	}
	want := map[string]fhir.ConsentStatus{"data_sharing": fhir.ConsentActive, "imaging": fhir.ConsentInactive, "research_2020": fhir.ConsentInactive}
	if len(status) != 3 || status["data_sharing"] != want["data_sharing"] || status["imaging"] != want["imaging"] || status["research_2020"] != want["research_2020"] {
		t.Fatalf("consent statuses %v, want %v", status, want)
	}

	// REST: the same resources, and OperationOutcomes for bad requests,
	// each with a bearer token of a session in the path's segment (the
	// capability statement is public, the resources clinical).
	public, clinical := n.SessionClient(t, "admin", ""), n.SessionClient(t, "admin", "clinical")
	get := func(method, path string, wantStatus int) []byte {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, method, n.URL+path, nil)
		if strings.HasPrefix(path, "/fhir/metadata") {
			req.Header.Set("Authorization", "Bearer "+public.Token())
		} else {
			req.Header.Set("Authorization", "Bearer "+clinical.Token())
		}
		resp, err := n.HTTPClient(t).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != wantStatus {
			t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, wantStatus, body)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/fhir+json") {
			t.Fatalf("%s %s: Content-Type %q", method, path, ct)
		}
		fhirtest.Validate(t, body)
		return body
	}
	body := get("GET", "/fhir/metadata", 200)
	if !strings.Contains(string(body), `"CapabilityStatement"`) {
		t.Fatalf("metadata: %s", body)
	}
	body = get("GET", "/fhir/AuditEvent?patient=patient123", 200)
	if !strings.Contains(string(body), `"total":3`) {
		t.Fatalf("AuditEvent search: %s", body)
	}
	get("GET", "/fhir/AuditEvent?patient=Patient/patient123&_count=1", 200)
	get("GET", "/fhir/Consent?patient=urn:medchain:patient|patient123", 200)
	body = get("GET", "/fhir/AuditEvent?patient=nobody", 200)
	if !strings.Contains(string(body), `"total":0`) {
		t.Fatalf("unknown patient: %s", body)
	}
	get("GET", "/fhir/AuditEvent", 400)
	get("GET", "/fhir/Consent?patient=bad%20id", 400)
	get("GET", "/fhir/AuditEvent?patient=patient123&_count=zero", 400)
	get("GET", "/fhir/Patient/patient123", 404)
	get("POST", "/fhir/AuditEvent", 405)
}
