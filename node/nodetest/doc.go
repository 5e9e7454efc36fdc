// Package nodetest starts real medchain nodes in-process for tests: a dev
// chain initialized in a temp dir, Raft on an in-memory transport, JSON-RPC
// on 127.0.0.1 with an ephemeral port, and a client for it. Logs go to t.Log.
package nodetest
