package fhir

import (
	"errors"
	"time"
)

// Errors returned by this package.
var (
	// ErrWrongResourceType is returned for JSON whose resourceType is not the one expected.
	ErrWrongResourceType = errors.New("fhir: wrong resource type")
	// ErrMalformed is returned for input that is not a JSON object or exceeds MaxResourceBytes.
	ErrMalformed = errors.New("fhir: malformed resource")
	// ErrInvalid is returned for a resource that lacks a required element or
	// carries a value medchain cannot record; the message names the element.
	ErrInvalid = errors.New("fhir: invalid resource")
)

// MaxResourceBytes bounds a resource accepted from an EHR.
const MaxResourceBytes = 64 << 10

// FHIRVersion is the FHIR release this package speaks.
const FHIRVersion = "4.0.1"

// Code systems and identifier systems. The urn:medchain:fhir:* systems carry
// medchain's own values so that a mapping round-trips (invariant 2).
const (
	SystemEventType   = "urn:medchain:fhir:event-type"
	SystemAction      = "urn:medchain:fhir:action"
	SystemPurpose     = "urn:medchain:fhir:purpose"
	SystemConsentType = "urn:medchain:fhir:consent-type"
	SystemDataCat     = "urn:medchain:fhir:data-category"
	SystemPatient     = "urn:medchain:patient"  // identifier system of patient ids
	SystemIdentity    = "urn:medchain:identity" // identifier system of identity ids
	SystemTx          = "urn:medchain:tx"       // identifier system of tx hashes

	SystemActReason        = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
	SystemActCode          = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
	SystemParticipation    = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
	SystemDICOM            = "http://dicom.nema.org/resources/ontology/DCM"
	SystemEntityType       = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
	SystemObjectRole       = "http://terminology.hl7.org/CodeSystem/object-role"
	SystemSourceType       = "http://terminology.hl7.org/CodeSystem/security-source-type"
	SystemConsentScope     = "http://terminology.hl7.org/CodeSystem/consentscope"
	SystemConsentCategory  = "http://loinc.org"
	SystemConsentAction    = "http://terminology.hl7.org/CodeSystem/consentaction"
	SystemRestfulSecurity  = "http://terminology.hl7.org/CodeSystem/restful-security-service"
	instantLayout          = "2006-01-02T15:04:05.000Z07:00"
	consentCategoryLOINC   = "59284-0"
	consentCategoryDisplay = "Patient Consent"
)

// Resource is a FHIR resource this package builds.
type Resource interface {
	// ResourceType returns the FHIR resourceType, e.g. "AuditEvent".
	ResourceType() string
	// ResourceID returns the logical id, or "" if it has none.
	ResourceID() string
}

// Coding is a FHIR Coding.
type Coding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
}

// CodeableConcept is a FHIR CodeableConcept.
type CodeableConcept struct {
	Coding []Coding `json:"coding,omitempty"`
	Text   string   `json:"text,omitempty"`
}

// code returns the code of the first coding in system, or "".
func (c *CodeableConcept) code(system string) string {
	if c == nil {
		return ""
	}
	for _, cd := range c.Coding {
		if cd.System == system {
			return cd.Code
		}
	}
	return ""
}

// Identifier is a FHIR Identifier.
type Identifier struct {
	System string `json:"system,omitempty"`
	Value  string `json:"value,omitempty"`
}

// Reference is a FHIR Reference: a literal reference, a logical one by
// identifier, or both.
type Reference struct {
	Reference  string      `json:"reference,omitempty"`
	Type       string      `json:"type,omitempty"`
	Identifier *Identifier `json:"identifier,omitempty"`
	Display    string      `json:"display,omitempty"`
}

// Period is a FHIR Period (dateTime bounds).
type Period struct {
	Start string `json:"start,omitempty"`
	End   string `json:"end,omitempty"`
}

// formatInstant formats t as a FHIR instant in UTC with milliseconds.
func formatInstant(t time.Time) string { return t.UTC().Format(instantLayout) }

// parseDateTime parses a FHIR instant or a dateTime of full precision.
// Dates without a time (YYYY, YYYY-MM, YYYY-MM-DD) mean the start of that
// period in UTC.
func parseDateTime(s string) (time.Time, error) {
	for _, l := range []string{time.RFC3339Nano, "2006-01-02", "2006-01", "2006"} {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errors.New("not a FHIR dateTime")
}
