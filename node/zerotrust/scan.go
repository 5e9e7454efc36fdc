package zerotrust

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
)

// Call is one JSON-RPC call of a request body, as the gate authorizes it.
// Its fields are what the JSON-RPC server reads from the call object, so
// the gate checks the call the server will run.
type Call struct {
	// ID is the raw "id" value, nil when absent.
	ID json.RawMessage
	// Method is the "method" string ("" when absent or null).
	Method string
	// Params is the raw "params" value, nil when absent. It aliases the body.
	Params json.RawMessage
	// Patient and Resource are the "patient" and "resource" strings of the
	// first positional param when it is an object that has them; policies
	// see them as data.
	Patient, Resource string
}

// Request is a request body that passed the validator, decoded once: the
// JSON-RPC server still parses the body itself (it takes bytes), but
// nothing in between parses it again.
type Request struct {
	// Body is the whole body.
	Body []byte
	// Batch is true when the body is a JSON array (a JSON-RPC batch).
	Batch bool
	// CBOR is true for an application/cbor body (ScanCBORRequest): each
	// call's Params is then CBOR, its ID still the JSON form of the id.
	CBOR bool
	// Calls are the body's calls in order: one for a single call.
	Calls []Call
	// CallErr, if set, says why an entry is not a call the gate can read
	// (not an object); the body is valid JSON within the limits, but no
	// call of it may run.
	CallErr error
}

type requestKey struct{}

// WithRequest returns ctx carrying r (the validator's middleware does this).
func WithRequest(ctx context.Context, r *Request) context.Context {
	return context.WithValue(ctx, requestKey{}, r)
}

// RequestFrom returns the Request the validator attached to ctx, or nil.
func RequestFrom(ctx context.Context) *Request {
	r, _ := ctx.Value(requestKey{}).(*Request)
	return r
}

// ScanRequest checks that body is one JSON value nested no deeper than
// maxDepth, that a top-level array (a batch) holds at most maxBatch
// entries, and decodes its JSON-RPC calls, in one pass over the body
// without building a tree. Errors wrap ErrMalformedJSON, ErrJSONDepth or
// ErrBatchTooLarge; a body that is valid JSON but not calls is returned
// with CallErr set. Recursion is bounded by maxDepth.
//
// Each call is read as the JSON-RPC server reads it (see call), so the
// gate never authorizes a call other than the one the server runs. The
// first param's hints are read as the handlers decode params (encoding/json);
// keys it could match only by case folding, escapes or repetition are left
// to encoding/json itself.
func ScanRequest(body []byte, maxDepth, maxBatch int) (*Request, error) {
	s := &scanner{b: body, maxDepth: maxDepth}
	r := &Request{Body: body}
	s.ws()
	if s.i == len(body) {
		return nil, fmt.Errorf("%w: empty body", ErrMalformedJSON)
	}
	var err error
	if body[s.i] == '[' {
		r.Batch = true
		n := 0
		err = s.array(1, func(d int) error {
			if n++; n > maxBatch {
				return fmt.Errorf("%w: more than %d entries", ErrBatchTooLarge, maxBatch)
			}
			return s.call(d, r)
		})
	} else {
		err = s.call(0, r)
	}
	if err != nil {
		return nil, err
	}
	s.ws()
	if s.i != len(body) {
		return nil, fmt.Errorf("%w: data after the top-level value at offset %d", ErrMalformedJSON, s.i)
	}
	return r, nil
}

// scanner is a JSON syntax checker over a byte slice. Values are consumed
// by value (skip) or by object/array with a visitor for each member.
type scanner struct {
	b        []byte
	i        int
	maxDepth int
}

func (s *scanner) syntax(what string) error {
	if s.i >= len(s.b) {
		return fmt.Errorf("%w: unexpected end of input, %s", ErrMalformedJSON, what)
	}
	return fmt.Errorf("%w: %s at offset %d", ErrMalformedJSON, what, s.i)
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// value consumes one value; d is the nesting depth of its container.
func (s *scanner) value(d int) error {
	s.ws()
	if s.i >= len(s.b) {
		return s.syntax("expected a value")
	}
	switch c := s.b[s.i]; {
	case c == '{':
		return s.object(d+1, func([]byte, bool) error { return s.value(d + 1) })
	case c == '[':
		return s.array(d+1, func(int) error { return s.value(d + 1) })
	case c == '"':
		_, _, err := s.str()
		return err
	case c == 't':
		return s.lit("true")
	case c == 'f':
		return s.lit("false")
	case c == 'n':
		return s.lit("null")
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	}
	return s.syntax("expected a value")
}

// valueSpan consumes one value and returns its bytes.
func (s *scanner) valueSpan(d int) ([]byte, error) {
	s.ws()
	start := s.i
	if err := s.value(d); err != nil {
		return nil, err
	}
	return s.b[start:s.i], nil
}

// object consumes an object at depth d (s.i at '{'); member is called with
// each key (its raw bytes between the quotes, and whether it has escapes)
// with s.i before the value, and must consume the value.
func (s *scanner) object(d int, member func(key []byte, escaped bool) error) error {
	if d > s.maxDepth {
		return fmt.Errorf("%w: deeper than %d", ErrJSONDepth, s.maxDepth)
	}
	s.i++ // '{'
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return nil
	}
	for {
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return s.syntax("expected a string key")
		}
		key, escaped, err := s.str()
		if err != nil {
			return err
		}
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return s.syntax("expected ':'")
		}
		s.i++
		if err := member(key, escaped); err != nil {
			return err
		}
		s.ws()
		if s.i >= len(s.b) {
			return s.syntax("expected ',' or '}'")
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return s.syntax("expected ',' or '}'")
		}
	}
}

// array consumes an array at depth d (s.i at '['); elem is called with s.i
// before each element and d, and must consume it.
func (s *scanner) array(d int, elem func(d int) error) error {
	if d > s.maxDepth {
		return fmt.Errorf("%w: deeper than %d", ErrJSONDepth, s.maxDepth)
	}
	s.i++ // '['
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		return nil
	}
	for {
		if err := elem(d); err != nil {
			return err
		}
		s.ws()
		if s.i >= len(s.b) {
			return s.syntax("expected ',' or ']'")
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case ']':
			s.i++
			return nil
		default:
			return s.syntax("expected ',' or ']'")
		}
	}
}

// str consumes a string (s.i at '"') and returns its raw contents and
// whether they hold escapes. Bytes below 0x20 are refused, as
// encoding/json does; other bytes pass as they are.
func (s *scanner) str() ([]byte, bool, error) {
	s.i++
	start, escaped := s.i, false
	for s.i < len(s.b) {
		// The common case: runs of plain bytes.
		j := s.i
		for j < len(s.b) && s.b[j] >= 0x20 && s.b[j] != '"' && s.b[j] != '\\' {
			j++
		}
		s.i = j
		if j >= len(s.b) {
			break
		}
		switch c := s.b[j]; {
		case c == '"':
			s.i++
			return s.b[start:j], escaped, nil
		case c == '\\':
			escaped = true
			if j+1 >= len(s.b) {
				s.i = len(s.b)
				return nil, false, s.syntax("unterminated string")
			}
			switch s.b[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i = j + 2
			case 'u':
				if j+6 > len(s.b) || !isHex(s.b[j+2]) || !isHex(s.b[j+3]) || !isHex(s.b[j+4]) || !isHex(s.b[j+5]) {
					s.i = j + 1
					return nil, false, s.syntax(`bad \u escape`)
				}
				s.i = j + 6
			default:
				s.i = j + 1
				return nil, false, s.syntax("bad escape")
			}
		default:
			return nil, false, s.syntax("control character in string")
		}
	}
	return nil, false, s.syntax("unterminated string")
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func (s *scanner) lit(word string) error {
	if !bytes.HasPrefix(s.b[s.i:], []byte(word)) {
		return s.syntax("bad literal")
	}
	s.i += len(word)
	return nil
}

// number consumes -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func (s *scanner) number() error {
	digits := func() int {
		n := 0
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	if s.b[s.i] == '-' {
		s.i++
	}
	if s.i < len(s.b) && s.b[s.i] == '0' {
		s.i++
	} else if digits() == 0 {
		return s.syntax("bad number")
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if digits() == 0 {
			return s.syntax("bad number")
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if digits() == 0 {
			return s.syntax("bad number")
		}
	}
	return nil
}

// hintKeys are the first param's keys the gate passes to policies.
var hintKeys = [...]string{"patient", "resource"}

// plainKey reports, for a key of the first param (which the handler
// decodes with encoding/json, matching keys case-insensitively), whether it
// is irrelevant or exactly one of names:
// it returns the index of the name matched, -1 for a key encoding/json
// could not match to any of names, and ok false for a key that it might
// match only by case folding or after unescaping.
func plainKey(key []byte, escaped bool, names []string) (idx int, ok bool) {
	if escaped {
		return -1, false
	}
	for i, n := range names {
		if string(key) == n {
			return i, true
		}
	}
	for _, c := range key {
		if c >= 0x80 { // non-ASCII may fold onto ASCII (U+212A K, U+017F ſ)
			return -1, false
		}
	}
	for _, n := range names {
		if bytes.EqualFold(key, []byte(n)) {
			return -1, false
		}
	}
	return -1, true
}

// plainString returns the contents of v when it is a string of printable
// ASCII without escapes, which encoding/json would decode to the same bytes.
func plainString(v []byte) (string, bool) {
	if len(v) < 2 || v[0] != '"' {
		return "", false
	}
	for _, c := range v[1 : len(v)-1] {
		if c == '\\' || c >= 0x80 {
			return "", false
		}
	}
	return string(v[1 : len(v)-1]), true
}

// call consumes one call object at container depth d and appends it to r.
// It reads the object as the JSON-RPC server does (go-ethereum's rpc
// package picks a message apart itself, not with encoding/json's
// case-insensitive struct decoding): keys match exactly after unescaping,
// a repeated key's last value wins, and "method" is decoded with
// encoding/json, a value that is not a string leaving it unchanged. So the
// gate authorizes the method the server runs: {"method":"audit_trail",
// "Method":"chain_head"} is audit_trail to both.
func (s *scanner) call(d int, r *Request) error {
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != '{' {
		if err := s.value(d); err != nil {
			return err
		}
		if r.CallErr == nil {
			r.CallErr = fmt.Errorf("entry %d is not a JSON-RPC call object", len(r.Calls))
		}
		r.Calls = append(r.Calls, Call{})
		return nil
	}
	var c Call
	hintsExotic := false
	err := s.object(d+1, func(key []byte, escaped bool) error {
		name := string(key)
		if escaped {
			if json.Unmarshal([]byte(`"`+name+`"`), &name) != nil {
				return s.value(d + 1) // the server skips a key it cannot unescape
			}
		}
		switch name {
		case "id":
			v, err := s.valueSpan(d + 1)
			c.ID = v
			return err
		case "method":
			v, err := s.valueSpan(d + 1)
			if err != nil {
				return err
			}
			if str, plain := plainString(v); plain {
				c.Method = str
			} else if v[0] == '"' {
				var m string
				if json.Unmarshal(v, &m) == nil { // unescapes; invalid UTF-8 becomes U+FFFD
					c.Method = m
				}
			}
			return nil
		case "params":
			s.ws()
			pstart := s.i
			c.Patient, c.Resource, hintsExotic = "", "", false // the last params is the one that runs
			var err error
			if s.i < len(s.b) && s.b[s.i] == '[' {
				err = s.params(d+2, &c, &hintsExotic)
			} else {
				err = s.value(d + 1)
			}
			c.Params = s.b[pstart:s.i]
			return err
		}
		return s.value(d + 1)
	})
	if err != nil {
		return err
	}
	if hintsExotic {
		// The handler decodes params with encoding/json: let it read the hints.
		c.Patient, c.Resource = paramHints(c.Params)
	}
	r.Calls = append(r.Calls, c)
	return nil
}

// params consumes a params array at depth d and reads the hints of its
// first element.
func (s *scanner) params(d int, c *Call, exotic *bool) error {
	first := true
	return s.array(d, func(d int) error {
		s.ws()
		if !first || s.i >= len(s.b) || s.b[s.i] != '{' {
			first = false
			return s.value(d)
		}
		first = false
		var seen [len(hintKeys)]bool
		return s.object(d+1, func(key []byte, escaped bool) error {
			idx, ok := plainKey(key, escaped, hintKeys[:])
			if !ok || idx >= 0 && seen[idx] {
				*exotic = true
			}
			if idx < 0 {
				return s.value(d + 1)
			}
			seen[idx] = true
			v, err := s.valueSpan(d + 1)
			if err != nil {
				return err
			}
			str, plain := plainString(v)
			if !plain && v[0] == '"' {
				*exotic = true // escapes or non-ASCII: let encoding/json read it
			}
			if idx == 0 {
				c.Patient = str
			} else {
				c.Resource = str
			}
			return nil
		})
	})
}

// paramHints reads the patient and resource of the first positional param
// with encoding/json; a param without them gives "".
func paramHints(params json.RawMessage) (patient, resource string) {
	var ps []json.RawMessage
	if json.Unmarshal(params, &ps) != nil || len(ps) == 0 {
		return "", ""
	}
	var p struct {
		Patient  string `json:"patient"`
		Resource string `json:"resource"`
	}
	_ = json.Unmarshal(ps[0], &p) // a field of another type stays "", the others are read
	return p.Patient, p.Resource
}
