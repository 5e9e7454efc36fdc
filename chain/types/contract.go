package types

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/medchain/medchain/chain/codec"
)

// Limits on contract payloads. They are cheap upper bounds checked at the
// edge; the contract VM's Config (the same numbers by default) is the rule
// the executor applies.
const (
	MaxContractRules   = 64
	MaxContractEffects = 16
	MaxSourceLen       = 4096  // one rule condition or effect expression, bytes
	MaxParamDepth      = 8     // nesting of lists and maps in contract params
	MaxParamCollection = 256   // entries of one list or map in params
	MaxParamString     = 1024  // one string in params, bytes
	MaxParamBytes      = 32768 // encoded params
	MaxAttrs           = 32    // free attributes of an execution
)

// Rule effects.
const (
	EffectAllow = "allow"
	EffectDeny  = "deny"
)

// Review outcomes a privacy officer records for a flagged execution.
const (
	ReviewJustified   = "justified"   // the access was warranted
	ReviewUnjustified = "unjustified" // the access was not warranted: follow-up outside the chain
	ReviewEscalated   = "escalated"   // referred on (e.g. to a compliance committee)
)

// Params are contract terms: a JSON-like value tree of nil, bool, int64,
// string, []byte, []any and map[string]any. Floating point is refused
// everywhere (DESIGN.md: no floats in apply). Decoding from CBOR yields
// only those Go types, so a decoded payload re-encodes to the same bytes and
// marshals to JSON.
type Params map[string]any

// UnmarshalCBOR decodes and normalizes the value tree.
func (p *Params) UnmarshalCBOR(b []byte) error {
	var raw map[string]any
	if err := codec.Unmarshal(b, &raw); err != nil {
		return err
	}
	if raw == nil {
		*p = nil
		return nil
	}
	n, err := normalizeParam(raw, "params", 1)
	if err != nil {
		return err
	}
	*p = n.(map[string]any)
	return nil
}

// UnmarshalJSON decodes a JSON object with exact integers (see ParamsFromJSON).
func (p *Params) UnmarshalJSON(b []byte) error {
	v, err := ParamsFromJSON(b)
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// NormalizeParams checks m against the params limits and returns it in
// normal form (every integer an int64, every map a map[string]any, every
// list a []any). Errors wrap ErrInvalid and name the path at fault.
func NormalizeParams(m map[string]any) (Params, error) {
	if m == nil {
		return nil, nil
	}
	n, err := normalizeParam(m, "params", 1)
	if err != nil {
		return nil, err
	}
	return n.(map[string]any), nil
}

// ParamsFromJSON decodes a JSON object into Params, keeping integers exact
// (json.Number) and refusing fractions and exponents.
func ParamsFromJSON(b []byte) (Params, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: params: not a JSON object: %v", ErrInvalid, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: params: trailing data after the JSON object", ErrInvalid)
	}
	return NormalizeParams(m)
}

func normalizeParam(v any, path string, depth int) (any, error) {
	if depth > MaxParamDepth {
		return nil, fmt.Errorf("%w: %s: nested deeper than %d", ErrInvalid, path, MaxParamDepth)
	}
	switch x := v.(type) {
	case nil, bool, int64:
		return x, nil
	case int:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case uint64:
		if x > math.MaxInt64 {
			return nil, fmt.Errorf("%w: %s: %d overflows int64", ErrInvalid, path, x)
		}
		return int64(x), nil
	case json.Number:
		n, err := strconv.ParseInt(string(x), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %s is not an integer (floating point is not allowed)", ErrInvalid, path, x)
		}
		return n, nil
	case float32, float64:
		return nil, fmt.Errorf("%w: %s: floating point values are not allowed (use integers)", ErrInvalid, path)
	case string:
		if len(x) > MaxParamString || !utf8.ValidString(x) {
			return nil, fmt.Errorf("%w: %s: string longer than %d bytes or not UTF-8", ErrInvalid, path, MaxParamString)
		}
		return x, nil
	case []byte:
		if len(x) > MaxParamString {
			return nil, fmt.Errorf("%w: %s: %d bytes, limit %d", ErrInvalid, path, len(x), MaxParamString)
		}
		return slices.Clone(x), nil
	case []string:
		l := make([]any, len(x))
		for i, s := range x {
			l[i] = s
		}
		return normalizeParam(l, path, depth)
	case []any:
		if len(x) > MaxParamCollection {
			return nil, fmt.Errorf("%w: %s: %d elements, limit %d", ErrInvalid, path, len(x), MaxParamCollection)
		}
		out := make([]any, len(x))
		for i, e := range x {
			n, err := normalizeParam(e, fmt.Sprintf("%s[%d]", path, i), depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			ks, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("%w: %s: map key of type %T (only string keys)", ErrInvalid, path, k)
			}
			m[ks] = e
		}
		return normalizeParam(m, path, depth)
	case map[string]any:
		if len(x) > MaxParamCollection {
			return nil, fmt.Errorf("%w: %s: %d entries, limit %d", ErrInvalid, path, len(x), MaxParamCollection)
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys) // the first error reported is the same everywhere
		out := make(map[string]any, len(x))
		for _, k := range keys {
			if len(k) > MaxParamString || !utf8.ValidString(k) {
				return nil, fmt.Errorf("%w: %s: a key must be at most %d bytes of UTF-8", ErrInvalid, path, MaxParamString)
			}
			n, err := normalizeParam(x[k], path+"."+k, depth+1)
			if err != nil {
				return nil, err
			}
			out[k] = n
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: %s: unsupported type %T", ErrInvalid, path, v)
}

// ContractRule is one rule of a contract as deployed: the wire form of
// contracts.Rule (this package cannot import the VM).
type ContractRule struct {
	Name      string   `cbor:"1,keyasint" json:"name"`
	Effect    string   `cbor:"2,keyasint" json:"effect"` // allow or deny
	Condition string   `cbor:"3,keyasint" json:"condition"`
	Flags     []string `cbor:"4,keyasint,omitempty" json:"flags,omitempty"`
}

// ContractEffect computes one key of the contract's own state (the wire
// form of contracts.Effect).
type ContractEffect struct {
	Key        string `cbor:"1,keyasint" json:"key"`
	Expression string `cbor:"2,keyasint" json:"expression"`
}

// ContractSource is what a contract is made of: a standard template and its
// terms, or rules and effects written in CEL (with optional Params the rules
// read as params). Exactly one of Template and Rules is set.
type ContractSource struct {
	Template string           `cbor:"1,keyasint,omitempty" json:"template,omitempty"`
	Params   Params           `cbor:"2,keyasint,omitempty" json:"params,omitempty"`
	Rules    []ContractRule   `cbor:"3,keyasint,omitempty" json:"rules,omitempty"`
	Effects  []ContractEffect `cbor:"4,keyasint,omitempty" json:"effects,omitempty"`
}

// ValidateBasic checks the source's shape; whether it compiles is the
// executor's question.
func (s *ContractSource) ValidateBasic() error {
	switch {
	case s.Template == "" && len(s.Rules) == 0:
		return fmt.Errorf("%w: source: give a template or at least one rule", ErrInvalid)
	case s.Template != "" && len(s.Rules) > 0:
		return fmt.Errorf("%w: source: give a template or rules, not both", ErrInvalid)
	case s.Template != "" && len(s.Effects) > 0:
		return fmt.Errorf("%w: effects: a template brings its own effects", ErrInvalid)
	}
	if s.Template != "" {
		if err := checkID("template", s.Template); err != nil {
			return err
		}
	}
	if len(s.Rules) > MaxContractRules {
		return fmt.Errorf("%w: rules: %d, limit %d", ErrInvalid, len(s.Rules), MaxContractRules)
	}
	if len(s.Effects) > MaxContractEffects {
		return fmt.Errorf("%w: effects: %d, limit %d", ErrInvalid, len(s.Effects), MaxContractEffects)
	}
	for i, r := range s.Rules {
		f := fmt.Sprintf("rules[%d]", i)
		if err := checkID(f+".name", r.Name); err != nil {
			return err
		}
		if r.Effect != EffectAllow && r.Effect != EffectDeny {
			return fmt.Errorf("%w: %s.effect: %q is not allow or deny", ErrInvalid, f, r.Effect)
		}
		if err := checkSource(f+".condition", r.Condition); err != nil {
			return err
		}
		if err := checkIDList(f+".flags", r.Flags, false); err != nil {
			return err
		}
	}
	for i, e := range s.Effects {
		f := fmt.Sprintf("effects[%d]", i)
		if err := checkID(f+".key", e.Key); err != nil {
			return err
		}
		if err := checkSource(f+".expression", e.Expression); err != nil {
			return err
		}
	}
	if s.Params != nil {
		n, err := NormalizeParams(s.Params)
		if err != nil {
			return err
		}
		b, err := codec.Marshal(n)
		if err != nil {
			return fmt.Errorf("%w: params: %v", ErrInvalid, err)
		}
		if len(b) > MaxParamBytes {
			return fmt.Errorf("%w: params: %d bytes encoded, limit %d", ErrInvalid, len(b), MaxParamBytes)
		}
	}
	return nil
}

func checkSource(field, s string) error {
	if s == "" {
		return fmt.Errorf("%w: %s: required", ErrInvalid, field)
	}
	if len(s) > MaxSourceLen {
		return fmt.Errorf("%w: %s: %d bytes, limit %d", ErrInvalid, field, len(s), MaxSourceLen)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s: not UTF-8", ErrInvalid, field)
	}
	return nil
}

// ContractDeploy deploys version 1 of a new contract. Owner defaults to the
// signer; an owner may upgrade and retire the contract.
type ContractDeploy struct {
	ID     string         `cbor:"1,keyasint" json:"id"`
	Owner  string         `cbor:"2,keyasint,omitempty" json:"owner,omitempty"`
	Source ContractSource `cbor:"3,keyasint" json:"source"`
}

// TxType implements Payload.
func (*ContractDeploy) TxType() TxType { return TxContractDeploy }

// ValidateBasic implements Payload.
func (p *ContractDeploy) ValidateBasic() error {
	if err := checkID("id", p.ID); err != nil {
		return err
	}
	if p.Owner != "" {
		if err := checkID("owner", p.Owner); err != nil {
			return err
		}
	}
	return p.Source.ValidateBasic()
}

// ContractExecute asks a contract to decide one access. The requester is the
// signer; its on-chain roles are what the contract sees. Segment and Risk are
// asserted by the signer (an EHR integration or the RPC gate's client) and
// recorded with the decision.
type ContractExecute struct {
	ContractID string            `cbor:"1,keyasint" json:"contract_id"`
	Action     string            `cbor:"2,keyasint" json:"action"`
	Purpose    string            `cbor:"3,keyasint,omitempty" json:"purpose,omitempty"`
	Patient    string            `cbor:"4,keyasint,omitempty" json:"patient,omitempty"`
	Resource   string            `cbor:"5,keyasint,omitempty" json:"resource,omitempty"` // FHIR reference
	Segment    string            `cbor:"6,keyasint,omitempty" json:"segment,omitempty"`  // public, internal, clinical, critical
	Risk       int64             `cbor:"7,keyasint,omitempty" json:"risk,omitempty"`     // 0-100
	Attrs      map[string]string `cbor:"8,keyasint,omitempty" json:"attrs,omitempty"`
}

// TxType implements Payload.
func (*ContractExecute) TxType() TxType { return TxContractExecute }

// ValidateBasic implements Payload.
func (p *ContractExecute) ValidateBasic() error {
	if err := checkID("contract_id", p.ContractID); err != nil {
		return err
	}
	if err := checkID("action", p.Action); err != nil {
		return err
	}
	for _, f := range []struct{ name, v string }{{"purpose", p.Purpose}, {"patient", p.Patient}, {"segment", p.Segment}} {
		if f.v != "" {
			if err := checkID(f.name, f.v); err != nil {
				return err
			}
		}
	}
	if err := checkText("resource", p.Resource); err != nil {
		return err
	}
	if p.Risk < 0 || p.Risk > 100 {
		return fmt.Errorf("%w: risk: %d is outside [0, 100]", ErrInvalid, p.Risk)
	}
	if len(p.Attrs) > MaxAttrs {
		return fmt.Errorf("%w: attrs: %d entries, limit %d", ErrInvalid, len(p.Attrs), MaxAttrs)
	}
	total := 0
	for k, v := range p.Attrs {
		if err := checkID("attrs key", k); err != nil {
			return err
		}
		if err := checkText("attrs["+k+"]", v); err != nil {
			return err
		}
		total += len(k) + len(v)
	}
	if total > MaxDetailsLen {
		return fmt.Errorf("%w: attrs: %d bytes, limit %d", ErrInvalid, total, MaxDetailsLen)
	}
	return nil
}

// ContractUpgrade replaces a contract's rules with a new version. Version
// must be the current version plus one; every earlier version stays on
// chain for audit.
type ContractUpgrade struct {
	ContractID string         `cbor:"1,keyasint" json:"contract_id"`
	Version    uint64         `cbor:"2,keyasint" json:"version"`
	Source     ContractSource `cbor:"3,keyasint" json:"source"`
	Reason     string         `cbor:"4,keyasint,omitempty" json:"reason,omitempty"`
}

// TxType implements Payload.
func (*ContractUpgrade) TxType() TxType { return TxContractUpgrade }

// ValidateBasic implements Payload.
func (p *ContractUpgrade) ValidateBasic() error {
	if err := checkID("contract_id", p.ContractID); err != nil {
		return err
	}
	if p.Version < 2 {
		return fmt.Errorf("%w: version: an upgrade is version 2 or later, got %d", ErrInvalid, p.Version)
	}
	if err := checkText("reason", p.Reason); err != nil {
		return err
	}
	return p.Source.ValidateBasic()
}

// ContractRetire retires a contract: it executes no more, and stays on chain.
type ContractRetire struct {
	ContractID string `cbor:"1,keyasint" json:"contract_id"`
	Reason     string `cbor:"2,keyasint,omitempty" json:"reason,omitempty"`
}

// TxType implements Payload.
func (*ContractRetire) TxType() TxType { return TxContractRetire }

// ValidateBasic implements Payload.
func (p *ContractRetire) ValidateBasic() error {
	if err := checkID("contract_id", p.ContractID); err != nil {
		return err
	}
	return checkText("reason", p.Reason)
}

// ReviewRecord closes the open review of a flagged (break-glass) execution
// with a privacy officer's outcome.
type ReviewRecord struct {
	ExecutionTx Hash   `cbor:"1,keyasint" json:"execution_tx"`
	Outcome     string `cbor:"2,keyasint" json:"outcome"` // justified, unjustified or escalated
	Notes       string `cbor:"3,keyasint,omitempty" json:"notes,omitempty"`
}

// TxType implements Payload.
func (*ReviewRecord) TxType() TxType { return TxReviewRecord }

// ValidateBasic implements Payload.
func (p *ReviewRecord) ValidateBasic() error {
	if p.ExecutionTx.IsZero() {
		return fmt.Errorf("%w: execution_tx: required", ErrInvalid)
	}
	switch p.Outcome {
	case ReviewJustified, ReviewUnjustified, ReviewEscalated:
	default:
		return fmt.Errorf("%w: outcome: %q is not justified, unjustified or escalated", ErrInvalid, p.Outcome)
	}
	return checkText("notes", p.Notes)
}
