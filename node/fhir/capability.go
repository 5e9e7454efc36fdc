package fhir

import (
	"strings"
	"time"
)

// CapabilityStatement is the subset of the FHIR R4 CapabilityStatement that
// describes medchain's read-only endpoint.
type CapabilityStatement struct {
	ResourceTypeName string       `json:"resourceType"`
	Status           string       `json:"status"`
	Date             string       `json:"date"`
	Publisher        string       `json:"publisher,omitempty"`
	Kind             string       `json:"kind"`
	Software         *CapSoftware `json:"software,omitempty"`
	Implementation   *CapImpl     `json:"implementation,omitempty"`
	FHIRVersion      string       `json:"fhirVersion"`
	Format           []string     `json:"format"`
	Rest             []CapRest    `json:"rest"`
}

// CapSoftware is CapabilityStatement.software.
type CapSoftware struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
}

// CapImpl is CapabilityStatement.implementation.
type CapImpl struct {
	Description string `json:"description"`
	URL         string `json:"url,omitempty"`
}

// CapRest is CapabilityStatement.rest.
type CapRest struct {
	Mode          string           `json:"mode"`
	Documentation string           `json:"documentation,omitempty"`
	Security      *CapSecurity     `json:"security,omitempty"`
	Resource      []CapResource    `json:"resource"`
	Interaction   []CapInteraction `json:"interaction,omitempty"`
}

// CapSecurity is CapabilityStatement.rest.security.
type CapSecurity struct {
	Cors        bool              `json:"cors"`
	Service     []CodeableConcept `json:"service,omitempty"`
	Description string            `json:"description,omitempty"`
}

// CapResource is CapabilityStatement.rest.resource.
type CapResource struct {
	Type         string           `json:"type"`
	Profile      string           `json:"profile,omitempty"`
	Interaction  []CapInteraction `json:"interaction"`
	ReadHistory  bool             `json:"readHistory"`
	UpdateCreate bool             `json:"updateCreate"`
	SearchParam  []CapSearchParam `json:"searchParam"`
}

// CapInteraction is a rest or resource interaction.
type CapInteraction struct {
	Code string `json:"code"`
}

// CapSearchParam is CapabilityStatement.rest.resource.searchParam.
type CapSearchParam struct {
	Name          string `json:"name"`
	Definition    string `json:"definition,omitempty"`
	Type          string `json:"type"`
	Documentation string `json:"documentation,omitempty"`
}

// ResourceType implements Resource.
func (*CapabilityStatement) ResourceType() string { return "CapabilityStatement" }

// ResourceID implements Resource; the statement is served at /metadata, not by id.
func (*CapabilityStatement) ResourceID() string { return "" }

// Capabilities returns the CapabilityStatement of a node's read-only FHIR
// endpoint at base (e.g. "https://node1.example/fhir"), for software version
// version, dated date (the node's build or start time).
func Capabilities(base, version string, date time.Time) *CapabilityStatement {
	patientParam := func(def, what string) CapSearchParam {
		return CapSearchParam{
			Name: "patient", Type: "reference", Definition: def,
			Documentation: "The medchain patient id (the " + SystemPatient + " identifier value) whose " + what + " to return. Required.",
		}
	}
	return &CapabilityStatement{
		ResourceTypeName: "CapabilityStatement",
		Status:           "active",
		Date:             formatInstant(date),
		Publisher:        "medchain",
		Kind:             "instance",
		Software:         &CapSoftware{Name: "medchain", Version: version},
		Implementation: &CapImpl{
			Description: "medchain ledger node: read-only FHIR view of the audit trail and consents",
			URL:         strings.TrimRight(base, "/"),
		},
		FHIRVersion: FHIRVersion,
		Format:      []string{"application/fhir+json", "json"},
		Rest: []CapRest{{
			Mode:          "server",
			Documentation: "Read-only. Writes are signed ledger transactions submitted through JSON-RPC, never FHIR.",
			Security: &CapSecurity{
				Cors:        false,
				Description: "TLS 1.3 with hybrid post-quantum key exchange; every request belongs to an authenticated medchain session.",
			},
			Resource: []CapResource{
				{
					Type:        "AuditEvent",
					Interaction: []CapInteraction{{Code: "search-type"}},
					SearchParam: []CapSearchParam{patientParam("http://hl7.org/fhir/SearchParameter/AuditEvent-patient", "audit events")},
				},
				{
					Type:        "Consent",
					Interaction: []CapInteraction{{Code: "search-type"}},
					SearchParam: []CapSearchParam{patientParam("http://hl7.org/fhir/SearchParameter/clinical-patient", "consents")},
				},
			},
		}},
	}
}
