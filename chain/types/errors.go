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
)
