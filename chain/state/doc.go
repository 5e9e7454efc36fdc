// Package state is medchain's deterministic state machine: it executes the
// txs of a block against committed state (a View) and returns per-tx results,
// the sorted state writes and the new state hash. It is pure: no clock, no
// randomness, no goroutines, no I/O beyond the View it is handed.
package state
