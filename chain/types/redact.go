package types

import (
	"bytes"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/medchain/medchain/chain/codec"
)

// Pseudonymization (see docs/ARCHITECTURE.md, "Pseudonyms and
// crypto-shredding"). Clients sign ordinary txs. When the proposer puts a tx
// that names a patient in a block, it stores a redacted form instead:
//
//	signed tx (client)                       redacted tx (block)
//	  type, signer, ts, nonce, sig             same
//	  payload{patient: "MRN-1", details…}      payload{patient: "ps:…", personal fields empty}
//	                                           redaction{original: hash of the signed tx,
//	                                                     sealed: AES-256-GCM(patient key, signed payload)}
//
// The redacted tx keeps the signed tx's hash (Tx.Hash returns
// Redaction.Original) so the log leaf, receipts, inclusion proofs and tx_get
// by hash are the client's. The header's tx root commits to the redacted
// bytes (TxRoot, BodyHash). Whoever holds the patient key opens Sealed,
// rebuilds the signed tx (Original) and checks its hash and signature; once
// the key is destroyed (patient_erase) the redacted tx can only be checked as
// attested by the proposer that signed the block.

// TxPatientErase is the patient_erase tx: the patient, a delegate or a privacy
// officer asks that the patient's key and pseudonym mapping be destroyed on
// every node (crypto-shredding). The proposer stores it redacted, like the
// patient's audit events.
const TxPatientErase TxType = 20

func init() { txTypeNames[TxPatientErase] = "patient_erase" }

// PatientErase asks for the erasure of a patient. Reason is a reason code
// (an identifier such as "gdpr-art17"), kept in clear on chain for the
// compliance record, so it must not carry personal data.
type PatientErase struct {
	Patient string `cbor:"1,keyasint" json:"patient"`
	Reason  string `cbor:"2,keyasint" json:"reason"`
}

// TxType implements Payload.
func (*PatientErase) TxType() TxType { return TxPatientErase }

// ValidateBasic implements Payload.
func (p *PatientErase) ValidateBasic() error {
	if err := checkID("patient", p.Patient); err != nil {
		return err
	}
	return checkID("reason", p.Reason)
}

// Redaction is what a redacted tx carries beside its redacted payload.
//
// Exactly one of Sealed and SealedHash is set (ValidateStored, checked when
// a block is accepted). A block is committed with Sealed; a node may later prune it under its retention policy (see
// PruneSealed and docs/ARCHITECTURE.md, "Retention"), keeping only its
// SHA-256 in SealedHash. The tx root commits to that digest either way
// (BodyHash), so a pruned tx verifies exactly like the tx it was.
type Redaction struct {
	// Original is the hash of the signed tx (its SignBytes hash).
	Original Hash `cbor:"1,keyasint" json:"original"`
	// Sealed is the signed payload sealed with the patient's data key
	// (seal.DataKey, AES-256-GCM) and RedactionAAD(Original); empty once
	// pruned.
	Sealed []byte `cbor:"2,keyasint,omitempty" json:"sealed,omitempty"`
	// SealedHash is SHA-256(Sealed), set only once Sealed was pruned.
	SealedHash Hash `cbor:"3,keyasint,omitzero" json:"sealed_hash,omitzero"`
}

// sealingOverhead bounds what sealing adds to a payload (seal.FieldOverhead,
// 37 bytes, with room to spare).
const sealingOverhead = 64

// MaxSealedLen returns the longest sealed payload a block may carry on a
// chain whose encoded txs are limited to maxTxBytes (Params.MaxTxBytes; 0 or
// less means DefaultMaxTxBytes): the proposer seals the payload of a signed
// tx admitted within that limit, which is shorter than the tx, so its sealed
// form is shorter than maxTxBytes plus the sealing overhead.
func MaxSealedLen(maxTxBytes int) int {
	if maxTxBytes <= 0 {
		maxTxBytes = DefaultMaxTxBytes
	}
	return maxTxBytes + sealingOverhead
}

// validate checks what CheckBasic, and so the executor, checks of a
// redaction: only what pruning leaves unchanged (the tx type and the sealed
// payload's digest, SealedDigest). A node prunes sealed payloads by its own
// clock, and re-executing a block must give the same results before and
// after (chain/verify), so everything that depends on the sealed bytes
// themselves is in ValidateStored, checked once when a block is accepted.
func (r *Redaction) validate(t TxType) error {
	if !Redactable(t) {
		return fmt.Errorf("%w: redaction: %s txs are never redacted", ErrInvalid, t)
	}
	if len(r.Sealed) == 0 && r.SealedHash.IsZero() {
		return fmt.Errorf("%w: redaction: neither a sealed payload nor the hash of a pruned one", ErrInvalid)
	}
	return nil
}

// ValidateStored checks a redaction as a block stores it, beyond what
// CheckBasic checks: exactly one of Sealed and SealedHash is set (a
// SealedHash beside a sealed payload is committed by nothing: BodyHash
// hashes the payload), and Sealed is at most MaxSealedLen(maxTxBytes)
// bytes. A pruned redaction passes: whether this node pruned it is the
// store's to say (chain/verify). The consensus FSM runs it on every tx of a
// new block, and refuses a redaction that arrives pruned as well.
func (r *Redaction) ValidateStored(maxTxBytes int) error {
	switch limit := MaxSealedLen(maxTxBytes); {
	case len(r.Sealed) != 0 && !r.SealedHash.IsZero():
		return fmt.Errorf("%w: redaction: both a sealed payload and a pruned payload's hash (exactly one is kept)", ErrInvalid)
	case len(r.Sealed) > limit:
		return fmt.Errorf("%w: redaction: sealed payload of %d bytes (want 1..%d)", ErrInvalid, len(r.Sealed), limit)
	}
	return nil
}

// Pruned reports whether the sealed payload was removed under a node's
// retention policy (only its hash is kept).
func (r *Redaction) Pruned() bool { return len(r.Sealed) == 0 }

// SealedDigest returns SHA-256 of the sealed payload: computed from Sealed,
// or the hash a pruned redaction keeps.
func (r *Redaction) SealedDigest() Hash {
	if len(r.Sealed) == 0 {
		return r.SealedHash
	}
	return sha256.Sum256(r.Sealed)
}

// PruneSealed returns r with its sealed payload replaced by the payload's
// hash (SealedDigest); a pruned r comes back unchanged. The result shares
// nothing with r.
func (r Redaction) PruneSealed() Redaction {
	return Redaction{Original: r.Original, SealedHash: r.SealedDigest()}
}

// Redactable reports whether the proposer may store txs of type t
// redacted: those whose payloads name a patient (audit events, consents,
// contract executions about a patient, erasures, a patient's identity
// registration and a delegation). A tx of such a type is
// redacted only if its payload names a patient (PatientOf is not empty): an
// access_denied audit event or a contract execution that names none is
// stored in clear, as its signer signed it.
func Redactable(t TxType) bool {
	switch t {
	case TxAuditRecord, TxPatientErase, TxConsentGrant, TxConsentRevoke, TxContractExecute,
		TxIdentityRegister, TxIdentityDelegate:
		return true
	}
	return false
}

const redactionAADDomain = "medchain/redacted/v1\x00"

// RedactionAADSize is the length of RedactionAAD's result.
const RedactionAADSize = len(redactionAADDomain) + len(Hash{})

// RedactionAAD is the additional data a redacted tx's sealed payload is
// authenticated with: it binds the ciphertext to the tx it belongs to.
func RedactionAAD(original Hash) []byte {
	return AppendRedactionAAD(make([]byte, 0, RedactionAADSize), original)
}

// AppendRedactionAAD appends RedactionAAD(original) to dst, so a loop that
// seals many payloads can reuse one buffer.
func AppendRedactionAAD(dst []byte, original Hash) []byte {
	return append(append(dst, redactionAADDomain...), original[:]...)
}

// PseudonymPrefix starts every pseudonym.
const PseudonymPrefix = "ps:"

var pseudonymEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// PseudonymSize is how many random bytes a pseudonym encodes.
const PseudonymSize = 16

// NewPseudonym encodes random bytes as a pseudonym ("ps:" and 26 base32
// characters, lower case): an identifier that can stand where a patient id
// stands.
func NewPseudonym(random [PseudonymSize]byte) string {
	return PseudonymPrefix + strings.ToLower(pseudonymEncoding.EncodeToString(random[:]))
}

// IsPseudonym reports whether s has the form NewPseudonym makes.
func IsPseudonym(s string) bool {
	rest, ok := strings.CutPrefix(s, PseudonymPrefix)
	if !ok || len(rest) != pseudonymEncoding.EncodedLen(PseudonymSize) {
		return false
	}
	b, err := pseudonymEncoding.DecodeString(strings.ToUpper(rest))
	return err == nil && len(b) == PseudonymSize
}

// PatientOf returns the patient a redactable payload names; "" for other
// payloads, for an audit event that names no patient (only an
// EventAccessDenied event may: see AuditRecord.ValidateBasic) and for a
// contract execution that names none. A payload for which it returns "" is
// never redacted: there is no patient to key a pseudonym or a data key to,
// and no patient id is empty.
func PatientOf(p Payload) string {
	switch p := p.(type) {
	case *AuditRecord:
		return p.Patient
	case *PatientErase:
		return p.Patient
	case *ConsentGrant:
		return p.Patient
	case *ConsentRevoke:
		return p.Patient
	case *ContractExecute:
		return p.Patient
	case *IdentityRegister:
		return p.Patient
	case *IdentityDelegate:
		return p.Patient
	}
	return ""
}

// RedactPayload returns the redacted form of p (a payload of a Redactable
// type) naming pseudonym instead of the patient. Fields that identify or
// describe the patient are dropped (they are in the sealed original):
//
//	audit_record       resource reference, free-text details
//	consent_revoke     free-text reason
//	contract_execute   resource reference
//	identity_register  display name (a patient's name)
//
// Everything else stays in clear, because the deterministic executor, the
// contracts, the indexes and the statistics work on it: a consent's
// purposes, parties, actions, categories and expiry (contracts evaluate
// consent(patient, type) inside the VM, so its scope must be readable by
// every node; parties are identity ids, not names), an event's purpose,
// action and outcome, a call's action, purpose, segment, risk and attrs.
// The function is deterministic: a verifier holding the original checks the
// redacted payload by redacting again. A payload that names no patient
// (PatientOf is "") is refused: it is stored in clear.
func RedactPayload(p Payload, pseudonym string) (Payload, error) {
	if PatientOf(p) == "" {
		return nil, fmt.Errorf("%w: a %T that names no patient is stored in clear, never redacted", ErrInvalid, p)
	}
	switch p := p.(type) {
	case *AuditRecord:
		r := *p
		r.Patient, r.Resource, r.Details = pseudonym, "", nil
		return &r, nil
	case *PatientErase:
		r := *p
		r.Patient = pseudonym
		return &r, nil
	case *ConsentGrant:
		r := *p
		r.Patient = pseudonym
		return &r, nil
	case *ConsentRevoke:
		r := *p
		r.Patient, r.Reason = pseudonym, ""
		return &r, nil
	case *ContractExecute:
		r := *p
		r.Patient, r.Resource = pseudonym, ""
		return &r, nil
	case *IdentityRegister:
		r := *p
		r.Patient, r.Name = pseudonym, ""
		return &r, nil
	case *IdentityDelegate:
		r := *p
		r.Patient = pseudonym
		return &r, nil
	}
	return nil, fmt.Errorf("%w: %T is not redactable", ErrInvalid, p)
}

// checkRedacted checks the shape of a redacted payload: it names a pseudonym
// and carries no personal field.
func checkRedacted(p Payload) error {
	if ps := PatientOf(p); !IsPseudonym(ps) {
		return fmt.Errorf("%w: redacted payload names %q, not a pseudonym", ErrInvalid, ps)
	}
	var personal bool
	switch p := p.(type) {
	case *AuditRecord:
		personal = p.Resource != "" || len(p.Details) != 0
	case *ConsentRevoke:
		personal = p.Reason != ""
	case *ContractExecute:
		personal = p.Resource != ""
	case *IdentityRegister:
		personal = p.Name != ""
		if len(p.ActsFor) != 0 {
			return fmt.Errorf("%w: a redacted identity_register names one patient, and no acts_for", ErrInvalid)
		}
	}
	if personal {
		return fmt.Errorf("%w: redacted %s carries personal fields in clear", ErrInvalid, p.TxType())
	}
	return nil
}

// Redact returns the redacted form of the signed tx tx (whose hash is h),
// whose payload p names the patient, with pseudonym and sealed (p's encoding
// sealed with the patient's key and RedactionAAD(h)).
//
// Ownership: the result shares tx's signature bytes (the redacted tx carries
// the same signature) and keeps sealed itself, without copying either, as a
// proposer redacting a block's worth of txs needs; so neither tx's signature
// nor sealed may be modified afterwards (Clone the result to get a tx of its
// own). tx itself is not modified.
func Redact(tx *Tx, h Hash, p Payload, pseudonym string, sealed []byte) (*Tx, error) {
	rp, err := RedactPayload(p, pseudonym)
	if err != nil {
		return nil, err
	}
	enc, err := codec.Marshal(rp)
	if err != nil {
		return nil, err
	}
	// The tx and its redaction in one allocation.
	r := &struct {
		tx  Tx
		red Redaction
	}{tx: *tx, red: Redaction{Original: h, Sealed: sealed}}
	r.tx.Payload, r.tx.Redaction = enc, &r.red
	return &r.tx, nil
}

// Unredact rebuilds the signed tx from a redacted tx and its opened payload
// (the plaintext of Redaction.Sealed). It checks that the rebuilt tx hashes to
// Redaction.Original and that redacting it again gives exactly the stored
// redacted payload, so a proposer cannot have altered either. The caller
// checks the signature (Tx.VerifySignature).
func Unredact(r *Tx, payload []byte) (*Tx, error) {
	if r.Redaction == nil {
		return nil, fmt.Errorf("%w: tx is not redacted", ErrInvalid)
	}
	if r.Redaction.Pruned() {
		return nil, fmt.Errorf("%w: redacted tx %s", ErrPruned, r.Redaction.Original)
	}
	tx := r.Clone()
	tx.Redaction = nil
	tx.Payload = bytes.Clone(payload)
	if h := tx.Hash(); h != r.Redaction.Original {
		return nil, fmt.Errorf("%w: opened payload gives tx hash %s, the redacted tx claims %s", ErrInvalid, h, r.Redaction.Original)
	}
	p, err := tx.DecodePayload()
	if err != nil {
		return nil, err
	}
	stored, err := r.DecodePayload()
	if err != nil {
		return nil, err
	}
	rp, err := RedactPayload(p, PatientOf(stored))
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(codec.MustMarshal(rp), codec.MustMarshal(stored)) {
		return nil, fmt.Errorf("%w: redacted payload of %s is not the redaction of its original", ErrInvalid, r.Redaction.Original)
	}
	return tx, nil
}

const bodyDomain = "medchain/tx-redacted/v2\x00"

// BodyHash is what a block's tx root commits to for tx: its hash for an
// ordinary tx (which covers everything but the signature), and for a
// redacted tx a hash of every stored field, with the sealed payload by its
// SHA-256 (SealedDigest), so the header commits to the redacted bytes
// actually stored, a node may prune the sealed payload and still verify,
// and the log keeps the signed tx's hash:
//
//	SHA-256(domain || original hash || type || alg || timestamp u64 || nonce u64 ||
//	        for chain id, signer, payload, signature: len u32 || bytes ||
//	        SHA-256(sealed))
//
// v1 of the domain hashed the sealed bytes themselves (len u32 || sealed
// between payload and signature); a v1 chain does not verify under v2.
func (tx *Tx) BodyHash() Hash {
	if tx.Redaction == nil {
		return tx.Hash()
	}
	h := sha256.New()
	var b [8]byte
	h.Write([]byte(bodyDomain))
	h.Write(tx.Redaction.Original[:])
	h.Write([]byte{byte(tx.Type), byte(tx.Signature.Algorithm)})
	binary.BigEndian.PutUint64(b[:], uint64(tx.Timestamp))
	h.Write(b[:])
	binary.BigEndian.PutUint64(b[:], tx.Nonce)
	h.Write(b[:])
	for _, f := range [][]byte{[]byte(tx.ChainID), []byte(tx.Signer), tx.Payload, tx.Signature.Sig} {
		binary.BigEndian.PutUint32(b[:4], uint32(len(f)))
		h.Write(b[:4])
		h.Write(f)
	}
	sealed := tx.Redaction.SealedDigest()
	h.Write(sealed[:])
	var out Hash
	h.Sum(out[:0])
	return out
}

// TxRoot returns the tx root of a block's txs whose hashes (Tx.Hash) are
// hashes: the RFC 6962 root over BodyHash of each tx (which for ordinary txs
// is its hash, so chains without redactions are unchanged).
func TxRoot(txs []*Tx, hashes []Hash) Hash {
	leaves, copied := hashes, false
	for i, tx := range txs {
		if tx.Redaction == nil {
			continue
		}
		if !copied {
			leaves, copied = append([]Hash(nil), hashes...), true
		}
		leaves[i] = tx.BodyHash()
	}
	return MerkleRoot(leaves)
}
