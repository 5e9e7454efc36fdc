package rpc

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/medchain/medchain/chain/codec"
	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/store"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/node/fhir"
)

// ExportSigner is an optional extension of Ledger: the node's identity and
// ML-DSA key, to sign patient exports. Without it patient_export is
// unavailable.
type ExportSigner interface {
	// ExportIdentity returns the node's identity id and public key.
	ExportIdentity() (nodeID string, pub crypto.PublicKey)
	// SignExport signs msg with the node key.
	SignExport(msg []byte) (crypto.Signature, error)
}

// ExportVersion is the format version of PatientExport: 2 added the pruned
// entries (ExportBody.Pruned), which a version-1 verifier would drop and
// then fail on the signature with a misleading error.
const ExportVersion = 2

// exportDomain prefixes the bytes a node signs for an export, so the
// signature is never valid as a tx's or a header's.
const exportDomain = "medchain/patient-export/v1\x00"

// Entry kinds of an export.
const (
	EntryAudit     = "audit"
	EntryConsent   = "consent"
	EntryExecution = "execution"
)

// PatientExport is everything the chain holds about one patient (GDPR
// access and portability), signed by the node that made it, with an RFC 6962
// inclusion proof of every entry's tx against the signed head header: a
// holder checks it offline with the genesis file alone (client.VerifyExport,
// medchain patient verify-export).
type PatientExport struct {
	Body      ExportBody       `json:"body"`
	Signature crypto.Signature `json:"signature"` // by Body.NodeKey over ExportSignBytes(Body)
	// FHIR is the same content as a FHIR R4 collection Bundle (AuditEvents
	// and Consents), when asked for; it is derived from Body, not signed.
	FHIR json.RawMessage `json:"fhir,omitempty"`
}

// ExportBody is the signed part of an export.
type ExportBody struct {
	Version       uint8            `cbor:"1,keyasint" json:"version"`
	ChainID       string           `cbor:"2,keyasint" json:"chain_id"`
	Patient       string           `cbor:"3,keyasint" json:"patient"`
	NodeID        string           `cbor:"4,keyasint" json:"node_id"`
	NodeKey       crypto.PublicKey `cbor:"5,keyasint" json:"node_key"`
	Head          types.Header     `cbor:"6,keyasint" json:"head"`
	HeadSignature crypto.Signature `cbor:"7,keyasint" json:"head_signature"`
	Entries       []ExportEntry    `cbor:"8,keyasint" json:"entries"`
	// Corrections maps a corrected audit event's tx hash to the tx hashes of
	// the events that correct it (details.corrects), for readers.
	Corrections map[string][]string `cbor:"9,keyasint,omitempty" json:"corrections,omitempty"`
	// Pruned are the patient's audit events whose sealed payload (the
	// signed event with its personal fields) this node pruned under its
	// retention policy: each with its inclusion proof and the fields the
	// chain keeps in clear, which only the node's signature vouches for.
	Pruned []PrunedEntry `cbor:"10,keyasint,omitempty" json:"pruned,omitempty"`
}

// PrunedEntry is an audit event of an export whose personal fields were
// pruned: its tx hash is in the log (LeafIndex, Proof at Head.LogSize), its
// signed payload is gone from the node, Event holds the clear fields of the
// redacted event (the patient is the export's; resource and details are
// empty).
type PrunedEntry struct {
	TxHash    types.Hash        `cbor:"1,keyasint" json:"tx_hash"`
	Height    uint64            `cbor:"2,keyasint" json:"height"`
	Time      int64             `cbor:"3,keyasint" json:"time"` // block time, Unix ms
	LeafIndex uint64            `cbor:"4,keyasint" json:"leaf_index"`
	Proof     []types.Hash      `cbor:"5,keyasint" json:"proof"`
	Signer    string            `cbor:"6,keyasint" json:"signer"`
	Event     types.AuditRecord `cbor:"7,keyasint" json:"event"`
}

// ExportEntry is one tx about the patient, with where the chain put it and
// its inclusion proof at Head.LogSize.
type ExportEntry struct {
	Kind      string       `cbor:"1,keyasint" json:"kind"` // audit, consent or execution
	Tx        ExportTx     `cbor:"2,keyasint" json:"tx"`
	TxHash    types.Hash   `cbor:"3,keyasint" json:"tx_hash"`
	Height    uint64       `cbor:"4,keyasint" json:"height"`
	Time      int64        `cbor:"5,keyasint" json:"time"` // block time, Unix ms
	LeafIndex uint64       `cbor:"6,keyasint" json:"leaf_index"`
	Proof     []types.Hash `cbor:"7,keyasint" json:"proof"`
	// Decision is a contract execution's decision (allow or deny, with the
	// rule); it is in the block's results, which the inclusion proof does
	// not cover.
	Decision string `cbor:"8,keyasint,omitempty" json:"decision,omitempty"`
}

// ExportTx is a tx without its signature bytes: everything its hash covers
// (the payload included), so a verifier recomputes the hash, checks it in the
// log and reads the payload. The signer's signature is not needed: the log
// and the node-signed header vouch for the tx.
type ExportTx struct {
	Type      types.TxType     `cbor:"1,keyasint" json:"type"`
	Signer    string           `cbor:"2,keyasint" json:"signer"`
	Timestamp int64            `cbor:"3,keyasint" json:"timestamp"`
	Nonce     uint64           `cbor:"4,keyasint" json:"nonce"`
	Payload   []byte           `cbor:"5,keyasint" json:"payload"`
	Algorithm crypto.Algorithm `cbor:"6,keyasint" json:"algorithm"`
}

// Tx rebuilds the tx (without signature bytes) on chain chainID.
func (e ExportTx) Tx(chainID string) *types.Tx {
	return &types.Tx{ChainID: chainID, Type: e.Type, Signer: e.Signer, Timestamp: e.Timestamp, Nonce: e.Nonce,
		Payload: e.Payload, Signature: crypto.Signature{Algorithm: e.Algorithm}}
}

// ExportSignBytes returns the canonical bytes a node signs for an export:
// the domain, then the deterministic CBOR of the body.
func ExportSignBytes(b *ExportBody) ([]byte, error) {
	enc, err := codec.Marshal(b)
	if err != nil {
		return nil, err
	}
	return append([]byte(exportDomain), enc...), nil
}

// PatientAPI is the patient_ namespace: patients' rights.
type PatientAPI struct{ l Ledger }

// ExportParams are patient_export's params.
type ExportParams struct {
	Patient string `json:"patient"`
	FHIR    bool   `json:"fhir,omitempty"` // also return the FHIR collection Bundle
}

// Export returns everything the chain holds about a patient, signed by this
// node, with inclusion proofs against the head.
func (a *PatientAPI) Export(p ExportParams) (*PatientExport, error) {
	return BuildExport(a.l, p)
}

// BuildExport builds and signs patient_export's result.
func BuildExport(l Ledger, p ExportParams) (*PatientExport, error) {
	if err := types.ValidateID("patient", p.Patient); err != nil {
		return nil, invalidParams("%v", err)
	}
	signer, ok := l.(ExportSigner)
	if !ok {
		return nil, &Error{Code: CodeUnavailable, Msg: "unavailable: this node has no key to sign exports"}
	}
	pid, err := patientID(l, p.Patient) // an erased patient's export is refused
	if err != nil {
		return nil, err
	}
	r := l.Reader()
	head, ok := r.Head()
	if !ok {
		return nil, &Error{Code: CodeNotFound, Msg: "the chain has no blocks yet"}
	}
	hb, err := r.Block(head.Height)
	if err != nil {
		return nil, toRPC(err)
	}
	body := ExportBody{Version: ExportVersion, ChainID: l.Genesis().ChainID, Patient: p.Patient, Head: hb.Header, HeadSignature: hb.Signature}
	open, err := patientOpener(l, pid) // the patient's key, looked up once
	if err != nil {
		return nil, err
	}

	// 1. What the state says about the patient, in export order: the audit
	// trail (every page), every version of every consent, the contract
	// executions about the patient (a scan of all executions).
	var refs []exportRef
	for cursor := ""; ; {
		page, err := state.Trail(r, r, state.TrailQuery{ID: pid, Cursor: cursor, Limit: state.MaxTrailLimit})
		if err != nil {
			return nil, toRPC(err)
		}
		for i := range page.Entries {
			if e := &page.Entries[i]; e.Sealed != nil && open != nil {
				payload, err := open(e.Sealed, e.TxHash)
				if err != nil {
					return nil, toRPC(err)
				}
				var rec types.AuditRecord
				if err := codec.Unmarshal(payload, &rec); err != nil {
					return nil, toRPC(fmt.Errorf("sealed audit event %s: %w", e.TxHash, err))
				}
				e.Record, e.Sealed = rec, nil
			}
		}
		for _, e := range page.Entries {
			refs = append(refs, exportRef{kind: EntryAudit, hash: e.TxHash, height: e.Height, index: int64(e.Index), time: e.Time})
			if c, ok := e.Record.Details[CorrectsDetail]; ok {
				if body.Corrections == nil {
					body.Corrections = map[string][]string{}
				}
				body.Corrections[c] = append(body.Corrections[c], e.TxHash.String())
			}
		}
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	hist, err := state.PatientConsentHistory(r, pid)
	if err != nil {
		return nil, toRPC(err)
	}
	for _, c := range hist {
		refs = append(refs, exportRef{kind: EntryConsent, hash: c.TxHash, height: c.Height, index: -1, time: c.Time})
	}
	var derr error
	if err := r.Scan([]byte{'x'}, []byte{'x' + 1}, false, func(k, v []byte) bool {
		var ex state.Execution
		if derr = codec.Unmarshal(v, &ex); derr != nil {
			return false
		}
		if ex.Call.Patient == pid {
			refs = append(refs, exportRef{kind: EntryExecution, hash: ex.TxHash, height: ex.Height, index: int64(ex.Index), time: ex.Time, decision: executionDecision(ex)})
		}
		return true
	}); err != nil || derr != nil {
		return nil, toRPC(errors.Join(err, derr))
	}

	// 2. Each entry's tx and log leaf, from its block (each block decoded
	// once); entries committed after the head was read are left out.
	found, err := resolveExportTxs(r, refs, head.LogSize)
	if err != nil {
		return nil, toRPC(err)
	}
	// 3. Every inclusion proof against the head, from one ordered pass over
	// the stored log nodes.
	leaves := make([]uint64, len(found))
	for i, f := range found {
		leaves[i] = f.leaf
	}
	proofs, err := inclusionProofs(r, leaves, head.LogSize)
	if err != nil {
		return nil, toRPC(err)
	}
	for i, f := range found {
		tx := f.tx
		if tx.Redaction != nil && tx.Redaction.Pruned() { // retention: only the clear fields are left
			pl, err := tx.DecodePayload()
			rec, ok := pl.(*types.AuditRecord)
			if err != nil || !ok {
				return nil, toRPC(fmt.Errorf("%w: pruned tx %s is not an audit event (%v)", store.ErrCorrupt, f.hash, err))
			}
			ev := *rec
			ev.Patient = p.Patient
			body.Pruned = append(body.Pruned, PrunedEntry{TxHash: f.hash, Height: f.height, Time: f.time, LeafIndex: f.leaf, Proof: nonNil(proofs[i]), Signer: tx.Signer, Event: ev})
			continue
		}
		if tx.Redaction != nil && open != nil { // a redacted tx: the signed one, whose hash the log holds
			payload, err := open(tx.Redaction.Sealed, tx.Redaction.Original)
			if err != nil {
				return nil, toRPC(err)
			}
			if tx, err = types.Unredact(tx, payload); err != nil {
				return nil, toRPC(err)
			}
		} else if tx, err = signedTx(l, tx); err != nil {
			return nil, err
		}
		body.Entries = append(body.Entries, ExportEntry{Kind: f.kind, TxHash: f.hash, Height: f.height, Time: f.time, LeafIndex: f.leaf, Proof: nonNil(proofs[i]), Decision: f.decision,
			Tx: ExportTx{Type: tx.Type, Signer: tx.Signer, Timestamp: tx.Timestamp, Nonce: tx.Nonce, Payload: tx.Payload, Algorithm: tx.Signature.Algorithm}})
	}
	if len(body.Entries) == 0 && len(body.Pruned) == 0 {
		return nil, &Error{Code: CodeNotFound, Msg: fmt.Sprintf("the chain holds nothing about patient %q (no audit event, consent or contract execution)", p.Patient)}
	}
	if body.Entries == nil {
		body.Entries = []ExportEntry{}
	}
	body.NodeID, body.NodeKey = signer.ExportIdentity()
	msg, err := ExportSignBytes(&body)
	if err != nil {
		return nil, toRPC(err)
	}
	sig, err := signer.SignExport(msg)
	if err != nil {
		return nil, toRPC(err)
	}
	out := &PatientExport{Body: body, Signature: sig}
	if p.FHIR {
		c, err := ExportBundle(&body)
		if err != nil {
			return nil, toRPC(err)
		}
		if out.FHIR, err = json.Marshal(c); err != nil {
			return nil, toRPC(err)
		}
	}
	return out, nil
}

func executionDecision(ex state.Execution) string {
	var res contracts.Result
	if codec.Unmarshal(ex.Result, &res) != nil || res.Decision == 0 {
		return ""
	}
	if res.Rule != "" {
		return res.Decision.String() + " (" + res.Rule + ")"
	}
	return res.Decision.String()
}

// ExportBundle renders an export's audit events and consent versions as a
// FHIR R4 collection Bundle.
func ExportBundle(b *ExportBody) (*fhir.Collection, error) {
	// A consent version is in force only if it is the last of its type.
	last := map[string]types.Hash{}
	for _, e := range b.Entries {
		if e.Kind != EntryConsent {
			continue
		}
		p, err := e.Tx.Tx(b.ChainID).DecodePayload()
		if err != nil {
			return nil, fmt.Errorf("entry %s: %w", e.TxHash, err)
		}
		switch v := p.(type) {
		case *types.ConsentGrant:
			last[v.ConsentType] = e.TxHash
		case *types.ConsentRevoke:
			last[v.ConsentType] = e.TxHash
		}
	}
	var res []fhir.Resource
	for _, e := range b.Entries {
		tx := e.Tx.Tx(b.ChainID)
		p, err := tx.DecodePayload()
		if err != nil {
			return nil, fmt.Errorf("entry %s: %w", e.TxHash, err)
		}
		t := time.UnixMilli(e.Time).UTC()
		switch v := p.(type) {
		case *types.AuditRecord:
			res = append(res, fhir.AuditEventFromChain(fhir.AuditEntry{Record: *v, TxHash: e.TxHash, Height: e.Height, Time: t, Signer: e.Tx.Signer}))
		case *types.ConsentGrant:
			st := fhir.ConsentActive
			if last[v.ConsentType] != e.TxHash || (v.Scope.Expiration != 0 && b.Head.Time >= v.Scope.Expiration) {
				st = fhir.ConsentInactive
			}
			res = append(res, fhir.ConsentFromChain(fhir.ConsentEntry{Grant: *v, Status: st, TxHash: e.TxHash, Time: t}))
		}
	}
	for _, e := range b.Pruned {
		res = append(res, fhir.AuditEventFromChain(fhir.AuditEntry{Record: e.Event, TxHash: e.TxHash, Height: e.Height, Time: time.UnixMilli(e.Time).UTC(), Signer: e.Signer, Pruned: true}))
	}
	return fhir.CollectionBundle(res, b.Head.BlockTime()), nil
}
