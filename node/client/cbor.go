package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/fxamacker/cbor/v2"

	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/node/rpc"
)

// Encoding is how the client sends tx submissions (tx_submit and
// tx_submitBatch); every other call is JSON.
type Encoding int

// Encodings.
const (
	// EncodingCBOR posts application/cbor: txs travel as byte strings, not
	// base64 in JSON. The default; a node that refuses the content type
	// (HTTP 415) is then called with JSON.
	EncodingCBOR Encoding = 1 + iota
	// EncodingJSON posts JSON-RPC in JSON, as every other call.
	EncodingJSON
)

// String returns "cbor" or "json".
func (e Encoding) String() string {
	switch e {
	case EncodingCBOR:
		return "cbor"
	case EncodingJSON:
		return "json"
	}
	return fmt.Sprintf("Encoding(%d)", int(e))
}

// ParseEncoding parses "cbor" or "json".
func ParseEncoding(s string) (Encoding, error) {
	switch strings.ToLower(s) {
	case "cbor":
		return EncodingCBOR, nil
	case "json":
		return EncodingJSON, nil
	}
	return 0, fmt.Errorf("client: encoding %q: want cbor or json", s)
}

// WithEncoding sets the encoding of tx submissions (default EncodingCBOR).
func WithEncoding(e Encoding) Option {
	return func(o *dialOptions) error {
		if e != EncodingCBOR && e != EncodingJSON {
			return fmt.Errorf("client: unknown %v", e)
		}
		o.enc = e
		return nil
	}
}

// SetEncoding sets the encoding of tx submissions; call it before the
// client is shared between goroutines.
func (c *Client) SetEncoding(e Encoding) { c.enc = e }

// Encoding returns the encoding of tx submissions.
func (c *Client) Encoding() Encoding { return c.enc }

// maxCBORReply bounds a CBOR reply read into memory.
const maxCBORReply = 64 << 20

// errNoCBOR is returned by cborCall when the node refuses application/cbor.
var errNoCBOR = errors.New("client: the node does not accept application/cbor")

// useCBOR reports whether submissions go as CBOR.
func (c *Client) useCBOR() bool {
	return c.enc != EncodingJSON && c.hc != nil && !c.noCBOR.Load()
}

// callError is a JSON-RPC error from a CBOR reply; it is a go-ethereum
// rpc.Error and rpc.DataError, so RPCError reads it like a JSON one.
type callError struct {
	code int
	msg  string
	data any
}

func (e *callError) Error() string  { return e.msg }
func (e *callError) ErrorCode() int { return e.code }
func (e *callError) ErrorData() any { return e.data }

func newCallError(e *rpc.CBORError) *callError {
	ce := &callError{code: e.Code, msg: e.Message}
	if len(e.Data) > 0 {
		_ = rpc.CBORDecMode.Unmarshal(e.Data, &ce.data) // data the node could not encode stays nil
	}
	return ce
}

// cborCall posts calls as one CBOR request (a batch when batch is set)
// and returns the responses in the order of the calls. A transport or
// decoding failure is the error; JSON-RPC errors are in the responses.
func (c *Client) cborCall(ctx context.Context, calls []rpc.CBORRequest, batch bool) ([]rpc.CBORResponse, error) {
	if len(calls) == 0 {
		return nil, errors.New("client: a CBOR request needs at least one call")
	}
	var v any = calls
	if !batch {
		v = calls[0]
	}
	body, err := cbor.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("client: encode CBOR request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", rpc.ContentTypeCBOR)
	req.Header.Set("Accept", rpc.ContentTypeCBOR)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("client: %s: %w", calls[0].Method, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnsupportedMediaType {
		c.noCBOR.Store(true)
		return nil, errNoCBOR
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxCBORReply))
	if err != nil {
		return nil, fmt.Errorf("client: %s: reading the reply: %w", calls[0].Method, err)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != rpc.ContentTypeCBOR {
		var e struct {
			Error *authError `json:"error"`
		}
		if json.Unmarshal(b, &e) == nil && e.Error != nil {
			return nil, e.Error
		}
		return nil, fmt.Errorf("client: %s: HTTP %d, %q reply to a CBOR request", calls[0].Method, resp.StatusCode, mt)
	}
	return decodeCBORReply(b, calls, batch)
}

// decodeCBORReply decodes a reply to calls, sent as a batch when batch is
// set, and orders it like calls (a batch reply may come in any order). A
// batch is answered with an array; a single error object in its place (an
// empty, unparsable or refused batch) is the whole request's error, for a
// batch of one call as for a batch of many. A single call is answered with
// one response, whatever its id.
func decodeCBORReply(b []byte, calls []rpc.CBORRequest, batch bool) ([]rpc.CBORResponse, error) {
	var rs []rpc.CBORResponse
	if len(b) > 0 && b[0]>>5 == 4 {
		if err := rpc.CBORDecMode.Unmarshal(b, &rs); err != nil {
			return nil, fmt.Errorf("client: decode CBOR reply: %w", err)
		}
	} else {
		var r rpc.CBORResponse
		if err := rpc.CBORDecMode.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("client: decode CBOR reply: %w", err)
		}
		if r.Error != nil && (batch || len(calls) > 1) {
			return nil, newCallError(r.Error)
		}
		rs = []rpc.CBORResponse{r}
	}
	if !batch && len(calls) == 1 && len(rs) == 1 {
		return rs, nil
	}
	byID := make(map[string]rpc.CBORResponse, len(rs))
	for _, r := range rs {
		byID[string(r.ID)] = r
	}
	out := make([]rpc.CBORResponse, len(calls))
	for i, c := range calls {
		id, _ := cbor.Marshal(c.ID)
		r, ok := byID[string(id)]
		if !ok {
			if len(rs) == 1 && rs[0].Error != nil { // the whole batch refused
				return nil, newCallError(rs[0].Error)
			}
			return nil, fmt.Errorf("client: CBOR reply has no response for call %d", i)
		}
		out[i] = r
	}
	return out, nil
}

// result decodes one response's result into v, or returns its error.
func cborResult(r rpc.CBORResponse, v any) error {
	if r.Error != nil {
		return newCallError(r.Error)
	}
	if err := rpc.CBORDecMode.Unmarshal(r.Result, v); err != nil {
		return fmt.Errorf("client: decode CBOR result: %w", err)
	}
	return nil
}

func hashFrom(b []byte, what string) (types.Hash, error) {
	var h types.Hash
	if len(b) != len(h) {
		return h, fmt.Errorf("client: CBOR reply: %s of %d bytes, want %d", what, len(b), len(h))
	}
	copy(h[:], b)
	return h, nil
}

func receiptFrom(r *rpc.CBORReceipt) (*rpc.Receipt, error) {
	if r == nil {
		return nil, nil
	}
	out := &rpc.Receipt{Height: r.Height, Index: r.Index, Result: types.Result{Reason: r.Result.Reason}}
	var err error
	if out.TxHash, err = hashFrom(r.TxHash, "receipt tx_hash"); err != nil {
		return nil, err
	}
	if out.BlockHash, err = hashFrom(r.BlockHash, "receipt block_hash"); err != nil {
		return nil, err
	}
	if err := out.Result.Code.UnmarshalText([]byte(r.Result.Code)); err != nil {
		return nil, fmt.Errorf("client: CBOR reply: result code: %w", err)
	}
	return out, nil
}

func submitResultFrom(r *rpc.CBORSubmitResult) (*rpc.SubmitResult, error) {
	h, err := hashFrom(r.TxHash, "tx_hash")
	if err != nil {
		return nil, err
	}
	rc, err := receiptFrom(r.Receipt)
	if err != nil {
		return nil, err
	}
	return &rpc.SubmitResult{TxHash: h, Status: r.Status, Receipt: rc}, nil
}

// submitCBOR is Submit over CBOR.
func (c *Client) submitCBOR(ctx context.Context, tx *types.Tx, wait bool) (*rpc.SubmitResult, error) {
	rs, err := c.cborCall(ctx, []rpc.CBORRequest{{JSONRPC: "2.0", ID: 1, Method: "tx_submit",
		Params: []any{rpc.CBORSubmitParams{Tx: tx.Encode(), Wait: wait}}}}, false)
	if err != nil {
		return nil, err
	}
	var r rpc.CBORSubmitResult
	if err := cborResult(rs[0], &r); err != nil {
		return nil, err
	}
	return submitResultFrom(&r)
}

// submitBatchCBOR is SubmitBatch over CBOR: one CBOR batch of tx_submit calls.
func (c *Client) submitBatchCBOR(ctx context.Context, txs []*types.Tx, wait bool) ([]rpc.SubmitResult, []error, error) {
	calls := make([]rpc.CBORRequest, len(txs))
	for i, tx := range txs {
		calls[i] = rpc.CBORRequest{JSONRPC: "2.0", ID: i + 1, Method: "tx_submit", Params: []any{rpc.CBORSubmitParams{Tx: tx.Encode(), Wait: wait}}}
	}
	rs, err := c.cborCall(ctx, calls, true)
	if err != nil {
		return nil, nil, err
	}
	res := make([]rpc.SubmitResult, len(txs))
	errs := make([]error, len(txs))
	for i, r := range rs {
		var v rpc.CBORSubmitResult
		if errs[i] = cborResult(r, &v); errs[i] != nil {
			continue
		}
		sr, err := submitResultFrom(&v)
		if err != nil {
			errs[i] = err
			continue
		}
		res[i] = *sr
	}
	return res, errs, nil
}

// submitManyCBOR is SubmitMany over CBOR.
func (c *Client) submitManyCBOR(ctx context.Context, txs []*types.Tx, wait bool) ([]rpc.BatchItem, error) {
	p := rpc.CBORSubmitBatchParams{Txs: make([][]byte, len(txs)), Wait: wait}
	for i, tx := range txs {
		p.Txs[i] = tx.Encode()
	}
	rs, err := c.cborCall(ctx, []rpc.CBORRequest{{JSONRPC: "2.0", ID: 1, Method: "tx_submitBatch", Params: []any{p}}}, false)
	if err != nil {
		return nil, err
	}
	var items []rpc.CBORBatchItem
	if err := cborResult(rs[0], &items); err != nil {
		return nil, err
	}
	out := make([]rpc.BatchItem, len(items))
	for i, it := range items {
		o := rpc.BatchItem{Status: it.Status}
		if it.TxHash != nil {
			h, err := hashFrom(it.TxHash, "tx_hash")
			if err != nil {
				return nil, err
			}
			o.TxHash = &h
		}
		if o.Receipt, err = receiptFrom(it.Receipt); err != nil {
			return nil, err
		}
		if it.Error != nil {
			ce := newCallError(it.Error)
			o.Error = &rpc.BatchError{Code: ce.code, Message: ce.msg, Data: ce.data}
		}
		out[i] = o
	}
	return out, nil
}

// cborGateRefusal is gateRefusal for a CBOR reply.
func cborGateRefusal(body []byte) *authError {
	var rs []rpc.CBORResponse
	if len(body) > 0 && body[0]>>5 == 4 {
		if rpc.CBORDecMode.Unmarshal(body, &rs) != nil {
			return nil
		}
	} else {
		var r rpc.CBORResponse
		if rpc.CBORDecMode.Unmarshal(body, &r) != nil {
			return nil
		}
		rs = []rpc.CBORResponse{r}
	}
	for _, r := range rs {
		if r.Error == nil || r.Error.Code > rpc.CodeUnauthenticated || r.Error.Code < rpc.CodeForbidden {
			continue
		}
		ae := &authError{Code: r.Error.Code, Message: r.Error.Message}
		if ce := newCallError(r.Error); ce.data != nil {
			ae.Data, _ = json.Marshal(ce.data)
		}
		if ae.Code == rpc.CodeForbidden && !bytes.Contains(ae.Data, []byte(`"segment"`)) {
			continue
		}
		return ae
	}
	return nil
}
