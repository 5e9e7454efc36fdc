package rpc

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"sync"
)

// paramKeys caches, per params struct type, the keys encoding/json decodes
// into it (json tag names, or field names, embedded structs flattened).
var paramKeys sync.Map // reflect.Type -> map[string]struct{}

// exactKeys refuses a key of the params object b that encoding/json
// matched to a field of v only by ignoring case ("Patient" for "patient").
// The CBOR params of the same method match keys exactly, and so do the
// zero-trust gate's policy hints; a key is one spelling everywhere. b has
// already decoded into v without error.
func exactKeys(b []byte, v any) error {
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	names := keysOf(t)
	d := json.NewDecoder(bytes.NewReader(b))
	if tok, err := d.Token(); err != nil || tok != json.Delim('{') {
		return nil // null: nothing to match
	}
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		if _, ok := names[key]; !ok {
			return unknownKeyError(key)
		}
		var skip json.RawMessage
		if err := d.Decode(&skip); err != nil {
			return err
		}
	}
	return nil
}

// keysOf returns the keys encoding/json decodes into struct type t.
func keysOf(t reflect.Type) map[string]struct{} {
	if m, ok := paramKeys.Load(t); ok {
		return m.(map[string]struct{})
	}
	m := map[string]struct{}{}
	var add func(reflect.Type)
	add = func(t reflect.Type) {
		for f := range t.Fields() {
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if f.Anonymous && name == "" && ft.Kind() == reflect.Struct {
				add(ft)
				continue
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			m[name] = struct{}{}
		}
	}
	add(t)
	paramKeys.Store(t, m)
	return m
}
