package node

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/medchain/medchain/chain/crypto/seal"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/consensus"
	"github.com/medchain/medchain/node/rpc"
)

// patientIDLabel labels the cluster key's MAC of a patient id (the vault's
// index; seal.DataKey.MAC).
const patientIDLabel = "medchain/patient-id/v1"

// vaultKey adapts the node's cluster data key (ClusterKeyring, keyring.go)
// to consensus.ClusterKey, for pseudonyms: the leader wraps per-patient keys
// under it and every node indexes patient ids by its MAC. It is filled once
// the keyring exists (after consensus.New); until then, and on a node that
// has not applied its grant yet, every call fails with
// consensus.ErrNoClusterKey and the reason. Applying blocks never calls it.
type vaultKey struct {
	ring atomic.Pointer[ClusterKeyring]
}

var (
	_ consensus.ClusterKey           = (*vaultKey)(nil)
	_ consensus.ClusterKeyIdentifier = (*vaultKey)(nil)
)

func (v *vaultKey) key() (*seal.DataKey, error) {
	r := v.ring.Load()
	if r == nil {
		return nil, fmt.Errorf("%w: the node is starting", consensus.ErrNoClusterKey)
	}
	dk, err := (*r).ClusterKey()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", consensus.ErrNoClusterKey, err)
	}
	return dk, nil
}

// Seal implements consensus.ClusterKey.
func (v *vaultKey) Seal(plaintext, aad []byte) ([]byte, error) {
	dk, err := v.key()
	if err != nil {
		return nil, err
	}
	return dk.Seal(plaintext, aad)
}

// Open implements consensus.ClusterKey.
func (v *vaultKey) Open(sealed, aad []byte) ([]byte, error) {
	dk, err := v.key()
	if err != nil {
		return nil, err
	}
	return dk.Open(sealed, aad)
}

// KeyID implements consensus.ClusterKeyIdentifier: the id of the cluster
// data key in force, so the leader drops its cached patient keys when the
// key changes.
func (v *vaultKey) KeyID() (string, error) {
	dk, err := v.key()
	if err != nil {
		return "", err
	}
	return dk.ID(), nil
}

// MAC implements consensus.ClusterKey.
func (v *vaultKey) MAC(msg []byte) ([32]byte, error) {
	dk, err := v.key()
	if err != nil {
		return [32]byte{}, err
	}
	return dk.MAC(patientIDLabel, msg), nil
}

var (
	_ rpc.Pseudonyms    = (*Node)(nil)
	_ rpc.Pseudonymizer = (*Node)(nil)
)

// Pseudonymizes implements rpc.Pseudonymizer: whether the chain records
// patients under pseudonyms (genesis).
func (n *Node) Pseudonymizes() bool { return n.cons.Pseudonymizes() }

// pseudonymErr maps the consensus vault errors to the RPC layer's.
func pseudonymErr(err error) error {
	switch {
	case errors.Is(err, consensus.ErrPatientErased):
		return fmt.Errorf("%w: %w", rpc.ErrPatientErased, err)
	case errors.Is(err, consensus.ErrPatientUnknown), errors.Is(err, consensus.ErrNoClusterKey):
		return fmt.Errorf("%w: %w", rpc.ErrNotFound, err)
	}
	return err
}

// Pseudonym implements rpc.Pseudonyms.
func (n *Node) Pseudonym(patient string) (string, error) {
	ps, _, err := n.cons.Patient(patient)
	if err != nil {
		return "", pseudonymErr(err)
	}
	return ps, nil
}

// Opener implements rpc.Pseudonyms: one key lookup for a whole request.
func (n *Node) Opener(pseudonym string) (func(sealed []byte, original types.Hash) ([]byte, error), error) {
	k, err := n.cons.PseudonymKey(pseudonym)
	if err != nil {
		return nil, pseudonymErr(err)
	}
	return func(sealed []byte, original types.Hash) ([]byte, error) {
		return k.Open(sealed, types.RedactionAAD(original))
	}, nil
}

// Unredact implements rpc.Pseudonyms.
func (n *Node) Unredact(tx *types.Tx) (*types.Tx, error) {
	out, err := n.cons.OpenRedacted(tx)
	return out, pseudonymErr(err)
}

// ErasureStatus implements rpc.Pseudonyms.
func (n *Node) ErasureStatus(patient string) (*rpc.ErasureStatus, error) {
	st, err := n.cons.ErasureStatus(patient)
	if err != nil {
		return nil, pseudonymErr(err)
	}
	out := &rpc.ErasureStatus{NodeID: st.NodeID, Erased: st.Erased, Complete: st.Complete}
	for _, s := range st.Steps {
		out.Steps = append(out.Steps, rpc.ErasureStep{Name: s.Name, Done: s.Done, Evidence: s.Evidence})
	}
	return out, nil
}

// verifyOpener lets chain verification open redacted txs with the vault.
type verifyOpener struct{ n *Node }

// Unredact implements verify.Opener: an erased patient's tx (or a node
// without a cluster key) is not opened, which is not a fault.
func (o verifyOpener) Unredact(tx *types.Tx) (*types.Tx, bool, error) {
	orig, err := o.n.cons.OpenRedacted(tx)
	switch {
	case errors.Is(err, consensus.ErrPatientErased), errors.Is(err, consensus.ErrNoClusterKey):
		return nil, false, nil
	case err != nil:
		return nil, false, err
	}
	return orig, true, nil
}
