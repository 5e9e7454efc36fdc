package consensus

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"

	"github.com/medchain/medchain/chain/codec"
	"github.com/medchain/medchain/chain/crypto/seal"
	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/store"
	"github.com/medchain/medchain/chain/types"
)

// Pseudonyms and per-patient keys (docs/ARCHITECTURE.md, "Pseudonyms and
// crypto-shredding").
//
// The leader, when it cuts a block, stores every tx that names a patient in
// redacted form (types.Redact): the patient id replaced by a pseudonym, the
// signed payload sealed with that patient's data key. A patient id seen for
// the first time gets a random pseudonym and a random data key; these travel
// beside the block in the same Raft entry (EntryBlockKeys), never inside the
// hashed block, with the key wrapped under the cluster key and the patient
// id replaced by its MAC under the cluster key. Every node's FSM writes them
// to the vault (chain/store PrefixVault) in the block's own Pebble batch:
//
//	vault key                     value
//	'i' MAC(patient id) [32]      CBOR(vaultEntry{pseudonym, wrapped key})
//	'p' pseudonym                 MAC(patient id) [32]   (reverse, for erasure)
//	't' MAC(patient id) [32]      CBOR(tombstone{raft index of the erasure})
//	's' node id 0x00 MAC [32]     CBOR(eraseProgress)    (this node's clean-up)
//
// Invariants:
//
//  1. One live pseudonym per patient. The leader looks a patient up in the
//     store and in the keys of its blocks still in flight, and a block is
//     always built on exactly the blocks before it (prev hash), so the keys of
//     every earlier block are in its builder's view. The FSM rejects a block
//     whose keys name a MAC that is already mapped or erased (deterministic:
//     every node's vault is the same function of the log).
//  2. Neither the patient id nor a key is ever stored in clear: the vault
//     holds MACs and wrapped keys; the block holds pseudonyms and ciphertext.
//  3. Erasure deletes the mapping and the key in the erasure block's batch
//     and leaves a tombstone (the MAC, no pseudonym) so later txs and a
//     second erasure of the patient are refused; see erasure.go for what
//     each node then does to leave no copy.

// ClusterKey is the cluster data key as pseudonymization needs it: the key
// every node of the cluster holds, so that one node's wrapped keys and MACs
// are readable by all. Implementations are safe for concurrent use.
type ClusterKey interface {
	// Seal encrypts and authenticates plaintext with aad (seal.DataKey.Seal).
	Seal(plaintext, aad []byte) ([]byte, error)
	// Open reverses Seal; a wrong key, aad or a tampered input is an error.
	Open(sealed, aad []byte) ([]byte, error)
	// MAC returns a keyed hash (HMAC-SHA-256) of msg under a key derived from
	// the cluster key: the same on every node, useless without the key.
	// Every method fails while the node does not hold the key (a node that
	// joined and has not applied its grant yet).
	MAC(msg []byte) ([32]byte, error)
}

// Errors of pseudonymization and erasure.
var (
	// ErrPatientErased is returned for a tx or a query about a patient whose
	// erasure is recorded: the key is destroyed and nothing more is recorded.
	ErrPatientErased = errors.New("consensus: patient erased")
	// ErrPatientUnknown is returned for a query or an erasure about a patient
	// id the chain has never recorded.
	ErrPatientUnknown = errors.New("consensus: no record of this patient")
	// ErrNoClusterKey is returned by patient queries on a node configured
	// without a cluster key.
	ErrNoClusterKey = errors.New("consensus: no cluster key configured")
)

// PatientKey is one new patient mapping carried beside a block.
type PatientKey struct {
	MAC       [32]byte `cbor:"1,keyasint"` // ClusterKey.MAC(patient id)
	Pseudonym string   `cbor:"2,keyasint"`
	Wrapped   []byte   `cbor:"3,keyasint"` // the patient's data key sealed under the cluster key
}

// vaultEntry is the stored mapping of one patient.
type vaultEntry struct {
	Pseudonym string `cbor:"1,keyasint"`
	Wrapped   []byte `cbor:"2,keyasint"`
}

// tombstone marks an erased patient: no pseudonym, no key.
type tombstone struct {
	Index uint64 `cbor:"1,keyasint"` // Raft index of the entry whose block erased the patient
}

const (
	vaultMapping   = 'i'
	vaultReverse   = 'p'
	vaultTombstone = 't'
	vaultProgress  = 's'
)

func vaultKey(kind byte, id []byte) []byte { return append([]byte{kind}, id...) }

func patientKeyAAD(pseudonym string) []byte {
	return append([]byte("medchain/patient-key/v1\x00"), pseudonym...)
}

// EntryBlockKeys is the Raft command of a block that introduces patient
// keys: kind || CBOR(blockKeys). The block bytes are exactly what
// EncodeBlockEntry would carry; the keys are outside every hash.
const EntryBlockKeys EntryKind = 2

type blockKeys struct {
	Block []byte       `cbor:"1,keyasint"` // CBOR(types.Block)
	Keys  []PatientKey `cbor:"2,keyasint"`
}

// encodeBlockKeysEntry returns the Raft command proposing b with keys (none:
// a plain EntryBlock command).
func encodeBlockKeysEntry(b *types.Block, keys []PatientKey) []byte {
	if len(keys) == 0 {
		return EncodeBlockEntry(b)
	}
	return append([]byte{byte(EntryBlockKeys)}, codec.MustMarshal(&blockKeys{Block: b.Encode(), Keys: keys})...)
}

func decodeBlockKeys(body []byte) (*blockKeys, error) {
	var bk blockKeys
	if err := codec.Unmarshal(body, &bk); err != nil {
		return nil, err
	}
	if len(bk.Keys) == 0 {
		return nil, fmt.Errorf("%w: block-keys entry without keys", types.ErrInvalid)
	}
	for i, k := range bk.Keys {
		if !types.IsPseudonym(k.Pseudonym) || len(k.Wrapped) == 0 || len(k.Wrapped) > 256 {
			return nil, fmt.Errorf("%w: patient key %d is malformed", types.ErrInvalid, i)
		}
	}
	return &bk, nil
}

// pseudonymizer is the leader's side: it redacts the txs of a block.
type pseudonymizer struct {
	key  ClusterKey
	rand io.Reader
}

// mapping is a resolved patient: pseudonym and data key.
type mapping struct {
	pseudonym string
	key       *seal.DataKey
}

func (p *pseudonymizer) unwrap(pseudonym string, wrapped []byte) (*seal.DataKey, error) {
	raw, err := p.key.Open(wrapped, patientKeyAAD(pseudonym))
	if err != nil {
		return nil, fmt.Errorf("consensus: unwrap key of %s: %w", pseudonym, err)
	}
	return seal.NewDataKey(bytes.NewReader(raw))
}

// lookup resolves the MAC of a patient id in the vault: the mapping, or
// ErrPatientErased, or (nil, nil) if the patient is new.
func lookupVault(st *store.Store, mac [32]byte) (*vaultEntry, error) {
	// A mapping and a tombstone never coexist: a known patient costs one read.
	b, found, err := st.VaultGet(vaultKey(vaultMapping, mac[:]))
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, erasedOrNew(st, mac)
	}
	var e vaultEntry
	if err := codec.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("%w: corrupt vault entry: %v", state.ErrIO, err)
	}
	return &e, nil
}

// erasedOrNew returns ErrPatientErased if mac is tombstoned, else nil.
func erasedOrNew(st *store.Store, mac [32]byte) error {
	_, found, err := st.VaultGet(vaultKey(vaultTombstone, mac[:]))
	if err != nil {
		return err
	}
	if found {
		return ErrPatientErased
	}
	return nil
}

// admit refuses, at admission, a tx about an erased patient and an erasure
// of a patient the chain never recorded. It reads committed state only: the
// block cut re-checks against the blocks in flight.
func (p *pseudonymizer) admit(st *store.Store, tx *types.Tx) error {
	if !types.Redactable(tx.Type) {
		return nil
	}
	pl, err := tx.DecodePayload()
	if err != nil {
		return err
	}
	mac, err := p.key.MAC([]byte(types.PatientOf(pl)))
	if err != nil {
		return fmt.Errorf("%w: %v", state.ErrIO, err)
	}
	var e *vaultEntry
	if tx.Type == types.TxPatientErase {
		e, err = lookupVault(st, mac)
	} else {
		err = erasedOrNew(st, mac) // one read: only an erased patient is refused
	}
	switch {
	case errors.Is(err, ErrPatientErased):
		return &state.TxError{Code: types.CodeConflict, Reason: fmt.Sprintf("patient %q is erased: nothing more is recorded about them", types.PatientOf(pl))}
	case err != nil:
		return fmt.Errorf("%w: %v", state.ErrIO, err)
	case e == nil && tx.Type == types.TxPatientErase:
		return &state.TxError{Code: types.CodeNotFound, Reason: fmt.Sprintf("the chain holds nothing about patient %q to erase", types.PatientOf(pl))}
	}
	return nil
}

// redact returns txs with every redactable tx replaced by its redacted form,
// and the patient keys first drawn for this block. inflight are the blocks
// still in Raft that this block builds on (oldest first): their keys and
// erasures count as if applied. A tx that cannot be recorded (its patient is
// erased and its mapping already deleted, or an erasure of an unknown
// patient: both refused at admission, so only a tx admitted just before the
// erasure applied) is left out and reported in refused; the rest keep their
// order.
func (p *pseudonymizer) redact(st *store.Store, txs []*types.Tx, hashes []types.Hash, inflight []*flight) (out []*types.Tx, outHashes []types.Hash, keys []PatientKey, refused map[types.Hash]error, err error) {
	fresh := map[[32]byte]*mapping{}
	flying := map[[32]byte]PatientKey{}
	for _, fl := range inflight {
		for _, k := range fl.keys {
			flying[k.MAC] = k
		}
	}
	resolve := func(patient string, create bool) (*mapping, error) {
		mac, err := p.key.MAC([]byte(patient))
		if err != nil {
			return nil, err
		}
		if m, ok := fresh[mac]; ok {
			return m, nil
		}
		var e *vaultEntry
		if k, ok := flying[mac]; ok {
			e = &vaultEntry{Pseudonym: k.Pseudonym, Wrapped: k.Wrapped}
		} else {
			var lerr error
			if e, lerr = lookupVault(st, mac); lerr != nil {
				return nil, lerr
			}
		}
		if e != nil {
			// A patient whose erasure is in a block still in flight keeps
			// resolving: the executor then refuses the tx deterministically
			// (the erasure is in the state it builds on) and the block
			// records the refusal with its receipt.
			dk, err := p.unwrap(e.Pseudonym, e.Wrapped)
			if err != nil {
				return nil, err
			}
			m := &mapping{pseudonym: e.Pseudonym, key: dk}
			fresh[mac] = m
			return m, nil
		}
		if !create {
			return nil, ErrPatientUnknown
		}
		var r [types.PseudonymSize]byte
		var raw [seal.DataKeySize]byte
		if _, err := io.ReadFull(p.rand, r[:]); err != nil {
			return nil, fmt.Errorf("consensus: draw pseudonym: %w", err)
		}
		if _, err := io.ReadFull(p.rand, raw[:]); err != nil {
			return nil, fmt.Errorf("consensus: draw patient key: %w", err)
		}
		m := &mapping{pseudonym: types.NewPseudonym(r)}
		var kerr error
		if m.key, kerr = seal.NewDataKey(bytes.NewReader(raw[:])); kerr != nil {
			return nil, kerr
		}
		wrapped, err := p.key.Seal(raw[:], patientKeyAAD(m.pseudonym))
		clear(raw[:])
		if err != nil {
			return nil, fmt.Errorf("consensus: wrap patient key: %w", err)
		}
		keys = append(keys, PatientKey{MAC: mac, Pseudonym: m.pseudonym, Wrapped: wrapped})
		fresh[mac] = m
		return m, nil
	}
	out, outHashes = make([]*types.Tx, 0, len(txs)), make([]types.Hash, 0, len(txs))
	for i, tx := range txs {
		if !types.Redactable(tx.Type) {
			out, outHashes = append(out, tx), append(outHashes, hashes[i])
			continue
		}
		pl, derr := tx.DecodePayload()
		if derr != nil { // admitted txs decode; keep it so the executor records the rejection
			out, outHashes = append(out, tx), append(outHashes, hashes[i])
			continue
		}
		m, rerr := resolve(types.PatientOf(pl), tx.Type != types.TxPatientErase)
		if errors.Is(rerr, ErrPatientErased) || errors.Is(rerr, ErrPatientUnknown) {
			if refused == nil {
				refused = map[types.Hash]error{}
			}
			refused[hashes[i]] = rerr
			continue
		}
		if rerr != nil {
			return nil, nil, nil, nil, rerr
		}
		sealed, serr := m.key.Seal(tx.Payload, types.RedactionAAD(hashes[i]))
		if serr != nil {
			return nil, nil, nil, nil, fmt.Errorf("consensus: seal payload: %w", serr)
		}
		rtx, rerr := types.Redact(tx, hashes[i], pl, m.pseudonym, sealed)
		if rerr != nil {
			return nil, nil, nil, nil, rerr
		}
		out, outHashes = append(out, rtx), append(outHashes, hashes[i])
	}
	return out, outHashes, keys, refused, nil
}

func newPseudonymizer(key ClusterKey) *pseudonymizer {
	if key == nil {
		return nil
	}
	return &pseudonymizer{key: key, rand: rand.Reader}
}
