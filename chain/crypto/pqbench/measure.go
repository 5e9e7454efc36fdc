package pqbench

import (
	"slices"
	"time"
)

// Measurement bounds per operation.
const (
	// MinRuns is the fewest timed runs behind any median.
	MinRuns = 5
	// MaxRuns caps the runs of one operation, bounding memory for a long budget.
	MaxRuns = 1 << 16
)

// measure runs op once untimed (warm-up), then times single runs until the
// budget is spent (at least MinRuns, at most MaxRuns), and reports the median.
func measure(name string, budget time.Duration, op func() error) (OpSpeed, error) {
	if err := op(); err != nil {
		return OpSpeed{}, err
	}
	samples := make([]int64, 0, MinRuns)
	start := time.Now()
	for len(samples) < MaxRuns && (len(samples) < MinRuns || time.Since(start) < budget) {
		t0 := time.Now()
		err := op()
		el := time.Since(t0)
		if err != nil {
			return OpSpeed{}, err
		}
		samples = append(samples, max(el.Nanoseconds(), 1))
	}
	return OpSpeed{Op: name, MedianNs: median(samples), Runs: len(samples)}, nil
}

// median returns the middle value of samples (the mean of the two middle
// values for an even count), or 0 for none. It sorts samples in place.
func median(samples []int64) int64 {
	n := len(samples)
	if n == 0 {
		return 0
	}
	slices.Sort(samples)
	if n%2 == 1 {
		return samples[n/2]
	}
	return (samples[n/2-1] + samples[n/2]) / 2
}
