package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/medchain/medchain/chain/codec"
	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/node/fhir"
)

// FHIRAPI is the fhir_ namespace: FHIR R4 for EHR integrations.
//
// Writes stay signed by the EHR: the node never signs for it. An EHR records
// a FHIR AuditEvent in two calls:
//
//  1. fhir_map(resource) maps the AuditEvent to medchain's audit_record
//     payload and returns it (JSON and the canonical CBOR to put in the tx);
//  2. the EHR signs a tx of type audit_record carrying exactly that payload
//     with its service identity's key, and fhir_submit(resource, tx) checks
//     that the tx's payload is the resource's mapping, admits the tx, and
//     returns the AuditEvent as recorded (id = tx hash, recorded = block time).
//
// The Go client does both in one call (client.Signer.SubmitFHIR).
type FHIRAPI struct {
	l    Ledger
	opts Options
}

type baseKey struct{}

// withRequestBase remembers the FHIR base URL of r (scheme, host, /fhir) in
// its context, for the fullUrl and link elements of the Bundles fhir_ returns.
func withRequestBase(r *http.Request) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), baseKey{}, fhirBase(r)))
}

func fhirBase(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/fhir"
}

func baseFrom(ctx context.Context) string {
	if b, ok := ctx.Value(baseKey{}).(string); ok {
		return b
	}
	return "http://localhost/fhir"
}

// FHIRResourceParams carry one FHIR resource.
type FHIRResourceParams struct {
	Resource json.RawMessage `json:"resource"`
}

// FHIRMapResult is fhir_map's result: the payload to sign.
type FHIRMapResult struct {
	TxType  types.TxType       `json:"tx_type"` // audit_record
	Record  *types.AuditRecord `json:"record"`
	Payload []byte             `json:"payload"` // canonical CBOR of record: the tx's payload, base64
}

// Map maps a FHIR AuditEvent to the audit_record payload the EHR signs.
func (a *FHIRAPI) Map(p FHIRResourceParams) (*FHIRMapResult, error) {
	rec, err := mapAuditEvent(p.Resource)
	if err != nil {
		return nil, err
	}
	b, err := codec.Marshal(rec)
	if err != nil {
		return nil, toRPC(err)
	}
	return &FHIRMapResult{TxType: types.TxAuditRecord, Record: rec, Payload: b}, nil
}

func mapAuditEvent(raw json.RawMessage) (*types.AuditRecord, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, invalidParams("resource: required (a FHIR R4 AuditEvent)")
	}
	rec, err := fhir.AuditRecordFromJSON(raw)
	if err != nil {
		return nil, invalidParams("resource: %v", err)
	}
	return &rec, nil
}

// FHIRSubmitParams are fhir_submit's params.
type FHIRSubmitParams struct {
	Resource json.RawMessage `json:"resource"` // the AuditEvent
	Tx       string          `json:"tx"`       // base64 of the signed audit_record tx carrying fhir_map's payload
	Wait     bool            `json:"wait"`     // return after commit
}

// FHIRSubmitResult is fhir_submit's result.
type FHIRSubmitResult struct {
	SubmitResult
	// Resource is the AuditEvent as the chain records it: id is the tx hash,
	// recorded is the block time (the tx's own timestamp while pending).
	Resource *fhir.AuditEvent `json:"resource"`
}

// Submit checks that a signed audit_record tx carries the mapping of a FHIR
// AuditEvent, submits it, and returns the resource as recorded.
func (a *FHIRAPI) Submit(ctx context.Context, p FHIRSubmitParams) (*FHIRSubmitResult, error) {
	rec, err := mapAuditEvent(p.Resource)
	if err != nil {
		return nil, err
	}
	if err := checkCorrection(a.l, rec); err != nil {
		return nil, err
	}
	txAPI := &TxAPI{l: a.l, opts: a.opts}
	tx, err := txAPI.decode(p.Tx)
	if err != nil {
		return nil, err
	}
	if tx.Type != types.TxAuditRecord {
		return nil, invalidParams("tx: type %s, want audit_record (the payload fhir_map returned)", tx.Type)
	}
	want, err := codec.Marshal(rec)
	if err != nil {
		return nil, toRPC(err)
	}
	if !bytes.Equal(tx.Payload, want) {
		return nil, invalidParams("tx: its payload is not the resource's mapping: sign exactly the payload fhir_map returns for this resource")
	}
	r, err := txAPI.Submit(ctx, SubmitParams{Tx: p.Tx, Wait: p.Wait})
	if err != nil {
		return nil, err
	}
	at := tx.Time()
	height := uint64(0)
	if r.Receipt != nil {
		height = r.Receipt.Height
		if b, err := a.l.Reader().Block(height); err == nil {
			at = b.Header.BlockTime()
		}
	}
	ev := fhir.AuditEventFromChain(fhir.AuditEntry{Record: *rec, TxHash: r.TxHash, Height: height, Time: at, Signer: tx.Signer})
	return &FHIRSubmitResult{SubmitResult: *r, Resource: ev}, nil
}

// CorrectsDetail is the details key of an audit event that corrects
// (rectifies) an earlier one: its value is the hex tx hash of that event.
// The original is never changed; readers show both, linked.
const CorrectsDetail = "corrects"

// checkCorrection refuses a correction that does not name a committed audit
// event of the same patient.
func checkCorrection(l Ledger, rec *types.AuditRecord) error {
	v, ok := rec.Details[CorrectsDetail]
	if !ok {
		return nil
	}
	h, err := types.ParseHash(v)
	if err != nil {
		return invalidParams("details.%s: %q is not a tx hash: %v", CorrectsDetail, v, err)
	}
	tx, _, _, _, err := l.Reader().Tx(h)
	if isNotFound(err) {
		return invalidParams("details.%s: tx %s is not in the chain", CorrectsDetail, h)
	}
	if err != nil {
		return toRPC(err)
	}
	if tx, err = signedTx(l, tx); err != nil { // stored redacted: compare the signed event
		return invalidParams("details.%s: tx %s cannot be read: %v", CorrectsDetail, h, err)
	}
	p, err := tx.DecodePayload()
	orig, ok := p.(*types.AuditRecord)
	if err != nil || !ok {
		return invalidParams("details.%s: tx %s is a %s, not an audit event", CorrectsDetail, h, tx.Type)
	}
	if orig.Patient != rec.Patient {
		return invalidParams("details.%s: tx %s is an event of another patient", CorrectsDetail, h)
	}
	return nil
}

// FHIRSearchParams are the params of fhir_auditTrail and fhir_consents.
type FHIRSearchParams struct {
	Patient string `json:"patient"`
	Cursor  string `json:"cursor,omitempty"` // fhir_auditTrail: from a previous Bundle's next link
	Limit   int    `json:"limit,omitempty"`  // fhir_auditTrail: default 100, at most 1000
}

// AuditTrail returns a page of a patient's audit trail as a FHIR searchset
// Bundle of AuditEvents, oldest first, with a next link when more remain.
func (a *FHIRAPI) AuditTrail(ctx context.Context, p FHIRSearchParams) (*fhir.Bundle, error) {
	b, err := auditBundle(a.l, baseFrom(ctx), p)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// Consents returns every consent of a patient as a FHIR searchset Bundle of
// Consents: status active while in force, inactive once revoked or expired
// (at the head block's time).
func (a *FHIRAPI) Consents(ctx context.Context, p FHIRSearchParams) (*fhir.Bundle, error) {
	return consentBundle(a.l, baseFrom(ctx), p.Patient)
}

func auditBundle(l Ledger, base string, p FHIRSearchParams) (*fhir.Bundle, error) {
	if err := types.ValidateID("patient", p.Patient); err != nil {
		return nil, invalidParams("%v", err)
	}
	id, err := patientID(l, p.Patient)
	if err != nil {
		return nil, err
	}
	r := l.Reader()
	page, err := state.Trail(r, r, state.TrailQuery{ID: id, Cursor: p.Cursor, Limit: p.Limit})
	if errors.Is(err, state.ErrBadQuery) {
		return nil, invalidParams("%v", err)
	}
	if err != nil {
		return nil, toRPC(err)
	}
	if err := openEntries(l, page.Entries); err != nil {
		return nil, err
	}
	nameAsAsked(page.Entries, p.Patient)
	res := make([]fhir.Resource, 0, len(page.Entries))
	for _, e := range page.Entries {
		res = append(res, fhir.AuditEventFromChain(fhirAuditEntry(e)))
	}
	q := "AuditEvent?patient=" + url.QueryEscape(p.Patient)
	b := fhir.SearchBundle(base, q, res, headTime(l))
	if page.Next != "" {
		next := q + "&_cursor=" + url.QueryEscape(page.Next)
		if p.Limit != 0 {
			next += fmt.Sprintf("&_count=%d", p.Limit)
		}
		b.Link = append(b.Link, fhir.BundleLink{Relation: "next", URL: strings.TrimRight(base, "/") + "/" + next})
	}
	return b, nil
}

func fhirAuditEntry(e state.AuditEntry) fhir.AuditEntry {
	return fhir.AuditEntry{Record: e.Record, TxHash: e.TxHash, Height: e.Height, Time: time.UnixMilli(e.Time).UTC(), Signer: e.Signer, Pruned: e.Pruned}
}

// consentEntry maps a stored consent to FHIR with its status at time at (Unix ms).
func consentEntry(c state.Consent, at int64) fhir.ConsentEntry {
	st := fhir.ConsentActive
	if c.Status == state.ConsentRevoked || (c.Scope.Expiration != 0 && at >= c.Scope.Expiration) {
		st = fhir.ConsentInactive
	}
	return fhir.ConsentEntry{
		Grant:  types.ConsentGrant{Patient: c.Patient, ConsentType: c.ConsentType, Granted: c.Granted, Scope: c.Scope},
		Status: st, TxHash: c.TxHash, Time: time.UnixMilli(c.Time).UTC(),
	}
}

func consentBundle(l Ledger, base, patient string) (*fhir.Bundle, error) {
	if err := types.ValidateID("patient", patient); err != nil {
		return nil, invalidParams("%v", err)
	}
	pid, err := patientID(l, patient)
	if err != nil {
		return nil, err
	}
	r := l.Reader()
	cs, err := state.PatientConsents(r, pid)
	if err != nil {
		return nil, toRPC(err)
	}
	if err := openConsents(l, r, patient, pid, cs); err != nil {
		return nil, err
	}
	now := headTime(l)
	res := make([]fhir.Resource, 0, len(cs))
	for _, c := range cs {
		res = append(res, fhir.ConsentFromChain(consentEntry(c, now.UnixMilli())))
	}
	return fhir.SearchBundle(base, "Consent?patient="+url.QueryEscape(patient), res, now), nil
}

// headTime is the head block's time, or the genesis time before any block:
// the chain's notion of now, never the local clock.
func headTime(l Ledger) time.Time {
	if h, ok := l.Reader().Head(); ok {
		return h.BlockTime()
	}
	return time.UnixMilli(l.Genesis().Time).UTC()
}

// FHIRHandlers returns the read-only FHIR REST endpoint, to serve beside
// JSON-RPC (ServerConfig.Handlers):
//
//	GET /fhir/metadata                  CapabilityStatement
//	GET /fhir/AuditEvent?patient=<id>   searchset Bundle of AuditEvent (_count, _cursor page it)
//	GET /fhir/Consent?patient=<id>      searchset Bundle of Consent
//
// Errors are OperationOutcomes with 400, 404, 405 or 500. version and
// started date the CapabilityStatement.
func FHIRHandlers(l Ledger, version string, started time.Time) map[string]http.Handler {
	return map[string]http.Handler{"/fhir/": &fhirHandler{l: l, version: version, started: started}}
}

type fhirHandler struct {
	l       Ledger
	version string
	started time.Time
}

func (h *fhirHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeFHIR(w, http.StatusMethodNotAllowed, fhir.Outcome("not-supported", "this FHIR endpoint is read-only: writes are signed txs (JSON-RPC fhir_submit)"))
		return
	}
	base := fhirBase(r)
	q := r.URL.Query()
	var res fhir.Resource
	var err error
	switch strings.TrimPrefix(r.URL.Path, "/fhir/") {
	case "metadata":
		res = fhir.Capabilities(base, h.version, h.started)
	case "AuditEvent":
		p := FHIRSearchParams{Patient: patientParam(q), Cursor: q.Get("_cursor")}
		if c := q.Get("_count"); c != "" {
			if _, serr := fmt.Sscanf(c, "%d", &p.Limit); serr != nil || p.Limit <= 0 {
				writeFHIR(w, http.StatusBadRequest, fhir.Outcome("value", fmt.Sprintf("_count: %q is not a positive integer", c)))
				return
			}
		}
		if p.Patient == "" {
			writeFHIR(w, http.StatusBadRequest, fhir.Outcome("required", "the patient search parameter is required, e.g. /fhir/AuditEvent?patient=patient123"))
			return
		}
		res, err = auditBundle(h.l, base, p)
	case "Consent":
		pt := patientParam(q)
		if pt == "" {
			writeFHIR(w, http.StatusBadRequest, fhir.Outcome("required", "the patient search parameter is required, e.g. /fhir/Consent?patient=patient123"))
			return
		}
		res, err = consentBundle(h.l, base, pt)
	default:
		writeFHIR(w, http.StatusNotFound, fhir.Outcome("not-supported", fmt.Sprintf("%s: this endpoint serves /fhir/metadata, /fhir/AuditEvent?patient= and /fhir/Consent?patient=", r.URL.Path)))
		return
	}
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Code == CodeInvalidParams {
			writeFHIR(w, http.StatusBadRequest, fhir.Outcome("value", e.Msg))
			return
		}
		if errors.As(err, &e) && e.Code == CodePatientErased { // FHIR REST: a deleted resource is 410 Gone
			writeFHIR(w, http.StatusGone, fhir.Outcome("deleted", e.Msg))
			return
		}
		writeFHIR(w, http.StatusInternalServerError, fhir.Outcome("exception", err.Error()))
		return
	}
	writeFHIR(w, http.StatusOK, res)
}

// patientParam accepts patient=<id>, patient=Patient/<id> and the token form
// patient=urn:medchain:patient|<id>.
func patientParam(q url.Values) string {
	p := q.Get("patient")
	p = strings.TrimPrefix(p, fhir.SystemPatient+"|")
	return strings.TrimPrefix(p, "Patient/")
}

func writeFHIR(w http.ResponseWriter, status int, r fhir.Resource) {
	w.Header().Set("Content-Type", "application/fhir+json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(r)
}
