// Package verify checks a stored chain end to end and reports every fault it
// finds with the height it concerns, instead of stopping at the first.
//
// A full verification (From 0 or 1) re-derives everything from the genesis:
//
//  1. each block decodes and sits at its height; hash links reach the genesis;
//  2. each header is signed by its proposer, a registered node identity;
//  3. tx roots and results hashes match the bodies;
//  4. the global log is rebuilt leaf by leaf: each header's log size and root
//     match, and every stored log node equals the rebuilt one;
//  5. every tx index entry points at the tx's first occurrence and log leaf;
//  6. re-execution from the genesis gives each header's results and state
//     hash, and the final state equals the stored state key by key (a stored
//     key that differs names the height that last wrote it);
//  7. with Options.Signatures, every applied tx's signature verifies against
//     its signer's key at that height (checked in parallel on every core;
//     state.Identity.KeyAt finds the key of a height after later rotations);
//  8. with a Source that keeps sealed payload copies (SealedSource, as
//     chain/store does), every redacted tx is stored as a block may carry it
//     (types.Redaction.ValidateStored), its copy agrees with the body (one
//     exactly when the body holds the sealed payload, equal to it:
//     store.CheckSealedCopy), and a pruned one lies at or below this
//     node's highest pruning mark, or belongs to a patient erased at a
//     later height (the erased pass under way). The consensus FSM never
//     commits a redaction without its sealed payload, so a pruned payload
//     elsewhere is a fault at its height.
//
// Re-execution never depends on the sealed payloads (types.Tx.SizeBound,
// types.Redaction): a pruned chain re-executes exactly as it committed.
//
// A verification from a later height checks 1-5 and 8 for the range (the
// log against the stored nodes) and the proposer signatures against current
// identities; state re-execution needs the genesis, so it is skipped.
package verify
