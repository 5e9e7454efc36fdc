package rpc

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// Params errors, worded for the client. A params object that does not
// decode is answered, over JSON and over CBOR alike, with the key and the
// kinds involved, never with Go type names or struct tags:
//
//	invalid argument 0: want an object, got a number
//	invalid argument 0: unknown key "sneaky"
//	invalid argument 0: wait: want a boolean, got a string
//	invalid argument 0: key "txs" repeated                (CBOR only: JSON keeps the last)
//
// Kinds are JSON's words (a string, a number, a boolean, an array, an
// object, null) plus, over CBOR, a byte string. The JSON path words them
// in paramsJSONError, the CBOR path in cborObject and its field readers.

// paramKindError is "key: want W, got G" ("want W, got G" for the
// argument itself).
func paramKindError(key, want, got string) error {
	if key == "" {
		return fmt.Errorf("want %s, got %s", want, got)
	}
	return fmt.Errorf("%s: want %s, got %s", key, want, got)
}

func unknownKeyError(key string) error { return fmt.Errorf("unknown key %q", key) }

// paramsJSONError rewords an encoding/json error of a params object
// (strict): a type mismatch names the key and the two kinds, an unknown
// key the key; other errors pass through.
func paramsJSONError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return paramKindError(te.Field, goKind(te.Type), jsonValueKind(te.Value))
	}
	if k, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if key, uerr := strconv.Unquote(k); uerr == nil {
			return unknownKeyError(key)
		}
	}
	return err
}

// goKind names, in JSON's words, what a Go type decodes from.
func goKind(t reflect.Type) string {
	if t == nil {
		return "a value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return "a string" // []byte: base64 in JSON
		}
		return "an array of " + strings.TrimPrefix(strings.TrimPrefix(goKind(t.Elem()), "a "), "an ") + "s"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "a value"
}

// jsonValueKind names the JSON value encoding/json reports in
// UnmarshalTypeError.Value ("number", "number 1.5", "string", ...).
func jsonValueKind(v string) string {
	switch {
	case strings.HasPrefix(v, "number"):
		return "a number"
	case v == "string":
		return "a string"
	case v == "bool":
		return "a boolean"
	case v == "array":
		return "an array"
	case v == "object":
		return "an object"
	}
	return v
}

// cborKind names the kind of the CBOR item starting b, in JSON's words.
func cborKind(b []byte) string {
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] >> 5 {
	case 0, 1:
		return "a number"
	case 2:
		return "a byte string"
	case 3:
		return "a string"
	case 4:
		return "an array"
	case 5:
		return "an object"
	case 6:
		return "a tagged value"
	}
	switch b[0] {
	case 0xf4, 0xf5:
		return "a boolean"
	case 0xf6:
		return "null"
	case 0xf9, 0xfa, 0xfb:
		return "a number"
	}
	return "a simple value"
}

// errMalformedParams is a params item that is not well-formed CBOR. The
// request scanner refuses such bodies before the params are decoded, so
// only direct callers meet it.
var errMalformedParams = errors.New("malformed CBOR")

// cborObject reads the params object b (a CBOR map, its text keys each at
// most once) and calls field with each key and its value's bytes (slices
// of b), in order. A field returns unknownKeyError for a key the method
// does not take.
func cborObject(b []byte, field func(key string, v []byte) error) error {
	n, rest, ok := cborHead(b, 5)
	if !ok {
		if len(b) > 0 && b[0]>>5 == 5 {
			return errMalformedParams
		}
		return paramKindError("", "an object", cborKind(b))
	}
	if n > cborMaxPairs {
		return errMalformedParams
	}
	seen := make(map[string]bool, n)
	for range n {
		if len(rest) == 0 || rest[0]>>5 != 3 {
			if len(rest) == 0 {
				return errMalformedParams
			}
			return fmt.Errorf("keys must be strings, got %s", cborKind(rest))
		}
		var key string
		var err error
		if rest, err = CBORDecMode.UnmarshalFirst(rest, &key); err != nil {
			return errMalformedParams
		}
		if seen[key] {
			return fmt.Errorf("key %q repeated", key)
		}
		seen[key] = true
		item := rest
		if rest, err = CBORDecMode.UnmarshalFirst(rest, &skipItem{}); err != nil {
			return errMalformedParams
		}
		if err := field(key, item[:len(item)-len(rest)]); err != nil {
			return err
		}
	}
	return nil
}

// skipItem checks a CBOR item's well-formedness (the decoder does) and
// keeps nothing, so cborObject passes on slices of the body, not copies.
type skipItem struct{}

// UnmarshalCBOR implements cbor.Unmarshaler.
func (*skipItem) UnmarshalCBOR([]byte) error { return nil }

// cborBool reads a boolean; null reads as false, as JSON's null does.
func cborBool(key string, v []byte) (bool, error) {
	switch {
	case len(v) == 1 && v[0] == 0xf5:
		return true, nil
	case len(v) == 1 && (v[0] == 0xf4 || v[0] == 0xf6):
		return false, nil
	}
	return false, paramKindError(key, "a boolean", cborKind(v))
}

// cborBytes reads a byte string (a slice of v); null reads as none.
func cborBytes(key string, v []byte) ([]byte, error) {
	if len(v) == 1 && v[0] == 0xf6 {
		return nil, nil
	}
	b, rest, ok := cborByteString(v)
	if !ok || len(rest) != 0 {
		return nil, paramKindError(key, "a byte string", cborKind(v))
	}
	return b, nil
}
