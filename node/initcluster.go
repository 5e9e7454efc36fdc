package node

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/raft"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/chain/crypto/seal"
	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/consensus"
	"github.com/medchain/medchain/node/config"
	"github.com/medchain/medchain/p2p"
)

// ClusterInitOptions describe a new chain with N initial nodes on one host
// (testnets and in-process cluster tests).
type ClusterInitOptions struct {
	// Dir gets one data dir per node: Dir/node-1 ... Dir/node-N.
	Dir string
	// N is the number of initial voters (1..32).
	N int
	// ChainID defaults to "medchain-testnet".
	ChainID string
	// Dev adds the demo identities of Init (keys copied to every data dir).
	Dev bool
	// Algorithm defaults to ML-DSA-65.
	Algorithm crypto.Algorithm
	// Admins is how many admin identities genesis holds (admin, admin-2, ...)
	// and Threshold how many must approve a join or a removal. Defaults 1 and 1.
	Admins, Threshold int
	// RPCBasePort and P2PBasePort: node i (0-based) serves JSON-RPC on
	// 127.0.0.1:RPCBasePort+i and libp2p on TCP P2PBasePort+i. Defaults 8545, 7600.
	RPCBasePort, P2PBasePort int
	// P2PPorts, if set, gives each node's libp2p TCP port instead of P2PBasePort+i.
	P2PPorts []int
	// Configure adjusts node i's config before it is saved.
	Configure func(i int, c *config.Config)
}

// ClusterInitResult lists what InitCluster created.
type ClusterInitResult struct {
	ChainID string
	Configs []config.Config // per node, as saved in its data dir
	Peers   []string        // per node: its full multiaddr (.../p2p/<peer id>)
}

// InitCluster creates a chain whose genesis admits N nodes (node records with
// their peer ids, addresses and seal keys), each with its own data dir,
// ML-DSA, seal and libp2p keys and config ([p2p] enabled), gives every node a
// genesis grant of one new cluster data key, and bootstraps Raft on every
// node with the same N voters, addressed by peer id.
func InitCluster(opts ClusterInitOptions) (*ClusterInitResult, error) {
	if opts.N < 1 || opts.N > 32 {
		return nil, fmt.Errorf("node: init cluster: %d nodes: want 1..32", opts.N)
	}
	if opts.Dir == "" {
		return nil, fmt.Errorf("node: init cluster: dir required")
	}
	if opts.ChainID == "" {
		opts.ChainID = "medchain-testnet"
	}
	if opts.Algorithm == 0 {
		opts.Algorithm = crypto.DefaultAlgorithm
	}
	if opts.Admins == 0 {
		opts.Admins = 1
	}
	if opts.Threshold == 0 {
		opts.Threshold = 1
	}
	if opts.RPCBasePort == 0 {
		opts.RPCBasePort = 8545
	}
	if opts.P2PBasePort == 0 {
		opts.P2PBasePort = 7600
	}
	dirs := make([]string, opts.N)
	for i := range dirs {
		dirs[i] = filepath.Join(opts.Dir, fmt.Sprintf("node-%d", i+1))
		if _, err := os.Stat(filepath.Join(dirs[i], GenesisFile)); err == nil {
			return nil, fmt.Errorf("%w: %s", ErrInitialized, dirs[i])
		}
		if err := os.MkdirAll(filepath.Join(dirs[i], KeysDir), 0o700); err != nil {
			return nil, fmt.Errorf("node: init cluster: %w", err)
		}
	}
	// Keys shared by the operator of a testnet: admins and demo identities,
	// copied into every data dir so any node's dir can sign.
	shared := map[string]*crypto.PrivateKey{}
	sharedKey := func(id string) (*crypto.PrivateKey, error) {
		k, err := crypto.GenerateKey(opts.Algorithm, rand.Reader)
		if err != nil {
			return nil, err
		}
		for _, d := range dirs {
			if err := crypto.SaveKey(filepath.Join(d, KeysDir, id+".key"), k); err != nil {
				return nil, err
			}
		}
		shared[id] = k
		return k, nil
	}
	g := &state.Genesis{ChainID: opts.ChainID, Time: time.Now().UnixMilli(), Params: state.DefaultParams()}
	g.Params.AdminThreshold = uint32(opts.Threshold)
	for a := range opts.Admins {
		id := "admin"
		if a > 0 {
			id = fmt.Sprintf("admin-%d", a+1)
		}
		k, err := sharedKey(id)
		if err != nil {
			return nil, err
		}
		g.Identities = append(g.Identities, types.IdentityRegister{ID: id, Kind: types.KindPerson, Name: "Consortium administrator",
			Roles: []string{types.RoleAdmin}, PublicKey: k.Public()})
	}
	res := &ClusterInitResult{ChainID: opts.ChainID}
	var servers []consensus.Server
	var nodeIDs []string
	var sealPubs []seal.PublicKey
	for i, d := range dirs {
		id := fmt.Sprintf("node-%d", i+1)
		k, err := crypto.GenerateKey(opts.Algorithm, rand.Reader)
		if err != nil {
			return nil, err
		}
		if err := crypto.SaveKey(filepath.Join(d, KeysDir, "node.key"), k); err != nil {
			return nil, err
		}
		pk, err := p2p.LoadOrCreateIdentity(filepath.Join(d, KeysDir, "p2p.key"))
		if err != nil {
			return nil, err
		}
		pid, err := peer.IDFromPrivateKey(pk)
		if err != nil {
			return nil, fmt.Errorf("node: init cluster: peer id: %w", err)
		}
		sk, _, err := loadOrCreateSealKey(filepath.Join(d, SealKeyFile))
		if err != nil {
			return nil, err
		}
		sealPub := sk.Public()
		nodeIDs, sealPubs = append(nodeIDs, id), append(sealPubs, sealPub)
		addr := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", opts.p2pPort(i))
		g.Identities = append(g.Identities, types.IdentityRegister{ID: id, Kind: types.KindNode, Name: "Node " + id,
			Roles: []string{types.RoleNode}, PublicKey: k.Public()})
		g.Nodes = append(g.Nodes, state.GenesisNode{NodeID: id, PeerID: pid.String(), Addrs: []string{addr}, Role: types.NodeRoleVoter, SealKey: &sealPub})
		servers = append(servers, consensus.Server{ID: id, Address: raft.ServerAddress(pid.String()), Voter: true})
		res.Peers = append(res.Peers, addr+"/p2p/"+pid.String())
	}
	if opts.Dev {
		for _, di := range DevIdentities {
			k, err := sharedKey(di.ID)
			if err != nil {
				return nil, err
			}
			reg := types.IdentityRegister{ID: di.ID, Kind: di.Kind, Roles: di.Roles, PublicKey: k.Public()}
			if di.Kind == types.KindPatient {
				reg.Patient = di.ID
			}
			g.Identities = append(g.Identities, reg)
		}
	}
	var err error
	if g.ClusterKeyGrants, err = newClusterKeyGrants(opts.ChainID, nodeIDs, sealPubs); err != nil {
		return nil, err
	}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	for i, d := range dirs {
		cfg := config.DefaultConfig()
		cfg.Node.ID, cfg.Node.DataDir = fmt.Sprintf("node-%d", i+1), d
		cfg.RPC.Listen = fmt.Sprintf("127.0.0.1:%d", opts.RPCBasePort+i)
		cfg.Consensus.RaftListen = "127.0.0.1:0" // unused: Raft runs over p2p
		cfg.P2P.Enabled = true
		cfg.P2P.Listen = []string{fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", opts.p2pPort(i))}
		for j, p := range res.Peers {
			if j != i {
				cfg.P2P.Bootstrap = append(cfg.P2P.Bootstrap, p)
			}
		}
		if opts.Configure != nil {
			opts.Configure(i, &cfg)
		}
		if err := cfg.Validate(); err != nil {
			return nil, err
		}
		if err := state.SaveGenesis(filepath.Join(d, GenesisFile), g); err != nil {
			return nil, err
		}
		if err := cfg.Save(filepath.Join(d, ConfigFile)); err != nil {
			return nil, err
		}
		if _, err := DevCerts(d); err != nil { // each node its own dev CA; operators replace them
			return nil, err
		}
		if err := consensus.BootstrapCluster(consensusConfig(cfg, nil), servers); err != nil {
			return nil, fmt.Errorf("node: init cluster: %s: %w", cfg.Node.ID, err)
		}
		res.Configs = append(res.Configs, cfg)
	}
	return res, nil
}

func (o *ClusterInitOptions) p2pPort(i int) int {
	if i < len(o.P2PPorts) {
		return o.P2PPorts[i]
	}
	return o.P2PBasePort + i
}
