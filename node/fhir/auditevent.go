package fhir

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/medchain/medchain/chain/types"
)

// AuditEvent is the subset of the FHIR R4 AuditEvent resource medchain reads
// and writes.
type AuditEvent struct {
	ResourceTypeName string            `json:"resourceType"`
	ID               string            `json:"id,omitempty"`
	Type             Coding            `json:"type"`
	Subtype          []Coding          `json:"subtype,omitempty"`
	Action           string            `json:"action,omitempty"` // C | R | U | D | E
	Recorded         string            `json:"recorded"`
	Outcome          string            `json:"outcome,omitempty"` // 0 | 4 | 8 | 12
	OutcomeDesc      string            `json:"outcomeDesc,omitempty"`
	PurposeOfEvent   []CodeableConcept `json:"purposeOfEvent,omitempty"`
	Agent            []AuditAgent      `json:"agent"`
	Source           AuditSource       `json:"source"`
	Entity           []AuditEntity     `json:"entity,omitempty"`
}

// AuditAgent is AuditEvent.agent.
type AuditAgent struct {
	Type      *CodeableConcept `json:"type,omitempty"`
	Who       *Reference       `json:"who,omitempty"`
	Requestor bool             `json:"requestor"`
}

// AuditSource is AuditEvent.source.
type AuditSource struct {
	Site     string    `json:"site,omitempty"`
	Observer Reference `json:"observer"`
	Type     []Coding  `json:"type,omitempty"`
}

// AuditEntity is AuditEvent.entity.
type AuditEntity struct {
	What        *Reference    `json:"what,omitempty"`
	Type        *Coding       `json:"type,omitempty"`
	Role        *Coding       `json:"role,omitempty"`
	Name        string        `json:"name,omitempty"`
	Description string        `json:"description,omitempty"`
	Detail      []AuditDetail `json:"detail,omitempty"`
}

// AuditDetail is AuditEvent.entity.detail with a string value.
type AuditDetail struct {
	Type        string `json:"type"`
	ValueString string `json:"valueString"`
}

// ResourceType implements Resource.
func (*AuditEvent) ResourceType() string { return "AuditEvent" }

// ResourceID implements Resource.
func (e *AuditEvent) ResourceID() string { return e.ID }

// AuditEntry is an audit record as committed on the chain.
type AuditEntry struct {
	Record types.AuditRecord
	TxHash types.Hash
	Height uint64
	Time   time.Time // block time
	Signer string    // the identity that signed the tx (an EHR may sign for the actor)
	// Pruned: the node pruned the event's personal fields (resource
	// reference, details) under its retention policy; Record holds the
	// clear fields only. The AuditEvent says so in a detail of the tx
	// entity (PrunedDetail).
	Pruned bool
}

// PrunedDetail is the entity detail type that marks an AuditEvent whose
// personal fields the node pruned under its retention policy.
const PrunedDetail = "retention"

// prunedText is PrunedDetail's value.
const prunedText = "personal fields (resource reference, details) pruned from this node under the retention policy; the event's hash stays in the ledger"

// Outcome codes of R4 AuditEvent.outcome (value set audit-event-outcome).
const (
	OutcomeSuccess      = "0"
	OutcomeMinorFailure = "4"
	OutcomeSerious      = "8"
	OutcomeMajorFailure = "12"
)

var outcomeToFHIR = map[string]string{"success": OutcomeSuccess, "denied": OutcomeMinorFailure, "error": OutcomeSerious}

// purposeToActReason maps medchain purposes to v3-ActReason codes.
var purposeToActReason = map[string]string{
	"treatment":     "TREAT",
	"emergency":     "ETREAT",
	"research":      "HRESCH",
	"payment":       "HPAYMT",
	"operations":    "HOPERAT",
	"public_health": "PUBHLTH",
	"legal":         "HLEGAL",
	"marketing":     "HMARKT",
}

func actReasonToPurpose(code string) string {
	for p, c := range purposeToActReason {
		if c == code {
			return p
		}
	}
	return ""
}

// actionCode maps a medchain action to AuditEvent.action (C|R|U|D|E).
func actionCode(action string) string {
	a := strings.ToLower(action)
	has := func(words ...string) bool {
		return slices.ContainsFunc(words, func(w string) bool { return strings.Contains(a, w) })
	}
	switch {
	case has("delete", "remove", "purge"):
		return "D"
	case has("create", "add", "insert", "register"):
		return "C"
	case has("update", "modify", "write", "edit", "amend", "correct"):
		return "U"
	case has("read", "view", "search", "query", "get", "list", "export", "download", "print"):
		return "R"
	}
	return "E"
}

var actionCodeNames = map[string]string{"C": "create", "R": "read", "U": "update", "D": "delete", "E": "execute"}

// AuditEventFromChain maps a committed audit record to a FHIR R4 AuditEvent.
func AuditEventFromChain(e AuditEntry) *AuditEvent {
	r := e.Record
	ev := &AuditEvent{
		ResourceTypeName: "AuditEvent",
		ID:               e.TxHash.String(),
		Type:             Coding{System: SystemEventType, Code: r.EventType},
		Subtype:          []Coding{{System: SystemAction, Code: r.Action}},
		Action:           actionCode(r.Action),
		Recorded:         formatInstant(e.Time),
		Agent: []AuditAgent{{
			Who:       &Reference{Identifier: &Identifier{System: SystemIdentity, Value: r.Actor}},
			Requestor: true,
		}},
		Source: AuditSource{
			Site:     "medchain",
			Observer: Reference{Identifier: &Identifier{System: SystemIdentity, Value: e.Signer}},
			Type:     []Coding{{System: SystemSourceType, Code: "4", Display: "Application Server"}},
		},
	}
	if r.Outcome != "" {
		ev.Outcome = outcomeToFHIR[r.Outcome]
		ev.OutcomeDesc = r.Outcome
	}
	if r.Purpose != "" {
		cc := CodeableConcept{Text: r.Purpose}
		if c, ok := purposeToActReason[r.Purpose]; ok {
			cc.Coding = []Coding{{System: SystemActReason, Code: c}}
		} else {
			cc.Coding = []Coding{{System: SystemPurpose, Code: r.Purpose}}
		}
		ev.PurposeOfEvent = []CodeableConcept{cc}
	}
	if e.Signer != "" && e.Signer != r.Actor {
		ev.Agent = append(ev.Agent, AuditAgent{
			Type:      &CodeableConcept{Coding: []Coding{{System: SystemDICOM, Code: "110150", Display: "Application"}}},
			Who:       &Reference{Identifier: &Identifier{System: SystemIdentity, Value: e.Signer}},
			Requestor: false,
		})
	}
	if r.Patient != "" { // an access denial may name no patient (FHIR strings may not be empty)
		ev.Entity = append(ev.Entity, AuditEntity{
			What: &Reference{Type: "Patient", Identifier: &Identifier{System: SystemPatient, Value: r.Patient}},
			Type: &Coding{System: SystemEntityType, Code: "1", Display: "Person"},
			Role: &Coding{System: SystemObjectRole, Code: "1", Display: "Patient"},
		})
	}
	if r.Resource != "" {
		ev.Entity = append(ev.Entity, AuditEntity{
			What: &Reference{Reference: r.Resource},
			Type: &Coding{System: SystemEntityType, Code: "2", Display: "System Object"},
			Role: &Coding{System: SystemObjectRole, Code: "4", Display: "Domain Resource"},
		})
	}
	tx := AuditEntity{
		What:        &Reference{Identifier: &Identifier{System: SystemTx, Value: e.TxHash.String()}},
		Type:        &Coding{System: SystemEntityType, Code: "2", Display: "System Object"},
		Name:        "medchain tx",
		Description: "the ledger transaction that recorded this event",
		Detail:      []AuditDetail{{Type: "block_height", ValueString: strconv.FormatUint(e.Height, 10)}},
	}
	if r.SessionID != "" {
		tx.Detail = append(tx.Detail, AuditDetail{Type: "session_id", ValueString: r.SessionID})
	}
	if e.Pruned {
		tx.Detail = append(tx.Detail, AuditDetail{Type: PrunedDetail, ValueString: prunedText})
	}
	keys := make([]string, 0, len(r.Details))
	for k := range r.Details {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if r.Details[k] != "" { // FHIR strings may not be empty
			tx.Detail = append(tx.Detail, AuditDetail{Type: "details." + k, ValueString: r.Details[k]})
		}
	}
	ev.Entity = append(ev.Entity, tx)
	return ev
}

// decodeResource checks size and resourceType, then decodes b into v.
func decodeResource(b []byte, want string, v any) error {
	if len(b) > MaxResourceBytes {
		return fmt.Errorf("%w: %d bytes exceeds the %d byte limit", ErrMalformed, len(b), MaxResourceBytes)
	}
	var head struct {
		ResourceType *string `json:"resourceType"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if head.ResourceType == nil {
		return fmt.Errorf("%w: resourceType missing, want %s", ErrWrongResourceType, want)
	}
	if *head.ResourceType != want {
		return fmt.Errorf("%w: got %q, want %s", ErrWrongResourceType, *head.ResourceType, want)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrInvalid, want, err)
	}
	return nil
}

// AuditRecordFromJSON decodes an AuditEvent (as an EHR submits it) and maps it
// to an audit record. Elements medchain does not record are ignored.
func AuditRecordFromJSON(b []byte) (types.AuditRecord, error) {
	var ev AuditEvent
	if err := decodeResource(b, "AuditEvent", &ev); err != nil {
		return types.AuditRecord{}, err
	}
	return AuditRecordFromFHIR(&ev)
}

// AuditRecordFromFHIR maps an AuditEvent to an audit record and validates it
// with the chain's rules. medchain's own codings are preferred; otherwise the
// standard elements are used (see the package doc).
func AuditRecordFromFHIR(ev *AuditEvent) (types.AuditRecord, error) {
	if ev.ResourceTypeName != "AuditEvent" {
		return types.AuditRecord{}, fmt.Errorf("%w: got %q, want AuditEvent", ErrWrongResourceType, ev.ResourceTypeName)
	}
	if ev.Recorded == "" {
		return types.AuditRecord{}, fmt.Errorf("%w: AuditEvent.recorded: required", ErrInvalid)
	}
	if _, err := parseDateTime(ev.Recorded); err != nil {
		return types.AuditRecord{}, fmt.Errorf("%w: AuditEvent.recorded: %q is not an instant", ErrInvalid, ev.Recorded)
	}
	if ev.Action != "" && actionCodeNames[ev.Action] == "" {
		return types.AuditRecord{}, fmt.Errorf("%w: AuditEvent.action: %q is not C, R, U, D or E", ErrInvalid, ev.Action)
	}
	var r types.AuditRecord
	details := map[string]string{}

	// Event type: ours, else derived from the action.
	if ev.Type.System == SystemEventType {
		r.EventType = ev.Type.Code
	} else {
		if ev.Type.Code == "" {
			return r, fmt.Errorf("%w: AuditEvent.type: a code is required", ErrInvalid)
		}
		r.EventType = "data_access"
		if ev.Action == "C" || ev.Action == "U" || ev.Action == "D" {
			r.EventType = "data_modification"
		}
		details["fhir_type"] = strings.TrimPrefix(ev.Type.System+"|"+ev.Type.Code, "|")
	}

	// Action: ours, else the action code's name.
	for _, c := range ev.Subtype {
		if c.System == SystemAction {
			r.Action = c.Code
			break
		}
	}
	if r.Action == "" {
		r.Action = actionCodeNames[ev.Action]
	}
	if r.Action == "" {
		return r, fmt.Errorf("%w: AuditEvent.action or subtype: required to name the action", ErrInvalid)
	}

	// Outcome: medchain's word, else the code's.
	switch {
	case ev.OutcomeDesc != "" && types.ValidateID("outcome", ev.OutcomeDesc) == nil:
		r.Outcome = ev.OutcomeDesc // a medchain word; free text falls through to the code
	case ev.Outcome == OutcomeSuccess:
		r.Outcome = "success"
	case ev.Outcome == OutcomeMinorFailure:
		r.Outcome = "denied"
	case ev.Outcome == OutcomeSerious || ev.Outcome == OutcomeMajorFailure:
		r.Outcome = "error"
	case ev.Outcome != "":
		return r, fmt.Errorf("%w: AuditEvent.outcome: %q is not 0, 4, 8 or 12", ErrInvalid, ev.Outcome)
	}

	// Purpose: the first purposeOfEvent.
	if len(ev.PurposeOfEvent) > 0 {
		p := ev.PurposeOfEvent[0]
		switch {
		case p.code(SystemPurpose) != "":
			r.Purpose = p.code(SystemPurpose)
		case actReasonToPurpose(p.code(SystemActReason)) != "":
			r.Purpose = actReasonToPurpose(p.code(SystemActReason))
		case p.code(SystemActReason) != "":
			r.Purpose = p.code(SystemActReason)
		case len(p.Coding) > 0:
			r.Purpose = p.Coding[0].Code
		}
	}

	// Actor: the requestor.
	if len(ev.Agent) == 0 {
		return r, fmt.Errorf("%w: AuditEvent.agent: at least one required", ErrInvalid)
	}
	for i, a := range ev.Agent {
		if a.Requestor {
			r.Actor = refValue(a.Who)
			if r.Actor == "" {
				return r, fmt.Errorf("%w: AuditEvent.agent[%d].who: the requestor must be identified", ErrInvalid, i)
			}
			break
		}
	}
	if r.Actor == "" {
		return r, fmt.Errorf("%w: AuditEvent.agent: no agent has requestor=true", ErrInvalid)
	}

	// Patient, resource, and medchain's tx entity.
	for _, en := range ev.Entity {
		switch {
		case en.What != nil && en.What.Identifier != nil && en.What.Identifier.System == SystemTx:
			for _, d := range en.Detail {
				switch {
				case d.Type == "session_id":
					r.SessionID = d.ValueString
				case strings.HasPrefix(d.Type, "details."):
					details[strings.TrimPrefix(d.Type, "details.")] = d.ValueString
				}
			}
		case isPatientEntity(en):
			if r.Patient == "" {
				r.Patient = patientID(en.What)
			}
		case en.What != nil && en.What.Reference != "" && r.Resource == "":
			r.Resource = en.What.Reference
		}
	}
	if r.Patient == "" {
		return r, fmt.Errorf("%w: AuditEvent.entity: no entity identifies the patient (role 1 Patient, a Patient reference or a %s identifier)", ErrInvalid, SystemPatient)
	}
	if len(details) > 0 {
		r.Details = details
	}
	if err := r.ValidateBasic(); err != nil {
		return r, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return r, nil
}

func isPatientEntity(en AuditEntity) bool {
	if en.What == nil {
		return false
	}
	if en.What.Identifier != nil && en.What.Identifier.System == SystemPatient {
		return true
	}
	if en.Role != nil && en.Role.System == SystemObjectRole && en.Role.Code == "1" {
		return true
	}
	return en.What.Type == "Patient" || strings.HasPrefix(en.What.Reference, "Patient/")
}

func patientID(ref *Reference) string {
	if id := refValue(ref); id != "" {
		return strings.TrimPrefix(id, "Patient/")
	}
	return ""
}

// refValue returns the reference's identifier value, else its literal reference.
func refValue(ref *Reference) string {
	if ref == nil {
		return ""
	}
	if ref.Identifier != nil && ref.Identifier.Value != "" {
		return ref.Identifier.Value
	}
	return ref.Reference
}
