// Package pqbench tells operators what medchain's post-quantum algorithms cost
// on their own machines: a catalogue of ML-KEM (FIPS 203) and ML-DSA (FIPS 204)
// parameter sets with their NIST security levels and sizes, live speed
// measurements, the project's recommendation, and a side-by-side comparison
// with the classical algorithms they replace.
//
// Everything here returns plain structs; the CLI prints them.
//
// Usage:
//
//	for _, a := range pqbench.Algorithms() {
//		s, err := a.Measure(200 * time.Millisecond)
//		fmt.Println(a.Name, a.SecurityLevel, a.PublicKeySize, s.Median(pqbench.OpKeyGen), err)
//	}
//	r := pqbench.Recommend()
//	c, err := pqbench.Compare(time.Second)
//	for _, row := range c.Rows {
//		fmt.Printf("%s %s %dns vs %s %dns (%+.0f%%)\n", row.Operation,
//			row.PostQuantum, row.PostQuantumNs, row.Classical, row.ClassicalNs, row.OverheadPercent)
//	}
//
// Invariants:
//
//  1. Catalogue sizes are the FIPS 203/204 values; tests check them against the
//     constants of crypto/mlkem and cloudflare/circl and against the lengths the
//     implementations actually produce.
//  2. A measurement is the median of individually timed runs (at least
//     MinRuns per operation, more while the time budget lasts), so one slow run
//     (a GC pause, a preemption) does not move it.
//  3. Every measurement checks its own result once (shared secrets agree,
//     signatures verify, sealed data opens): a broken primitive is an error,
//     never a fast number.
//
// Implementations measured: ML-KEM-768 and ML-KEM-1024 from the standard
// library's crypto/mlkem (what crypto/hpke and TLS use); ML-KEM-512 and ML-DSA
// from github.com/cloudflare/circl (what chain/crypto uses); HPKE from
// crypto/hpke; X25519 from crypto/ecdh; Ed25519 from crypto/ed25519.
package pqbench
