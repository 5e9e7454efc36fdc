package chaintest

import (
	"slices"
	"testing"
	"time"
)

// Latencies collects per-operation timings in a benchmark and reports their
// quantiles as metrics (ns/op alone hides the tail).
type Latencies []time.Duration

// Report adds the p50 and p99 of l, in µs, to b's output; it does nothing
// for an empty l.
func (l Latencies) Report(b *testing.B) {
	if len(l) == 0 {
		return
	}
	s := slices.Clone(l)
	slices.Sort(s)
	q := func(p float64) float64 {
		i := int(p*float64(len(s))+0.5) - 1
		return float64(s[max(0, min(i, len(s)-1))].Nanoseconds()) / 1000
	}
	b.ReportMetric(q(0.50), "p50-µs")
	b.ReportMetric(q(0.99), "p99-µs")
}
