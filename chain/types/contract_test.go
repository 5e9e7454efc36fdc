package types

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/medchain/medchain/chain/codec"
)

// TestContractPayloadRoundTrip: contract params decode from CBOR (and from
// JSON with exact integers) to the closed value set, so a decoded payload
// re-encodes to the same bytes and marshals to JSON.
func TestContractPayloadRoundTrip(t *testing.T) {
	params, err := ParamsFromJSON([]byte(`{"allowed_actions": ["read"], "allowed_hours": {"start": 8, "end": 18}, "expiration": 1830297599000}`))
	if err != nil {
		t.Fatal(err)
	}
	p := &ContractDeploy{ID: "contract123", Owner: "patient123", Source: ContractSource{Template: "terms", Params: params}}
	if err := p.ValidateBasic(); err != nil {
		t.Fatal(err)
	}
	b, err := codec.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var q ContractDeploy
	if err := codec.Unmarshal(b, &q); err != nil {
		t.Fatal(err)
	}
	if hours := q.Source.Params["allowed_hours"].(map[string]any); hours["start"] != int64(8) {
		t.Fatalf("decoded hours: %#v", hours)
	}
	again, err := codec.Marshal(&q)
	if err != nil || string(again) != string(b) {
		t.Fatalf("re-encoding differs: %v", err)
	}
	j, err := json.Marshal(&q)
	if err != nil {
		t.Fatalf("decoded payload does not marshal to JSON: %v", err)
	}
	var r ContractDeploy
	if err := json.Unmarshal(j, &r); err != nil {
		t.Fatal(err)
	}
	if fromJSON, err := codec.Marshal(&r); err != nil || string(fromJSON) != string(b) {
		t.Fatalf("JSON round trip changes the payload: %v", err)
	}
}

func TestContractPayloadValidateBasic(t *testing.T) {
	rule := ContractRule{Name: "r", Effect: EffectAllow, Condition: "true"}
	cases := []struct {
		name string
		p    Payload
		want string
	}{
		{"no source", &ContractDeploy{ID: "c"}, "give a template or at least one rule"},
		{"both", &ContractDeploy{ID: "c", Source: ContractSource{Template: "terms", Rules: []ContractRule{rule}}}, "not both"},
		{"template effects", &ContractDeploy{ID: "c", Source: ContractSource{Template: "terms", Effects: []ContractEffect{{Key: "k", Expression: "1"}}}}, "brings its own effects"},
		{"bad effect", &ContractDeploy{ID: "c", Source: ContractSource{Rules: []ContractRule{{Name: "r", Effect: "maybe", Condition: "true"}}}}, "not allow or deny"},
		{"long source", &ContractDeploy{ID: "c", Source: ContractSource{Rules: []ContractRule{{Name: "r", Effect: EffectAllow, Condition: strings.Repeat("x", MaxSourceLen+1)}}}}, "limit 4096"},
		{"float param", &ContractDeploy{ID: "c", Source: ContractSource{Template: "terms", Params: Params{"x": 0.5}}}, "floating point"},
		{"bad id", &ContractDeploy{ID: "a b", Source: ContractSource{Rules: []ContractRule{rule}}}, "not allowed"},
		{"no action", &ContractExecute{ContractID: "c"}, "action: required"},
		{"risk", &ContractExecute{ContractID: "c", Action: "read", Risk: -1}, "outside [0, 100]"},
		{"upgrade to 1", &ContractUpgrade{ContractID: "c", Version: 1, Source: ContractSource{Rules: []ContractRule{rule}}}, "version 2 or later"},
		{"no execution", &ReviewRecord{Outcome: ReviewJustified}, "execution_tx: required"},
		{"bad outcome", &ReviewRecord{ExecutionTx: HashBytes(nil), Outcome: "fine"}, "not justified"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.ValidateBasic()
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := ParamsFromJSON([]byte(`{"max": 1.5}`)); err == nil || !strings.Contains(err.Error(), "not an integer") {
		t.Fatalf("fraction: %v", err)
	}
	for _, tt := range []TxType{TxContractDeploy, TxContractExecute, TxContractUpgrade, TxContractRetire, TxReviewRecord} {
		if NewPayload(tt) == nil || NewPayload(tt).TxType() != tt || !tt.Known() {
			t.Fatalf("%s: no payload", tt)
		}
	}
	if TxContractDeploy != 8 || TxReviewRecord != 12 {
		t.Fatal("contract tx type values moved: they are wire format")
	}
}

// FuzzContractPayloads: no byte string makes a contract payload decoder or
// its ValidateBasic panic, and a payload that decodes and validates
// re-encodes to bytes that decode to the same encoding.
func FuzzContractPayloads(f *testing.F) {
	for _, p := range []Payload{
		&ContractDeploy{ID: "c", Source: ContractSource{Template: "terms", Params: Params{"allowed_hours": map[string]any{"start": int64(8)}, "l": []any{"a", int64(-1)}}}},
		&ContractExecute{ContractID: "c", Action: "read", Attrs: map[string]string{"deidentified": "true"}},
		&ContractUpgrade{ContractID: "c", Version: 2, Source: ContractSource{Rules: []ContractRule{{Name: "r", Effect: EffectAllow, Condition: "true"}}}},
		&ContractRetire{ContractID: "c"},
		&ReviewRecord{ExecutionTx: HashBytes(nil), Outcome: ReviewJustified},
	} {
		b, err := codec.Marshal(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(p.TxType()), b)
	}
	f.Fuzz(func(t *testing.T, typ uint8, b []byte) {
		p := NewPayload(TxContractDeploy + TxType(typ%5))
		if codec.Unmarshal(b, p) != nil || p.ValidateBasic() != nil {
			return
		}
		again, err := codec.Marshal(p)
		if err != nil {
			t.Fatalf("valid payload does not encode: %v", err)
		}
		q := NewPayload(p.TxType())
		if err := codec.Unmarshal(again, q); err != nil {
			t.Fatalf("re-encoded payload does not decode: %v", err)
		}
		if third, _ := codec.Marshal(q); string(third) != string(again) {
			t.Fatal("encoding is not stable")
		}
	})
}
