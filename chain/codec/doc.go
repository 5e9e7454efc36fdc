// Package codec is medchain's one encoding for everything hashed or signed:
// CBOR in Core Deterministic Encoding (RFC 8949 §4.2.1) via fxamacker/cbor.
//
// Invariants:
//
//  1. Marshal of the same value yields the same bytes on every node and version
//     (sorted map keys, shortest integers, no indefinite lengths).
//  2. Unmarshal is strict: duplicate map keys, unknown fields, indefinite
//     lengths and nesting or sizes past the limits below are errors, so two
//     different byte strings never decode to the same signed value.
//  3. Unmarshal never panics on any input (fuzzed in codec_test.go).
package codec
