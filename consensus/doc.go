// Package consensus replicates medchain's chain with hashicorp/raft: the
// persistent FSM over the Pebble store (chain/store), the leader's proposer
// and mempool, snapshots as Pebble checkpoints, and thin membership wrappers.
// It imports chain/ only; the transport is injected (a raft.Transport), so the
// cluster layer (p2p/) supplies a libp2p stream layer without this package
// knowing libp2p.
//
// # Usage
//
//	cfg := consensus.DefaultConfig("node-1", dataDir)
//	trans, _ := consensus.NewTCPTransport("127.0.0.1:7000", logger)
//	err := consensus.Bootstrap(cfg, trans.LocalAddr())      // medchain init, once
//	n, err := consensus.New(cfg, genesis, nodeKey, trans)   // every start
//	defer n.Close()
//	rcpt, err := n.SubmitAndWait(ctx, signedTx)              // leader; ErrNotLeader elsewhere
//	err = n.WithStore(func(st *store.Store) error { ... })   // reads: always through the node
//	err = n.LinearizableBarrier(ctx)                         // before a "linearizable" read
//	blocks, cancel := n.Subscribe(64)                        // committed blocks
//
// # Log entries
//
// Every Raft command is one byte of kind followed by its body:
//
//	+------+-----------------------------+
//	| 0x01 | CBOR(types.Block)           |   EntryBlock: one proposed block
//	| 0x02 | CBOR{1: block bytes,        |   EntryBlockKeys: a block that first names
//	|      |      2: []PatientKey}       |   patients, with their wrapped keys beside it
//	+------+-----------------------------+
//
// The patient keys are outside every hash: the block bytes are exactly an
// EntryBlock body (pseudonym.go, erasure.go).
//
// Kinds are appended, never renumbered. A node that meets a kind it does not
// know halts rather than skip an entry that newer nodes apply.
//
// # Genesis and block 1
//
// InitStore stores the genesis document and the genesis identities (the
// genesis state) in one batch, before any block. Block 1's state hash chains
// from the genesis state hash (state.Executor.GenesisState) and its PrevHash
// is the genesis hash, so the header chain is anchored to the chain
// definition.
//
// # Invariants
//
//  1. Apply is deterministic: it reads the entry, the store and the genesis,
//     never the clock, randomness or the environment (the local clock is read
//     only for latency metrics and mempool bookkeeping, outside state).
//  2. Apply is idempotent: the Raft index is stored in the same Pebble batch as
//     the block (or alone, for a rejected entry); entries at or below it are
//     skipped, so Raft's re-delivery after a restart changes nothing.
//  3. A committed entry that is not a valid next block (wrong chain, height or
//     previous hash, a proposer that is not a registered node or whose
//     signature fails, a tx root, results hash or log root that do not match)
//     is rejected the same way on every node; the first block committed for a
//     height wins. Its proposer returns its txs to the mempool.
//  4. Every node re-executes every block (the leader reuses the outcome it
//     computed for its own proposal) and compares results hash and state hash
//     with the header. A mismatch halts the node (ErrHalted, ErrDivergence):
//     it stops applying and refuses to snapshot, propose or admit txs.
//  5. Apply fails closed: an I/O error halts the node; an entry is never skipped.
//  6. Snapshot syncs Pebble before Raft may compact its log, and refuses while
//     halted. Restore swaps the store directory (temp dir, then rename) and
//     reopens; readers go through Node.Store/WithStore and see the new store.
//  7. Block time is stamped by the proposer: max(now, previous block time).
//  8. A tx is admitted only after CheckTx (signature, signer, role, replay
//     window) against committed state; the mempool is bounded (ErrBusy).
package consensus
