package types

import (
	"bytes"
	"fmt"
	"time"

	"github.com/medchain/medchain/chain/codec"
	"github.com/medchain/medchain/chain/crypto"
)

// TxType names what a tx does. Values are wire format: append only.
type TxType uint8

// Tx types.
const (
	TxIdentityRegister    TxType = 1 + iota // admins: add a person, service, patient or node identity
	TxIdentityUpdateRoles                   // admins: replace an identity's roles and delegations
	TxIdentityRevoke                        // admins: revoke an identity; its key signs nothing after
	TxAuditRecord                           // clinicians, EHR services, admins: record an access event
	TxConsentGrant                          // the patient or a delegate: grant (or refuse) a consent
	TxConsentRevoke                         // the patient or a delegate: revoke a consent
	TxEHRRegister                           // admins: register or reconfigure an EHR integration
)

// Contract tx types (explicit values: 13-16 are taken by governance).
const (
	TxContractDeploy  TxType = 8  // admins, privacy officers: deploy version 1 of a contract
	TxContractExecute TxType = 9  // any registered identity (the requester): record a contract's decision
	TxContractUpgrade TxType = 10 // admins, privacy officers, the owner: deploy the next version
	TxContractRetire  TxType = 11 // admins, privacy officers, the owner: stop a contract
	TxReviewRecord    TxType = 12 // privacy officers: close the review of a flagged execution
)

var txTypeNames = map[TxType]string{
	TxIdentityRegister:    "identity_register",
	TxIdentityUpdateRoles: "identity_update_roles",
	TxIdentityRevoke:      "identity_revoke",
	TxAuditRecord:         "audit_record",
	TxConsentGrant:        "consent_grant",
	TxConsentRevoke:       "consent_revoke",
	TxEHRRegister:         "ehr_register",
	TxContractDeploy:      "contract_deploy",
	TxContractExecute:     "contract_execute",
	TxContractUpgrade:     "contract_upgrade",
	TxContractRetire:      "contract_retire",
	TxReviewRecord:        "review_record",
}

// String returns the snake_case name used in JSON and docs.
func (t TxType) String() string {
	if s, ok := txTypeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("TxType(%d)", uint8(t))
}

// Known reports whether t is a tx type this version can execute.
func (t TxType) Known() bool { _, ok := txTypeNames[t]; return ok }

// ParseTxType maps a name from String back to its type.
func ParseTxType(s string) (TxType, error) {
	for t, n := range txTypeNames {
		if n == s {
			return t, nil
		}
	}
	return 0, fmt.Errorf("%w: %q", ErrUnknownType, s)
}

// MarshalText encodes the type by name.
func (t TxType) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText decodes a name from String.
func (t *TxType) UnmarshalText(b []byte) error {
	v, err := ParseTxType(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// DefaultMaxTxBytes is the default limit on an encoded tx.
const DefaultMaxTxBytes = 64 << 10

// MaxTxBytesCeiling is the largest limit on an encoded tx a genesis may
// set (1 MiB, 16 times the default). A tx holds references, hashes and
// metadata, never clinical data; the ceiling keeps one tx, with its sealed
// payload copy, well inside a block (consensus.DefaultMaxBlockBytes, 16 MiB)
// and a forwarded batch frame (16 MiB), so no admitted tx can stall the
// proposer or fail to reach the leader.
const MaxTxBytesCeiling = 1 << 20

// Tx is the signed envelope of every write. Payload is the CBOR encoding of
// the payload struct for Type (see Payload).
type Tx struct {
	ChainID   string           `cbor:"1,keyasint" json:"chain_id"`
	Type      TxType           `cbor:"2,keyasint" json:"type"`
	Signer    string           `cbor:"3,keyasint" json:"signer"`
	Timestamp int64            `cbor:"4,keyasint" json:"timestamp"` // Unix milliseconds, set by the signer
	Nonce     uint64           `cbor:"5,keyasint" json:"nonce"`     // makes otherwise identical txs distinct
	Payload   []byte           `cbor:"6,keyasint" json:"payload"`
	Signature crypto.Signature `cbor:"7,keyasint" json:"signature"`
	// Redaction is set only on the redacted form of a tx that a proposer
	// stored in a block in place of the signed one (see redact.go); clients
	// never set it. Nil for every ordinary tx, so their encoding is unchanged.
	Redaction *Redaction `cbor:"9,keyasint,omitempty" json:"redaction,omitempty"`
}

// signedTx is what the signature covers: the envelope without the signature
// bytes, plus the algorithm.
type signedTx struct {
	ChainID   string           `cbor:"1,keyasint"`
	Type      TxType           `cbor:"2,keyasint"`
	Signer    string           `cbor:"3,keyasint"`
	Timestamp int64            `cbor:"4,keyasint"`
	Nonce     uint64           `cbor:"5,keyasint"`
	Payload   []byte           `cbor:"6,keyasint"`
	Algorithm crypto.Algorithm `cbor:"8,keyasint"`
}

const txDomain = "medchain/tx/v1\x00"

// SignBytes returns the canonical bytes the signer signs.
func (tx *Tx) SignBytes() []byte {
	b := codec.MustMarshal(signedTx{tx.ChainID, tx.Type, tx.Signer, tx.Timestamp, tx.Nonce, tx.Payload, tx.Signature.Algorithm})
	return append([]byte(txDomain), b...)
}

// Hash returns SHA-256 of the sign bytes: the tx's identity, stable across
// re-signing. For a redacted tx it is the hash of the signed original, which
// the proposer attests (see Redaction): the log leaf, receipts and tx_get by
// hash stay those of the tx the client signed.
func (tx *Tx) Hash() Hash {
	if tx.Redaction != nil {
		return tx.Redaction.Original
	}
	return HashBytes(tx.SignBytes())
}

// Sign sets the signature algorithm and signs tx with key.
func (tx *Tx) Sign(key *crypto.PrivateKey) error {
	tx.Signature.Algorithm = key.Algorithm()
	sig, err := key.Sign(tx.SignBytes())
	if err != nil {
		return err
	}
	tx.Signature = sig
	return nil
}

// VerifySignature checks the signature against pub.
func (tx *Tx) VerifySignature(pub crypto.PublicKey) error {
	return crypto.Verify(pub, tx.SignBytes(), tx.Signature)
}

// Clone returns a deep copy of tx (its byte slices share one new allocation).
func (tx *Tx) Clone() *Tx {
	cp := *tx
	buf := make([]byte, len(tx.Payload)+len(tx.Signature.Sig))
	if tx.Payload != nil {
		cp.Payload = buf[:len(tx.Payload):len(tx.Payload)]
		copy(cp.Payload, tx.Payload)
	}
	if tx.Signature.Sig != nil {
		cp.Signature.Sig = buf[len(tx.Payload):]
		copy(cp.Signature.Sig, tx.Signature.Sig)
	}
	if tx.Redaction != nil {
		r := *tx.Redaction
		r.Sealed = bytes.Clone(r.Sealed)
		cp.Redaction = &r
	}
	return &cp
}

// Time returns the signer's timestamp.
func (tx *Tx) Time() time.Time { return time.UnixMilli(tx.Timestamp).UTC() }

// Encode returns the canonical CBOR encoding of tx.
func (tx *Tx) Encode() []byte { return codec.MustMarshal(tx) }

// DecodeTx decodes a tx strictly and rejects encodings over maxBytes (0 means
// DefaultMaxTxBytes) and non-canonical encodings.
func DecodeTx(b []byte, maxBytes int) (*Tx, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxTxBytes
	}
	if len(b) > maxBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(b), maxBytes)
	}
	var tx Tx
	if err := codec.Unmarshal(b, &tx); err != nil {
		return nil, err
	}
	if !bytes.Equal(tx.Encode(), b) {
		return nil, fmt.Errorf("%w: tx encoding is not canonical", codec.ErrDecode)
	}
	return &tx, nil
}

// ValidateBasic checks everything that needs no state: identifiers, type,
// signature shape and the payload's own rules.
func (tx *Tx) ValidateBasic() error {
	_, err := tx.CheckBasic()
	return err
}

// redactionSizeBound bounds the encoding of a Redaction without the bytes
// of its sealed payload: the tx's key for it, the map header, Original (key,
// header, 32 bytes) and either the sealed payload's key and length header
// or SealedHash (key, header, 32 bytes).
const redactionSizeBound = 1 + 1 + 2*(1+2+len(Hash{}))

// pseudonymLen is the length of every pseudonym (NewPseudonym).
const pseudonymLen = len(PseudonymPrefix) + (PseudonymSize*8+4)/5

// maxRedactionGrowth bounds how much SizeBound of a redacted tx exceeds
// SizeBound of the signed tx it stands for: the redaction's fields, and a
// pseudonym (29 characters, a 2-byte CBOR header) in place of a patient id
// of at least one character (a 1-byte header). Every other change
// RedactPayload makes drops a field.
const maxRedactionGrowth = redactionSizeBound + (2 + pseudonymLen) - (1 + 1)

// SizeBound returns an upper bound on the encoded size of tx computed from
// its field lengths without encoding it; the executor limits it cheaply and
// deterministically (SizeLimit).
//
// For a redacted tx it bounds the tx without the bytes of its sealed
// payload, so it is the same before and after a node prunes that payload
// (Redaction.PruneSealed): what the executor decides must not depend on
// bytes that retention may remove, or re-executing a pruned block would
// give other results. The sealed payload is bounded on its own when a
// block is accepted (Redaction.ValidateStored).
func (tx *Tx) SizeBound() int {
	n := len(tx.ChainID) + len(tx.Signer) + len(tx.Payload) + len(tx.Signature.Sig) + 64
	if tx.Redaction != nil {
		n += redactionSizeBound
	}
	return n
}

// SizeLimit returns the bound SizeBound is held to on a chain whose encoded
// txs are limited to maxTxBytes (Params.MaxTxBytes): maxTxBytes for a
// signed tx, and for a redacted tx maxTxBytes plus what redaction may add
// to SizeBound (the redaction's fields and the pseudonym in place of the
// patient id), so that every tx admitted within the limit as signed stays
// within it once the proposer redacts it.
func (tx *Tx) SizeLimit(maxTxBytes int) int {
	if tx.Redaction != nil {
		return maxTxBytes + maxRedactionGrowth
	}
	return maxTxBytes
}

// CheckBasic is ValidateBasic that also returns the decoded payload, so
// callers decode it once.
func (tx *Tx) CheckBasic() (Payload, error) {
	if err := checkID("chain_id", tx.ChainID); err != nil {
		return nil, err
	}
	if !tx.Type.Known() {
		return nil, fmt.Errorf("%w: %d", ErrUnknownType, uint8(tx.Type))
	}
	if err := checkID("signer", tx.Signer); err != nil {
		return nil, err
	}
	if tx.Timestamp <= 0 {
		return nil, fmt.Errorf("%w: timestamp: must be positive Unix milliseconds", ErrInvalid)
	}
	if len(tx.Signature.Sig) == 0 {
		return nil, fmt.Errorf("%w: signature: missing", ErrInvalid)
	}
	if err := tx.Signature.Validate(); err != nil {
		return nil, fmt.Errorf("%w: signature: %v", ErrInvalid, err)
	}
	if tx.Redaction != nil {
		if err := tx.Redaction.validate(tx.Type); err != nil {
			return nil, err
		}
	}
	p, err := tx.DecodePayload()
	if err != nil {
		return nil, err
	}
	if err := p.ValidateBasic(); err != nil {
		return nil, err
	}
	if tx.Redaction != nil {
		if err := checkRedacted(p); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// DecodePayload decodes Payload into the struct for Type.
func (tx *Tx) DecodePayload() (Payload, error) {
	p := NewPayload(tx.Type)
	if p == nil {
		return nil, fmt.Errorf("%w: %d", ErrUnknownType, uint8(tx.Type))
	}
	if err := codec.Unmarshal(tx.Payload, p); err != nil {
		return nil, fmt.Errorf("%w: payload of %s: %v", ErrInvalid, tx.Type, err)
	}
	return p, nil
}

// NewTx builds an unsigned tx carrying p.
func NewTx(chainID, signer string, p Payload, at time.Time, nonce uint64) (*Tx, error) {
	b, err := codec.Marshal(p)
	if err != nil {
		return nil, err
	}
	return &Tx{ChainID: chainID, Type: p.TxType(), Signer: signer, Timestamp: at.UnixMilli(), Nonce: nonce, Payload: b}, nil
}
