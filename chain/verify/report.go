package verify

import "github.com/medchain/medchain/chain/types"

// Options select what Verify checks.
type Options struct {
	// From is the first height; 0 or 1 verifies from genesis, with state re-execution.
	From uint64 `json:"from,omitempty"`
	// To is the last height; 0 means the head.
	To uint64 `json:"to,omitempty"`
	// Signatures re-checks every tx signature (in parallel across cores).
	Signatures bool `json:"signatures,omitempty"`
	// Opener, when set, opens redacted txs (their patient's key) so that
	// their signed originals are rebuilt and their signatures checked too.
	// Without it, or once a patient is erased, a redacted tx is checked as
	// attested by the proposer only (Report.AttestedOnly).
	Opener Opener `json:"-"`
}

// Opener rebuilds the signed tx a redacted tx stands for.
type Opener interface {
	// Unredact returns the signed original of the redacted tx (hash and
	// redaction checked, see types.Unredact) with ok true; ok false and no
	// error when its key is not available (the patient is erased); an error
	// when the opened tx does not match the redacted one.
	Unredact(tx *types.Tx) (orig *types.Tx, ok bool, err error)
}

// Report is the outcome of a verification.
type Report struct {
	OK     bool   `json:"ok"`
	From   uint64 `json:"from"`
	To     uint64 `json:"to"`
	Blocks uint64 `json:"blocks"`
	Txs    uint64 `json:"txs"`
	// Redacted counts the txs stored in redacted form (pseudonymized);
	// AttestedOnly those of them whose signature could not be checked
	// because their patient's key is gone (or no Opener was given): their
	// hash and content are vouched for by the proposer's signed header only.
	// Both are counted when Signatures is set.
	Redacted     uint64 `json:"redacted_txs,omitempty"`
	AttestedOnly uint64 `json:"attested_only_txs,omitempty"`
	// Pruned counts the redacted txs whose sealed payload this node pruned
	// under its retention policy (counted in AttestedOnly too): their tx
	// root still commits to the payload's hash, but nothing can open them.
	Pruned    uint64   `json:"pruned_txs,omitempty"`
	Faults    []Fault  `json:"faults,omitempty"`
	Checked   []string `json:"checked"` // what was verified, in words
	Seconds   float64  `json:"seconds"`
	TxsPerSec float64  `json:"txs_per_sec"`
}

// Fault is one problem, located by height (0: state as a whole) and described.
type Fault struct {
	Height uint64 `json:"height"`
	What   string `json:"what"`
}
