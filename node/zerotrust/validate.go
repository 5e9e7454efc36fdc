package zerotrust

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
)

// Validator checks the shape of HTTP requests before anything parses them:
// content type, a declared length within the cap, JSON (or CBOR) nesting
// depth and JSON-RPC batch size. It is stateless and safe for concurrent use.
type Validator struct{ cfg RequestConfig }

// NewValidator returns a validator for cfg (validated by Config.Validate).
func NewValidator(cfg RequestConfig) *Validator { return &Validator{cfg: cfg} }

// CheckHeaders checks the content type and the declared length. A length
// of -1 means unknown (chunked). The allowed types are the configured ones
// and ContentTypeCBOR, which takes no parameters.
func (v *Validator) CheckHeaders(h http.Header, contentLength int64) error {
	_, err := v.checkHeaders(h, contentLength)
	return err
}

// checkHeaders is CheckHeaders, also reporting whether the body is CBOR.
func (v *Validator) checkHeaders(h http.Header, contentLength int64) (cbor bool, err error) {
	ct := h.Get("Content-Type")
	if cbor, err := CBORContentType(ct); cbor {
		if err != nil {
			return true, err // refused in CBOR: the client asked for it
		}
		return true, v.checkLength(contentLength)
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return false, fmt.Errorf("%w: %q", ErrContentType, ct)
	}
	switch {
	case !slices.Contains(v.cfg.AllowedContentTypes, mt):
		return false, fmt.Errorf("%w: %q (allowed: %s, %s)", ErrContentType, mt, strings.Join(v.cfg.AllowedContentTypes, ", "), ContentTypeCBOR)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return false, fmt.Errorf("%w: charset %q (want utf-8)", ErrContentType, cs)
	}
	return cbor, v.checkLength(contentLength)
}

// checkLength checks a declared body length (-1: unknown).
func (v *Validator) checkLength(contentLength int64) error {
	if contentLength < 0 && v.cfg.RequireContentLength {
		return ErrLengthRequired
	}
	if contentLength > v.cfg.MaxBodyBytes {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrBodyTooLarge, contentLength, v.cfg.MaxBodyBytes)
	}
	return nil
}

// CheckJSON reads r to the end and checks that it holds exactly one JSON
// value nested no deeper than maxDepth and, when it is an array (a JSON-RPC
// batch), holding no more than maxBatch entries. It scans the bytes once
// and builds nothing; it stops at the first violation. Recursion is
// bounded by maxDepth.
func CheckJSON(r io.Reader, maxDepth, maxBatch int) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMalformedJSON, err)
	}
	return checkJSON(b, maxDepth, maxBatch)
}

func checkJSON(b []byte, maxDepth, maxBatch int) error {
	s := &scanner{b: b, maxDepth: maxDepth}
	s.ws()
	if s.i == len(b) {
		return fmt.Errorf("%w: empty body", ErrMalformedJSON)
	}
	var err error
	if b[s.i] == '[' {
		n := 0
		err = s.array(1, func(d int) error {
			if n++; n > maxBatch {
				return fmt.Errorf("%w: more than %d entries", ErrBatchTooLarge, maxBatch)
			}
			return s.value(d)
		})
	} else {
		err = s.value(0)
	}
	if err != nil {
		return err
	}
	s.ws()
	if s.i != len(b) {
		return fmt.Errorf("%w: data after the top-level value at offset %d", ErrMalformedJSON, s.i)
	}
	return nil
}

// CheckBody runs CheckJSON with the configured limits.
func (v *Validator) CheckBody(body []byte) error {
	return checkJSON(body, v.cfg.MaxJSONDepth, v.cfg.MaxBatch)
}

// Scan runs ScanRequest with the configured limits.
func (v *Validator) Scan(body []byte) (*Request, error) {
	return ScanRequest(body, v.cfg.MaxJSONDepth, v.cfg.MaxBatch)
}

// Middleware validates POST requests and hands next a body that passed
// every check (read once, bounded by MaxBodyBytes), with its calls decoded
// once in the request's context (RequestFrom). An application/cbor body is
// scanned by ScanCBORRequest under the same limits. Requests of other
// methods pass only without a body. Refusals are JSON-RPC 2.0 error
// objects with the matching HTTP status, CBOR-encoded when the request
// declared CBOR.
func (v *Validator) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			if r.ContentLength != 0 {
				writeRPCError(w, http.StatusMethodNotAllowed, -32600, "only POST may carry a body")
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		cbor, err := v.checkHeaders(r.Header, r.ContentLength)
		if err != nil {
			writeRefusal(w, cbor, statusFor(err), -32600, err.Error())
			return
		}
		var buf bytes.Buffer
		if r.ContentLength > 0 { // within MaxBodyBytes (checked above): one allocation
			buf.Grow(int(r.ContentLength) + bytes.MinRead)
		}
		_, err = buf.ReadFrom(http.MaxBytesReader(w, r.Body, v.cfg.MaxBodyBytes))
		body := buf.Bytes()
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				err = fmt.Errorf("%w: limit %d", ErrBodyTooLarge, v.cfg.MaxBodyBytes)
			}
			writeRefusal(w, cbor, statusFor(err), -32600, err.Error())
			return
		}
		req, err := v.ScanAs(body, cbor)
		if err != nil {
			code := -32600
			if errors.Is(err, ErrMalformedJSON) || errors.Is(err, ErrMalformedCBOR) {
				code = -32700
			}
			writeRefusal(w, cbor, statusFor(err), code, err.Error())
			return
		}
		r = r.WithContext(WithRequest(r.Context(), req))
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		next.ServeHTTP(w, r)
	})
}

func statusFor(err error) int {
	switch {
	case errors.Is(err, ErrContentType):
		return http.StatusUnsupportedMediaType
	case errors.Is(err, ErrLengthRequired):
		return http.StatusLengthRequired
	case errors.Is(err, ErrBodyTooLarge):
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusBadRequest
}

// writeRefusal writes a JSON-RPC error with a null id, as CBOR when the
// request declared CBOR.
func writeRefusal(w http.ResponseWriter, cbor bool, status, code int, msg string) {
	if !cbor {
		writeRPCError(w, status, code, msg)
		return
	}
	b, _ := encodeCBORError(code, msg) // strings and ints: cannot fail
	w.Header().Set("Content-Type", ContentTypeCBOR)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeRPCError(w http.ResponseWriter, status, code int, msg string) {
	type rpcErr struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	b, _ := json.Marshal(struct {
		JSONRPC string `json:"jsonrpc"`
		ID      *int   `json:"id"`
		Error   rpcErr `json:"error"`
	}{"2.0", nil, rpcErr{code, msg}})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
