package fhir

// OperationOutcome is the FHIR R4 OperationOutcome the node's FHIR endpoint
// returns with an HTTP error status.
type OperationOutcome struct {
	ResourceTypeName string         `json:"resourceType"`
	Issue            []OutcomeIssue `json:"issue"`
}

// OutcomeIssue is OperationOutcome.issue.
type OutcomeIssue struct {
	Severity    string `json:"severity"` // fatal | error | warning | information
	Code        string `json:"code"`     // value set issue-type, e.g. required, value, not-found, not-supported
	Diagnostics string `json:"diagnostics,omitempty"`
}

// ResourceType implements Resource.
func (*OperationOutcome) ResourceType() string { return "OperationOutcome" }

// ResourceID implements Resource; an outcome has no id.
func (*OperationOutcome) ResourceID() string { return "" }

// Outcome returns an OperationOutcome with one error issue of the given
// issue-type code (e.g. "required", "value", "not-found", "not-supported").
func Outcome(code, diagnostics string) *OperationOutcome {
	return &OperationOutcome{ResourceTypeName: "OperationOutcome",
		Issue: []OutcomeIssue{{Severity: "error", Code: code, Diagnostics: diagnostics}}}
}
