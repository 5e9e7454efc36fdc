package contracts

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/interpreter"
)

// Values (parameters, state, effect results) are normalized to this closed
// set of Go types, which encode to one CBOR form and decode back to the same
// types, so a value's hash does not depend on where it came from:
//
//	nil, bool, int64, string, []byte, []any, map[string]any
//
// Every Go integer type becomes int64 (a uint64 above MaxInt64 is rejected);
// floating point is rejected everywhere (invariant 4 in doc.go).

// valueLimits bounds a value walk.
type valueLimits struct {
	depth, coll, str int
}

func limitsOf(cfg Config) valueLimits {
	return valueLimits{depth: cfg.MaxValueDepth, coll: cfg.MaxCollectionLen, str: cfg.MaxStringLen}
}

// normalize returns v in normal form, or an error naming the path at fault.
func normalize(v any, path string, depth int, lim valueLimits) (any, error) {
	if depth > lim.depth {
		return nil, fmt.Errorf("%w: %s: nested deeper than %d", ErrInvalidValue, path, lim.depth)
	}
	switch x := v.(type) {
	case nil:
		return nil, nil
	case bool:
		return x, nil
	case int:
		return int64(x), nil
	case int8:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case int64:
		return x, nil
	case uint:
		return uintToInt(uint64(x), path)
	case uint8:
		return int64(x), nil
	case uint16:
		return int64(x), nil
	case uint32:
		return int64(x), nil
	case uint64:
		return uintToInt(x, path)
	case float32, float64:
		return nil, fmt.Errorf("%w: %s: floating point values are not allowed (use integers)", ErrInvalidValue, path)
	case string:
		return x, checkString(path, x, lim.str)
	case []byte:
		if len(x) > lim.str {
			return nil, fmt.Errorf("%w: %s: %d bytes, limit %d", ErrInvalidValue, path, len(x), lim.str)
		}
		return slices.Clone(x), nil
	case []string:
		if len(x) > lim.coll {
			return nil, fmt.Errorf("%w: %s: %d elements, limit %d", ErrInvalidValue, path, len(x), lim.coll)
		}
		out := make([]any, len(x))
		for i, s := range x {
			if err := checkString(fmt.Sprintf("%s[%d]", path, i), s, lim.str); err != nil {
				return nil, err
			}
			out[i] = s
		}
		return out, nil
	case []any:
		if len(x) > lim.coll {
			return nil, fmt.Errorf("%w: %s: %d elements, limit %d", ErrInvalidValue, path, len(x), lim.coll)
		}
		out := make([]any, len(x))
		for i, e := range x {
			n, err := normalize(e, fmt.Sprintf("%s[%d]", path, i), depth+1, lim)
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	case map[string]string:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = e
		}
		return normalizeMap(m, path, depth, lim)
	case map[string]any:
		return normalizeMap(x, path, depth, lim)
	case map[any]any: // what CBOR decoding into any produces
		m := make(map[string]any, len(x))
		for k, e := range x {
			ks, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("%w: %s: map key of type %T (only string keys)", ErrInvalidValue, path, k)
			}
			m[ks] = e
		}
		return normalizeMap(m, path, depth, lim)
	}
	return nil, fmt.Errorf("%w: %s: unsupported type %T", ErrInvalidValue, path, v)
}

func normalizeMap(x map[string]any, path string, depth int, lim valueLimits) (any, error) {
	if len(x) > lim.coll {
		return nil, fmt.Errorf("%w: %s: %d entries, limit %d", ErrInvalidValue, path, len(x), lim.coll)
	}
	out := make(map[string]any, len(x))
	// Sorted, so the first error reported is the same on every node.
	for _, k := range sortedKeys(x) {
		p := path + "." + k
		if err := checkString(p+" (key)", k, lim.str); err != nil {
			return nil, err
		}
		n, err := normalize(x[k], p, depth+1, lim)
		if err != nil {
			return nil, err
		}
		out[k] = n
	}
	return out, nil
}

func uintToInt(u uint64, path string) (any, error) {
	if u > math.MaxInt64 {
		return nil, fmt.Errorf("%w: %s: %d overflows int64", ErrInvalidValue, path, u)
	}
	return int64(u), nil
}

func checkString(path, s string, limit int) error {
	if len(s) > limit {
		return fmt.Errorf("%w: %s: %d bytes, limit %d", ErrInvalidValue, path, len(s), limit)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s: not UTF-8", ErrInvalidValue, path)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// toCEL converts a normalized value to a CEL value with fixed iteration order.
func toCEL(v any) ref.Val {
	switch x := v.(type) {
	case nil:
		return types.NullValue
	case bool:
		return types.Bool(x)
	case int64:
		return types.Int(x)
	case string:
		return types.String(x)
	case []byte:
		return types.Bytes(x)
	case []any:
		elems := make([]ref.Val, len(x))
		for i, e := range x {
			elems[i] = toCEL(e)
		}
		return types.NewRefValList(types.DefaultTypeAdapter, elems)
	case map[string]any:
		keys := sortedKeys(x)
		m := make(map[ref.Val]ref.Val, len(x))
		ks := make([]ref.Val, len(keys))
		for i, k := range keys {
			ks[i] = types.String(k)
			m[ks[i]] = toCEL(x[k])
		}
		return &orderedMap{Mapper: types.NewRefValMap(types.DefaultTypeAdapter, m), keys: ks}
	}
	// normalize admits nothing else; reaching here is a broken invariant.
	panic(fmt.Sprintf("contracts: toCEL of non-normalized %T", v))
}

func stringList(s []string) ref.Val { return types.NewStringList(types.DefaultTypeAdapter, s) }

// fromCEL converts a CEL result into a normalized Go value.
func fromCEL(v ref.Val, path string, depth int, lim valueLimits) (any, error) {
	if depth > lim.depth {
		return nil, fmt.Errorf("%s: nested deeper than %d", path, lim.depth)
	}
	switch x := v.(type) {
	case types.Null:
		return nil, nil
	case types.Bool:
		return bool(x), nil
	case types.Int:
		return int64(x), nil
	case types.Uint:
		if uint64(x) > math.MaxInt64 {
			return nil, fmt.Errorf("%s: uint %d overflows int", path, uint64(x))
		}
		return int64(x), nil
	case types.Double:
		return nil, fmt.Errorf("%s: floating point result not allowed", path)
	case types.String:
		return string(x), checkString(path, string(x), lim.str)
	case types.Bytes:
		if len(x) > lim.str {
			return nil, fmt.Errorf("%s: %d bytes, limit %d", path, len(x), lim.str)
		}
		return []byte(x), nil
	case traits.Lister:
		n, ok := x.Size().(types.Int)
		if !ok || int(n) > lim.coll {
			return nil, fmt.Errorf("%s: list of %v elements, limit %d", path, x.Size(), lim.coll)
		}
		out := make([]any, 0, int(n))
		for i := types.Int(0); i < n; i++ {
			e, err := fromCEL(x.Get(i), fmt.Sprintf("%s[%d]", path, i), depth+1, lim)
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
		return out, nil
	case traits.Mapper:
		n, ok := x.Size().(types.Int)
		if !ok || int(n) > lim.coll {
			return nil, fmt.Errorf("%s: map of %v entries, limit %d", path, x.Size(), lim.coll)
		}
		out := make(map[string]any, int(n))
		for it := x.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			ks, ok := k.(types.String)
			if !ok {
				return nil, fmt.Errorf("%s: map key of type %s (only string keys)", path, k.Type().TypeName())
			}
			if err := checkString(path+" (key)", string(ks), lim.str); err != nil {
				return nil, err
			}
			e, err := fromCEL(x.Get(k), path+"."+string(ks), depth+1, lim)
			if err != nil {
				return nil, err
			}
			out[string(ks)] = e
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s: unsupported result type %s", path, v.Type().TypeName())
}

// orderedMap is a CEL map whose iteration (comprehensions, Fold, Iterator)
// visits keys in a fixed order: by kind (bool, int, uint, string, other),
// then by value. Lookups go to the embedded map.
type orderedMap struct {
	traits.Mapper
	keys []ref.Val
}

// Iterator implements traits.Iterable in key order.
func (m *orderedMap) Iterator() traits.Iterator { return &keyIterator{keys: m.keys} }

// Fold implements traits.Foldable in key order.
func (m *orderedMap) Fold(f traits.Folder) {
	keyOnly := false
	if kf, ok := f.(interface{ FoldKeyOnly() bool }); ok {
		keyOnly = kf.FoldKeyOnly()
	}
	for _, k := range m.keys {
		var v any
		if !keyOnly {
			v = m.Get(k)
		}
		if !f.FoldEntry(k, v) {
			return
		}
	}
}

// ordered returns m with a fixed iteration order (m itself if it has one).
func ordered(v ref.Val) ref.Val {
	switch m := v.(type) {
	case *orderedMap:
		return m
	case traits.Mapper:
		keys := make([]ref.Val, 0, 8)
		for it := m.Iterator(); it.HasNext() == types.True; {
			keys = append(keys, it.Next())
		}
		sortKeys(keys)
		return &orderedMap{Mapper: m, keys: keys}
	}
	return v
}

func sortKeys(keys []ref.Val) { slices.SortFunc(keys, compareKeys) }

func keyRank(k ref.Val) int {
	switch k.(type) {
	case types.Bool:
		return 0
	case types.Int:
		return 1
	case types.Uint:
		return 2
	case types.String:
		return 3
	}
	return 4
}

func compareKeys(a, b ref.Val) int {
	ra, rb := keyRank(a), keyRank(b)
	if ra != rb {
		return ra - rb
	}
	switch x := a.(type) {
	case types.Bool:
		y := b.(types.Bool)
		switch {
		case x == y:
			return 0
		case !bool(x):
			return -1
		}
		return 1
	case types.Int:
		return cmpOrdered(x, b.(types.Int))
	case types.Uint:
		return cmpOrdered(x, b.(types.Uint))
	case types.String:
		return strings.Compare(string(x), string(b.(types.String)))
	}
	return strings.Compare(fmt.Sprint(a.Value()), fmt.Sprint(b.Value()))
}

func cmpOrdered[T int64 | uint64 | types.Int | types.Uint](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// keyIterator walks a fixed key slice.
type keyIterator struct {
	keys []ref.Val
	i    int
}

func (it *keyIterator) HasNext() ref.Val { return types.Bool(it.i < len(it.keys)) }

func (it *keyIterator) Next() ref.Val {
	if it.i >= len(it.keys) {
		return types.NewErr("contracts: iterator exhausted")
	}
	k := it.keys[it.i]
	it.i++
	return k
}

func (it *keyIterator) ConvertToNative(reflect.Type) (any, error) {
	return nil, fmt.Errorf("contracts: cannot convert an iterator")
}
func (it *keyIterator) ConvertToType(ref.Type) ref.Val {
	return types.NewErr("contracts: cannot convert an iterator")
}
func (it *keyIterator) Equal(ref.Val) ref.Val { return types.False }
func (it *keyIterator) Type() ref.Type        { return types.IteratorType }
func (it *keyIterator) Value() any            { return nil }

// orderMaps is a CEL plan decorator: every map a contract expression builds
// (map literals) iterates in key order like the maps the VM passes in.
func orderMaps(i interpreter.InterpretableV2) (interpreter.InterpretableV2, error) {
	if c, ok := i.(interpreter.InterpretableConstructor); ok && c.Type() == types.MapType {
		return &orderedConstructor{InterpretableConstructor: c}, nil
	}
	if c, ok := i.(interpreter.InterpretableConst); ok {
		if _, isMap := c.Value().(traits.Mapper); isMap {
			return interpreter.NewConstValue(c.ID(), ordered(c.Value())), nil
		}
	}
	return i, nil
}

type orderedConstructor struct {
	interpreter.InterpretableConstructor
}

func (o *orderedConstructor) Exec(f *interpreter.ExecutionFrame) ref.Val {
	return ordered(o.InterpretableConstructor.Exec(f))
}

func (o *orderedConstructor) Eval(a interpreter.Activation) ref.Val {
	return interpreter.EvalActivation(a, o.Exec)
}
