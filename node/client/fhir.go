package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/medchain/medchain/chain/codec"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/node/rpc"
)

// MapFHIR asks the node to map a FHIR AuditEvent to the audit_record payload
// to sign (fhir_map).
func (c *Client) MapFHIR(ctx context.Context, resource []byte) (*rpc.FHIRMapResult, error) {
	var r rpc.FHIRMapResult
	return &r, c.c.CallContext(ctx, &r, "fhir_map", rpc.FHIRResourceParams{Resource: resource})
}

// SubmitFHIR records a FHIR AuditEvent signed as s: it maps the resource
// (fhir_map), checks the payload decodes to the returned record, signs an
// audit_record tx carrying it and submits both (fhir_submit). The result
// holds the AuditEvent as recorded.
func (s *Signer) SubmitFHIR(ctx context.Context, resource []byte, wait bool) (*rpc.FHIRSubmitResult, error) {
	m, err := s.c.MapFHIR(ctx, resource)
	if err != nil {
		return nil, err
	}
	var rec types.AuditRecord
	if err := codec.Unmarshal(m.Payload, &rec); err != nil {
		return nil, fmt.Errorf("client: fhir_map returned a payload that does not decode: %w", err)
	}
	want, _ := json.Marshal(m.Record)
	got, _ := json.Marshal(&rec)
	if string(want) != string(got) {
		return nil, fmt.Errorf("client: fhir_map's payload differs from its record; refusing to sign")
	}
	tx, err := s.Build(&rec)
	if err != nil {
		return nil, err
	}
	var r rpc.FHIRSubmitResult
	err = s.c.c.CallContext(ctx, &r, "fhir_submit", rpc.FHIRSubmitParams{Resource: resource, Tx: base64.StdEncoding.EncodeToString(tx.Encode()), Wait: wait})
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// FHIRAuditTrail returns a page of a patient's trail as a FHIR Bundle (raw JSON).
func (c *Client) FHIRAuditTrail(ctx context.Context, p rpc.FHIRSearchParams) (json.RawMessage, error) {
	var r json.RawMessage
	return r, c.c.CallContext(ctx, &r, "fhir_auditTrail", p)
}

// FHIRConsents returns a patient's consents as a FHIR Bundle (raw JSON).
func (c *Client) FHIRConsents(ctx context.Context, patient string) (json.RawMessage, error) {
	var r json.RawMessage
	return r, c.c.CallContext(ctx, &r, "fhir_consents", rpc.FHIRSearchParams{Patient: patient})
}

// EHRStatus returns an EHR integration's registration and activity.
func (c *Client) EHRStatus(ctx context.Context, systemID string) (*rpc.EHRStatus, error) {
	var r rpc.EHRStatus
	return &r, c.c.CallContext(ctx, &r, "ehr_status", rpc.EHRStatusParams{SystemID: systemID})
}
