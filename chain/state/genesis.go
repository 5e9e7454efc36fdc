package state

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/medchain/medchain/chain/codec"
	"github.com/medchain/medchain/chain/types"
)

// Params are chain-wide rules fixed at genesis.
type Params struct {
	// TimestampWindowMs bounds |tx timestamp - block time| (replay window). Default 600000 (±10 min).
	TimestampWindowMs int64 `cbor:"1,keyasint" json:"timestamp_window_ms"`
	// MaxTxBytes bounds an encoded tx. Default types.DefaultMaxTxBytes, at
	// most types.MaxTxBytesCeiling.
	MaxTxBytes int `cbor:"2,keyasint" json:"max_tx_bytes"`
	// AdminThreshold is how many admin approvals admit or remove a node. Default 1.
	AdminThreshold uint32 `cbor:"3,keyasint" json:"admin_threshold"`
}

// DefaultParams returns the defaults named on each field.
func DefaultParams() Params {
	return Params{TimestampWindowMs: int64(10 * time.Minute / time.Millisecond), MaxTxBytes: types.DefaultMaxTxBytes, AdminThreshold: 1}
}

// Genesis defines a chain: its id, start time, rules and first identities
// (at least one admin and the first node).
type Genesis struct {
	ChainID    string                   `cbor:"1,keyasint" json:"chain_id"`
	Time       int64                    `cbor:"2,keyasint" json:"genesis_time"` // Unix ms
	Params     Params                   `cbor:"3,keyasint" json:"params"`
	Identities []types.IdentityRegister `cbor:"4,keyasint" json:"identities"`
	// Nodes are the node records admitted at genesis (see GenesisNode).
	Nodes []GenesisNode `cbor:"5,keyasint,omitempty" json:"nodes,omitempty"`
	// ClusterKeyGrants hand the cluster data key, wrapped to each first
	// node's seal key, to the first nodes (see clusterkey.go); all name the
	// same key id. Empty for a chain without a cluster key.
	ClusterKeyGrants []types.ClusterKeyGrant `cbor:"6,keyasint,omitempty" json:"cluster_key_grants,omitempty"`
}

// Validate checks the genesis document and names the first fault.
func (g *Genesis) Validate() error {
	if err := types.ValidateID("chain_id", g.ChainID); err != nil {
		return fmt.Errorf("genesis: %w", err)
	}
	if g.Time <= 0 {
		return fmt.Errorf("genesis: genesis_time must be positive Unix milliseconds")
	}
	if g.Params.TimestampWindowMs <= 0 {
		return fmt.Errorf("genesis: params.timestamp_window_ms must be positive")
	}
	if g.Params.MaxTxBytes < 1024 || g.Params.MaxTxBytes > types.MaxTxBytesCeiling {
		return fmt.Errorf("genesis: params.max_tx_bytes is %d: it must be between 1024 and %d", g.Params.MaxTxBytes, types.MaxTxBytesCeiling)
	}
	seen := map[string]bool{}
	admins := 0
	for i := range g.Identities {
		id := &g.Identities[i]
		if err := id.ValidateBasic(); err != nil {
			return fmt.Errorf("genesis: identities[%d]: %w", i, err)
		}
		if seen[id.ID] {
			return fmt.Errorf("genesis: identities[%d]: %q listed twice", i, id.ID)
		}
		seen[id.ID] = true
		for _, r := range id.Roles {
			if r == types.RoleAdmin {
				admins++
			}
		}
	}
	if admins == 0 {
		return fmt.Errorf("genesis: at least one identity must hold the admin role")
	}
	if g.Params.AdminThreshold == 0 || int(g.Params.AdminThreshold) > admins {
		return fmt.Errorf("genesis: params.admin_threshold must be between 1 and the %d admins", admins)
	}
	if err := g.validateNodes(); err != nil {
		return err
	}
	return g.validateClusterKey()
}

// Hash returns SHA-256 of the canonical encoding: the prev hash of block 1.
func (g *Genesis) Hash() types.Hash { return types.HashBytes(g.Encode()) }

// Encode returns the canonical CBOR encoding.
func (g *Genesis) Encode() []byte { return codec.MustMarshal(g) }

// DecodeGenesis decodes a canonical encoding.
func DecodeGenesis(b []byte) (*Genesis, error) {
	var g Genesis
	if err := codec.Unmarshal(b, &g); err != nil {
		return nil, err
	}
	return &g, nil
}

// LoadGenesis reads and validates a JSON genesis file.
func LoadGenesis(path string) (*Genesis, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("genesis: %w", err)
	}
	var g Genesis
	if err := json.Unmarshal(b, &g); err != nil {
		return nil, fmt.Errorf("genesis: %s: %w", path, err)
	}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	return &g, nil
}

// SaveGenesis writes g as indented JSON.
func SaveGenesis(path string, g *Genesis) error {
	b, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		return fmt.Errorf("genesis: encode: %w", err)
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
