package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"runtime"
	"slices"
	"strconv"

	"github.com/fxamacker/cbor/v2"

	"github.com/medchain/medchain/node/zerotrust"
)

// ContentTypeCBOR is the media type of the binary request encoding: a
// JSON-RPC 2.0 request or batch encoded in CBOR, on the JSON-RPC URL.
const ContentTypeCBOR = zerotrust.ContentTypeCBOR

// cborMethods are the methods served over CBOR: the submit path, whose
// params are mostly signed tx bytes. Every other method is JSON-only.
var cborMethods = map[string]bool{"tx_submit": true, "tx_submitBatch": true}

// CBORMethods returns the methods served over application/cbor, sorted.
func CBORMethods() []string {
	out := make([]string, 0, len(cborMethods))
	for m := range cborMethods {
		out = append(out, m)
	}
	slices.Sort(out)
	return out
}

// Limits of the CBOR path. The body, depth and batch limits are the JSON
// path's (ServerConfig, and the gate's validator in front); these bound
// what the params decoder accepts inside them.
const (
	// cborMaxDepth bounds nesting when no gate validator sets the limit
	// (the JSON path then has encoding/json's own bound).
	cborMaxDepth = 16
	// maxMethodName is go-ethereum's bound on a method name.
	maxMethodName = 2048
	// cborMaxElements and cborMaxPairs bound one array or map in the
	// params decoder; arrays that size slices are checked first (see
	// cborTxList), so these only stop a hostile body early.
	cborMaxElements = 1 << 20
	cborMaxPairs    = 1 << 10
)

// CBORDecMode decodes CBOR params and replies: exact key matching,
// unknown and repeated keys refused, no indefinite lengths, no tags, and
// bounded nesting, arrays and maps, so that hostile input can neither
// panic nor allocate beyond a small multiple of its size.
var CBORDecMode = mustDecMode(cbor.DecOptions{
	DupMapKey:         cbor.DupMapKeyEnforcedAPF,
	IndefLength:       cbor.IndefLengthForbidden,
	TagsMd:            cbor.TagsForbidden,
	MaxNestedLevels:   cborMaxDepth,
	MaxArrayElements:  cborMaxElements,
	MaxMapPairs:       cborMaxPairs,
	ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
	FieldNameMatching: cbor.FieldNameMatchingCaseSensitive,
	UTF8:              cbor.UTF8RejectInvalid,
	DefaultMapType:    jsonObjectType,
})

var jsonObjectType = reflect.TypeOf(map[string]any(nil))

// cborEnc encodes replies: definite lengths, no tags.
var cborEnc = mustEncMode(cbor.EncOptions{IndefLength: cbor.IndefLengthForbidden, TagsMd: cbor.TagsForbidden})

func mustDecMode(o cbor.DecOptions) cbor.DecMode {
	m, err := o.DecMode()
	if err != nil {
		panic("rpc: CBOR decoder options: " + err.Error()) // constant options: a broken build
	}
	return m
}

func mustEncMode(o cbor.EncOptions) cbor.EncMode {
	m, err := o.EncMode()
	if err != nil {
		panic("rpc: CBOR encoder options: " + err.Error())
	}
	return m
}

// CBORSubmitParams are tx_submit's params over CBOR: the signed tx's
// canonical CBOR as a byte string, not base64.
type CBORSubmitParams struct {
	Tx   []byte `cbor:"tx"`
	Wait bool   `cbor:"wait,omitempty"`
}

// CBORSubmitBatchParams are tx_submitBatch's params over CBOR.
type CBORSubmitBatchParams struct {
	Txs  [][]byte `cbor:"txs"`
	Wait bool     `cbor:"wait,omitempty"`
}

// CBORResult is a tx result over CBOR: the code's name, as in JSON.
type CBORResult struct {
	Code   string `cbor:"code"`
	Reason string `cbor:"reason,omitempty"`
}

// CBORReceipt is Receipt over CBOR: hashes are 32-byte byte strings.
type CBORReceipt struct {
	TxHash    []byte     `cbor:"tx_hash"`
	Height    uint64     `cbor:"height"`
	Index     uint32     `cbor:"index"`
	Result    CBORResult `cbor:"result"`
	BlockHash []byte     `cbor:"block_hash"`
}

// CBORSubmitResult is tx_submit's result over CBOR (SubmitResult's keys).
type CBORSubmitResult struct {
	TxHash  []byte       `cbor:"tx_hash"`
	Status  string       `cbor:"status"`
	Receipt *CBORReceipt `cbor:"receipt,omitempty"`
}

// CBORBatchItem is one item of tx_submitBatch's result over CBOR
// (BatchItem's keys).
type CBORBatchItem struct {
	TxHash  []byte       `cbor:"tx_hash,omitempty"`
	Status  string       `cbor:"status,omitempty"`
	Receipt *CBORReceipt `cbor:"receipt,omitempty"`
	Error   *CBORError   `cbor:"error,omitempty"`
}

// CBORError is a JSON-RPC error object over CBOR. Data is the JSON data
// value transcoded: objects become maps with text keys, integers integers.
type CBORError struct {
	Code    int             `cbor:"code"`
	Message string          `cbor:"message"`
	Data    cbor.RawMessage `cbor:"data,omitempty"`
}

// CBORRequest is one call of a CBOR request, as clients encode it. ID is
// a text string or an integer; nil makes a notification.
type CBORRequest struct {
	JSONRPC string `cbor:"jsonrpc"`
	ID      any    `cbor:"id,omitempty"`
	Method  string `cbor:"method"`
	Params  []any  `cbor:"params,omitempty"`
}

// CBORResponse is one response of a CBOR reply: Result or Error is set.
type CBORResponse struct {
	JSONRPC string          `cbor:"jsonrpc"`
	ID      cbor.RawMessage `cbor:"id"`
	Result  cbor.RawMessage `cbor:"result,omitempty"`
	Error   *CBORError      `cbor:"error,omitempty"`
}

// isCBOR reports whether a request asks for CBOR (zerotrust.CBORContentType),
// whether or not its Content-Type is then acceptable: a client that sent
// CBOR gets its refusals in CBOR.
func isCBOR(h http.Header) bool {
	cbor, _ := zerotrust.CBORContentType(h.Get("Content-Type"))
	return cbor
}

// serveCBOR answers an application/cbor POST. Behind the gate the
// validator has already read and scanned the body under its limits, and
// the gate has authorized every call; without it the body is read and
// scanned here under the server's limits. The calls then run one by one,
// as go-ethereum runs a batch, through the same TxAPI methods as JSON.
func (s *Server) serveCBOR(w http.ResponseWriter, r *http.Request) {
	req := zerotrust.RequestFrom(r.Context())
	if req == nil || !req.CBOR {
		limit := int64(s.cfg.MaxBodyBytes)
		if limit > 0 && r.ContentLength > limit {
			writeCBORError(w, http.StatusRequestEntityTooLarge, nil, -32600, fmt.Sprintf("content length too large (%d>%d)", r.ContentLength, limit))
			return
		}
		var body []byte
		var err error
		if limit > 0 {
			body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
		} else {
			body, err = io.ReadAll(r.Body)
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				writeCBORError(w, http.StatusRequestEntityTooLarge, nil, -32600, fmt.Sprintf("request body too large: limit %d bytes", limit))
				return
			}
			writeCBORError(w, http.StatusBadRequest, nil, -32600, "unreadable body")
			return
		}
		batch := s.cfg.BatchLimit
		if batch <= 0 {
			batch = len(body) // no limit: each entry takes a byte
		}
		if req, err = zerotrust.ScanCBORRequest(body, cborMaxDepth, batch); err != nil {
			code := -32600
			if errors.Is(err, zerotrust.ErrMalformedCBOR) {
				code = -32700
			}
			writeCBORError(w, http.StatusOK, nil, code, err.Error())
			return
		}
	}
	if req.CallErr != nil {
		writeCBORError(w, http.StatusOK, nil, -32600, "invalid request: "+req.CallErr.Error())
		return
	}
	if req.Batch && len(req.Calls) == 0 {
		writeCBORError(w, http.StatusOK, nil, -32600, "empty batch")
		return
	}
	if req.Batch && s.cfg.BatchLimit > 0 && len(req.Calls) > s.cfg.BatchLimit {
		resp := CBORResponse{JSONRPC: "2.0", ID: cborID(req.Calls[0].ID), Error: &CBORError{Code: -32600, Message: "batch too large"}}
		writeCBOR(w, http.StatusOK, []CBORResponse{resp})
		return
	}
	out := make([]CBORResponse, 0, len(req.Calls))
	size := 0
	for i, c := range req.Calls {
		if req.Batch && s.cfg.BatchResponseBytes > 0 && size > s.cfg.BatchResponseBytes {
			for _, c := range req.Calls[i:] {
				if c.ID != nil {
					out = append(out, CBORResponse{JSONRPC: "2.0", ID: cborID(c.ID), Error: &CBORError{Code: -32003, Message: "response too large"}})
				}
			}
			break
		}
		resp := s.cborCall(r.Context(), c)
		if c.ID == nil { // a notification: run, no response
			continue
		}
		size += len(resp.Result)
		if resp.Error != nil {
			size += len(resp.Error.Message) + len(resp.Error.Data)
		}
		out = append(out, resp)
	}
	switch {
	case len(out) == 0:
		w.WriteHeader(http.StatusOK)
	case req.Batch:
		writeCBOR(w, http.StatusOK, out)
	default:
		writeCBOR(w, http.StatusOK, out[0])
	}
}

// cborCall runs one call and returns its response.
func (s *Server) cborCall(ctx context.Context, c zerotrust.Call) (resp CBORResponse) {
	resp = CBORResponse{JSONRPC: "2.0", ID: cborID(c.ID)}
	fail := func(err error) CBORResponse {
		resp.Result, resp.Error = nil, cborError(err)
		return resp
	}
	defer func() {
		if p := recover(); p != nil {
			buf := make([]byte, 64<<10)
			buf = buf[:runtime.Stack(buf, false)]
			s.log.Error("RPC method "+c.Method+" crashed", slog.Any("panic", p), slog.String("stack", string(buf)))
			resp = fail(&Error{Code: CodeInternal, Msg: "method handler crashed"})
		}
	}()
	if len(c.Method) > maxMethodName {
		return fail(&Error{Code: -32600, Msg: fmt.Sprintf("method name too long: %d > %d", len(c.Method), maxMethodName)})
	}
	var result any
	switch c.Method {
	case "tx_submit":
		var p SubmitParams
		if err := decodeCBORParams(c.Params, func(b []byte) error { return p.unmarshalCBOR(b) }); err != nil {
			return fail(err)
		}
		r, err := s.tx.Submit(ctx, p)
		if err != nil {
			return fail(err)
		}
		result = cborSubmitResult(r)
	case "tx_submitBatch":
		var p SubmitBatchParams
		if err := decodeCBORParams(c.Params, func(b []byte) error { return p.unmarshalCBOR(b) }); err != nil {
			return fail(err)
		}
		items, err := s.tx.SubmitBatch(ctx, p)
		if err != nil {
			return fail(err)
		}
		result = cborBatchItems(items)
	default:
		if slices.Contains(s.methods, c.Method) {
			return fail(&Error{Code: -32601, Msg: fmt.Sprintf("the method %s is served over JSON only: POST it as application/json (CBOR serves %v)", c.Method, CBORMethods())})
		}
		return fail(&Error{Code: -32601, Msg: fmt.Sprintf("the method %s does not exist/is not available", c.Method)})
	}
	b, err := cborEnc.Marshal(result)
	if err != nil {
		return fail(&Error{Code: CodeInternal, Msg: "internal error: encoding the result: " + err.Error()})
	}
	resp.Result = b
	return resp
}

// decodeCBORParams decodes positional params (raw: a CBOR array, or nil
// when absent) holding one argument, with go-ethereum's messages for the
// JSON path: "missing value for required argument 0", "too many
// arguments, want at most 1", "non-array args", "invalid argument 0: ...".
func decodeCBORParams(raw []byte, arg func([]byte) error) error {
	if len(raw) == 0 || raw[0] == 0xf6 { // absent or null: no arguments
		return invalidArgs("missing value for required argument 0")
	}
	if raw[0]>>5 != 4 {
		return invalidArgs("non-array args")
	}
	n, rest, ok := cborArrayHead(raw)
	switch {
	case !ok:
		return invalidArgs("non-array args")
	case n == 0:
		return invalidArgs("missing value for required argument 0")
	case n > 1:
		return invalidArgs("too many arguments, want at most 1")
	case len(rest) == 0 || rest[0] == 0xf6:
		return invalidArgs("missing value for required argument 0")
	}
	if err := arg(rest); err != nil {
		var re *Error
		if errors.As(err, &re) {
			return re
		}
		return invalidArgs("invalid argument 0: " + err.Error())
	}
	return nil
}

func invalidArgs(msg string) *Error { return &Error{Code: CodeInvalidParams, Msg: msg} }

// cborArrayHead reads a definite-length array head (the scanner already
// refused indefinite ones) and returns its count and what follows.
func cborArrayHead(b []byte) (n uint64, rest []byte, ok bool) { return cborHead(b, 4) }

// cborHead reads the head of a definite-length item of major type major
// (4 array, 5 map) and returns its count and what follows.
func cborHead(b []byte, major byte) (n uint64, rest []byte, ok bool) {
	if len(b) == 0 || b[0]>>5 != major {
		return 0, nil, false
	}
	info := b[0] & 0x1f
	switch {
	case info < 24:
		return uint64(info), b[1:], true
	case info <= 27:
		k := 1 << (info - 24)
		if len(b) < 1+k {
			return 0, nil, false
		}
		for _, c := range b[1 : 1+k] {
			n = n<<8 | uint64(c)
		}
		return n, b[1+k:], true
	}
	return 0, nil, false
}

// unmarshalCBOR decodes tx_submit's CBOR params into the fields the JSON
// decoder fills: the tx bytes take the raw path (no base64). Errors are
// worded as the JSON path's (see paramerr.go).
func (p *SubmitParams) unmarshalCBOR(b []byte) error {
	var q SubmitParams
	var tx []byte
	err := cborObject(b, func(key string, v []byte) (err error) {
		switch key {
		case "tx":
			tx, err = cborBytes(key, v)
		case "wait":
			q.Wait, err = cborBool(key, v)
		default:
			err = unknownKeyError(key)
		}
		return err
	})
	if err != nil {
		return err
	}
	q.raw = &rawTx{b: tx}
	*p = q
	return nil
}

// cborTxList is tx_submitBatch's "txs" as decoded from CBOR: the tx bytes,
// slices of the request body (not copies), or only their count when it is
// over MaxSubmitBatch (so a hostile count sizes nothing, and the error is
// the JSON path's).
type cborTxList struct {
	txs [][]byte
	n   uint64
}

// decode reads v (a well-formed item, a slice of the body, which outlives
// the call); null reads as no txs, as JSON's null does.
func (t *cborTxList) decode(v []byte) error {
	if len(v) == 1 && v[0] == 0xf6 {
		return nil
	}
	n, rest, ok := cborArrayHead(v)
	if !ok {
		return paramKindError("txs", "an array of byte strings", cborKind(v))
	}
	t.n = n
	if n > MaxSubmitBatch {
		return nil
	}
	t.txs = make([][]byte, n)
	for i := range t.txs {
		b, next, ok := cborByteString(rest)
		if !ok {
			return paramKindError(fmt.Sprintf("txs[%d]", i), "a byte string", cborKind(rest))
		}
		t.txs[i], rest = b, next
	}
	return nil
}

// cborByteString reads a definite-length byte string at the start of b and
// returns its contents (capacity clipped) and what follows.
func cborByteString(b []byte) (v, rest []byte, ok bool) {
	if len(b) == 0 || b[0]>>5 != 2 {
		return nil, nil, false
	}
	info := b[0] & 0x1f
	var n uint64
	k := 1
	switch {
	case info < 24:
		n = uint64(info)
	case info <= 27:
		w := 1 << (info - 24)
		if len(b) < 1+w {
			return nil, nil, false
		}
		for _, c := range b[1 : 1+w] {
			n = n<<8 | uint64(c)
		}
		k += w
	default:
		return nil, nil, false
	}
	if n > uint64(len(b)-k) {
		return nil, nil, false
	}
	end := k + int(n)
	return b[k:end:end], b[end:], true
}

// unmarshalCBOR decodes tx_submitBatch's CBOR params into the raw path of
// SubmitBatchParams. Errors are worded as the JSON path's.
func (p *SubmitBatchParams) unmarshalCBOR(b []byte) error {
	var txs cborTxList
	var wait bool
	err := cborObject(b, func(key string, v []byte) (err error) {
		switch key {
		case "txs":
			txs = cborTxList{}
			err = txs.decode(v)
		case "wait":
			wait, err = cborBool(key, v)
		default:
			err = unknownKeyError(key)
		}
		return err
	})
	if err != nil {
		return err
	}
	if txs.n > MaxSubmitBatch {
		return checkSubmitCount(int(min(txs.n, MaxSubmitBatch+1)))
	}
	*p = SubmitBatchParams{Wait: wait, raw: make([]rawTx, len(txs.txs))}
	for i, tx := range txs.txs {
		p.raw[i] = rawTx{b: tx}
	}
	return nil
}

func cborReceipt(r *Receipt) *CBORReceipt {
	if r == nil {
		return nil
	}
	return &CBORReceipt{TxHash: r.TxHash[:], Height: r.Height, Index: r.Index,
		Result: CBORResult{Code: r.Result.Code.String(), Reason: r.Result.Reason}, BlockHash: r.BlockHash[:]}
}

func cborSubmitResult(r *SubmitResult) *CBORSubmitResult {
	return &CBORSubmitResult{TxHash: r.TxHash[:], Status: r.Status, Receipt: cborReceipt(r.Receipt)}
}

func cborBatchItems(items []BatchItem) []CBORBatchItem {
	out := make([]CBORBatchItem, len(items))
	for i, it := range items {
		o := CBORBatchItem{Status: it.Status, Receipt: cborReceipt(it.Receipt)}
		if it.TxHash != nil {
			o.TxHash = it.TxHash[:]
		}
		if it.Error != nil {
			o.Error = &CBORError{Code: it.Error.Code, Message: it.Error.Message, Data: cborData(it.Error.Data)}
		}
		out[i] = o
	}
	return out
}

// cborError is a method's error as go-ethereum reports it: the code and
// data of an *Error, else -32000 and the message.
func cborError(err error) *CBORError {
	var re *Error
	if errors.As(err, &re) {
		return &CBORError{Code: re.Code, Message: re.Msg, Data: cborData(re.Data)}
	}
	return &CBORError{Code: -32000, Message: err.Error()}
}

// cborData transcodes an error's data through its JSON form, so that CBOR
// clients see the keys and values JSON clients see; nil stays absent.
func cborData(v any) cbor.RawMessage {
	if v == nil {
		return nil
	}
	js, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var x any
	if dec.Decode(&x) != nil {
		return nil
	}
	b, err := cborEnc.Marshal(jsonToCBOR(x))
	if err != nil {
		return nil
	}
	return b
}

// jsonToCBOR turns numbers decoded with UseNumber into integers where they
// are integral, recursively.
func jsonToCBOR(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return i
		}
		if u, err := strconv.ParseUint(string(x), 10, 64); err == nil {
			return u
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = jsonToCBOR(e)
		}
	case []any:
		for i, e := range x {
			x[i] = jsonToCBOR(e)
		}
	}
	return v
}

// cborID turns an id's JSON form (zerotrust.Call.ID: a number, a string or
// null, as ScanCBORRequest produced it) back into CBOR; nil gives null.
func cborID(id json.RawMessage) cbor.RawMessage {
	null := cbor.RawMessage{0xf6}
	if len(id) == 0 || string(id) == "null" {
		return null
	}
	var v any
	if id[0] == '"' {
		var s string
		if json.Unmarshal(id, &s) != nil {
			return null
		}
		v = s
	} else if i, err := strconv.ParseInt(string(id), 10, 64); err == nil {
		v = i
	} else if u, err := strconv.ParseUint(string(id), 10, 64); err == nil {
		v = u
	} else {
		return null
	}
	b, err := cborEnc.Marshal(v)
	if err != nil {
		return null
	}
	return b
}

func writeCBOR(w http.ResponseWriter, status int, v any) {
	b, err := cborEnc.Marshal(v)
	if err != nil {
		b, _ = cborEnc.Marshal(CBORResponse{JSONRPC: "2.0", ID: cbor.RawMessage{0xf6},
			Error: &CBORError{Code: CodeInternal, Message: "internal error: encoding the reply: " + err.Error()}})
	}
	w.Header().Set("Content-Type", ContentTypeCBOR)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeCBORError(w http.ResponseWriter, status int, id json.RawMessage, code int, msg string) {
	writeCBOR(w, status, CBORResponse{JSONRPC: "2.0", ID: cborID(id), Error: &CBORError{Code: code, Message: msg}})
}

// writeReply writes a gate reply (errObj objects, one or a batch) as JSON,
// or as CBOR when the request was CBOR.
func writeReply(w http.ResponseWriter, asCBOR bool, status int, v any) {
	if !asCBOR {
		writeJSON(w, status, v)
		return
	}
	one := func(m map[string]any) CBORResponse {
		id, _ := m["id"].(json.RawMessage)
		resp := CBORResponse{JSONRPC: "2.0", ID: cborID(id)}
		if e, ok := m["error"].(map[string]any); ok {
			code, _ := e["code"].(int)
			msg, _ := e["message"].(string)
			resp.Error = &CBORError{Code: code, Message: msg}
			if d, ok := e["data"]; ok {
				resp.Error.Data = cborData(d)
			}
		}
		return resp
	}
	switch x := v.(type) {
	case []map[string]any:
		out := make([]CBORResponse, len(x))
		for i, m := range x {
			out[i] = one(m)
		}
		writeCBOR(w, status, out)
	case map[string]any:
		writeCBOR(w, status, one(x))
	default:
		writeCBOR(w, status, v)
	}
}
