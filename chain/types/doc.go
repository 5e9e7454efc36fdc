// Package types defines medchain's wire types: the signed transaction
// envelope, its payloads, blocks, headers and per-transaction results, with
// their canonical bytes, hashes and stateless validation (ValidateBasic).
//
// Formats (all deterministic CBOR, integer map keys):
//
//	Tx        {1 chain id, 2 type, 3 signer, 4 timestamp ms, 5 nonce, 6 payload, 7 signature}
//	sign bytes  "medchain/tx/v1" 0x00 || CBOR{1..6, 8 algorithm}      tx hash = SHA-256(sign bytes)
//	Header    {1 chain id, 2 height, 3 time ms, 4 prev, 5 tx root, 6 results hash,
//	           7 state hash, 8 log size, 9 log root, 10 proposer}
//	sign bytes  "medchain/header/v1" 0x00 || CBOR(Header)               block hash = SHA-256(sign bytes)
//	Block     {1 header, 2 signature, 3 txs, 4 results}
//	rotation proof  "medchain/rotate-key/v1" 0x00 || CBOR{1 chain id, 2 id, 3 old key, 4 new key}
//
// Invariants:
//
//  1. Signed bytes carry a type tag and the chain id, so a signature is never
//     valid for another kind of object or another chain.
//  2. A tx hash covers everything signed except the signature itself, so a
//     re-signed copy of the same tx has the same hash and replays are caught.
//  3. ValidateBasic is stateless and cheap; it runs at the edge before any
//     signature check or state access, and names the field at fault.
//  4. Enum values are part of the wire format: they are appended, never renumbered.
package types
