package zerotrust

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

func TestScanRequest(t *testing.T) {
	type want struct {
		batch   bool
		methods []string
		patient string // of the first call
		res     string // of the first call
		callErr bool
	}
	tests := []struct {
		name string
		in   string
		want want
		err  error
	}{
		{"single", `{"jsonrpc":"2.0","id":7,"method":"audit_trail","params":[{"patient":"p1","resource":"Patient/p1"}]}`,
			want{methods: []string{"audit_trail"}, patient: "p1", res: "Patient/p1"}, nil},
		{"batch", `[{"id":1,"method":"chain_head"},{"id":2,"method":"tx_get","params":["ab"]}]`,
			want{batch: true, methods: []string{"chain_head", "tx_get"}}, nil},
		{"hints only from the first param", `{"method":"m","params":["x",{"patient":"p2"}]}`, want{methods: []string{"m"}}, nil},
		{"nested hints ignored", `{"method":"m","params":[{"q":{"patient":"p2"}}]}`, want{methods: []string{"m"}}, nil},
		{"null method", `{"method":null}`, want{methods: []string{""}}, nil},
		{"no method", `{"id":1}`, want{methods: []string{""}}, nil},
		{"escaped method unescaped", `{"method":"chain\u005fhead"}`, want{methods: []string{"chain_head"}}, nil},
		{"keys match exactly, as the server reads them", `{"method":"chain_head","METHOD":"patient_read"}`, want{methods: []string{"chain_head"}}, nil},
		{"a folded key does not override", `{"method":"audit_trail","Method":"chain_head"}`, want{methods: []string{"audit_trail"}}, nil},
		{"long-s key folds onto resource", `{"method":"chain_head","params":[{"resource":"a","reſource":"b"}]}`, want{methods: []string{"chain_head"}, res: "b"}, nil},
		{"kelvin-sign key is another key", `{"method":"chain_head","params":[{"patient":"a","Katient":"b"}]}`, want{methods: []string{"chain_head"}, patient: "a"}, nil},
		{"duplicate method: last wins", `{"method":"chain_head","method":"patient_read"}`, want{methods: []string{"patient_read"}}, nil},
		{"escaped key", `{"m\u0065thod":"patient_read"}`, want{methods: []string{"patient_read"}}, nil},
		{"non-ASCII patient", `{"method":"m","params":[{"patient":"Zoë"}]}`, want{methods: []string{"m"}, patient: "Zoë"}, nil},
		{"method not a string", `{"method":5}`, want{methods: []string{""}}, nil},
		{"a later non-string method changes nothing", `{"method":"audit_trail","method":5}`, want{methods: []string{"audit_trail"}}, nil},
		{"a later null method changes nothing", `{"method":"audit_trail","method":null}`, want{methods: []string{"audit_trail"}}, nil},
		{"the last params gives the hints", `{"method":"m","params":[{"patient":"a"}],"params":[{"resource":"r"}]}`, want{methods: []string{"m"}, res: "r"}, nil},
		{"escaped non-ASCII method", `{"method":"audit\u00e9"}`, want{methods: []string{"audité"}}, nil},
		{"scalar body", `5`, want{methods: []string{""}, callErr: true}, nil},
		{"batch entry not an object", `[{"method":"a"},1]`, want{batch: true, methods: []string{"a", ""}, callErr: true}, nil},
		{"empty batch", `[]`, want{batch: true}, nil},
		{"injection strings are data", `{"method":"'; DROP TABLE users; --","params":[{"patient":"<script>alert(1)</script>"}]}`,
			want{methods: []string{"'; DROP TABLE users; --"}, patient: "<script>alert(1)</script>"}, nil},
		{"depth 10", `{"method":"m","params":[[[[[[[[[]]]]]]]]]}`, want{methods: []string{"m"}}, nil},
		{"depth 11", `{"method":"m","params":[[[[[[[[[[]]]]]]]]]]}`, want{}, ErrJSONDepth},
		{"nested 1,000 deep", nested(1000), want{}, ErrJSONDepth},
		{"batch of 101", batch(101), want{}, ErrBatchTooLarge},
		{"empty", ``, want{}, ErrMalformedJSON},
		{"two values", `{} {}`, want{}, ErrMalformedJSON},
		{"truncated", `{"method":"m","params":[1,2`, want{}, ErrMalformedJSON},
		{"bad number", `{"method":"m","params":[01]}`, want{}, ErrMalformedJSON},
		{"control character", "{\"method\":\"a\x01\"}", want{}, ErrMalformedJSON},
		{"bad escape", `{"method":"\x"}`, want{}, ErrMalformedJSON},
		{"trailing comma", `{"method":"m",}`, want{}, ErrMalformedJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			r, err := ScanRequest([]byte(in), 10, 100)
			if tt.err != nil || err != nil {
				if !errors.Is(err, tt.err) || tt.err == nil {
					t.Fatalf("got %v, want %v", err, tt.err)
				}
				return
			}
			if r.Batch != tt.want.batch || (r.CallErr != nil) != tt.want.callErr || len(r.Calls) != len(tt.want.methods) {
				t.Fatalf("got batch %v, call error %v, %d calls; want %+v", r.Batch, r.CallErr, len(r.Calls), tt.want)
			}
			for i, m := range tt.want.methods {
				if r.Calls[i].Method != m {
					t.Errorf("call %d: method %q, want %q", i, r.Calls[i].Method, m)
				}
			}
			if len(r.Calls) > 0 && (r.Calls[0].Patient != tt.want.patient || r.Calls[0].Resource != tt.want.res) {
				t.Errorf("hints %q %q, want %q %q", r.Calls[0].Patient, r.Calls[0].Resource, tt.want.patient, tt.want.res)
			}
			checkAgainstServer(t, []byte(in), r)
		})
	}
}

// checkAgainstServer is the property the gate's safety rests on: the
// calls ScanRequest returns are the calls the JSON-RPC server reads from the
// same body (refCall), and the hints are what encoding/json reads from the
// first param (as the handlers decode it).
func checkAgainstServer(t *testing.T, in []byte, r *Request) {
	t.Helper()
	var elems []json.RawMessage
	if r.Batch {
		if err := json.Unmarshal(in, &elems); err != nil {
			t.Fatalf("batch does not decode with encoding/json: %v", err)
		}
	} else {
		elems = []json.RawMessage{bytes.TrimSpace(in)}
	}
	if len(elems) != len(r.Calls) {
		t.Fatalf("%d calls, encoding/json reads %d", len(r.Calls), len(elems))
	}
	notCall := false
	for i, e := range elems {
		ref, ok := refCall(t, e)
		if !ok {
			notCall = true
			continue
		}
		got := r.Calls[i]
		if got.Method != ref.Method || !bytes.Equal(got.ID, ref.ID) || !bytes.Equal(got.Params, ref.Params) ||
			got.Patient != ref.Patient || got.Resource != ref.Resource {
			t.Fatalf("call %d: scanned %+v, the server reads %+v", i, got, ref)
		}
	}
	if notCall != (r.CallErr != nil) {
		t.Fatalf("call error %v, but an entry is not an object: %v", r.CallErr, notCall)
	}
}

// refCall is a naive model of how go-ethereum's rpc package (v1.17.10,
// fillMessage) reads one message: every member in order, keys compared
// exactly after unescaping, the last value winning, "method" decoded with
// json.Unmarshal into the current value (so null or a non-string leaves
// it). Hints come from encoding/json, as the handlers decode params.
func refCall(t *testing.T, elem []byte) (Call, bool) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(elem))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return Call{}, false
	}
	var c Call
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("key: %v", err)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			t.Fatalf("value: %v", err)
		}
		switch tok.(string) {
		case "id":
			c.ID = raw
		case "method":
			m := c.Method
			if json.Unmarshal(raw, &m) == nil {
				c.Method = m
			}
		case "params":
			c.Params = raw
		}
	}
	c.Patient, c.Resource = paramHints(c.Params)
	return c, true
}

func FuzzScanRequest(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"audit_trail","params":[{"patient":"p1","resource":"r"}]}`,
		`[{"id":1,"method":"a"},{"id":"x","method":"b","params":[]}]`,
		`{"method":"a","METHOD":"b","Params":[{"PATIENT":"x"}]}`, `{"method":"a","method":null,"params":[{"patient":"p"}],"params":[]}`,
		`{"m\u0065thod":"a","params":[{"patient":"\u00e9"}]}`,
		`{"method":5}`, `[1,{"method":"a"}]`, `null`, `[]`, nested(11), batch(3), `{"a":[1,{"b":null}]}`, ``, `{} {}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		const maxDepth, maxBatch = 10, 100
		r, err := ScanRequest(in, maxDepth, maxBatch)
		if err != nil {
			if !errors.Is(err, ErrJSONDepth) && !errors.Is(err, ErrBatchTooLarge) && !errors.Is(err, ErrMalformedJSON) {
				t.Fatalf("unclassified error %v", err)
			}
			if errors.Is(err, ErrJSONDepth) && naiveDepth(in) <= maxDepth {
				t.Fatalf("depth error for depth %d", naiveDepth(in))
			}
			if errors.Is(err, ErrMalformedJSON) && json.Valid(in) {
				t.Fatalf("valid JSON refused as malformed: %v", err)
			}
			return
		}
		if !json.Valid(in) {
			t.Fatalf("accepted invalid JSON %q", in)
		}
		if d := naiveDepth(in); d > maxDepth {
			t.Fatalf("accepted depth %d", d)
		}
		if err := CheckJSON(bytes.NewReader(in), maxDepth, maxBatch); err != nil {
			t.Fatalf("CheckJSON refuses what ScanRequest accepts: %v", err)
		}
		if err := checkJSONTokens(bytes.NewReader(in), maxDepth, maxBatch); err != nil {
			t.Fatalf("the token-based check refuses what ScanRequest accepts: %v", err)
		}
		checkAgainstServer(t, in, r)
	})
}

// BenchmarkScanRequest measures the gate's one pass over a tx_submitBatch
// body of 250 signed txs (about 1.3 MB), against the three parses it
// replaced (the validator's token scan, the gate's call decoding and the
// params decoding for hints).
func BenchmarkScanRequest(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"jsonrpc":"2.0","id":1,"method":"tx_submitBatch","params":[{"txs":[`)
	tx := strings.Repeat("QUJDRGVGR0hJSktMTU5PUFFSU1RVVldYWVo", 150) // ~5.2 KB of base64, like a signed tx
	for i := range 250 {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(`"` + tx + `"`)
	}
	sb.WriteString(`],"wait":true}]}`)
	body := []byte(sb.String())
	b.Run("scan", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			r, err := ScanRequest(body, 10, 100)
			if err != nil || r.Calls[0].Method != "tx_submitBatch" {
				b.Fatal(err)
			}
		}
	})
	b.Run("before", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if err := checkJSONTokens(bytes.NewReader(body), 10, 100); err != nil {
				b.Fatal(err)
			}
			var c struct {
				ID     json.RawMessage `json:"id"`
				Method string          `json:"method"`
				Params json.RawMessage `json:"params"`
			}
			if err := json.Unmarshal(body, &c); err != nil || c.Method != "tx_submitBatch" {
				b.Fatal(err)
			}
			paramHints(c.Params)
		}
	})
}

// checkJSONTokens is the validator's former depth and batch check, built on
// encoding/json's tokenizer: the reference CheckJSON is tested against, and
// the cost BenchmarkScanRequest compares with.
func checkJSONTokens(r io.Reader, maxDepth, maxBatch int) error {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	depth, batch := 0, 0
	topArray := false
	started := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			if !started {
				return fmt.Errorf("%w: empty body", ErrMalformedJSON)
			}
			if depth != 0 {
				return fmt.Errorf("%w: unexpected end", ErrMalformedJSON)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrMalformedJSON, err)
		}
		if started && depth == 0 {
			return fmt.Errorf("%w: data after the top-level value", ErrMalformedJSON)
		}
		if topArray && depth == 1 {
			if d, ok := tok.(json.Delim); !ok || d == '[' || d == '{' {
				batch++ // an element starts at depth 1 of the top array
				if batch > maxBatch {
					return fmt.Errorf("%w: more than %d entries", ErrBatchTooLarge, maxBatch)
				}
			}
		}
		started = true
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '[', '{':
				if depth == 0 && d == '[' {
					topArray = true
				}
				depth++
				if depth > maxDepth {
					return fmt.Errorf("%w: deeper than %d", ErrJSONDepth, maxDepth)
				}
			case ']', '}':
				depth--
			}
		}
	}
}
