// Package rpc serves medchain's JSON-RPC 2.0 API over HTTP and WebSocket
// (go-ethereum's rpc server: batches, body and batch limits, notifications),
// plus /healthz, /readyz and Prometheus /metrics.
//
// Methods are namespace_method; params are positional, and a method taking a
// struct is called with [{...}]. docs/RPC.md documents each with an example
// that TestRPCDocExamples checks against a running node.
//
// tx_submit and tx_submitBatch are also served over application/cbor
// (serveCBOR): the same JSON-RPC 2.0 envelope encoded in CBOR, txs as byte
// strings, answered in CBOR, under the same limits and gate, through the
// same TxAPI methods; the wire types are the CBOR* types of this package.
//
// Errors are JSON-RPC errors: the standard codes for parse errors (-32700),
// invalid requests (-32600), unknown methods (-32601) and bad params
// (-32602), and medchain's own:
//
//	-32010 tx rejected       data: {"code": "<result code>", "reason": "..."}
//	-32011 not found
//	-32012 busy              the mempool is full: retry later
//	-32013 timeout           the tx may or may not have committed: retry it
//	                         unchanged (the tx index makes that harmless) or ask tx_get
//	-32014 unavailable       no leader, or the node is halted
//	-32603 internal          an I/O failure; the node logs the cause
//
// Invariants:
//
//  1. Bad input never changes state and never crashes the node: every param
//     is validated before it reaches the ledger, and each error names the
//     problem.
//  2. Reads are served from committed state only.
package rpc
