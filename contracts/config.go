package contracts

import (
	"errors"
	"fmt"
)

// Config bounds compilation and execution. All limits are part of consensus:
// every node of a chain must run the VM with the same Config, or nodes may
// reach different decisions.
type Config struct {
	// ExecCostLimit is the CEL cost budget of one call (all rules and effects
	// together), in CEL cost units (about 50 ns each). Default 100,000.
	ExecCostLimit uint64
	// DeployCostLimit is the largest static worst-case cost estimate a
	// contract may have to be accepted, in CEL cost units. Default 1,000,000.
	DeployCostLimit uint64
	// MaxRules is the largest number of rules in a contract. Default 64.
	MaxRules int
	// MaxEffects is the largest number of effects in a contract. Default 16.
	MaxEffects int
	// MaxSourceLen is the longest rule condition or effect expression, in
	// bytes. Default 4096.
	MaxSourceLen int
	// MaxContextBytes bounds the sum of the lengths of every string in a call
	// context (identity, roles, action, purpose, attributes...), in bytes.
	// Default 16384.
	MaxContextBytes int
	// MaxAttrs is the largest number of free request attributes. Default 32.
	MaxAttrs int
	// MaxListLen is the longest role list in a call or from the state view,
	// and the longest list in a consent. Default 64.
	MaxListLen int
	// MaxStringLen is the longest single string in a call, a parameter or
	// state, in bytes. Default 1024.
	MaxStringLen int
	// MaxValueDepth is the deepest nesting of lists and maps in parameters
	// and state. Default 8.
	MaxValueDepth int
	// MaxCollectionLen is the largest list or map in parameters or state.
	// Default 256.
	MaxCollectionLen int
	// MaxStateBytes bounds the encoded size of parameters, of the state
	// passed in, and of the state after effects, in bytes. Default 65536.
	MaxStateBytes int
	// CacheSize is how many compiled contract versions a VM keeps (LRU).
	// Default 1024.
	CacheSize int
}

// DefaultConfig returns the production limits.
func DefaultConfig() Config {
	return Config{
		ExecCostLimit:    100_000,
		DeployCostLimit:  1_000_000,
		MaxRules:         64,
		MaxEffects:       16,
		MaxSourceLen:     4096,
		MaxContextBytes:  16 << 10,
		MaxAttrs:         32,
		MaxListLen:       64,
		MaxStringLen:     1024,
		MaxValueDepth:    8,
		MaxCollectionLen: 256,
		MaxStateBytes:    64 << 10,
		CacheSize:        1024,
	}
}

// TestConfig returns DefaultConfig with a small cache, so tests exercise eviction.
func TestConfig() Config {
	c := DefaultConfig()
	c.CacheSize = 8
	return c
}

// Validate reports every field that is out of range.
func (c Config) Validate() error {
	var errs []error
	bad := func(field string, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s: %s", ErrInvalidConfig, field, fmt.Sprintf(format, args...)))
	}
	if c.ExecCostLimit == 0 {
		bad("ExecCostLimit", "must be positive")
	}
	if c.DeployCostLimit == 0 {
		bad("DeployCostLimit", "must be positive")
	}
	for _, f := range []struct {
		name      string
		v, lo, hi int
	}{
		{"MaxRules", c.MaxRules, 1, 1024},
		{"MaxEffects", c.MaxEffects, 0, 256},
		{"MaxSourceLen", c.MaxSourceLen, 16, 1 << 20},
		{"MaxContextBytes", c.MaxContextBytes, 64, 16 << 20},
		{"MaxAttrs", c.MaxAttrs, 0, 4096},
		{"MaxListLen", c.MaxListLen, 1, 1 << 16},
		{"MaxStringLen", c.MaxStringLen, 16, 1 << 20},
		{"MaxValueDepth", c.MaxValueDepth, 1, 64},
		{"MaxCollectionLen", c.MaxCollectionLen, 1, 1 << 16},
		{"MaxStateBytes", c.MaxStateBytes, 64, 64 << 20},
		{"CacheSize", c.CacheSize, 1, 1 << 20},
	} {
		if f.v < f.lo || f.v > f.hi {
			bad(f.name, "%d is outside [%d, %d]", f.v, f.lo, f.hi)
		}
	}
	return errors.Join(errs...)
}
