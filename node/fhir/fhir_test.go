package fhir

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/types"
)

var blockTime = time.Date(2026, 11, 22, 9, 30, 15, 123_000_000, time.UTC)

func fullAudit() AuditEntry {
	return AuditEntry{
		Record: types.AuditRecord{
			EventType: "data_access",
			Patient:   "patient123",
			Actor:     "doctor456",
			Action:    "view_record",
			Purpose:   "treatment",
			Outcome:   "denied",
			Resource:  "Observation/123",
			SessionID: "abc123",
			Details:   map[string]string{"ip_address": "192.168.1.1", "reason": "outside care team"},
		},
		TxHash: types.HashBytes([]byte("tx1")),
		Height: 42,
		Time:   blockTime,
		Signer: "ehr:epic",
	}
}

func minimalAudit() AuditEntry {
	return AuditEntry{
		Record: types.AuditRecord{EventType: "data_modification", Patient: "p:1@north", Actor: "nurse_7", Action: "update_allergy"},
		TxHash: types.HashBytes([]byte("tx2")),
		Height: 1,
		Time:   blockTime,
		Signer: "nurse_7",
	}
}

func fullConsent() ConsentEntry {
	return ConsentEntry{
		Grant: types.ConsentGrant{
			Patient: "patient123", ConsentType: "data_sharing", Granted: true,
			Scope: types.ConsentScope{
				Purposes:       []string{"treatment", "research", "care_coordination"},
				Parties:        []string{"doctor456", "researcher789"},
				Actions:        []string{"read", "view"},
				DataCategories: []string{"lab_results"},
				Expiration:     time.Date(2027, 12, 31, 23, 59, 59, 0, time.UTC).UnixMilli(),
			},
		},
		Status: ConsentActive,
		TxHash: types.HashBytes([]byte("tx3")),
		Time:   blockTime,
	}
}

func refusal() ConsentEntry {
	return ConsentEntry{
		Grant:  types.ConsentGrant{Patient: "patient123", ConsentType: "research_registry", Granted: false},
		Status: ConsentInactive,
		TxHash: types.HashBytes([]byte("tx4")),
		Time:   blockTime,
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAuditEventRoundTripIsLossless(t *testing.T) {
	for name, e := range map[string]AuditEntry{"full": fullAudit(), "minimal": minimalAudit()} {
		t.Run(name, func(t *testing.T) {
			ev := AuditEventFromChain(e)
			got, err := AuditRecordFromJSON(mustJSON(t, ev))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, e.Record) {
				t.Fatalf("round trip:\n got  %+v\n want %+v", got, e.Record)
			}
		})
	}
}

func TestAuditEventCarriesChainFacts(t *testing.T) {
	e := fullAudit()
	ev := AuditEventFromChain(e)
	if ev.ID != e.TxHash.String() || ev.Recorded != "2026-11-22T09:30:15.123Z" {
		t.Fatalf("id %q recorded %q", ev.ID, ev.Recorded)
	}
	if ev.Action != "R" || ev.Outcome != OutcomeMinorFailure || ev.PurposeOfEvent[0].code(SystemActReason) != "TREAT" {
		t.Fatalf("action %q outcome %q purpose %+v", ev.Action, ev.Outcome, ev.PurposeOfEvent)
	}
	if len(ev.Agent) != 2 || !ev.Agent[0].Requestor || ev.Agent[1].Requestor || ev.Agent[1].Who.Identifier.Value != "ehr:epic" {
		t.Fatalf("agents %+v", ev.Agent)
	}
	if ev.Source.Observer.Identifier.Value != "ehr:epic" {
		t.Fatalf("observer %+v", ev.Source.Observer)
	}
	tx := ev.Entity[len(ev.Entity)-1]
	if tx.What.Identifier.System != SystemTx || tx.Detail[0] != (AuditDetail{"block_height", "42"}) {
		t.Fatalf("tx entity %+v", tx)
	}
	// The actor signing for themselves is one agent, not two.
	if n := len(AuditEventFromChain(minimalAudit()).Agent); n != 1 {
		t.Fatalf("self-signed event has %d agents", n)
	}
}

// TestADenialNamingNoPatientHasNoPatientEntity: an access_denied event
// that names no patient maps to an AuditEvent without a patient entity,
// never to one whose patient identifier is empty (FHIR strings may not be
// empty) or made up.
func TestADenialNamingNoPatientHasNoPatientEntity(t *testing.T) {
	e := AuditEntry{
		Record: types.AuditRecord{EventType: types.EventAccessDenied, Actor: "doctor456", Action: "identity_get", Outcome: "denied",
			Details: map[string]string{"reason": "policy administrative refused", "node": "node-1"}},
		TxHash: types.HashBytes([]byte("tx5")), Height: 7, Time: blockTime, Signer: "node-1",
	}
	ev := AuditEventFromChain(e)
	for _, en := range ev.Entity {
		if isPatientEntity(en) {
			t.Fatalf("patient entity %+v in a denial naming no patient", en)
		}
	}
	if len(ev.Entity) != 1 || ev.Entity[0].What.Identifier.System != SystemTx {
		t.Fatalf("entities %+v, want only the tx", ev.Entity)
	}
	b := mustJSON(t, ev)
	if bytes.Contains(b, []byte(`"value":""`)) {
		t.Fatalf("empty FHIR string in %s", b)
	}
}

func TestActionCodes(t *testing.T) {
	for action, want := range map[string]string{
		"view_record": "R", "read": "R", "search_labs": "R", "export": "R",
		"create_note": "C", "register": "C", "update_allergy": "U", "amend": "U",
		"delete_image": "D", "break_glass": "E",
	} {
		if got := actionCode(action); got != want {
			t.Errorf("actionCode(%q) = %q, want %q", action, got, want)
		}
	}
}

// An AuditEvent as an EHR writes it: standard codes only, literal references.
const ehrAuditEvent = `{
  "resourceType": "AuditEvent",
  "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest", "display": "RESTful Operation"},
  "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": "read"}],
  "action": "R",
  "recorded": "2026-11-22T10:00:00+01:00",
  "outcome": "0",
  "purposeOfEvent": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "TREAT"}]}],
  "agent": [
    {"who": {"reference": "Practitioner/abc"}, "requestor": true},
    {"who": {"display": "Epic"}, "requestor": false}
  ],
  "source": {"observer": {"display": "Epic Hyperspace"}},
  "entity": [
    {"what": {"reference": "Patient/123"}, "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1"}},
    {"what": {"reference": "Observation/5"}}
  ],
  "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">read</div>"}
}`

func TestAuditRecordFromEHRSubmission(t *testing.T) {
	got, err := AuditRecordFromJSON([]byte(ehrAuditEvent))
	if err != nil {
		t.Fatal(err)
	}
	want := types.AuditRecord{
		EventType: "data_access", Patient: "123", Actor: "Practitioner/abc", Action: "read",
		Purpose: "treatment", Outcome: "success", Resource: "Observation/5",
		Details: map[string]string{"fhir_type": "http://terminology.hl7.org/CodeSystem/audit-event-type|rest"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

func TestAuditRecordFromJSONRejects(t *testing.T) {
	edit := func(f func(m map[string]any)) string {
		var m map[string]any
		if err := json.Unmarshal([]byte(ehrAuditEvent), &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		return string(mustJSON(t, m))
	}
	consent := string(mustJSON(t, ConsentFromChain(fullConsent())))
	tests := []struct {
		name, in string
		want     error
		mention  string
	}{
		{"a Consent", consent, ErrWrongResourceType, "Consent"},
		{"no resourceType", `{"action":"R"}`, ErrWrongResourceType, "missing"},
		{"not JSON", `<AuditEvent/>`, ErrMalformed, ""},
		{"an array", `[]`, ErrMalformed, ""},
		{"too large", `{"resourceType":"AuditEvent","x":"` + strings.Repeat("a", MaxResourceBytes) + `"}`, ErrMalformed, "limit"},
		{"wrong JSON type", edit(func(m map[string]any) { m["agent"] = "doctor" }), ErrInvalid, ""},
		{"no agent", edit(func(m map[string]any) { delete(m, "agent") }), ErrInvalid, "agent"},
		{"no requestor", edit(func(m map[string]any) {
			m["agent"] = []any{map[string]any{"who": map[string]any{"reference": "x"}, "requestor": false}}
		}), ErrInvalid, "requestor"},
		{"no patient", edit(func(m map[string]any) { m["entity"] = []any{} }), ErrInvalid, "patient"},
		{"bad outcome", edit(func(m map[string]any) { m["outcome"] = "3" }), ErrInvalid, "outcome"},
		{"bad action", edit(func(m map[string]any) { m["action"] = "X" }), ErrInvalid, "action"},
		{"no recorded", edit(func(m map[string]any) { delete(m, "recorded") }), ErrInvalid, "recorded"},
		{"bad recorded", edit(func(m map[string]any) { m["recorded"] = "yesterday" }), ErrInvalid, "recorded"},
		{"no action at all", edit(func(m map[string]any) { delete(m, "action"); delete(m, "subtype") }), ErrInvalid, "action"},
		{"patient id with a space", edit(func(m map[string]any) {
			m["entity"] = []any{map[string]any{"what": map[string]any{"reference": "Patient/1 2"}}}
		}), ErrInvalid, "patient"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := AuditRecordFromJSON([]byte(tt.in))
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Fatalf("error %q does not mention %q", err, tt.mention)
			}
		})
	}
	if _, err := AuditRecordFromFHIR(&AuditEvent{ResourceTypeName: "Consent"}); !errors.Is(err, ErrWrongResourceType) {
		t.Fatalf("struct of wrong type: %v", err)
	}
}

func TestConsentRoundTripIsLossless(t *testing.T) {
	for name, e := range map[string]ConsentEntry{"grant": fullConsent(), "refusal": refusal()} {
		t.Run(name, func(t *testing.T) {
			c := ConsentFromChain(e)
			g, status, err := ConsentFromJSON(mustJSON(t, c))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(g, e.Grant) || status != e.Status {
				t.Fatalf("round trip:\n got  %+v %s\n want %+v %s", g, status, e.Grant, e.Status)
			}
		})
	}
	c := ConsentFromChain(refusal())
	if c.Provision.Type != "deny" || c.PolicyRule.code(SystemActCode) != "OPTOUT" || c.Scope.code(SystemConsentScope) != "research" {
		t.Fatalf("refusal mapped to %+v %+v %+v", c.Provision, c.PolicyRule, c.Scope)
	}
	c = ConsentFromChain(fullConsent())
	if c.Provision.Period.End != "2027-12-31T23:59:59.000Z" || c.Provision.Purpose[1] != (Coding{System: SystemActReason, Code: "HRESCH"}) {
		t.Fatalf("grant mapped to %+v", c.Provision)
	}
}

func TestConsentFromJSONRejects(t *testing.T) {
	base := func(f func(c *Consent)) string {
		c := ConsentFromChain(fullConsent())
		f(c)
		return string(mustJSON(t, c))
	}
	tests := []struct {
		name, in string
		want     error
		mention  string
	}{
		{"an AuditEvent", ehrAuditEvent, ErrWrongResourceType, "AuditEvent"},
		{"bad status", base(func(c *Consent) { c.Status = "revoked" }), ErrInvalid, "status"},
		{"no patient", base(func(c *Consent) { c.Patient = nil }), ErrInvalid, "patient"},
		{"no consent type", base(func(c *Consent) { c.Category = nil; c.Scope = CodeableConcept{} }), ErrInvalid, "scope"},
		{"bad provision type", base(func(c *Consent) { c.Provision.Type = "maybe" }), ErrInvalid, "provision.type"},
		{"grant without purpose", base(func(c *Consent) { c.Provision.Purpose = nil }), ErrInvalid, "purposes"},
		{"bad period end", base(func(c *Consent) { c.Provision.Period.End = "soon" }), ErrInvalid, "period.end"},
		{"actor without reference", base(func(c *Consent) { c.Provision.Actor[0].Reference = Reference{} }), ErrInvalid, "actor[0]"},
		{"duplicate party", base(func(c *Consent) { c.Provision.Actor = append(c.Provision.Actor, c.Provision.Actor[0]) }), ErrInvalid, "twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ConsentFromJSON([]byte(tt.in))
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Fatalf("error %q does not mention %q", err, tt.mention)
			}
		})
	}
}

func TestSearchBundle(t *testing.T) {
	ev1, ev2 := AuditEventFromChain(fullAudit()), AuditEventFromChain(minimalAudit())
	b := SearchBundle("https://node1.example/fhir/", "AuditEvent?patient=patient123", []Resource{ev1, ev2}, blockTime)
	if b.Type != "searchset" || b.Total != 2 || len(b.Entry) != 2 {
		t.Fatalf("bundle %+v", b)
	}
	if b.Link[0] != (BundleLink{"self", "https://node1.example/fhir/AuditEvent?patient=patient123"}) {
		t.Fatalf("self link %+v", b.Link)
	}
	if b.Entry[0].FullURL != "https://node1.example/fhir/AuditEvent/"+ev1.ID || b.Entry[0].Search.Mode != "match" {
		t.Fatalf("entry %+v", b.Entry[0])
	}
	empty := SearchBundle("https://n/fhir", "Consent?patient=x", nil, blockTime)
	if empty.Total != 0 || empty.Entry != nil || !strings.Contains(string(mustJSON(t, empty)), `"total":0`) {
		t.Fatalf("empty bundle %s", mustJSON(t, empty))
	}
}

func TestCapabilitiesDescribeReadOnlyEndpoints(t *testing.T) {
	c := Capabilities("https://node1.example/fhir", "0.1.0", blockTime)
	if c.FHIRVersion != "4.0.1" || c.Kind != "instance" || len(c.Rest) != 1 || c.Rest[0].Mode != "server" {
		t.Fatalf("capabilities %+v", c)
	}
	got := map[string]string{}
	for _, r := range c.Rest[0].Resource {
		for _, i := range r.Interaction {
			if i.Code != "search-type" {
				t.Fatalf("%s offers %q: the endpoint is read-only search", r.Type, i.Code)
			}
		}
		if len(r.SearchParam) != 1 || r.SearchParam[0].Name != "patient" {
			t.Fatalf("%s search params %+v", r.Type, r.SearchParam)
		}
		got[r.Type] = r.SearchParam[0].Type
	}
	if !reflect.DeepEqual(got, map[string]string{"AuditEvent": "reference", "Consent": "reference"}) {
		t.Fatalf("resources %v", got)
	}
}

// TestPrunedAuditEventSaysSo: an event whose personal fields the node
// pruned under its retention policy keeps its clear fields and says why the
// others are missing, in a detail of the tx entity.
func TestPrunedAuditEventSaysSo(t *testing.T) {
	e := fullAudit()
	e.Record.Resource, e.Record.Details, e.Pruned = "", nil, true
	ev := AuditEventFromChain(e)
	var found bool
	for _, en := range ev.Entity {
		if en.What != nil && en.What.Reference != "" {
			t.Fatalf("a pruned event names a resource: %+v", en)
		}
		for _, d := range en.Detail {
			if d.Type == PrunedDetail && strings.Contains(d.ValueString, "retention policy") {
				found = true
			}
		}
	}
	if !found || ev.Subtype[0].Code != e.Record.Action || ev.PurposeOfEvent == nil {
		t.Fatalf("pruned event: %s", mustJSON(t, ev))
	}
	if ev := AuditEventFromChain(fullAudit()); strings.Contains(string(mustJSON(t, ev)), PrunedDetail+`"`) {
		t.Fatal("an event that was not pruned says it was")
	}
}
