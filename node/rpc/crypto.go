package rpc

import (
	"sync"
	"time"

	"github.com/medchain/medchain/chain/crypto/pqbench"
	"github.com/medchain/medchain/chain/crypto/seal"
)

// Bounds on crypto_algorithms' measurement budget.
const (
	DefaultMeasureBudget = 30 * time.Millisecond // per algorithm
	MaxMeasureBudget     = 2 * time.Second       // per algorithm
)

// CryptoAPI is the crypto_ namespace: what the node's post-quantum algorithms
// cost on this machine. It holds no keys.
type CryptoAPI struct {
	mu sync.Mutex // one measurement at a time: a client cannot stack CPU load
}

// AlgorithmsParams are crypto_algorithms' params (all optional).
type AlgorithmsParams struct {
	// BudgetMs is the time spent measuring each algorithm (at least
	// pqbench.MinRuns runs of each operation however small). Default 30,
	// at most 2000.
	BudgetMs int `json:"budget_ms,omitempty"`
}

// AlgorithmView is one catalogue entry with its live speeds.
type AlgorithmView struct {
	Name           string          `json:"name"`
	Kind           string          `json:"kind"` // KEM or signature
	Standard       string          `json:"standard"`
	SecurityLevel  int             `json:"security_level"`
	PublicKeyBytes int             `json:"public_key_bytes"`
	SecretKeyBytes int             `json:"secret_key_bytes"`
	SeedBytes      int             `json:"seed_bytes"`
	OutputBytes    int             `json:"output_bytes"` // ciphertext (KEM) or signature
	Implementation string          `json:"implementation"`
	Recommended    bool            `json:"recommended"`
	UsedBy         string          `json:"used_by,omitempty"` // where medchain uses it
	Speeds         []SpeedView     `json:"speeds"`
	Sealing        *SealingKEMView `json:"sealing,omitempty"`
}

// SpeedView is the median time of one operation.
type SpeedView struct {
	Op       string `json:"op"`
	MedianNs int64  `json:"median_ns"`
	Runs     int    `json:"runs"`
}

// SealingKEMView describes the HPKE suite of chain/crypto/seal that uses
// this KEM, if one does.
type SealingKEMView struct {
	Suite          string `json:"suite"`
	HPKEKEMID      uint16 `json:"hpke_kem_id"`
	PublicKeyBytes int    `json:"public_key_bytes"`
	EncBytes       int    `json:"enc_bytes"`
}

// AlgorithmsResult is crypto_algorithms' result.
type AlgorithmsResult struct {
	Algorithms     []AlgorithmView `json:"algorithms"`
	Recommendation Recommendation  `json:"recommendation"`
	BudgetMs       int             `json:"budget_ms"`
	MeasuredAt     time.Time       `json:"measured_at"`
}

// Recommendation is the pair the node uses by default, and why.
type Recommendation struct {
	KEM       string `json:"kem"`
	Signature string `json:"signature"`
	Sealing   string `json:"sealing"` // the HPKE KEM that seals data
	Why       string `json:"why"`
}

// usedBy says where medchain uses each catalogue entry.
var usedBy = map[string]string{
	"ML-KEM-768":  "HPKE sealing (ML-KEM-768-X25519, default; ML-KEM-768), TLS 1.3 X25519MLKEM768",
	"ML-KEM-1024": "HPKE sealing (ML-KEM-1024-P384)",
	"ML-DSA-44":   "tx, header and peer signatures (algorithm id 1)",
	"ML-DSA-65":   "tx, header and peer signatures (algorithm id 2, default)",
	"ML-DSA-87":   "tx, header and peer signatures (algorithm id 3)",
}

// sealingSuites maps a catalogue KEM to the seal suite built on it.
var sealingSuites = map[string]seal.Algorithm{
	"ML-KEM-768":  seal.MLKEM768X25519,
	"ML-KEM-1024": seal.MLKEM1024P384,
}

// Algorithms returns the ML-KEM and ML-DSA parameter sets with their sizes,
// speeds measured now on this node, and the recommendation.
func (a *CryptoAPI) Algorithms(p *AlgorithmsParams) (*AlgorithmsResult, error) {
	budget := DefaultMeasureBudget
	if p != nil && p.BudgetMs != 0 {
		if p.BudgetMs < 0 || time.Duration(p.BudgetMs)*time.Millisecond > MaxMeasureBudget {
			return nil, invalidParams("budget_ms: must be between 1 and %d", MaxMeasureBudget.Milliseconds())
		}
		budget = time.Duration(p.BudgetMs) * time.Millisecond
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return MeasureAlgorithms(budget)
}

// MeasureAlgorithms builds crypto_algorithms' result, spending about budget
// on each algorithm. The CLI calls it directly.
func MeasureAlgorithms(budget time.Duration) (*AlgorithmsResult, error) {
	out := &AlgorithmsResult{BudgetMs: int(budget.Milliseconds()), MeasuredAt: time.Now().UTC()}
	for _, alg := range pqbench.Algorithms() {
		sp, err := alg.Measure(budget)
		if err != nil {
			return nil, &Error{Code: CodeInternal, Msg: err.Error()}
		}
		v := AlgorithmView{
			Name: alg.Name, Kind: alg.Kind.String(), Standard: alg.Standard, SecurityLevel: alg.SecurityLevel,
			PublicKeyBytes: alg.PublicKeySize, SecretKeyBytes: alg.SecretKeySize, SeedBytes: alg.SeedSize,
			OutputBytes: alg.OutputSize, Implementation: alg.Implementation, Recommended: alg.Recommended,
			UsedBy: usedBy[alg.Name], Speeds: []SpeedView{},
		}
		for _, o := range sp.Ops {
			v.Speeds = append(v.Speeds, SpeedView{Op: o.Op, MedianNs: o.MedianNs, Runs: o.Runs})
		}
		if s, ok := sealingSuites[alg.Name]; ok {
			v.Sealing = &SealingKEMView{Suite: s.String(), HPKEKEMID: s.HPKEID(), PublicKeyBytes: s.PublicKeySize(), EncBytes: s.EncSize()}
		}
		out.Algorithms = append(out.Algorithms, v)
	}
	r := pqbench.Recommend()
	out.Recommendation = Recommendation{KEM: r.KEM, Signature: r.Signature, Sealing: seal.DefaultAlgorithm.String(), Why: r.Why}
	return out, nil
}
