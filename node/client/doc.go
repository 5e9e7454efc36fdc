// Package client is the Go client of medchain's JSON-RPC API, used by the
// CLI, the benchmark and the integration tests. It builds and signs txs
// locally (the key never leaves the caller) and submits them.
//
//	c, err := client.Dial(ctx, "http://127.0.0.1:8545")
//	s := c.Signer("doctor456", key)
//	r, err := s.Send(ctx, &types.AuditRecord{...}) // signs, submits, waits for commit
package client
