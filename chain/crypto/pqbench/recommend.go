package pqbench

// Recommendation is the pair medchain uses by default, and why.
type Recommendation struct {
	KEM       string // catalogue name of the KEM
	Signature string // catalogue name of the signature scheme
	Why       string // one paragraph for operators
}

// Recommend returns medchain's recommended pair: ML-KEM-768 and ML-DSA-65.
func Recommend() Recommendation {
	return Recommendation{
		KEM:       "ML-KEM-768",
		Signature: "ML-DSA-65",
		Why: "ML-KEM-768 and ML-DSA-65 are the NIST security category 3 parameter sets " +
			"(comparable to AES-192), one step above the category 1 and 2 sets (ML-KEM-512, ML-DSA-44). " +
			"Health records must stay confidential for decades, so traffic recorded today must resist " +
			"a quantum computer and any future lattice cryptanalysis: category 3 leaves a margin that " +
			"category 1 does not, while the category 5 sets (ML-KEM-1024, ML-DSA-87) cost a third to a half " +
			"more bytes for every key, ciphertext and signature (ML-DSA-87 signatures are 4,627 bytes " +
			"against 3,309, on every tx) for a margin that no known attack calls for. ML-KEM-768 is also " +
			"the KEM inside Go's X25519MLKEM768 TLS key exchange and inside the MLKEM768-X25519 HPKE " +
			"suite that seals medchain data, so one primitive protects transport, peer links and data " +
			"at rest, and the X25519 half keeps today's classical security should ML-KEM ever fail. " +
			"Operators bound by CNSA 2.0 can choose ML-KEM-1024 (sealing with ML-KEM-1024-P384) and " +
			"ML-DSA-87, which medchain supports through the algorithm ids on every key.",
	}
}
