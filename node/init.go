package node

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/chain/crypto/seal"
	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/consensus"
	"github.com/medchain/medchain/node/config"
)

// File names inside a data dir.
const (
	GenesisFile = "genesis.json"
	ConfigFile  = "medchain.toml"
	KeysDir     = "keys"
)

// ErrInitialized is returned by Init on a data dir that already holds a chain.
var ErrInitialized = errors.New("node: data dir already initialized")

// InitOptions describe a new chain and its first node.
type InitOptions struct {
	DataDir   string
	ChainID   string           // default "medchain-dev" with Dev, else required
	NodeID    string           // default "node-1"
	Algorithm crypto.Algorithm // default ML-DSA-65
	// Dev adds demo identities with keys in the data dir, so the README quick
	// start works at once: a dev TLS CA and server certificate (DevCerts), and doctor456 (clinician), patient123 (patient),
	// epic_system (EHR service) and privacy_officer.
	Dev bool
	// Config is written to the data dir; zero value: config.DefaultConfig
	// with DataDir and NodeID set.
	Config *config.Config
}

// InitResult says what Init created.
type InitResult struct {
	ChainID    string
	ConfigPath string
	Genesis    string
	Keys       map[string]string // identity -> key file
	CA         string            `json:",omitempty"` // dev CA certificate clients trust (Dev only)
}

// DevIdentities are the demo identities Init creates with Dev.
var DevIdentities = []struct {
	ID    string
	Kind  types.IdentityKind
	Roles []string
}{
	{"doctor456", types.KindPerson, []string{types.RoleClinician, types.RolePhysician}},
	{"patient123", types.KindPatient, []string{types.RolePatient}},
	{"epic_system", types.KindService, []string{types.RoleEHR}},
	{"privacy_officer", types.KindPerson, []string{types.RolePrivacyOfficer, types.RoleAuditor}},
}

// Init creates a chain in opts.DataDir: keys (0600) including the node's
// seal key, genesis.json with the first node's grant of a new cluster data
// key (which exists only wrapped), medchain.toml, the store with the genesis,
// and a single-voter Raft cluster.
// The node then starts with Open; the next issue's join flow adds peers.
func Init(opts InitOptions) (*InitResult, error) {
	if opts.DataDir == "" {
		return nil, fmt.Errorf("node: init: data dir required")
	}
	if opts.NodeID == "" {
		opts.NodeID = "node-1"
	}
	if opts.ChainID == "" {
		if !opts.Dev {
			return nil, fmt.Errorf("node: init: --chain-id is required outside dev mode")
		}
		opts.ChainID = "medchain-dev"
	}
	if opts.Algorithm == 0 {
		opts.Algorithm = crypto.DefaultAlgorithm
	}
	if _, err := os.Stat(filepath.Join(opts.DataDir, GenesisFile)); err == nil {
		return nil, fmt.Errorf("%w: %s exists (remove the data dir to start over)", ErrInitialized, filepath.Join(opts.DataDir, GenesisFile))
	}
	cfg := config.DefaultConfig()
	if opts.Config != nil {
		cfg = *opts.Config
	}
	cfg.Node.DataDir, cfg.Node.ID = opts.DataDir, opts.NodeID
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("node: init: %w", err)
	}
	res := &InitResult{ChainID: opts.ChainID, Keys: map[string]string{}}
	newKey := func(id string) (*crypto.PrivateKey, error) {
		k, err := crypto.GenerateKey(opts.Algorithm, rand.Reader)
		if err != nil {
			return nil, err
		}
		path := filepath.Join(opts.DataDir, KeysDir, id+".key")
		if err := crypto.SaveKey(path, k); err != nil {
			return nil, err
		}
		res.Keys[id] = path
		return k, nil
	}
	g := &state.Genesis{ChainID: opts.ChainID, Time: time.Now().UnixMilli(), Params: state.DefaultParams()}
	nodeKey, err := newKey("node")
	if err != nil {
		return nil, err
	}
	res.Keys[opts.NodeID] = res.Keys["node"]
	delete(res.Keys, "node")
	sk, _, err := loadOrCreateSealKey(filepath.Join(opts.DataDir, SealKeyFile))
	if err != nil {
		return nil, err
	}
	if g.ClusterKeyGrants, err = newClusterKeyGrants(opts.ChainID, []string{opts.NodeID}, []seal.PublicKey{sk.Public()}); err != nil {
		return nil, err
	}
	adminKey, err := newKey("admin")
	if err != nil {
		return nil, err
	}
	g.Identities = append(g.Identities,
		types.IdentityRegister{ID: "admin", Kind: types.KindPerson, Name: "Consortium administrator", Roles: []string{types.RoleAdmin}, PublicKey: adminKey.Public()},
		types.IdentityRegister{ID: opts.NodeID, Kind: types.KindNode, Name: "First node", Roles: []string{types.RoleNode}, PublicKey: nodeKey.Public()})
	if opts.Dev {
		for _, d := range DevIdentities {
			k, err := newKey(d.ID)
			if err != nil {
				return nil, err
			}
			reg := types.IdentityRegister{ID: d.ID, Kind: d.Kind, Roles: d.Roles, PublicKey: k.Public()}
			if d.Kind == types.KindPatient {
				reg.Patient = d.ID
			}
			g.Identities = append(g.Identities, reg)
		}
	}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	res.Genesis = filepath.Join(opts.DataDir, GenesisFile)
	if err := state.SaveGenesis(res.Genesis, g); err != nil {
		return nil, err
	}
	res.ConfigPath = filepath.Join(opts.DataDir, ConfigFile)
	if err := cfg.Save(res.ConfigPath); err != nil {
		return nil, err
	}
	if opts.Dev {
		if _, err := DevCerts(opts.DataDir); err != nil {
			return nil, err
		}
		res.CA = filepath.Join(opts.DataDir, CACertFile)
	}
	cc := consensusConfig(cfg, nil)
	if err := consensus.Bootstrap(cc, raftAddr(cfg)); err != nil {
		return nil, fmt.Errorf("node: init: %w", err)
	}
	return res, nil
}
