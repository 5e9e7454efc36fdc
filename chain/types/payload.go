package types

import (
	"fmt"
	"slices"
	"unicode"
	"unicode/utf8"

	"github.com/medchain/medchain/chain/crypto"
)

// Payload is the typed body of a tx.
type Payload interface {
	// TxType returns the tx type that carries this payload.
	TxType() TxType
	// ValidateBasic checks the payload without state.
	ValidateBasic() error
}

// NewPayload returns a pointer to the zero payload for t, or nil if t is unknown.
func NewPayload(t TxType) Payload {
	if t.IsGovernance() {
		return newGovernancePayload(t)
	}
	if t.IsClusterKey() {
		return newClusterKeyPayload(t)
	}
	switch t {
	case TxIdentityRegister:
		return new(IdentityRegister)
	case TxIdentityUpdateRoles:
		return new(IdentityUpdateRoles)
	case TxIdentityRevoke:
		return new(IdentityRevoke)
	case TxAuditRecord:
		return new(AuditRecord)
	case TxConsentGrant:
		return new(ConsentGrant)
	case TxConsentRevoke:
		return new(ConsentRevoke)
	case TxEHRRegister:
		return new(EHRRegister)
	case TxContractDeploy:
		return new(ContractDeploy)
	case TxContractExecute:
		return new(ContractExecute)
	case TxContractUpgrade:
		return new(ContractUpgrade)
	case TxContractRetire:
		return new(ContractRetire)
	case TxReviewRecord:
		return new(ReviewRecord)
	case TxIdentityRotateKey:
		return new(IdentityRotateKey)
	case TxPatientErase:
		return new(PatientErase)
	case TxIdentityDelegate:
		return new(IdentityDelegate)
	}
	return nil
}

// Roles known to the ledger. Identities may carry other roles (they are
// policy inputs), but only these grant tx permissions.
const (
	RoleAdmin          = "admin"
	RoleClinician      = "clinician"
	RolePhysician      = "physician"
	RoleEHR            = "ehr"
	RolePatient        = "patient"
	RolePrivacyOfficer = "privacy_officer"
	RoleAuditor        = "auditor"
	RoleResearcher     = "researcher"
	RoleNode           = "node"
)

// IdentityKind says what an identity is.
type IdentityKind string

// Identity kinds.
const (
	KindPerson  IdentityKind = "person"
	KindService IdentityKind = "service" // an EHR integration or other system
	KindPatient IdentityKind = "patient"
	KindNode    IdentityKind = "node"
)

func (k IdentityKind) valid() bool {
	switch k {
	case KindPerson, KindService, KindPatient, KindNode:
		return true
	}
	return false
}

// Limits on payload fields.
const (
	MaxIDLen      = 128
	MaxTextLen    = 1024
	MaxListLen    = 64
	MaxDetails    = 32
	MaxDetailsLen = 4096
)

// IdentityRegister adds an identity. Patient is set for patient identities
// (the patient id the identity speaks for); ActsFor lists patient ids whose
// consents this identity may manage (a delegate, e.g. a guardian).
type IdentityRegister struct {
	ID        string           `cbor:"1,keyasint" json:"id"`
	Kind      IdentityKind     `cbor:"2,keyasint" json:"kind"`
	Name      string           `cbor:"3,keyasint,omitempty" json:"name,omitempty"`
	Roles     []string         `cbor:"4,keyasint" json:"roles"`
	PublicKey crypto.PublicKey `cbor:"5,keyasint" json:"public_key"`
	Patient   string           `cbor:"6,keyasint,omitempty" json:"patient,omitempty"`
	ActsFor   []string         `cbor:"7,keyasint,omitempty" json:"acts_for,omitempty"`
}

// TxType implements Payload.
func (*IdentityRegister) TxType() TxType { return TxIdentityRegister }

// ValidateBasic implements Payload.
func (p *IdentityRegister) ValidateBasic() error {
	if err := checkID("id", p.ID); err != nil {
		return err
	}
	if p.ID == AnonymousActor {
		return fmt.Errorf("%w: id: %q is reserved for refusals of requests that carried no identity", ErrInvalid, p.ID)
	}
	if !p.Kind.valid() {
		return fmt.Errorf("%w: kind: %q is not person, service, patient or node", ErrInvalid, p.Kind)
	}
	if err := checkText("name", p.Name); err != nil {
		return err
	}
	if err := checkIDList("roles", p.Roles, true); err != nil {
		return err
	}
	if err := p.PublicKey.Validate(); err != nil {
		return fmt.Errorf("%w: public_key: %v", ErrInvalid, err)
	}
	if p.Kind == KindPatient {
		if err := checkID("patient", p.Patient); err != nil {
			return err
		}
	} else if p.Patient != "" {
		return fmt.Errorf("%w: patient: only patient identities name a patient", ErrInvalid)
	}
	return checkActsFor(p.ActsFor)
}

// IdentityUpdateRoles replaces an identity's roles and delegations.
type IdentityUpdateRoles struct {
	ID      string   `cbor:"1,keyasint" json:"id"`
	Roles   []string `cbor:"2,keyasint" json:"roles"`
	ActsFor []string `cbor:"3,keyasint,omitempty" json:"acts_for,omitempty"`
}

// TxType implements Payload.
func (*IdentityUpdateRoles) TxType() TxType { return TxIdentityUpdateRoles }

// ValidateBasic implements Payload.
func (p *IdentityUpdateRoles) ValidateBasic() error {
	if err := checkID("id", p.ID); err != nil {
		return err
	}
	if err := checkIDList("roles", p.Roles, true); err != nil {
		return err
	}
	return checkActsFor(p.ActsFor)
}

// IdentityRevoke revokes an identity.
type IdentityRevoke struct {
	ID     string `cbor:"1,keyasint" json:"id"`
	Reason string `cbor:"2,keyasint,omitempty" json:"reason,omitempty"`
}

// TxType implements Payload.
func (*IdentityRevoke) TxType() TxType { return TxIdentityRevoke }

// ValidateBasic implements Payload.
func (p *IdentityRevoke) ValidateBasic() error {
	if err := checkID("id", p.ID); err != nil {
		return err
	}
	return checkText("reason", p.Reason)
}

// AuditRecord is one access event: the seed's record_audit_trail fields plus
// purpose, outcome, a FHIR resource reference and the session id.
type AuditRecord struct {
	EventType string            `cbor:"1,keyasint" json:"event_type"` // e.g. data_access, data_modification
	Patient   string            `cbor:"2,keyasint" json:"patient"`
	Actor     string            `cbor:"3,keyasint" json:"actor"` // who acted (the signer may be an EHR acting for them)
	Action    string            `cbor:"4,keyasint" json:"action"`
	Purpose   string            `cbor:"5,keyasint,omitempty" json:"purpose,omitempty"`
	Outcome   string            `cbor:"6,keyasint,omitempty" json:"outcome,omitempty"`  // success, denied, error
	Resource  string            `cbor:"7,keyasint,omitempty" json:"resource,omitempty"` // FHIR reference, e.g. Observation/123
	SessionID string            `cbor:"8,keyasint,omitempty" json:"session_id,omitempty"`
	Details   map[string]string `cbor:"9,keyasint,omitempty" json:"details,omitempty"`
}

// EventAccessDenied is the event type of an access a zero-trust gate
// refused. It is the only event type that may name no patient: a refused
// request need not name one (a login, an administrative call), and such a
// refusal is about its actor and the node that refused it, not about a
// patient.
const EventAccessDenied = "access_denied"

// AnonymousActor is the actor of an EventAccessDenied event whose request
// carried no identity (no session, or an unreadable one). No identity may
// be registered under it (IdentityRegister.ValidateBasic), so such refusals
// never land in a real identity's trail.
const AnonymousActor = "anonymous"

// TxType implements Payload.
func (*AuditRecord) TxType() TxType { return TxAuditRecord }

// DenialDetails are the detail keys an EventAccessDenied event that names
// no patient may carry: it is stored in clear and never pruned, so it
// carries no resource and no other detail (no free text about a person, no
// client address).
var DenialDetails = []string{"reason", "node", "policy"}

// ValidateBasic implements Payload. Patient is required, except for an
// EventAccessDenied event, where it may be empty: the event then names no
// patient, is stored in clear (see PatientOf) and is found through its
// actor's trail, so it may carry no resource and only the DenialDetails
// (and only a node may sign it: chain/state authorize). No patient id is
// empty (checkID), so the empty form cannot stand for a real patient.
func (p *AuditRecord) ValidateBasic() error {
	if p.Patient == "" && p.EventType == EventAccessDenied {
		if p.Resource != "" {
			return fmt.Errorf("%w: resource: an %s event that names no patient is stored in clear and may carry no resource", ErrInvalid, EventAccessDenied)
		}
		for k := range p.Details {
			if !slices.Contains(DenialDetails, k) {
				return fmt.Errorf("%w: details[%s]: an %s event that names no patient is stored in clear and may carry only %v", ErrInvalid, k, EventAccessDenied, DenialDetails)
			}
		}
	}
	for _, f := range []struct{ name, v string }{{"event_type", p.EventType}, {"patient", p.Patient}, {"actor", p.Actor}, {"action", p.Action}} {
		if f.name == "patient" && f.v == "" && p.EventType == EventAccessDenied {
			continue
		}
		if err := checkID(f.name, f.v); err != nil {
			if f.name == "patient" && f.v == "" {
				return fmt.Errorf("%w (only an %s event may name no patient)", err, EventAccessDenied)
			}
			return err
		}
	}
	for _, f := range []struct{ name, v string }{{"purpose", p.Purpose}, {"outcome", p.Outcome}, {"session_id", p.SessionID}} {
		if f.v != "" {
			if err := checkID(f.name, f.v); err != nil {
				return err
			}
		}
	}
	if err := checkText("resource", p.Resource); err != nil {
		return err
	}
	if len(p.Details) > MaxDetails {
		return fmt.Errorf("%w: details: %d entries, limit %d", ErrInvalid, len(p.Details), MaxDetails)
	}
	total := 0
	for k, v := range p.Details {
		if err := checkID("details key", k); err != nil {
			return err
		}
		if err := checkText("details["+k+"]", v); err != nil {
			return err
		}
		total += len(k) + len(v)
	}
	if total > MaxDetailsLen {
		return fmt.Errorf("%w: details: %d bytes, limit %d", ErrInvalid, total, MaxDetailsLen)
	}
	return nil
}

// ConsentScope bounds a consent: for which purposes, to which parties, for
// which actions and data categories, until when. Empty Parties, Actions or
// DataCategories mean "any"; Purposes may not be empty for a grant.
type ConsentScope struct {
	Purposes       []string `cbor:"1,keyasint" json:"allowed_purposes"`
	Parties        []string `cbor:"2,keyasint,omitempty" json:"authorized_parties,omitempty"`
	Actions        []string `cbor:"3,keyasint,omitempty" json:"allowed_actions,omitempty"`
	DataCategories []string `cbor:"4,keyasint,omitempty" json:"data_categories,omitempty"`
	Expiration     int64    `cbor:"5,keyasint,omitempty" json:"expiration,omitempty"` // Unix ms; 0: no expiry
}

// ConsentGrant records a patient's decision for one consent type (the seed's
// manage_patient_consent). Granted=false records an explicit refusal.
type ConsentGrant struct {
	Patient     string       `cbor:"1,keyasint" json:"patient"`
	ConsentType string       `cbor:"2,keyasint" json:"consent_type"`
	Granted     bool         `cbor:"3,keyasint" json:"granted"`
	Scope       ConsentScope `cbor:"4,keyasint" json:"scope"`
}

// TxType implements Payload.
func (*ConsentGrant) TxType() TxType { return TxConsentGrant }

// ValidateBasic implements Payload.
func (p *ConsentGrant) ValidateBasic() error {
	if err := checkID("patient", p.Patient); err != nil {
		return err
	}
	if err := checkID("consent_type", p.ConsentType); err != nil {
		return err
	}
	if p.Granted && len(p.Scope.Purposes) == 0 {
		return fmt.Errorf("%w: scope.allowed_purposes: a granted consent must name at least one purpose", ErrInvalid)
	}
	if err := checkIDList("scope.allowed_purposes", p.Scope.Purposes, false); err != nil {
		return err
	}
	if err := checkIDList("scope.authorized_parties", p.Scope.Parties, false); err != nil {
		return err
	}
	if err := checkIDList("scope.allowed_actions", p.Scope.Actions, false); err != nil {
		return err
	}
	if err := checkIDList("scope.data_categories", p.Scope.DataCategories, false); err != nil {
		return err
	}
	if p.Scope.Expiration < 0 {
		return fmt.Errorf("%w: scope.expiration: must be Unix milliseconds or 0", ErrInvalid)
	}
	return nil
}

// ConsentRevoke withdraws a consent.
type ConsentRevoke struct {
	Patient     string `cbor:"1,keyasint" json:"patient"`
	ConsentType string `cbor:"2,keyasint" json:"consent_type"`
	Reason      string `cbor:"3,keyasint,omitempty" json:"reason,omitempty"`
}

// TxType implements Payload.
func (*ConsentRevoke) TxType() TxType { return TxConsentRevoke }

// ValidateBasic implements Payload.
func (p *ConsentRevoke) ValidateBasic() error {
	if err := checkID("patient", p.Patient); err != nil {
		return err
	}
	if err := checkID("consent_type", p.ConsentType); err != nil {
		return err
	}
	return checkText("reason", p.Reason)
}

// EHRRegister registers or reconfigures an EHR integration (the seed's
// integrate_ehr_system).
type EHRRegister struct {
	SystemID       string `cbor:"1,keyasint" json:"system_id"`
	Name           string `cbor:"2,keyasint,omitempty" json:"name,omitempty"`
	Vendor         string `cbor:"3,keyasint,omitempty" json:"vendor,omitempty"` // epic, cerner, fhir, ...
	SyncEnabled    bool   `cbor:"4,keyasint" json:"sync_enabled"`
	SyncInterval   uint32 `cbor:"5,keyasint" json:"sync_interval"` // seconds
	Endpoint       string `cbor:"6,keyasint,omitempty" json:"api_endpoint,omitempty"`
	AuthMethod     string `cbor:"7,keyasint,omitempty" json:"auth_method,omitempty"`
	AuditAllAccess bool   `cbor:"8,keyasint" json:"audit_all_access"`
	Service        string `cbor:"9,keyasint,omitempty" json:"service_identity,omitempty"` // identity the system signs as
}

// TxType implements Payload.
func (*EHRRegister) TxType() TxType { return TxEHRRegister }

// ValidateBasic implements Payload.
func (p *EHRRegister) ValidateBasic() error {
	if err := checkID("system_id", p.SystemID); err != nil {
		return err
	}
	for _, f := range []struct{ name, v string }{{"name", p.Name}, {"vendor", p.Vendor}, {"api_endpoint", p.Endpoint}, {"auth_method", p.AuthMethod}} {
		if err := checkText(f.name, f.v); err != nil {
			return err
		}
	}
	if p.SyncEnabled && p.SyncInterval == 0 {
		return fmt.Errorf("%w: sync_interval: must be positive when sync is enabled", ErrInvalid)
	}
	if p.Service != "" {
		return checkID("service_identity", p.Service)
	}
	return nil
}

// checkID accepts 1..MaxIDLen characters of letters, digits and . _ - : @ / #.
// Identifiers are matched exactly, so a narrow alphabet keeps look-alikes and
// control characters out of keys and indexes.
func checkID(field, s string) error {
	if s == "" {
		return fmt.Errorf("%w: %s: required", ErrInvalid, field)
	}
	if len(s) > MaxIDLen {
		return fmt.Errorf("%w: %s: %d bytes, limit %d", ErrInvalid, field, len(s), MaxIDLen)
	}
	for i, r := range s {
		if r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-' || r == ':' || r == '@' || r == '/' || r == '#') {
			continue
		}
		return fmt.Errorf("%w: %s: character %q at %d not allowed (letters, digits and . _ - : @ / #)", ErrInvalid, field, r, i)
	}
	return nil
}

// checkText accepts up to MaxTextLen bytes of UTF-8 without control characters.
// Text is stored and returned as inert data: nothing ever interprets it.
func checkText(field, s string) error {
	if len(s) > MaxTextLen {
		return fmt.Errorf("%w: %s: %d bytes, limit %d", ErrInvalid, field, len(s), MaxTextLen)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s: not UTF-8", ErrInvalid, field)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: %s: control character %U not allowed", ErrInvalid, field, r)
		}
	}
	return nil
}

func checkIDList(field string, l []string, required bool) error {
	if required && len(l) == 0 {
		return fmt.Errorf("%w: %s: at least one required", ErrInvalid, field)
	}
	if len(l) > MaxListLen {
		return fmt.Errorf("%w: %s: %d entries, limit %d", ErrInvalid, field, len(l), MaxListLen)
	}
	for i, s := range l {
		if err := checkID(fmt.Sprintf("%s[%d]", field, i), s); err != nil {
			return err
		}
		if slices.Contains(l[:i], s) {
			return fmt.Errorf("%w: %s: %q listed twice", ErrInvalid, field, s)
		}
	}
	return nil
}

// ValidateID reports whether s is a valid identifier (see the tx field rules).
func ValidateID(field, s string) error { return checkID(field, s) }
