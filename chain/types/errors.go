package types

import "errors"

// Errors returned by this package. Validation errors wrap ErrInvalid and
// name the field at fault.
var (
	// ErrInvalid is wrapped by every ValidateBasic failure.
	ErrInvalid = errors.New("types: invalid")
	// ErrTooLarge is returned for an encoded tx over the size limit.
	ErrTooLarge = errors.New("types: tx too large")
	// ErrUnknownType is returned for a tx type this version does not know.
	ErrUnknownType = errors.New("types: unknown tx type")
	// ErrPruned is returned for a redacted tx whose sealed payload this
	// node pruned under its retention policy (Redaction.Pruned): only the
	// redacted payload is left, nothing can open the signed one.
	ErrPruned = errors.New("types: sealed payload pruned under the retention policy")
)
