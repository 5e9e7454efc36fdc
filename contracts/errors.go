package contracts

import "errors"

// Errors returned by this package. Each is wrapped with context naming the
// field, rule or effect at fault; classify with errors.Is.
//
// Only ErrView reports a condition that may differ between nodes (the state
// view failed, e.g. on I/O); the caller must fail closed and must not record
// a decision. Every other error is a deterministic property of the inputs.
var (
	// ErrInvalidConfig is wrapped by Config.Validate failures.
	ErrInvalidConfig = errors.New("contracts: invalid config")
	// ErrInvalidContract is wrapped by Contract.ValidateBasic failures.
	ErrInvalidContract = errors.New("contracts: invalid contract")
	// ErrCompile is wrapped when a rule or effect does not parse or
	// type-check, or uses a forbidden type; the message is the compiler's.
	ErrCompile = errors.New("contracts: compile failed")
	// ErrCostEstimate is wrapped when a contract's static worst-case cost is
	// unbounded or exceeds Config.DeployCostLimit.
	ErrCostEstimate = errors.New("contracts: cost estimate over limit")
	// ErrInvalidCall is wrapped when a call context is malformed or over a
	// size limit.
	ErrInvalidCall = errors.New("contracts: invalid call")
	// ErrInvalidValue is wrapped when parameters or state hold a value the
	// VM does not accept (floats, non-string map keys, too deep, too large).
	ErrInvalidValue = errors.New("contracts: invalid value")
	// ErrUnknownTemplate is returned by FromTemplate for a name it does not know.
	ErrUnknownTemplate = errors.New("contracts: unknown template")
	// ErrInvalidParams is wrapped when template parameters are missing or malformed.
	ErrInvalidParams = errors.New("contracts: invalid template parameters")
	// ErrView wraps an error returned by a StateView. It is not a decision:
	// the caller fails closed and retries or halts.
	ErrView = errors.New("contracts: state view failed")
)
