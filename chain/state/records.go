package state

import (
	"encoding/binary"
	"slices"

	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/chain/types"
)

// Identity is the stored record of a registered identity.
type Identity struct {
	ID           string             `cbor:"1,keyasint" json:"id"`
	Kind         types.IdentityKind `cbor:"2,keyasint" json:"kind"`
	Name         string             `cbor:"3,keyasint,omitempty" json:"name,omitempty"`
	Roles        []string           `cbor:"4,keyasint" json:"roles"`
	PublicKey    crypto.PublicKey   `cbor:"5,keyasint" json:"public_key"`
	Patient      string             `cbor:"6,keyasint,omitempty" json:"patient,omitempty"`
	ActsFor      []string           `cbor:"7,keyasint,omitempty" json:"acts_for,omitempty"`
	Revoked      bool               `cbor:"8,keyasint,omitempty" json:"revoked,omitempty"`
	RevokeReason string             `cbor:"9,keyasint,omitempty" json:"revoke_reason,omitempty"`
	Height       uint64             `cbor:"10,keyasint" json:"height"`  // registered at
	Updated      uint64             `cbor:"11,keyasint" json:"updated"` // last changed at
	// Key history (see rotation.go): the first height PublicKey signs at
	// (0: since registration, Height), the block time of the rotation that
	// set it (0: never rotated), and the retired keys, oldest first.
	KeyFrom uint64       `cbor:"12,keyasint,omitempty" json:"key_from,omitempty"`
	KeyTime int64        `cbor:"13,keyasint,omitempty" json:"key_time,omitempty"`
	OldKeys []KeyVersion `cbor:"14,keyasint,omitempty" json:"old_keys,omitempty"`
}

// HasRole reports whether the identity holds role.
func (id *Identity) HasRole(role string) bool {
	for _, r := range id.Roles {
		if r == role {
			return true
		}
	}
	return false
}

// speaksFor reports whether the identity links to patient (a patient id or
// a pseudonym, compared as they are): it is that patient or, with
// delegates, acts for them.
func (id *Identity) speaksFor(patient string, delegates bool) bool {
	if id.Kind == types.KindPatient && id.Patient == patient {
		return true
	}
	return delegates && slices.Contains(id.ActsFor, patient)
}

// linksInClear reports whether the identity links to a patient by patient id
// rather than by pseudonym: a patient identity naming its patient in clear,
// or (with delegates) a delegation by patient id (see actsFor).
func (id *Identity) linksInClear(delegates bool) bool {
	if id.Kind == types.KindPatient && id.Patient != "" && !types.IsPseudonym(id.Patient) {
		return true
	}
	return delegates && slices.ContainsFunc(id.ActsFor, func(p string) bool { return !types.IsPseudonym(p) })
}

// ConsentStatus is the state of a consent record.
type ConsentStatus string

// Consent statuses.
const (
	ConsentActive  ConsentStatus = "active"  // granted (or refused, if Granted is false)
	ConsentRevoked ConsentStatus = "revoked" // withdrawn by the patient or a delegate
)

// Consent is the current consent of a patient for one consent type; every
// change is also kept in the consent history.
type Consent struct {
	Patient     string             `cbor:"1,keyasint" json:"patient"`
	ConsentType string             `cbor:"2,keyasint" json:"consent_type"`
	Granted     bool               `cbor:"3,keyasint" json:"granted"`
	Scope       types.ConsentScope `cbor:"4,keyasint" json:"scope"`
	Status      ConsentStatus      `cbor:"5,keyasint" json:"status"`
	Reason      string             `cbor:"6,keyasint,omitempty" json:"reason,omitempty"`
	Signer      string             `cbor:"7,keyasint" json:"signer"`
	TxHash      types.Hash         `cbor:"8,keyasint" json:"tx_hash"`
	Height      uint64             `cbor:"9,keyasint" json:"height"`
	Time        int64              `cbor:"10,keyasint" json:"time"` // block time, Unix ms
}

// EHRSystem is a registered EHR integration.
type EHRSystem struct {
	types.EHRRegister `cbor:"1,keyasint" json:"config"`
	RegisteredBy      string     `cbor:"2,keyasint" json:"registered_by"`
	TxHash            types.Hash `cbor:"3,keyasint" json:"tx_hash"`
	Height            uint64     `cbor:"4,keyasint" json:"height"`
	Time              int64      `cbor:"5,keyasint" json:"time"`
}

// AuditEntry is one recorded audit event with where the chain put it.
type AuditEntry struct {
	TxHash types.Hash        `cbor:"1,keyasint" json:"tx_hash"`
	Height uint64            `cbor:"2,keyasint" json:"height"`
	Index  uint32            `cbor:"3,keyasint" json:"index"`
	Time   int64             `cbor:"4,keyasint" json:"time"`    // block time, Unix ms
	TxTime int64             `cbor:"5,keyasint" json:"tx_time"` // signer's timestamp
	Signer string            `cbor:"6,keyasint" json:"signer"`
	Record types.AuditRecord `cbor:"7,keyasint" json:"event"`
	// Key 8 held a copy of the sealed payload before the body hash v2; it is
	// not reused.

	// Redacted is set for an event the proposer stored redacted: Record
	// names the patient's pseudonym and the signed payload is sealed with
	// the patient's key in the block (types.Redaction.Sealed).
	Redacted bool `cbor:"9,keyasint,omitempty" json:"redacted,omitempty"`
	// Sealed is the sealed payload of a redacted event, filled by Trail from
	// a View that keeps it (SealedReader), never stored in state: the state
	// (and its hash) must not depend on bytes a node may prune. Readers open
	// it with the patient's key; after the patient's erasure nobody can.
	Sealed []byte `cbor:"-" json:"sealed,omitempty"`
	// Pruned is set by Trail for a redacted event whose sealed payload this
	// node pruned under its retention policy: only the redacted record is
	// left (the personal fields are gone from the node).
	Pruned bool `cbor:"-" json:"pruned,omitempty"`
}

// State keys. Identifiers never contain 0x00 (see types.ValidateID), so it
// separates key parts safely; numbers are big-endian so keys sort by them.
//
//	'i' id                                   -> Identity
//	'c' patient 0 type                       -> Consent (current)
//	'h' patient 0 type 0 height(8) index(4)  -> Consent (history)
//	'e' system id                            -> EHRSystem
//	'p' patient 0 time(8) height(8) index(4) -> AuditEntry (patient trail)
//	'p' 0 time(8) height(8) index(4)         -> AuditEntry naming no patient
//	'a' actor 0 time(8) height(8) index(4)   -> patient trail key (actor index)
//
// An audit event that names no patient (an access denial) is stored under
// the empty patient id, which no patient has (ids are never empty), so it
// lies in no patient's trail; its actor index entry finds it.
const (
	prefixIdentity       = 'i'
	prefixConsent        = 'c'
	prefixConsentHistory = 'h'
	prefixEHR            = 'e'
	prefixPatientTrail   = 'p'
	prefixActorTrail     = 'a'
)

// IdentityKey is the state key of an identity.
func IdentityKey(id string) []byte { return append([]byte{prefixIdentity}, id...) }

// ConsentKey is the state key of a patient's current consent of one type.
func ConsentKey(patient, consentType string) []byte {
	k := append([]byte{prefixConsent}, patient...)
	k = append(k, 0)
	return append(k, consentType...)
}

// ConsentHistoryPrefix is the key prefix of one consent's history.
func ConsentHistoryPrefix(patient, consentType string) []byte {
	k := append([]byte{prefixConsentHistory}, patient...)
	k = append(k, 0)
	k = append(k, consentType...)
	return append(k, 0)
}

func consentHistoryKey(patient, consentType string, height uint64, index uint32) []byte {
	k := ConsentHistoryPrefix(patient, consentType)
	k = binary.BigEndian.AppendUint64(k, height)
	return binary.BigEndian.AppendUint32(k, index)
}

// EHRKey is the state key of an EHR system.
func EHRKey(id string) []byte { return append([]byte{prefixEHR}, id...) }

// EHRPrefix is the key prefix of all EHR systems.
func EHRPrefix() []byte { return []byte{prefixEHR} }

// TrailPrefix is the key prefix of a patient's (byActor false) or an actor's
// (byActor true) audit trail.
func TrailPrefix(id string, byActor bool) []byte {
	p := byte(prefixPatientTrail)
	if byActor {
		p = prefixActorTrail
	}
	k := append([]byte{p}, id...)
	return append(k, 0)
}

func trailKey(prefix []byte, time int64, height uint64, index uint32) []byte {
	k := append([]byte(nil), prefix...)
	k = binary.BigEndian.AppendUint64(k, uint64(time))
	k = binary.BigEndian.AppendUint64(k, height)
	return binary.BigEndian.AppendUint32(k, index)
}
