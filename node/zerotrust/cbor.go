package zerotrust

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"mime"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
)

// ContentTypeCBOR is the media type of a CBOR-encoded JSON-RPC request: the
// validator accepts it on the JSON-RPC URL besides the configured JSON
// types, with the same body, depth and batch limits.
const ContentTypeCBOR = "application/cbor"

// CBORContentType reports whether the Content-Type value ct asks for CBOR:
// its media type, the part before any ';', is ContentTypeCBOR (in any
// case). A client that sent that asked for CBOR and gets its answers, a
// refusal included, in CBOR. err (wrapping ErrContentType) is set when ct
// asks for CBOR but is not the bare media type: ContentTypeCBOR takes no
// parameters, and an unparsable parameter is refused the same way.
func CBORContentType(ct string) (cbor bool, err error) {
	head, _, _ := strings.Cut(ct, ";")
	if !strings.EqualFold(strings.TrimSpace(head), ContentTypeCBOR) {
		return false, nil
	}
	if _, params, perr := mime.ParseMediaType(ct); perr != nil || len(params) > 0 {
		return true, fmt.Errorf("%w: %q: %s takes no parameters", ErrContentType, ct, ContentTypeCBOR)
	}
	return true, nil
}

// ScanCBORRequest is ScanRequest for a CBOR body (RFC 8949): one JSON-RPC
// 2.0 call, a map with the text keys "jsonrpc", "id", "method" and
// "params", or an array of them (a batch). It checks, in one pass and
// without building a tree or copying:
//
//   - well-formedness: every head complete, lengths within the body, text
//     strings valid UTF-8, nothing after the top-level item (else
//     ErrMalformedCBOR);
//   - the accepted subset: definite lengths only, no tags, no simple values
//     but false, true and null (else ErrCBORUnsupported);
//   - nesting no deeper than maxDepth, arrays and maps counting as JSON's
//     (else ErrCBORDepth), and a batch of at most maxBatch entries, checked
//     from the array head before any entry is read (else ErrBatchTooLarge).
//
// A body that passes but is not calls is returned with CallErr set: an
// entry that is not a map, a key that is not a text string, a repeated or
// unknown key, "jsonrpc" other than "2.0", a missing or non-text "method",
// an empty "method", an "id" that is not a text string of at most
// MaxCBORIDBytes, an integer within int64 or null.
// Unlike the JSON path, which answers such entries one by one, no call of
// such a body runs: the envelope is strict because only clients of this
// encoding write it. A call without "id" is a notification.
//
// Call.ID is the id in its JSON form (a number, a string or null), so the
// gate and its refusals treat it as the JSON path's; Call.Params is the
// params item's CBOR encoding, aliasing body. Recursion is bounded by
// maxDepth.
func ScanCBORRequest(body []byte, maxDepth, maxBatch int) (*Request, error) {
	s := &cborScanner{b: body, maxDepth: maxDepth}
	r := &Request{Body: body, CBOR: true}
	if len(body) == 0 {
		return nil, fmt.Errorf("%w: empty body", ErrMalformedCBOR)
	}
	if body[0]>>5 == cborArray {
		r.Batch = true
		h, err := s.head()
		if err != nil {
			return nil, err
		}
		if h.arg > uint64(maxBatch) {
			return nil, fmt.Errorf("%w: %d entries, limit %d", ErrBatchTooLarge, h.arg, maxBatch)
		}
		if err := s.container(h, 1); err != nil {
			return nil, err
		}
		r.Calls = make([]Call, 0, h.arg)
		for range h.arg {
			if err := s.call(1, r); err != nil {
				return nil, err
			}
		}
	} else if err := s.call(0, r); err != nil {
		return nil, err
	}
	if s.i != len(body) {
		return nil, fmt.Errorf("%w: data after the top-level item at offset %d", ErrMalformedCBOR, s.i)
	}
	return r, nil
}

// ScanAs runs ScanRequest, or ScanCBORRequest when cbor is set, with the
// configured limits.
func (v *Validator) ScanAs(body []byte, cbor bool) (*Request, error) {
	if cbor {
		return ScanCBORRequest(body, v.cfg.MaxJSONDepth, v.cfg.MaxBatch)
	}
	return v.Scan(body)
}

// encodeCBORError encodes a JSON-RPC error response with a null id.
func encodeCBORError(code int, msg string) ([]byte, error) {
	type rpcErr struct {
		Code    int    `cbor:"code"`
		Message string `cbor:"message"`
	}
	return cbor.Marshal(struct {
		JSONRPC string `cbor:"jsonrpc"`
		ID      *int   `cbor:"id"`
		Error   rpcErr `cbor:"error"`
	}{"2.0", nil, rpcErr{code, msg}})
}

// CBOR major types.
const (
	cborUint = iota
	cborNint
	cborBytes
	cborText
	cborArray
	cborMap
	cborTag
	cborSimple
)

// cborHead is an item's initial byte and argument; start is its offset.
type cborHead struct {
	major, info byte
	arg         uint64
	start       int
}

// cborScanner walks CBOR items over a byte slice.
type cborScanner struct {
	b        []byte
	i        int
	maxDepth int
}

func (s *cborScanner) malformed(what string) error {
	if s.i >= len(s.b) {
		return fmt.Errorf("%w: unexpected end of input, %s", ErrMalformedCBOR, what)
	}
	return fmt.Errorf("%w: %s at offset %d", ErrMalformedCBOR, what, s.i)
}

// head reads one item head. It refuses what is not well-formed (reserved
// additional information, a truncated argument, a lone break) and what is
// outside the accepted subset (indefinite lengths, tags, simple values
// other than false, true and null). Floats pass.
func (s *cborScanner) head() (cborHead, error) {
	if s.i >= len(s.b) {
		return cborHead{}, s.malformed("expected an item")
	}
	h := cborHead{major: s.b[s.i] >> 5, info: s.b[s.i] & 0x1f, start: s.i}
	switch {
	case h.info < 24:
		h.arg = uint64(h.info)
		s.i++
	case h.info <= 27:
		n := 1 << (h.info - 24)
		if len(s.b)-s.i-1 < n {
			return cborHead{}, fmt.Errorf("%w: truncated head at offset %d", ErrMalformedCBOR, s.i)
		}
		p := s.b[s.i+1 : s.i+1+n]
		switch n {
		case 1:
			h.arg = uint64(p[0])
		case 2:
			h.arg = uint64(binary.BigEndian.Uint16(p))
		case 4:
			h.arg = uint64(binary.BigEndian.Uint32(p))
		default:
			h.arg = binary.BigEndian.Uint64(p)
		}
		s.i += 1 + n
	case h.info == 31 && h.major >= cborBytes && h.major <= cborMap:
		return cborHead{}, fmt.Errorf("%w: indefinite-length item at offset %d", ErrCBORUnsupported, s.i)
	case h.info == 31 && h.major == cborSimple:
		return cborHead{}, fmt.Errorf("%w: break outside an indefinite-length item at offset %d", ErrMalformedCBOR, s.i)
	default:
		return cborHead{}, fmt.Errorf("%w: reserved additional information %d at offset %d", ErrMalformedCBOR, h.info, s.i)
	}
	switch h.major {
	case cborTag:
		return cborHead{}, fmt.Errorf("%w: tag %d at offset %d", ErrCBORUnsupported, h.arg, h.start)
	case cborSimple:
		switch {
		case h.info == 24 && h.arg < 32:
			return cborHead{}, fmt.Errorf("%w: two-byte simple value %d at offset %d", ErrMalformedCBOR, h.arg, h.start)
		case h.info >= 25: // half, single and double floats
		case h.arg < 20 || h.arg > 22:
			return cborHead{}, fmt.Errorf("%w: simple value %d at offset %d (only false, true and null)", ErrCBORUnsupported, h.arg, h.start)
		}
	}
	return h, nil
}

// str consumes the payload of a byte or text string whose head is h and
// returns it; text must be valid UTF-8.
func (s *cborScanner) str(h cborHead) ([]byte, error) {
	if h.arg > uint64(len(s.b)-s.i) {
		return nil, fmt.Errorf("%w: string of %d bytes at offset %d runs past the end", ErrMalformedCBOR, h.arg, h.start)
	}
	v := s.b[s.i : s.i+int(h.arg)]
	s.i += int(h.arg)
	if h.major == cborText && !utf8.Valid(v) {
		return nil, fmt.Errorf("%w: text string at offset %d is not valid UTF-8", ErrMalformedCBOR, h.start)
	}
	return v, nil
}

// container checks an array or map head at nesting depth d: within the
// depth limit, and claiming no more items than bytes remain (each item
// takes at least one), so no count read from the body sizes anything
// before its items are seen.
func (s *cborScanner) container(h cborHead, d int) error {
	if d > s.maxDepth {
		return fmt.Errorf("%w: deeper than %d", ErrCBORDepth, s.maxDepth)
	}
	left := uint64(len(s.b) - s.i)
	if h.major == cborMap && h.arg > left/2 || h.arg > left {
		return fmt.Errorf("%w: %d items claimed at offset %d, more than the bytes left", ErrMalformedCBOR, h.arg, h.start)
	}
	return nil
}

// value consumes one item; d is the nesting depth of its container.
func (s *cborScanner) value(d int) error {
	h, err := s.head()
	if err != nil {
		return err
	}
	return s.rest(h, d)
}

// rest consumes the item whose head h was just read.
func (s *cborScanner) rest(h cborHead, d int) error {
	switch h.major {
	case cborBytes, cborText:
		_, err := s.str(h)
		return err
	case cborArray, cborMap:
		if err := s.container(h, d+1); err != nil {
			return err
		}
		n := h.arg
		if h.major == cborMap {
			n *= 2
		}
		for range n {
			if err := s.value(d + 1); err != nil {
				return err
			}
		}
	}
	return nil
}

// textValue consumes one item and returns it if it is a text string.
func (s *cborScanner) textValue(d int) (string, bool, error) {
	h, err := s.head()
	if err != nil {
		return "", false, err
	}
	if h.major != cborText {
		return "", false, s.rest(h, d)
	}
	v, err := s.str(h)
	return string(v), true, err
}

// cborKeys are the keys of a call map.
var cborKeys = [...]string{"jsonrpc", "id", "method", "params"}

// call consumes one entry at container depth d and appends it to r; an
// entry that is not a well-shaped call sets r.CallErr (the first wins).
func (s *cborScanner) call(d int, r *Request) error {
	entry := len(r.Calls)
	r.Calls = append(r.Calls, Call{})
	c := &r.Calls[entry]
	bad := func(format string, args ...any) {
		if r.CallErr == nil {
			r.CallErr = fmt.Errorf("entry %d: "+format, append([]any{entry}, args...)...)
		}
	}
	h, err := s.head()
	if err != nil {
		return err
	}
	if h.major != cborMap {
		if err := s.rest(h, d); err != nil {
			return err
		}
		if r.CallErr == nil {
			r.CallErr = fmt.Errorf("entry %d is not a JSON-RPC call object", entry)
		}
		return nil
	}
	if err := s.container(h, d+1); err != nil {
		return err
	}
	var seen [len(cborKeys)]bool
	version, haveMethod := "", false
	for range h.arg {
		kh, err := s.head()
		if err != nil {
			return err
		}
		if kh.major != cborText {
			bad("map key at offset %d is not a text string", kh.start)
			if err := s.rest(kh, d+1); err != nil {
				return err
			}
			if err := s.value(d + 1); err != nil {
				return err
			}
			continue
		}
		kb, err := s.str(kh)
		if err != nil {
			return err
		}
		k := -1
		for i, name := range cborKeys {
			if string(kb) == name {
				k = i
			}
		}
		switch {
		case k < 0:
			bad("unknown key %q", kb)
		case seen[k]:
			bad("repeated key %q", kb)
		}
		if k >= 0 {
			seen[k] = true
		}
		switch k {
		case 0: // jsonrpc
			v, ok, err := s.textValue(d + 1)
			if err != nil {
				return err
			}
			if !ok {
				bad(`"jsonrpc" is not a text string`)
			}
			version = v
		case 1: // id
			id, err := s.id(d + 1)
			if err != nil {
				return err
			}
			if id == nil {
				bad(`"id" must be a text string of at most %d bytes, an integer within int64 or null`, MaxCBORIDBytes)
			}
			c.ID = id
		case 2: // method
			v, ok, err := s.textValue(d + 1)
			if err != nil {
				return err
			}
			if !ok {
				bad(`"method" is not a text string`)
			} else if v == "" {
				bad(`"method" is empty`) // the gate skips calls without a method: none may reach the handler
			}
			c.Method, haveMethod = v, ok
		case 3: // params
			start := s.i
			if err := s.params(d+1, c); err != nil {
				return err
			}
			c.Params = s.b[start:s.i]
		default:
			if err := s.value(d + 1); err != nil {
				return err
			}
		}
	}
	if version != "2.0" {
		bad(`"jsonrpc" must be "2.0"`)
	}
	if !haveMethod {
		bad(`no "method"`)
	}
	return nil
}

// id consumes an id item and returns its JSON form, nil for a type an id
// may not have.
func (s *cborScanner) id(d int) (json.RawMessage, error) {
	h, err := s.head()
	if err != nil {
		return nil, err
	}
	switch {
	case h.major == cborUint && h.arg <= math.MaxInt64:
		return strconv.AppendUint(nil, h.arg, 10), nil
	case h.major == cborNint && h.arg <= math.MaxInt64:
		return strconv.AppendInt(nil, -1-int64(h.arg), 10), nil
	case h.major == cborSimple && h.info == 22:
		return json.RawMessage("null"), nil
	case h.major == cborText:
		v, err := s.str(h)
		if err != nil {
			return nil, err
		}
		if len(v) > MaxCBORIDBytes {
			// Every reply repeats the id in its JSON form, which can be
			// six times its size: refuse rather than amplify.
			return nil, nil
		}
		b, _ := json.Marshal(string(v)) // valid UTF-8: encodes as it is
		return b, nil
	}
	return nil, s.rest(h, d)
}

// MaxCBORIDBytes bounds a text "id" in a CBOR request: it comes back in
// every response (and in the gate's refusals), so a long one would make the
// node hold many times the request's size before any session check.
const MaxCBORIDBytes = 256

// params consumes the params item at container depth d; when it is an
// array whose first element is a map, that map's "patient" and "resource"
// text values become the call's hints (exact keys: the CBOR decoder of the
// params matches keys exactly too).
func (s *cborScanner) params(d int, c *Call) error {
	c.Patient, c.Resource = "", ""
	h, err := s.head()
	if err != nil {
		return err
	}
	if h.major != cborArray || h.arg == 0 {
		return s.rest(h, d)
	}
	if err := s.container(h, d+1); err != nil {
		return err
	}
	for i := range h.arg {
		eh, err := s.head()
		if err != nil {
			return err
		}
		if i > 0 || eh.major != cborMap {
			if err := s.rest(eh, d+1); err != nil {
				return err
			}
			continue
		}
		if err := s.container(eh, d+2); err != nil {
			return err
		}
		for range eh.arg {
			kh, err := s.head()
			if err != nil {
				return err
			}
			var key []byte
			if kh.major == cborText {
				if key, err = s.str(kh); err != nil {
					return err
				}
			} else if err := s.rest(kh, d+2); err != nil {
				return err
			}
			switch string(key) {
			case "patient", "resource":
				v, ok, err := s.textValue(d + 2)
				if err != nil {
					return err
				}
				if ok && key[0] == 'p' {
					c.Patient = v
				} else if ok {
					c.Resource = v
				}
			default:
				if err := s.value(d + 2); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
