package contracts

import (
	"fmt"

	"github.com/medchain/medchain/chain/codec"
	"github.com/medchain/medchain/chain/types"
)

// Decision is the outcome of a rule or of a call. Values are wire format:
// append only.
type Decision uint8

// Decisions.
const (
	Allow Decision = 1 + iota
	Deny
)

// String returns "allow" or "deny".
func (d Decision) String() string {
	switch d {
	case Allow:
		return "allow"
	case Deny:
		return "deny"
	}
	return fmt.Sprintf("Decision(%d)", uint8(d))
}

// MarshalText encodes the decision by name (JSON at the RPC edge).
func (d Decision) MarshalText() ([]byte, error) {
	if d != Allow && d != Deny {
		return nil, fmt.Errorf("%w: decision %d", ErrInvalidContract, uint8(d))
	}
	return []byte(d.String()), nil
}

// UnmarshalText decodes "allow" or "deny".
func (d *Decision) UnmarshalText(b []byte) error {
	switch string(b) {
	case "allow":
		*d = Allow
	case "deny":
		*d = Deny
	default:
		return fmt.Errorf("%w: decision %q is not allow or deny", ErrInvalidContract, b)
	}
	return nil
}

// FlagReviewRequired marks a result that must be reviewed after the fact
// (break-glass access).
const FlagReviewRequired = "review_required"

// Rule is one access rule: when Condition (a CEL expression of type bool)
// holds, the rule matches and votes Effect. Flags are copied into the result
// when this rule decides.
type Rule struct {
	Name      string   `cbor:"1,keyasint" json:"name"`
	Effect    Decision `cbor:"2,keyasint" json:"effect"`
	Condition string   `cbor:"3,keyasint" json:"condition"`
	Flags     []string `cbor:"4,keyasint,omitempty" json:"flags,omitempty"`
}

// Effect computes the new value of one key of the contract's own state. It
// runs only when the call is allowed; every effect sees the state as it was
// before the call.
type Effect struct {
	Key        string `cbor:"1,keyasint" json:"key"`
	Expression string `cbor:"2,keyasint" json:"expression"`
}

// Contract is an access policy: terms (Params), rules and effects. Its
// canonical encoding is deterministic CBOR; its version hash is the SHA-256
// of that encoding.
//
//	Contract {1 id, 2 owner, 3 version, 4 template, 5 params, 6 rules, 7 effects}
//	Rule     {1 name, 2 effect (1 allow, 2 deny), 3 condition, 4 flags}
//	Effect   {1 key, 2 expression}
type Contract struct {
	ID       string         `cbor:"1,keyasint" json:"id"`
	Owner    string         `cbor:"2,keyasint" json:"owner"`
	Version  uint64         `cbor:"3,keyasint" json:"version"`
	Template string         `cbor:"4,keyasint,omitempty" json:"template,omitempty"`
	Params   map[string]any `cbor:"5,keyasint,omitempty" json:"params,omitempty"`
	Rules    []Rule         `cbor:"6,keyasint" json:"rules"`
	Effects  []Effect       `cbor:"7,keyasint,omitempty" json:"effects,omitempty"`
}

// ValidateBasic checks the contract's shape against cfg without compiling
// it: identifiers, counts, source lengths, parameter values. It normalizes
// Params in place (see values.go), so call it before Encode on a contract
// built by hand.
func (c *Contract) ValidateBasic(cfg Config) error {
	if err := checkIdent("id", c.ID); err != nil {
		return err
	}
	if err := checkIdent("owner", c.Owner); err != nil {
		return err
	}
	if c.Template != "" {
		if err := checkIdent("template", c.Template); err != nil {
			return err
		}
	}
	if len(c.Rules) == 0 {
		return fmt.Errorf("%w: rules: at least one rule is required", ErrInvalidContract)
	}
	if len(c.Rules) > cfg.MaxRules {
		return fmt.Errorf("%w: rules: %d, limit %d", ErrInvalidContract, len(c.Rules), cfg.MaxRules)
	}
	if len(c.Effects) > cfg.MaxEffects {
		return fmt.Errorf("%w: effects: %d, limit %d", ErrInvalidContract, len(c.Effects), cfg.MaxEffects)
	}
	names := make(map[string]bool, len(c.Rules))
	for i, r := range c.Rules {
		field := fmt.Sprintf("rules[%d]", i)
		if err := checkIdent(field+".name", r.Name); err != nil {
			return err
		}
		if names[r.Name] {
			return fmt.Errorf("%w: %s.name: duplicate rule %q", ErrInvalidContract, field, r.Name)
		}
		names[r.Name] = true
		if r.Effect != Allow && r.Effect != Deny {
			return fmt.Errorf("%w: %s.effect: %d is not allow or deny", ErrInvalidContract, field, r.Effect)
		}
		if err := checkSource(field+".condition", r.Condition, cfg); err != nil {
			return err
		}
		for j, f := range r.Flags {
			if err := checkIdent(fmt.Sprintf("%s.flags[%d]", field, j), f); err != nil {
				return err
			}
		}
	}
	keys := make(map[string]bool, len(c.Effects))
	for i, e := range c.Effects {
		field := fmt.Sprintf("effects[%d]", i)
		if err := checkIdent(field+".key", e.Key); err != nil {
			return err
		}
		if keys[e.Key] {
			return fmt.Errorf("%w: %s.key: duplicate state key %q", ErrInvalidContract, field, e.Key)
		}
		keys[e.Key] = true
		if err := checkSource(field+".expression", e.Expression, cfg); err != nil {
			return err
		}
	}
	if c.Params != nil {
		p, err := normalize(c.Params, "params", 1, limitsOf(cfg))
		if err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidContract, err)
		}
		c.Params = p.(map[string]any)
		b, err := codec.Marshal(c.Params)
		if err != nil {
			return fmt.Errorf("%w: params: %v", ErrInvalidContract, err)
		}
		if len(b) > cfg.MaxStateBytes {
			return fmt.Errorf("%w: params: %d bytes encoded, limit %d", ErrInvalidContract, len(b), cfg.MaxStateBytes)
		}
	}
	return nil
}

// Encode returns the canonical bytes (deterministic CBOR). Params must be
// normalized (ValidateBasic does it); otherwise integer kinds are still
// encoded canonically, and floats fail.
func (c *Contract) Encode() ([]byte, error) { return codec.Marshal(c) }

// Hash returns the version hash: SHA-256 of the canonical bytes.
func (c *Contract) Hash() (types.Hash, error) {
	b, err := c.Encode()
	if err != nil {
		return types.Hash{}, err
	}
	return types.HashBytes(b), nil
}

// DecodeContract decodes canonical bytes and validates the result against cfg.
func DecodeContract(b []byte, cfg Config) (*Contract, error) {
	var c Contract
	if err := codec.Unmarshal(b, &c); err != nil {
		return nil, err
	}
	if err := c.ValidateBasic(cfg); err != nil {
		return nil, err
	}
	return &c, nil
}

// checkIdent accepts 1..types.MaxIDLen characters of letters, digits and
// . _ - : @ / # (the chain's identifier alphabet).
func checkIdent(field, s string) error {
	if s == "" {
		return fmt.Errorf("%w: %s: required", ErrInvalidContract, field)
	}
	if len(s) > types.MaxIDLen {
		return fmt.Errorf("%w: %s: %d bytes, limit %d", ErrInvalidContract, field, len(s), types.MaxIDLen)
	}
	for i, r := range s {
		if !identRune(r) {
			return fmt.Errorf("%w: %s: character %q at %d not allowed (letters, digits and . _ - : @ / #)", ErrInvalidContract, field, r, i)
		}
	}
	return nil
}

func identRune(r rune) bool {
	return r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
		r == '.' || r == '_' || r == '-' || r == ':' || r == '@' || r == '/' || r == '#')
}

func checkSource(field, src string, cfg Config) error {
	if src == "" {
		return fmt.Errorf("%w: %s: required", ErrInvalidContract, field)
	}
	if len(src) > cfg.MaxSourceLen {
		return fmt.Errorf("%w: %s: %d bytes, limit %d", ErrInvalidContract, field, len(src), cfg.MaxSourceLen)
	}
	return checkString(field, src, cfg.MaxSourceLen)
}
