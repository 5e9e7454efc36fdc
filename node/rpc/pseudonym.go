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
