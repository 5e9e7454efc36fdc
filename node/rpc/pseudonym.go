package rpc

import (
	"errors"
	"fmt"

	"github.com/medchain/medchain/chain/codec"
	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/types"
)

// CodePatientErased is the JSON-RPC error code of a query about an erased
// patient (patient_export, audit_trail, fhir_auditTrail, ...).
const CodePatientErased = -32030

// ErrPatientErased is returned by Pseudonyms for an erased patient.
var ErrPatientErased = errors.New("patient erased")

// Pseudonyms is an optional extension of Ledger: the node's pseudonym vault
// (consensus, pseudonym.go). With it, queries that take a patient id map it
// to the pseudonym the chain records the patient under and open the sealed
// fields with the patient's key; without it (in-memory ledgers, chains with
// pseudonymization off) patient ids are looked up as stored.
type Pseudonyms interface {
	// Pseudonym returns the pseudonym patient is recorded under:
	// ErrPatientErased if the patient is erased, an error wrapping ErrNotFound
	// if the id was never recorded under a pseudonym.
	Pseudonym(patient string) (string, error)
	// Opener returns a function that opens the sealed payloads of redacted
	// txs recorded under pseudonym (given each tx's hash): the signed
	// payloads. The key is looked up once; the function is valid for one
	// request. ErrPatientErased once the patient's key is destroyed.
	Opener(pseudonym string) (func(sealed []byte, original types.Hash) ([]byte, error), error)
	// Unredact rebuilds the signed tx a redacted tx stands for (hash checked).
	// ErrPatientErased once the patient's key is destroyed.
	Unredact(tx *types.Tx) (*types.Tx, error)
	// ErasureStatus reports patient's erasure on this node: an error wrapping
	// ErrNotFound for an id never recorded.
	ErasureStatus(patient string) (*ErasureStatus, error)
}

// Pseudonymizer is an optional extension of Pseudonyms: whether the chain
// records patients under pseudonyms at all (a genesis setting). A
// Pseudonyms that does not implement it is taken to pseudonymize.
type Pseudonymizer interface {
	// Pseudonymizes reports whether txs naming a patient are stored under
	// the patient's pseudonym. It does not change while the node runs.
	Pseudonymizes() bool
}

// pseudonymizes reports whether l stores patients under pseudonyms.
func pseudonymizes(l Ledger) bool {
	if _, ok := l.(Pseudonyms); !ok {
		return false
	}
	p, ok := l.(Pseudonymizer)
	return !ok || p.Pseudonymizes()
}

// checkPatient refuses a patient param that has the form of a pseudonym
// (types.IsPseudonym) on a chain that pseudonymizes, as invalid params. A
// reader takes a patient by id and answers the opened records naming it;
// asked by pseudonym, it would answer the id beside the pseudonym (the link
// the node keeps inside: nameAsAsked) and a gate policy keyed on the
// requested resource would never see the patient's id. On a chain without
// pseudonyms every id is stored as given and is looked up as such. The
// message quotes no part of the param.
func checkPatient(l Ledger, patient string) error {
	if types.IsPseudonym(patient) && pseudonymizes(l) {
		return invalidParams("patient: give the patient's id, not a pseudonym (this chain records patients under pseudonyms and answers by patient id only)")
	}
	return nil
}

// ErasureStatus is patient_erasureStatus's result for one node.
type ErasureStatus struct {
	NodeID string `json:"node_id"`
	// Erased says whether the patient's erasure is recorded; Complete that
	// every clean-up step is done on this node: no copy of the key is left in
	// Pebble, the Raft log or snapshots.
	Erased   bool          `json:"erased"`
	Complete bool          `json:"complete"`
	Steps    []ErasureStep `json:"steps,omitempty"`
}

// ErasureStep is one clean-up step with its evidence.
type ErasureStep struct {
	Name     string `json:"name"`
	Done     bool   `json:"done"`
	Evidence string `json:"evidence"`
}

func erasedError(patient string) *Error {
	return &Error{Code: CodePatientErased, Msg: fmt.Sprintf("patient erased: %q was erased at their request; the chain keeps no readable record of them", patient)}
}

// patientID maps a patient id to the id its records are stored under: the
// pseudonym when the node has one, the id itself otherwise. An erased
// patient is a CodePatientErased error; a pseudonym given as the patient on
// a chain that pseudonymizes is invalid params (checkPatient).
func patientID(l Ledger, patient string) (string, error) {
	ps, ok := l.(Pseudonyms)
	if !ok {
		return patient, nil
	}
	if err := checkPatient(l, patient); err != nil {
		return "", err
	}
	id, err := ps.Pseudonym(patient)
	switch {
	case err == nil:
		return id, nil
	case errors.Is(err, ErrPatientErased):
		return "", erasedError(patient)
	case errors.Is(err, ErrNotFound):
		return patient, nil // recorded in clear (before pseudonymization), or never
	}
	return "", toRPC(err)
}

// openEntries replaces each redacted audit entry's record by the signed one
// while its patient's key exists (one key lookup per patient per call); an
// erased patient's entries stay redacted (pseudonym, no personal field), and
// so do entries whose sealed payload this node pruned under its retention
// policy (state.AuditEntry.Pruned says so).
func openEntries(l Ledger, es []state.AuditEntry) error {
	ps, ok := l.(Pseudonyms)
	if !ok {
		return nil
	}
	type opener = func([]byte, types.Hash) ([]byte, error)
	openers := map[string]opener{} // nil: erased
	for i := range es {
		e := &es[i]
		if e.Sealed == nil {
			continue
		}
		open, seen := openers[e.Record.Patient]
		if !seen {
			var err error
			open, err = ps.Opener(e.Record.Patient)
			switch {
			case errors.Is(err, ErrPatientErased):
				open = nil
			case err != nil:
				return toRPC(err)
			}
			openers[e.Record.Patient] = open
		}
		if open == nil {
			continue
		}
		payload, err := open(e.Sealed, e.TxHash)
		if err != nil {
			return toRPC(fmt.Errorf("sealed audit event %s: %w", e.TxHash, err))
		}
		var rec types.AuditRecord
		if err := codec.Unmarshal(payload, &rec); err != nil {
			return toRPC(fmt.Errorf("sealed audit event %s: %w", e.TxHash, err))
		}
		e.Record, e.Sealed = rec, nil
	}
	return nil
}

// patientConsent reads a patient's current consent of one type, under the
// id the patient's records are stored under (patientID), shown as the
// patient's (openConsents); nil when there is none.
func patientConsent(l Ledger, r Reader, patient, consentType string) (*state.Consent, error) {
	pid, err := patientID(l, patient)
	if err != nil {
		return nil, err
	}
	c, err := state.GetConsent(r, pid, consentType)
	if err != nil || c == nil {
		return nil, toRPC(err)
	}
	cs := []state.Consent{*c}
	if err := openConsents(l, r, patient, pid, cs); err != nil {
		return nil, err
	}
	return &cs[0], nil
}

// openConsents shows consent records read under a patient's pseudonym
// (stored) as the patient's: each names the patient id the caller gave, and
// a revocation gets back its reason, which the chain keeps sealed with the
// patient's key in the revoke tx (types.RedactPayload). Records stored in
// clear (stored == patient) are left as they are.
func openConsents(l Ledger, r Reader, patient, stored string, cs []state.Consent) error {
	if stored == patient {
		return nil
	}
	for i := range cs {
		c := &cs[i]
		c.Patient = patient
		if c.Status != state.ConsentRevoked {
			continue
		}
		tx, _, _, _, err := r.Tx(c.TxHash)
		if err != nil {
			return toRPC(fmt.Errorf("revocation %s: %w", c.TxHash, err))
		}
		if tx.Redaction == nil {
			continue
		}
		orig, err := signedTx(l, tx)
		if err != nil {
			return toRPC(fmt.Errorf("revocation %s: %w", c.TxHash, err))
		}
		pl, err := orig.DecodePayload()
		if err != nil {
			return toRPC(fmt.Errorf("revocation %s: %w", c.TxHash, err))
		}
		if rv, ok := pl.(*types.ConsentRevoke); ok {
			c.Reason = rv.Reason
		}
	}
	return nil
}

// asRecorded returns a contract call as the next block would execute it: a
// call about a patient whose records are pseudonymized names the pseudonym
// and carries no resource reference (types.RedactPayload), so the contract
// reads the consents it would read on chain. An erased patient is a
// CodePatientErased error, as the block would refuse the call.
func asRecorded(l Ledger, call *types.ContractExecute) (*types.ContractExecute, error) {
	if call.Patient == "" {
		return call, nil
	}
	pid, err := patientID(l, call.Patient)
	if err != nil || pid == call.Patient {
		return call, err
	}
	rp, err := types.RedactPayload(call, pid)
	if err != nil {
		return nil, toRPC(err)
	}
	return rp.(*types.ContractExecute), nil
}

// openCall shows a recorded contract call about a pseudonymized patient as
// it was signed: patient (and resource, when not nil) are replaced by the
// fields of the signed call that execution tx h carries, opened with the
// patient's key. A call stored in clear is left as it is, and so is one
// whose patient was erased: it keeps naming the pseudonym, which no longer
// links to anybody.
func openCall(l Ledger, r Reader, h types.Hash, patient, resource *string) error {
	if !types.IsPseudonym(*patient) {
		return nil
	}
	tx, _, _, _, err := r.Tx(h)
	if err != nil {
		return toRPC(fmt.Errorf("execution %s: %w", h, err))
	}
	orig, err := signedTx(l, tx)
	switch {
	case errors.Is(err, ErrPatientErased), errors.Is(err, types.ErrPruned):
		return nil
	case err != nil:
		return toRPC(fmt.Errorf("execution %s: %w", h, err))
	}
	pl, err := orig.DecodePayload()
	if err != nil {
		return toRPC(fmt.Errorf("execution %s: %w", h, err))
	}
	call, ok := pl.(*types.ContractExecute)
	if !ok {
		return toRPC(fmt.Errorf("%w: execution %s is a %s tx", state.ErrIO, h, tx.Type))
	}
	*patient = call.Patient
	if resource != nil {
		*resource = call.Resource
	}
	return nil
}

// nameAsAsked makes a patient's trail name the patient as the caller asked
// for them: an entry that stays redacted after openEntries (its sealed
// payload pruned under the retention policy) still names the pseudonym, and
// handing that out would link the id to the pseudonym outside the node,
// where it would outlive an erasure. patient_export does the same.
func nameAsAsked(es []state.AuditEntry, patient string) {
	for i := range es {
		if types.IsPseudonym(es[i].Record.Patient) {
			es[i].Record.Patient = patient
		}
	}
}

// signedTx returns the signed tx a stored tx stands for: tx itself, or for a
// redacted tx the rebuilt original.
func signedTx(l Ledger, tx *types.Tx) (*types.Tx, error) {
	if tx.Redaction == nil {
		return tx, nil
	}
	ps, ok := l.(Pseudonyms)
	if !ok {
		return nil, &Error{Code: CodeUnavailable, Msg: "unavailable: this node cannot open redacted txs"}
	}
	return ps.Unredact(tx)
}

// ErasureStatusParams are patient_erasureStatus's params.
type ErasureStatusParams struct {
	Patient string `json:"patient"`
}

// ErasureStatus reports, for this node, whether a patient is erased and which
// clean-up steps are complete (no copy of the key in Pebble, the Raft log or
// snapshots). Ask every node for a cluster-wide answer.
func (a *PatientAPI) ErasureStatus(p ErasureStatusParams) (*ErasureStatus, error) {
	if err := types.ValidateID("patient", p.Patient); err != nil {
		return nil, invalidParams("%v", err)
	}
	ps, ok := a.l.(Pseudonyms)
	if !ok {
		return nil, &Error{Code: CodeUnavailable, Msg: "unavailable: this node has no pseudonym vault"}
	}
	if err := checkPatient(a.l, p.Patient); err != nil {
		return nil, err
	}
	st, err := ps.ErasureStatus(p.Patient)
	if err != nil {
		return nil, toRPC(err)
	}
	return st, nil
}

// patientOpener returns the opener of the patient recorded under id (a
// pseudonym), or nil when id is not one (records in clear).
func patientOpener(l Ledger, id string) (func([]byte, types.Hash) ([]byte, error), error) {
	ps, ok := l.(Pseudonyms)
	if !ok || !types.IsPseudonym(id) {
		return nil, nil
	}
	open, err := ps.Opener(id)
	if errors.Is(err, ErrPatientErased) {
		return nil, erasedError(id)
	}
	if err != nil {
		return nil, toRPC(err)
	}
	return open, nil
}
