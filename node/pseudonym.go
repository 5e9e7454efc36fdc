package node

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/medchain/medchain/chain/crypto/seal"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/consensus"
	"github.com/medchain/medchain/node/config"
	"github.com/medchain/medchain/node/rpc"
)

// macKeyFile holds the pseudonym MAC key, sealed under the data key.
const macKeyFile = "keys/pseudonym-mac.key.sealed"

// openClusterKey loads (creating on first use) the node's data key and MAC
// key from the data dir: the consensus.ClusterKey of this node until the
// cluster data key (issue 5) lands. Every node of a cluster must hold the same
// two keys for its followers to read what the leader wrapped (see
// shareClusterKey); the cluster key will replace both with one key shared
// through governance.
func openClusterKey(cfg config.Config, chainID string) (*consensus.StaticClusterKey, error) {
	seeds, err := openSealedSeeds(cfg, chainID)
	if err != nil {
		return nil, err
	}
	aad := []byte("medchain/pseudonym-mac/v1\x00" + chainID)
	path := cfg.Path(macKeyFile)
	sealed, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		mac := make([]byte, 32)
		if _, err := io.ReadFull(rand.Reader, mac); err != nil {
			return nil, fmt.Errorf("node: pseudonym key: %w", err)
		}
		if sealed, err = seeds.key.Seal(mac, aad); err != nil {
			return nil, fmt.Errorf("node: pseudonym key: %w", err)
		}
		if err := os.WriteFile(path, sealed, 0o600); err != nil {
			return nil, fmt.Errorf("node: pseudonym key: %w", err)
		}
		return consensus.NewStaticClusterKey(seeds.key, mac)
	case err != nil:
		return nil, fmt.Errorf("node: pseudonym key: %w", err)
	}
	mac, err := seeds.key.Open(sealed, aad)
	if err != nil {
		return nil, fmt.Errorf("node: pseudonym key %s: %w", path, err)
	}
	if len(mac) != 32 {
		return nil, fmt.Errorf("node: pseudonym key %s: %d bytes, want 32", path, len(mac))
	}
	return consensus.NewStaticClusterKey(seeds.key, mac)
}

var _ rpc.Pseudonyms = (*Node)(nil)

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

// shareClusterKey gives every node of a cluster made in one place (InitCluster)
// the data key and MAC key of the first: each node keeps its own KEM key, and
// the shared data key is wrapped to it. It stands in for the cluster data key
// until that is distributed through governance.
func shareClusterKey(cfgs []config.Config, chainID string) error {
	if len(cfgs) == 0 {
		return nil
	}
	first, err := openSealedSeeds(cfgs[0], chainID)
	if err != nil {
		return err
	}
	if _, err := openClusterKey(cfgs[0], chainID); err != nil {
		return err
	}
	mac, err := os.ReadFile(cfgs[0].Path(macKeyFile))
	if err != nil {
		return fmt.Errorf("node: share pseudonym key: %w", err)
	}
	for _, cfg := range cfgs[1:] {
		kem, err := seal.GenerateKey(seal.DefaultAlgorithm, rand.Reader)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(cfg.Path(sealKeyFile)), 0o700); err != nil {
			return fmt.Errorf("node: share cluster key: %w", err)
		}
		if err := seal.SaveKey(cfg.Path(sealKeyFile), kem); err != nil {
			return fmt.Errorf("node: share cluster key: %w", err)
		}
		w, err := seal.WrapKey(kem.Public(), first.key, []byte(dataKeyAAD))
		if err != nil {
			return err
		}
		if err := os.WriteFile(cfg.Path(dataKeyFile), w, 0o600); err != nil {
			return fmt.Errorf("node: share cluster key: %w", err)
		}
		if err := os.WriteFile(cfg.Path(macKeyFile), mac, 0o600); err != nil {
			return fmt.Errorf("node: share pseudonym key: %w", err)
		}
	}
	return nil
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
