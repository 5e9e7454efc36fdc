package node

// WithoutPseudonyms returns o with pseudonymization off (patient ids stored
// in clear), for benchmarks that measure what pseudonyms cost.
func WithoutPseudonyms(o Options) Options {
	o.noPseudonyms = true
	return o
}
