package rpc

import (
	"errors"
	"fmt"

	"github.com/medchain/medchain/chain/store"
	"github.com/medchain/medchain/chain/types"
)

// JSON-RPC error codes medchain adds to the standard ones.
const (
	CodeInvalidParams = -32602
	CodeInternal      = -32603
	CodeTxRejected    = -32010
	CodeNotFound      = -32011
	CodeBusy          = -32012
	CodeTimeout       = -32013
	CodeUnavailable   = -32014
)

// Ledger errors the RPC layer maps to codes. The node's Ledger wraps its own
// errors in these.
var (
	ErrNotFound    = errors.New("not found")
	ErrBusy        = errors.New("busy")
	ErrTimeout     = errors.New("timed out: the tx may or may not have committed; resubmit it unchanged or ask tx_get")
	ErrUnavailable = errors.New("unavailable")
)

// Error is a JSON-RPC error with a code and optional data.
type Error struct {
	Code int
	Msg  string
	Data any
}

// Error implements error.
func (e *Error) Error() string { return e.Msg }

// ErrorCode implements go-ethereum's rpc.Error.
func (e *Error) ErrorCode() int { return e.Code }

// ErrorData implements go-ethereum's rpc.DataError.
func (e *Error) ErrorData() any { return e.Data }

// RejectionData is the data of a CodeTxRejected error.
type RejectionData struct {
	Code   types.ResultCode `json:"code"`
	Reason string           `json:"reason"`
}

func invalidParams(format string, args ...any) *Error {
	return &Error{Code: CodeInvalidParams, Msg: "invalid params: " + fmt.Sprintf(format, args...)}
}

func rejected(code types.ResultCode, reason string) *Error {
	return &Error{Code: CodeTxRejected, Msg: fmt.Sprintf("tx rejected: %s: %s", code, reason), Data: RejectionData{code, reason}}
}

// toRPC maps a ledger error to a JSON-RPC error.
func toRPC(err error) error {
	if err == nil {
		return nil
	}
	var re *Error
	var rej interface {
		Rejection() (types.ResultCode, string)
	}
	switch {
	case errors.As(err, &re):
		return re
	case errors.As(err, &rej):
		c, r := rej.Rejection()
		return rejected(c, r)
	case errors.Is(err, ErrNotFound), errors.Is(err, store.ErrNotFound):
		return &Error{Code: CodeNotFound, Msg: err.Error()}
	case errors.Is(err, ErrBusy):
		return &Error{Code: CodeBusy, Msg: err.Error()}
	case errors.Is(err, ErrTimeout):
		return &Error{Code: CodeTimeout, Msg: err.Error()}
	case errors.Is(err, ErrUnavailable):
		return &Error{Code: CodeUnavailable, Msg: err.Error()}
	case errors.Is(err, ErrPatientErased):
		return &Error{Code: CodePatientErased, Msg: err.Error()}
	}
	return &Error{Code: CodeInternal, Msg: "internal error: " + err.Error()}
}
