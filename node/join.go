package node

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/node/config"
	"github.com/medchain/medchain/node/rpc"
	"github.com/medchain/medchain/p2p"
)

// JoinOptions describe a new node that asks to join an existing chain.
type JoinOptions struct {
	DataDir string
	NodeID  string
	Region  string
	Role    string // voter (default) or observer
	// Genesis is the chain's genesis (medchain join fetches it with cluster_genesis).
	Genesis *state.Genesis
	// Bootstrap are full multiaddrs of member nodes.
	Bootstrap []string
	// Config is the base config (zero: config.DefaultConfig); P2P.Listen must
	// name concrete addresses: they go into the join request.
	Config    *config.Config
	Algorithm crypto.Algorithm // default ML-DSA-65
}

// JoinResult is what Join wrote and the signed join request to submit.
type JoinResult struct {
	Config     config.Config
	ConfigPath string
	PeerID     string
	Tx         *types.Tx
}

// Join prepares a data dir for a node that joins an existing chain: its
// ML-DSA node key, seal key and libp2p key (0600), the chain's genesis, a config with
// [p2p] enabled and consensus.join set, and the node_join tx signed by the
// new node's key. The caller submits the tx through any member's JSON-RPC;
// once admins approve it on chain, the node started on this data dir is
// added by the leader (non-voter, then voter when caught up), and the leader
// grants it the cluster data key wrapped to its seal key.
func Join(opts JoinOptions) (*JoinResult, error) {
	if opts.DataDir == "" || opts.Genesis == nil {
		return nil, fmt.Errorf("node: join: data dir and genesis required")
	}
	if err := types.ValidateID("node_id", opts.NodeID); err != nil {
		return nil, fmt.Errorf("node: join: %w", err)
	}
	if opts.Role == "" {
		opts.Role = types.NodeRoleVoter
	}
	if opts.Algorithm == 0 {
		opts.Algorithm = crypto.DefaultAlgorithm
	}
	if err := opts.Genesis.Validate(); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(opts.DataDir, GenesisFile)); err == nil {
		return nil, fmt.Errorf("%w: %s", ErrInitialized, opts.DataDir)
	}
	cfg := config.DefaultConfig()
	if opts.Config != nil {
		cfg = *opts.Config
	}
	cfg.Node.ID, cfg.Node.DataDir = opts.NodeID, opts.DataDir
	cfg.P2P.Enabled, cfg.Consensus.Join = true, true
	cfg.P2P.Region = opts.Region
	if len(opts.Bootstrap) > 0 {
		cfg.P2P.Bootstrap = opts.Bootstrap
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(opts.DataDir, KeysDir), 0o700); err != nil {
		return nil, fmt.Errorf("node: join: %w", err)
	}
	k, err := crypto.GenerateKey(opts.Algorithm, rand.Reader)
	if err != nil {
		return nil, err
	}
	if err := crypto.SaveKey(cfg.Path(cfg.Node.KeyFile), k); err != nil {
		return nil, err
	}
	sk, _, err := loadOrCreateSealKey(cfg.Path(SealKeyFile))
	if err != nil {
		return nil, err
	}
	sealPub := sk.Public()
	pk, err := p2p.LoadOrCreateIdentity(cfg.Path(cfg.P2P.KeyFile))
	if err != nil {
		return nil, err
	}
	pid, err := peer.IDFromPrivateKey(pk)
	if err != nil {
		return nil, fmt.Errorf("node: join: peer id: %w", err)
	}
	var addrs []string
	for _, a := range cfg.P2P.Listen {
		addrs = append(addrs, a+"/p2p/"+pid.String())
	}
	req := &types.NodeJoin{NodeID: opts.NodeID, PublicKey: k.Public(), PeerID: pid.String(), Addrs: addrs, Region: opts.Region, Role: opts.Role, SealKey: &sealPub}
	if err := req.ValidateBasic(); err != nil {
		return nil, err
	}
	tx, err := types.NewTx(opts.Genesis.ChainID, opts.NodeID, req, time.Now(), 1)
	if err != nil {
		return nil, err
	}
	if err := tx.Sign(k); err != nil {
		return nil, err
	}
	if err := state.SaveGenesis(filepath.Join(opts.DataDir, GenesisFile), opts.Genesis); err != nil {
		return nil, err
	}
	if _, err := DevCerts(opts.DataDir); err != nil { // a dev CA and certificate; operators replace them
		return nil, err
	}
	path := filepath.Join(opts.DataDir, ConfigFile)
	if err := cfg.Save(path); err != nil {
		return nil, err
	}
	return &JoinResult{Config: cfg, ConfigPath: path, PeerID: pid.String(), Tx: tx}, nil
}

// P2P returns the node's peer layer, or nil when [p2p] is disabled.
func (n *Node) P2P() *p2p.Node {
	if n.cl == nil {
		return nil
	}
	return n.cl.p2p
}

// checkRemoval is the node's governance check on a node_remove tx, run at
// submission on any node: it refuses a removal after which the voters of the
// Raft configuration that answer now would not be a majority of the voters
// that remain (the cluster would stop committing), and the removal of the
// last voter. Removing a non-voter, a pending node or a node outside the
// configuration is not checked here. The chain itself refuses removing the
// last admitted voter (chain/state: the voter count), whichever node the tx
// came through. Other txs pass.
func (n *Node) checkRemoval(ctx context.Context, tx *types.Tx) error {
	if n.cl == nil || tx == nil || tx.Type != types.TxNodeRemove {
		return nil
	}
	p, err := tx.DecodePayload()
	if err != nil {
		return nil // CheckTx names the problem
	}
	rm, ok := p.(*types.NodeRemove)
	if !ok {
		return nil
	}
	st, err := n.ClusterStatus(ctx)
	if err != nil {
		return fmt.Errorf("node: check removal of %q: %w", rm.NodeID, err)
	}
	member, voters, live := false, 0, 0
	for _, m := range st.Members {
		if m.Suffrage != "voter" {
			continue
		}
		if m.NodeID == rm.NodeID {
			member = true
			continue
		}
		voters++
		if m.Error == "" && m.State != "" {
			live++
		}
	}
	quorum := voters/2 + 1
	switch {
	case !member:
		return nil
	case voters == 0:
		return &rpc.Error{Code: rpc.CodeTxRejected, Msg: fmt.Sprintf(
			"node: %q is the last voter: removing it would leave no node to order blocks; admit another voter first", rm.NodeID)}
	case live < quorum:
		return &rpc.Error{Code: rpc.CodeTxRejected, Msg: fmt.Sprintf(
			"node: removing %q would leave %d voters of which %d answer now, and a quorum needs %d: bring the others back (medchain cluster status) before removing it",
			rm.NodeID, voters, live, quorum)}
	}
	return nil
}
