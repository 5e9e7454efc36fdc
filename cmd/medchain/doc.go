// Command medchain runs and operates a medchain ledger node: init, start,
// keygen, signed txs, queries, verification, proofs and benchmarks. It is
// thin: every command parses flags and calls node, node/client or chain.
//
//	medchain init --dev          create a dev chain in .medchain
//	medchain start               run the node
//	medchain tx audit ...        sign and submit a tx (tx consent|identity|ehr ...)
//	medchain query trail ...     read (query consent|block|tx|head|identity|ehr|status)
//	medchain verify              verify the whole chain, with progress
//	medchain proof TXHASH        check an inclusion proof against signed headers
//	medchain bench               committed tx/s and commit latency over JSON-RPC
package main
