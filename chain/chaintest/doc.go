// Package chaintest builds real chains for tests and benchmarks: a genesis
// with deterministic ML-DSA keys, signed txs, and blocks executed, assembled,
// signed and committed to a Pebble store, exactly as a node would, without
// Raft. Use it wherever a test needs a chain rather than a cluster.
package chaintest
