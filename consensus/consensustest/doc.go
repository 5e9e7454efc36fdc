// Package consensustest is an in-process harness for consensus clusters:
// N nodes on in-memory Raft transports with temp data dirs, a deterministic
// genesis (an admin and one node identity per node), helpers to sign txs,
// WaitLeader, WaitHeight, Restart and EnsureSameState. Logs go to t.Log.
package consensustest
