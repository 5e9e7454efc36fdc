package client

import (
	"context"
	"fmt"

	"github.com/transparency-dev/merkle/proof"

	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/node/rpc"
)

// ExportReport is what VerifyExport checked.
type ExportReport struct {
	Patient string         `json:"patient"`
	NodeID  string         `json:"node_id"`
	Height  uint64         `json:"head_height"`
	LogSize uint64         `json:"log_size"`
	Entries map[string]int `json:"entries"` // by kind, every one proven
}

// genesisKey returns the key genesis registers for identity id.
func genesisKey(g *state.Genesis, id string) (crypto.PublicKey, bool) {
	for _, r := range g.Identities {
		if r.ID == id {
			return r.PublicKey, true
		}
	}
	return crypto.PublicKey{}, false
}

// VerifyExport checks a patient export offline, trusting only the genesis:
// the exporting node's key is the one genesis registers for it and signed the
// body; the head header is signed by its proposer's genesis key; every
// entry's tx hashes to its tx_hash, concerns the exported patient, and is in
// the log the head commits (RFC 6962 inclusion proof). It stops at the first
// fault and names it. Nodes admitted after genesis are not in the genesis
// file: an export made by or at a head proposed by such a node does not verify
// this way.
func VerifyExport(e *rpc.PatientExport, g *state.Genesis) (*ExportReport, error) {
	b := &e.Body
	if b.Version != rpc.ExportVersion {
		return nil, fmt.Errorf("export format version %d, this build reads %d", b.Version, rpc.ExportVersion)
	}
	if b.ChainID != g.ChainID || b.Head.ChainID != g.ChainID {
		return nil, fmt.Errorf("export is of chain %q (head %q), the genesis is of %q", b.ChainID, b.Head.ChainID, g.ChainID)
	}
	nodeKey, ok := genesisKey(g, b.NodeID)
	if !ok {
		return nil, fmt.Errorf("exporting node %q is not in the genesis", b.NodeID)
	}
	if !nodeKey.Equal(b.NodeKey) {
		return nil, fmt.Errorf("the export's node key is not the key genesis registers for %q", b.NodeID)
	}
	msg, err := rpc.ExportSignBytes(b)
	if err != nil {
		return nil, err
	}
	if err := crypto.Verify(nodeKey, msg, e.Signature); err != nil {
		return nil, fmt.Errorf("export signature of node %q does not verify (the export was changed or not signed by it): %w", b.NodeID, err)
	}
	propKey, ok := genesisKey(g, b.Head.Proposer)
	if !ok {
		return nil, fmt.Errorf("head %d was proposed by %q, which is not in the genesis", b.Head.Height, b.Head.Proposer)
	}
	if err := crypto.Verify(propKey, b.Head.SignBytes(), b.HeadSignature); err != nil {
		return nil, fmt.Errorf("head %d is not signed by its proposer %q: %w", b.Head.Height, b.Head.Proposer, err)
	}
	rep := &ExportReport{Patient: b.Patient, NodeID: b.NodeID, Height: b.Head.Height, LogSize: b.Head.LogSize, Entries: map[string]int{}}
	for i, en := range b.Entries {
		tx := en.Tx.Tx(b.ChainID)
		if h := tx.Hash(); h != en.TxHash {
			return nil, fmt.Errorf("entry %d: its tx hashes to %s, not %s", i, h, en.TxHash)
		}
		if err := checkAbout(tx, en.Kind, b.Patient); err != nil {
			return nil, fmt.Errorf("entry %d (tx %s): %w", i, en.TxHash, err)
		}
		if en.LeafIndex >= b.Head.LogSize {
			return nil, fmt.Errorf("entry %d (tx %s): leaf %d is outside the head's log of %d", i, en.TxHash, en.LeafIndex, b.Head.LogSize)
		}
		leaf := types.LogHasher.HashLeaf(en.TxHash[:])
		if err := proof.VerifyInclusion(types.LogHasher, en.LeafIndex, b.Head.LogSize, leaf, hashes(en.Proof), b.Head.LogRoot[:]); err != nil {
			return nil, fmt.Errorf("entry %d (tx %s): inclusion proof does not verify against head %d: %w", i, en.TxHash, b.Head.Height, err)
		}
		rep.Entries[en.Kind]++
	}
	// Audit events whose personal fields the node pruned under its
	// retention policy: their tx hash is proven in the log; their clear
	// fields are vouched for by the node's signature only.
	for i, en := range b.Pruned {
		if en.LeafIndex >= b.Head.LogSize {
			return nil, fmt.Errorf("pruned entry %d (tx %s): leaf %d is outside the head's log of %d", i, en.TxHash, en.LeafIndex, b.Head.LogSize)
		}
		leaf := types.LogHasher.HashLeaf(en.TxHash[:])
		if err := proof.VerifyInclusion(types.LogHasher, en.LeafIndex, b.Head.LogSize, leaf, hashes(en.Proof), b.Head.LogRoot[:]); err != nil {
			return nil, fmt.Errorf("pruned entry %d (tx %s): inclusion proof does not verify against head %d: %w", i, en.TxHash, b.Head.Height, err)
		}
		rep.Entries[rpc.EntryAudit+"_pruned"]++
	}
	return rep, nil
}

// checkAbout checks an entry's payload is of its kind and about patient.
func checkAbout(tx *types.Tx, kind, patient string) error {
	p, err := tx.DecodePayload()
	if err != nil {
		return err
	}
	var about string
	switch v := p.(type) {
	case *types.AuditRecord:
		if kind == rpc.EntryAudit {
			about = v.Patient
		}
	case *types.ConsentGrant:
		if kind == rpc.EntryConsent {
			about = v.Patient
		}
	case *types.ConsentRevoke:
		if kind == rpc.EntryConsent {
			about = v.Patient
		}
	case *types.ContractExecute:
		if kind == rpc.EntryExecution {
			about = v.Patient
		}
	}
	if about == "" {
		return fmt.Errorf("a %s tx is not a %s entry", tx.Type, kind)
	}
	if about != patient {
		return fmt.Errorf("concerns patient %q, not %q", about, patient)
	}
	return nil
}

// PatientExport asks the node for a patient's signed export.
func (c *Client) PatientExport(ctx context.Context, patient string, withFHIR bool) (*rpc.PatientExport, error) {
	var r rpc.PatientExport
	return &r, c.c.CallContext(ctx, &r, "patient_export", rpc.ExportParams{Patient: patient, FHIR: withFHIR})
}
