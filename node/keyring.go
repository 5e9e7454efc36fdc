package node

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync"

	"github.com/medchain/medchain/chain/crypto/seal"
	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/types"
)

// SealKeyFile is the node's ML-KEM-768+X25519 key (mode 0600) inside a data
// dir: the cluster data key reaches the node wrapped to it.
const SealKeyFile = "keys/seal.key"

// ErrClusterKeyUnavailable is returned (wrapped, with the reason) while this
// node does not hold the cluster data key: the chain has none, no grant for
// this node has been applied yet, or its grant does not unwrap.
var ErrClusterKeyUnavailable = errors.New("node: cluster data key unavailable")

// ClusterKeyring gives node code the chain's cluster data key.
//
// Contract:
//   - ClusterKey returns the cluster data key (AES-256-GCM). Its ID() is the
//     key id on chain (state.ClusterKeyInfo.KeyID); store that id beside
//     whatever you seal or wrap under the key.
//   - Until this node has applied a grant of the key to itself, and when the
//     chain has no cluster key, it returns an error wrapping
//     ErrClusterKeyUnavailable that says why; callers report "unavailable"
//     and retry later, never fall back to another key. A node admitted later
//     gets its grant from the leader shortly after admission.
//   - It is safe for concurrent use from any goroutine. After the first
//     success it returns the same *seal.DataKey from memory without I/O; the
//     key is immutable and safe to share. Before that, each call reads the
//     node's grant from local committed state.
//   - The key is never written to disk in clear and never logged (its String
//     shows only its id); callers keep it that way: wrap it (seal.WrapKey) to
//     move it, never copy its bytes out.
//   - It is not deterministic across nodes in time (one node may hold the key
//     before another), so chain/ and consensus apply must not call it to
//     decide a result; they may store what was sealed under it. A node that
//     joins replays the chain before its grant, so applying a block must
//     never need the key.
//   - For a keyed index that must be equal on every node (e.g. of patient
//     ids), use the key's MAC with a label of your own (seal.DataKey.MAC)
//     instead of a second secret.
type ClusterKeyring interface {
	ClusterKey() (*seal.DataKey, error)
}

var (
	_ ClusterKeyring = (*keyring)(nil)
	_ ClusterKeyring = StaticClusterKey{}
	_ ClusterKeyring = (*Node)(nil)
)

// ClusterKey implements ClusterKeyring for this node.
func (n *Node) ClusterKey() (*seal.DataKey, error) { return n.keys.ClusterKey() }

// StaticClusterKey is a ClusterKeyring holding a fixed key, for tests of code
// that takes a ClusterKeyring. A nil Key is unavailable.
type StaticClusterKey struct{ Key *seal.DataKey }

// ClusterKey implements ClusterKeyring.
func (s StaticClusterKey) ClusterKey() (*seal.DataKey, error) {
	if s.Key == nil {
		return nil, fmt.Errorf("%w: no key configured", ErrClusterKeyUnavailable)
	}
	return s.Key, nil
}

// keyring is the node's ClusterKeyring: it unwraps the node's on-chain grant
// with the node's seal key, once, and keeps the key in memory.
type keyring struct {
	chainID string
	nodeID  string
	sealKey *seal.PrivateKey
	view    func() state.View // committed state
	log     *slog.Logger

	mu sync.Mutex
	// guards the following
	key     *seal.DataKey
	lastErr string // last failure logged, so a stuck node logs it once
}

func newKeyring(chainID, nodeID string, sk *seal.PrivateKey, view func() state.View, log *slog.Logger) *keyring {
	return &keyring{chainID: chainID, nodeID: nodeID, sealKey: sk, view: view, log: log}
}

// ClusterKey implements ClusterKeyring.
func (k *keyring) ClusterKey() (*seal.DataKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.key != nil {
		return k.key, nil
	}
	dk, err := k.unwrap()
	if err != nil {
		if msg := err.Error(); msg != k.lastErr {
			k.lastErr = msg
			k.log.Warn("node: cluster data key unavailable", "reason", msg)
		}
		return nil, err
	}
	k.key = dk
	k.log.Info("node: cluster data key unwrapped", "key_id", dk.ID())
	return dk, nil
}

func (k *keyring) unwrap() (*seal.DataKey, error) {
	v := k.view()
	if v == nil {
		return nil, fmt.Errorf("%w: the node's store is not open yet", ErrClusterKeyUnavailable)
	}
	info, err := state.GetClusterKeyInfo(v)
	if err != nil {
		return nil, fmt.Errorf("%w: read cluster key info: %v", ErrClusterKeyUnavailable, err)
	}
	if info == nil {
		return nil, fmt.Errorf("%w: this chain has no cluster data key (its genesis predates it)", ErrClusterKeyUnavailable)
	}
	g, err := state.GetClusterKeyGrant(v, k.nodeID)
	if err != nil {
		return nil, fmt.Errorf("%w: read the grant of %s: %v", ErrClusterKeyUnavailable, k.nodeID, err)
	}
	if g == nil || g.KeyID != info.KeyID {
		return nil, fmt.Errorf("%w: node %s has not received cluster key %s yet (a member grants it after admission)", ErrClusterKeyUnavailable, k.nodeID, info.KeyID)
	}
	dk, err := seal.UnwrapKey(k.sealKey, g.Wrapped, types.ClusterKeyAAD(k.chainID, k.nodeID, g.KeyID))
	if err != nil {
		return nil, fmt.Errorf("%w: the grant of %s (from %s) does not unwrap with this node's seal key %s: %v", ErrClusterKeyUnavailable, k.nodeID, g.GrantedBy, SealKeyFile, err)
	}
	if dk.ID() != g.KeyID {
		return nil, fmt.Errorf("%w: the grant of %s (from %s) holds key %s, not %s", ErrClusterKeyUnavailable, k.nodeID, g.GrantedBy, dk.ID(), g.KeyID)
	}
	return dk, nil
}

// loadOrCreateSealKey loads the seal key at path, or creates it (0600) when
// the file does not exist.
func loadOrCreateSealKey(path string) (k *seal.PrivateKey, created bool, err error) {
	k, err = seal.LoadKey(path)
	if err == nil {
		return k, false, nil
	}
	if _, serr := os.Stat(path); !errors.Is(serr, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("node: seal key: %w", err)
	}
	if k, err = seal.GenerateKey(seal.DefaultAlgorithm, rand.Reader); err != nil {
		return nil, false, err
	}
	if err := seal.SaveKey(path, k); err != nil {
		return nil, false, fmt.Errorf("node: seal key: %w", err)
	}
	return k, true, nil
}

// newClusterKeyGrants draws a new cluster data key and wraps it to each
// node's seal key (genesis grants). The key itself is dropped: it exists
// only wrapped.
func newClusterKeyGrants(chainID string, nodes []string, pubs []seal.PublicKey) ([]types.ClusterKeyGrant, error) {
	dk, err := seal.NewDataKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	out := make([]types.ClusterKeyGrant, len(nodes))
	for i, id := range nodes {
		w, err := seal.WrapKey(pubs[i], dk, types.ClusterKeyAAD(chainID, id, dk.ID()))
		if err != nil {
			return nil, fmt.Errorf("node: wrap the cluster key for %s: %w", id, err)
		}
		out[i] = types.ClusterKeyGrant{NodeID: id, KeyID: dk.ID(), Wrapped: w}
	}
	return out, nil
}
