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
//     state.Identity.KeyAt finds the key of a height after later rotations).
//
// A verification from a later height checks 1-5 for the range (the log
// against the stored nodes) and the proposer signatures against current
// identities; state re-execution needs the genesis, so it is skipped.
package verify
