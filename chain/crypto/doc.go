// Package crypto holds medchain's signature keys: ML-DSA (FIPS 204) from
// cloudflare/circl at three security levels, each key and signature tagged with
// its algorithm id so that a consortium can migrate or rotate algorithms.
//
// Usage:
//
//	key, _ := crypto.GenerateKey(crypto.MLDSA65, rand.Reader)
//	sig, _ := key.Sign(msg)
//	err := crypto.Verify(key.Public(), msg, sig)
//
// Invariants:
//
//  1. A PublicKey or Signature whose length does not match its algorithm is
//     rejected before circl sees it: nothing reachable from the network panics.
//  2. Key files hold the 32-byte seed, never leave this package in clear except
//     through SaveKey, and are written with mode 0600; LoadKey refuses a file
//     that group or others can read.
//  3. Signing is deterministic (the hedged randomness of FIPS 204 is off), so
//     the same key and message always produce the same signature.
//
// Key file format (JSON):
//
//	{"algorithm": "ML-DSA-65", "seed": "<64 hex chars>", "public_key": "<hex>"}
package crypto
