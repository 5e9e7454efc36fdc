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
	// OpenSealed opens the sealed payload of a redacted tx (its hash is
	// original) recorded under pseudonym: the signed payload.
	// ErrPatientErased once the patient's key is destroyed.
	OpenSealed(pseudonym string, sealed []byte, original types.Hash) ([]byte, error)
	// Unredact rebuilds the signed tx a redacted tx stands for (hash checked).
	// ErrPatientErased once the patient's key is destroyed.
	Unredact(tx *types.Tx) (*types.Tx, error)
	// ErasureStatus reports patient's erasure on this node: an error wrapping
	// ErrNotFound for an id never recorded.
	ErasureStatus(patient string) (*ErasureStatus, error)
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
// patient is a CodePatientErased error.
func patientID(l Ledger, patient string) (string, error) {
	ps, ok := l.(Pseudonyms)
	if !ok {
		return patient, nil
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

// openEntry replaces a redacted audit entry's record by the signed one when
// the patient's key is still there; an erased patient's entry stays redacted
// (pseudonym, no personal field).
func openEntry(l Ledger, e *state.AuditEntry) error {
	ps, ok := l.(Pseudonyms)
	if !ok || e.Sealed == nil {
		return nil
	}
	payload, err := ps.OpenSealed(e.Record.Patient, e.Sealed, e.TxHash)
	if errors.Is(err, ErrPatientErased) {
		return nil
	}
	if err != nil {
		return toRPC(err)
	}
	var rec types.AuditRecord
	if err := codec.Unmarshal(payload, &rec); err != nil {
		return toRPC(fmt.Errorf("sealed audit event %s: %w", e.TxHash, err))
	}
	e.Record, e.Sealed = rec, nil
	return nil
}

func openEntries(l Ledger, es []state.AuditEntry) error {
	for i := range es {
		if err := openEntry(l, &es[i]); err != nil {
			return err
		}
	}
	return nil
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
	st, err := ps.ErasureStatus(p.Patient)
	if err != nil {
		return nil, toRPC(err)
	}
	return st, nil
}
