package contracts

import (
	"fmt"
	"slices"

	"github.com/medchain/medchain/chain/codec"
	"github.com/medchain/medchain/chain/types"
)

// Reasons that are not "allowed by rule X" / "denied by rule X".
const (
	ReasonNoRule     = "no rule allowed"
	ReasonOverBudget = "cost limit exceeded"
)

// Result is the outcome of one execution, stored on chain.
//
//	Result {1 decision, 2 reason, 3 rule, 4 flags, 5 effects, 6 cost, 7 version}
//
// Effects holds the new values of the contract's state keys (normalized
// values, see values.go); it is empty unless Decision is Allow. Canonical
// CBOR sorts its keys.
type Result struct {
	Decision Decision       `cbor:"1,keyasint" json:"decision"`
	Reason   string         `cbor:"2,keyasint" json:"reason"`
	Rule     string         `cbor:"3,keyasint,omitempty" json:"rule,omitempty"` // the rule (or effect) that decided; empty for "no rule allowed"
	Flags    []string       `cbor:"4,keyasint,omitempty" json:"flags,omitempty"`
	Effects  map[string]any `cbor:"5,keyasint,omitempty" json:"effects,omitempty"`
	Cost     uint64         `cbor:"6,keyasint" json:"cost"` // CEL cost units actually used
	Version  types.Hash     `cbor:"7,keyasint" json:"version"`
}

// Allowed reports whether the decision is Allow.
func (r *Result) Allowed() bool { return r.Decision == Allow }

// ReviewRequired reports whether the result carries FlagReviewRequired.
func (r *Result) ReviewRequired() bool { return slices.Contains(r.Flags, FlagReviewRequired) }

// EffectKeys returns the keys of Effects in sorted order.
func (r *Result) EffectKeys() []string { return sortedKeys(r.Effects) }

// Encode returns the canonical bytes of the result.
func (r *Result) Encode() ([]byte, error) { return codec.Marshal(r) }

// Hash returns SHA-256 of the canonical bytes.
func (r *Result) Hash() (types.Hash, error) {
	b, err := r.Encode()
	if err != nil {
		return types.Hash{}, err
	}
	return types.HashBytes(b), nil
}

// DecodeResult decodes canonical bytes; effect values come back normalized.
func DecodeResult(b []byte, cfg Config) (*Result, error) {
	var r Result
	if err := codec.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	if r.Decision != Allow && r.Decision != Deny {
		return nil, fmt.Errorf("%w: result decision %d", ErrInvalidValue, r.Decision)
	}
	if r.Effects != nil {
		e, err := normalize(r.Effects, "effects", 1, limitsOf(cfg))
		if err != nil {
			return nil, err
		}
		r.Effects = e.(map[string]any)
	}
	return &r, nil
}
