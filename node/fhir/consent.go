package fhir

import (
	"fmt"
	"strings"
	"time"

	"github.com/medchain/medchain/chain/types"
)

// ConsentStatus is R4 Consent.status (value set consent-state-codes).
type ConsentStatus string

// Consent statuses medchain uses: a consent in force is active; a revoked or
// expired one is inactive. The other R4 codes are accepted on input.
const (
	ConsentActive         ConsentStatus = "active"
	ConsentInactive       ConsentStatus = "inactive"
	ConsentDraft          ConsentStatus = "draft"
	ConsentProposed       ConsentStatus = "proposed"
	ConsentRejected       ConsentStatus = "rejected"
	ConsentEnteredInError ConsentStatus = "entered-in-error"
)

// Valid reports whether s is an R4 consent-state code.
func (s ConsentStatus) Valid() bool {
	switch s {
	case ConsentActive, ConsentInactive, ConsentDraft, ConsentProposed, ConsentRejected, ConsentEnteredInError:
		return true
	}
	return false
}

// Consent is the subset of the FHIR R4 Consent resource medchain reads and writes.
type Consent struct {
	ResourceTypeName string            `json:"resourceType"`
	ID               string            `json:"id,omitempty"`
	Status           ConsentStatus     `json:"status"`
	Scope            CodeableConcept   `json:"scope"`
	Category         []CodeableConcept `json:"category"`
	Patient          *Reference        `json:"patient,omitempty"`
	DateTime         string            `json:"dateTime,omitempty"`
	PolicyRule       *CodeableConcept  `json:"policyRule,omitempty"`
	Provision        *Provision        `json:"provision,omitempty"`
}

// Provision is Consent.provision (top level only; medchain scopes are flat).
type Provision struct {
	Type    string            `json:"type,omitempty"` // deny | permit
	Period  *Period           `json:"period,omitempty"`
	Actor   []ProvisionActor  `json:"actor,omitempty"`
	Action  []CodeableConcept `json:"action,omitempty"`
	Purpose []Coding          `json:"purpose,omitempty"`
	Class   []Coding          `json:"class,omitempty"`
}

// ProvisionActor is Consent.provision.actor.
type ProvisionActor struct {
	Role      CodeableConcept `json:"role"`
	Reference Reference       `json:"reference"`
}

// ResourceType implements Resource.
func (*Consent) ResourceType() string { return "Consent" }

// ResourceID implements Resource.
func (c *Consent) ResourceID() string { return c.ID }

// ConsentEntry is a consent grant as committed on the chain, with its status
// now (revoked or expired grants are inactive).
type ConsentEntry struct {
	Grant  types.ConsentGrant
	Status ConsentStatus
	TxHash types.Hash // the tx that recorded the grant; its hex is the resource id
	Time   time.Time  // block time of that tx
}

// consentScopeCode picks the R4 consentscope code for a consent type.
func consentScopeCode(consentType string) string {
	t := strings.ToLower(consentType)
	switch {
	case strings.Contains(t, "research"):
		return "research"
	case strings.Contains(t, "treatment"):
		return "treatment"
	}
	return "patient-privacy"
}

var consentScopeDisplay = map[string]string{
	"research": "Research", "treatment": "Treatment", "patient-privacy": "Privacy Consent",
}

// ConsentFromChain maps a consent grant to a FHIR R4 Consent. A refusal
// (Granted=false) is a deny provision under an OPTOUT policy rule.
func ConsentFromChain(e ConsentEntry) *Consent {
	g := e.Grant
	scope := consentScopeCode(g.ConsentType)
	c := &Consent{
		ResourceTypeName: "Consent",
		Status:           e.Status,
		Scope:            CodeableConcept{Coding: []Coding{{System: SystemConsentScope, Code: scope, Display: consentScopeDisplay[scope]}}},
		Category: []CodeableConcept{
			{Coding: []Coding{{System: SystemConsentCategory, Code: consentCategoryLOINC, Display: consentCategoryDisplay}}},
			{Coding: []Coding{{System: SystemConsentType, Code: g.ConsentType}}},
		},
		Patient: &Reference{Type: "Patient", Identifier: &Identifier{System: SystemPatient, Value: g.Patient}},
	}
	if !e.TxHash.IsZero() {
		c.ID = e.TxHash.String()
	}
	if !e.Time.IsZero() {
		c.DateTime = formatInstant(e.Time)
	}
	p := &Provision{Type: "permit"}
	c.PolicyRule = &CodeableConcept{Coding: []Coding{{System: SystemActCode, Code: "OPTIN", Display: "opt-in"}}}
	if !g.Granted {
		p.Type = "deny"
		c.PolicyRule = &CodeableConcept{Coding: []Coding{{System: SystemActCode, Code: "OPTOUT", Display: "opt-out"}}}
	}
	if g.Scope.Expiration > 0 {
		p.Period = &Period{End: formatInstant(time.UnixMilli(g.Scope.Expiration))}
	}
	for _, party := range g.Scope.Parties {
		p.Actor = append(p.Actor, ProvisionActor{
			Role:      CodeableConcept{Coding: []Coding{{System: SystemParticipation, Code: "IRCP", Display: "information recipient"}}},
			Reference: Reference{Identifier: &Identifier{System: SystemIdentity, Value: party}},
		})
	}
	for _, a := range g.Scope.Actions {
		p.Action = append(p.Action, CodeableConcept{Coding: []Coding{{System: SystemAction, Code: a}}})
	}
	for _, pur := range g.Scope.Purposes {
		if code, ok := purposeToActReason[pur]; ok {
			p.Purpose = append(p.Purpose, Coding{System: SystemActReason, Code: code})
		} else {
			p.Purpose = append(p.Purpose, Coding{System: SystemPurpose, Code: pur})
		}
	}
	for _, dc := range g.Scope.DataCategories {
		p.Class = append(p.Class, Coding{System: SystemDataCat, Code: dc})
	}
	c.Provision = p
	return c
}

// ConsentFromJSON decodes a Consent and maps it to a grant and its status.
func ConsentFromJSON(b []byte) (types.ConsentGrant, ConsentStatus, error) {
	var c Consent
	if err := decodeResource(b, "Consent", &c); err != nil {
		return types.ConsentGrant{}, "", err
	}
	return ConsentFromFHIR(&c)
}

// ConsentFromFHIR maps a Consent to a grant and its status, and validates the
// grant with the chain's rules.
func ConsentFromFHIR(c *Consent) (types.ConsentGrant, ConsentStatus, error) {
	var g types.ConsentGrant
	if c.ResourceTypeName != "Consent" {
		return g, "", fmt.Errorf("%w: got %q, want Consent", ErrWrongResourceType, c.ResourceTypeName)
	}
	if !c.Status.Valid() {
		return g, "", fmt.Errorf("%w: Consent.status: %q is not an R4 consent-state code", ErrInvalid, c.Status)
	}
	g.Patient = patientID(c.Patient)
	if g.Patient == "" {
		return g, "", fmt.Errorf("%w: Consent.patient: required", ErrInvalid)
	}
	for _, cat := range c.Category {
		if t := cat.code(SystemConsentType); t != "" {
			g.ConsentType = t
			break
		}
	}
	if g.ConsentType == "" {
		g.ConsentType = c.Scope.code(SystemConsentScope)
	}
	if g.ConsentType == "" {
		return g, "", fmt.Errorf("%w: Consent.scope: a %s code is required", ErrInvalid, SystemConsentScope)
	}
	optOut := c.PolicyRule.code(SystemActCode) == "OPTOUT"
	p := c.Provision
	switch {
	case p == nil || p.Type == "":
		g.Granted = !optOut
	case p.Type == "permit":
		g.Granted = true
	case p.Type == "deny":
		g.Granted = false
	default:
		return g, "", fmt.Errorf("%w: Consent.provision.type: %q is not permit or deny", ErrInvalid, p.Type)
	}
	if p != nil {
		if p.Period != nil && p.Period.End != "" {
			t, err := parseDateTime(p.Period.End)
			if err != nil {
				return g, "", fmt.Errorf("%w: Consent.provision.period.end: %q is not a dateTime", ErrInvalid, p.Period.End)
			}
			g.Scope.Expiration = t.UnixMilli()
		}
		for i, a := range p.Actor {
			v := refValue(&a.Reference)
			if v == "" {
				return g, "", fmt.Errorf("%w: Consent.provision.actor[%d].reference: required", ErrInvalid, i)
			}
			g.Scope.Parties = append(g.Scope.Parties, v)
		}
		for i, a := range p.Action {
			v := a.code(SystemAction)
			if v == "" && len(a.Coding) > 0 {
				v = a.Coding[0].Code
			}
			if v == "" {
				return g, "", fmt.Errorf("%w: Consent.provision.action[%d]: a code is required", ErrInvalid, i)
			}
			g.Scope.Actions = append(g.Scope.Actions, v)
		}
		for _, pur := range p.Purpose {
			v := pur.Code
			if pur.System == SystemActReason {
				if n := actReasonToPurpose(pur.Code); n != "" {
					v = n
				}
			}
			g.Scope.Purposes = append(g.Scope.Purposes, v)
		}
		for _, cl := range p.Class {
			g.Scope.DataCategories = append(g.Scope.DataCategories, cl.Code)
		}
	}
	if err := g.ValidateBasic(); err != nil {
		return g, "", fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return g, c.Status, nil
}
