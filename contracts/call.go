package contracts

import (
	"fmt"
	"slices"
)

// Call is the context of one contract execution. Everything a rule can see
// about the request is here; nothing comes from the node's clock or
// environment. Time is the block time stamped by the proposer.
//
//	Call {1 requester, 2 roles, 3 action, 4 purpose, 5 patient, 6 resource,
//	      7 segment, 8 risk, 9 block time ms, 10 height, 11 attrs}
type Call struct {
	Requester string            `cbor:"1,keyasint" json:"requester"`
	Roles     []string          `cbor:"2,keyasint,omitempty" json:"roles,omitempty"` // as presented by the caller; order is not meaningful
	Action    string            `cbor:"3,keyasint" json:"action"`
	Purpose   string            `cbor:"4,keyasint,omitempty" json:"purpose,omitempty"`
	Patient   string            `cbor:"5,keyasint,omitempty" json:"patient,omitempty"`
	Resource  string            `cbor:"6,keyasint,omitempty" json:"resource,omitempty"` // FHIR reference
	Segment   string            `cbor:"7,keyasint,omitempty" json:"segment,omitempty"`  // zero-trust segment; empty outside the RPC gate
	Risk      int64             `cbor:"8,keyasint,omitempty" json:"risk,omitempty"`     // 0-100; 0 outside the RPC gate
	BlockTime int64             `cbor:"9,keyasint" json:"block_time"`                   // Unix ms
	Height    uint64            `cbor:"10,keyasint" json:"height"`
	Attrs     map[string]string `cbor:"11,keyasint,omitempty" json:"attrs,omitempty"` // e.g. "deidentified": "true"
}

// validate checks c against the limits in cfg; it never panics, whatever c holds.
func (c *Call) validate(cfg Config) error {
	if c == nil {
		return fmt.Errorf("%w: no call context", ErrInvalidCall)
	}
	total := 0
	str := func(field, s string, required bool) error {
		if required && s == "" {
			return fmt.Errorf("%w: %s: required", ErrInvalidCall, field)
		}
		if err := checkString(field, s, cfg.MaxStringLen); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidCall, err)
		}
		total += len(s)
		return nil
	}
	for _, f := range []struct {
		name, v  string
		required bool
	}{
		{"requester", c.Requester, true}, {"action", c.Action, true}, {"purpose", c.Purpose, false},
		{"patient", c.Patient, false}, {"resource", c.Resource, false}, {"segment", c.Segment, false},
	} {
		if err := str(f.name, f.v, f.required); err != nil {
			return err
		}
	}
	if len(c.Roles) > cfg.MaxListLen {
		return fmt.Errorf("%w: roles: %d, limit %d", ErrInvalidCall, len(c.Roles), cfg.MaxListLen)
	}
	for i, r := range c.Roles {
		if err := str(fmt.Sprintf("roles[%d]", i), r, true); err != nil {
			return err
		}
	}
	if c.Risk < 0 || c.Risk > 100 {
		return fmt.Errorf("%w: risk: %d is outside [0, 100]", ErrInvalidCall, c.Risk)
	}
	if c.BlockTime < 0 {
		return fmt.Errorf("%w: block_time: %d is negative", ErrInvalidCall, c.BlockTime)
	}
	if c.Height > 1<<62 {
		return fmt.Errorf("%w: height: %d is out of range", ErrInvalidCall, c.Height)
	}
	if len(c.Attrs) > cfg.MaxAttrs {
		return fmt.Errorf("%w: attrs: %d entries, limit %d", ErrInvalidCall, len(c.Attrs), cfg.MaxAttrs)
	}
	for _, k := range sortedKeys(c.Attrs) {
		if err := str("attrs key", k, true); err != nil {
			return err
		}
		if err := str("attrs["+k+"]", c.Attrs[k], false); err != nil {
			return err
		}
	}
	if total > cfg.MaxContextBytes {
		return fmt.Errorf("%w: context is %d bytes, limit %d", ErrInvalidCall, total, cfg.MaxContextBytes)
	}
	return nil
}

// sortedUnique returns a sorted copy of s without duplicates: the order in
// which a caller lists roles or purposes is not meaningful, so CEL never
// sees it.
func sortedUnique(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}
