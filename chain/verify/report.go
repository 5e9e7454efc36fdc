package verify

// Options select what Verify checks.
type Options struct {
	// From is the first height; 0 or 1 verifies from genesis, with state re-execution.
	From uint64 `json:"from,omitempty"`
	// To is the last height; 0 means the head.
	To uint64 `json:"to,omitempty"`
	// Signatures re-checks every tx signature (in parallel across cores).
	Signatures bool `json:"signatures,omitempty"`
}

// Report is the outcome of a verification.
type Report struct {
	OK        bool     `json:"ok"`
	From      uint64   `json:"from"`
	To        uint64   `json:"to"`
	Blocks    uint64   `json:"blocks"`
	Txs       uint64   `json:"txs"`
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
