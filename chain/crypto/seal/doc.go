// Package seal encrypts data for medchain with hybrid post-quantum public-key
// encryption (HPKE, RFC 9180, from the standard library's crypto/hpke) and
// with symmetric data keys (AES-256-GCM).
//
// Protected health information stays in the EHR; whatever sensitive value must
// travel between nodes or be kept beside the chain is sealed with this package,
// never stored in clear.
//
// Usage:
//
//	priv, _ := seal.GenerateKey(seal.MLKEM768X25519, rand.Reader)
//	env, _ := seal.Seal(priv.Public(), plaintext, aad)
//	pt, err := seal.Open(priv, env, aad)
//
//	dk, _ := seal.NewDataKey(rand.Reader)          // a cluster or per-patient key
//	field, _ := dk.Seal([]byte("MRN 12345"), []byte("patient/p1#mrn"))
//	wrapped, _ := seal.WrapKey(nodePub, dk, []byte("cluster-key/1"))
//	dk2, _ := seal.UnwrapKey(nodePriv, wrapped, []byte("cluster-key/1"))
//
// Cipher suite: KEM MLKEM768-X25519 (X-Wing) by default, also MLKEM1024-P384
// (the standard library's only ML-KEM-1024 hybrid) and pure ML-KEM-768; KDF
// HKDF-SHA256; AEAD AES-256-GCM. Nothing here implements a primitive.
//
// Invariants:
//
//  1. Every envelope, key and key file names its algorithm; Open refuses an
//     envelope whose algorithm differs from the key's (ErrAlgorithmMismatch)
//     before any decryption.
//  2. The HPKE info string binds the format version and the purpose (a sealed
//     message or a wrapped data key), so an envelope made for one purpose never
//     opens as the other; the caller's aad is authenticated by the AEAD.
//  3. Decoding never panics on any input: malformed, truncated or oversized
//     envelopes return ErrMalformed, unknown versions ErrUnsupportedVersion,
//     failed authentication ErrDecrypt.
//  4. Secrets (private key seeds, data keys) are never printed: their String
//     and GoString methods redact, and they leave the package in clear only
//     through SaveKey (mode 0600) or sealed by WrapKey.
//  5. A DataKey draws a fresh random 96-bit nonce for every Seal; one key may
//     seal at most 2^32 values (the NIST SP 800-38D bound for random nonces).
//
// Envelope (deterministic CBOR map, integer keys):
//
//	{1: version (1), 2: algorithm id, 3: enc (KEM ciphertext), 4: AEAD ciphertext}
//
//	algorithm id  name               enc bytes  public key bytes
//	1             ML-KEM-768-X25519  1120       1216
//	2             ML-KEM-1024-P384   1665       1665
//	3             ML-KEM-768         1088       1184
//
// Sealed field (DataKey.Seal), raw bytes:
//
//	+---------+---------+----------+-----------------------+
//	| version | key id  | nonce    | ciphertext || GCM tag |
//	| 1 byte  | 8 bytes | 12 bytes | len(plaintext) + 16   |
//	+---------+---------+----------+-----------------------+
//
// The AEAD's additional data is version || key id || aad.
//
// Key file format (JSON, mode 0600):
//
//	{"algorithm": "ML-KEM-768-X25519", "seed": "<hex>", "public_key": "<hex>"}
package seal
