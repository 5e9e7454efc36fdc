package consensus

import (
	"container/list"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"

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
//	'h' pseudonym                 CBOR(keyHeight{height}) (kept past erasure, for retention)
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
//     each node then does to leave no copy. The pseudonym's keyHeight
//     record (no MAC, no key) stays, for the retention pruner.

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

// keyHeight records, by pseudonym, the height of the block beside which the
// patient's key came (its EntryBlockKeys entry): a pseudonym is drawn with
// its key, so no tx names it below that height, and the retention pruner
// scans an erased patient's txs from there (KeyIntroduced). It is a record
// of its own rather than a field of vaultEntry or tombstone: vault records
// decode strictly (unknown fields refused), so a new field would make a node
// of an earlier version fail on a vault it received in a snapshot, while it
// never reads an unknown kind; and the tombstone must not name the
// pseudonym (invariant 3), which the pruner knows the erasure by. It names
// no MAC and no key, and the pseudonym and the height are public in the
// chain already; erasure leaves it.
type keyHeight struct {
	Height uint64 `cbor:"1,keyasint"`
}

const (
	vaultMapping   = 'i'
	vaultReverse   = 'p'
	vaultTombstone = 't'
	vaultProgress  = 's'
	vaultKeyHeight = 'h'
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
	key   ClusterKey
	rand  io.Reader
	cache patientCache
}

// mapping is a resolved patient: pseudonym and data key.
type mapping struct {
	pseudonym string
	key       *seal.DataKey
	// Both guarded by patientCache.mu:
	cached bool // owned by the cache, which destroys the key when it drops it
	inCut  bool // in use by the block cut under way, which destroys it at its end if no longer cached
}

func (p *pseudonymizer) unwrap(pseudonym string, wrapped []byte) (*seal.DataKey, error) {
	raw, err := p.key.Open(wrapped, patientKeyAAD(pseudonym))
	if err != nil {
		return nil, fmt.Errorf("consensus: unwrap key of %s: %w", pseudonym, err)
	}
	defer clear(raw)
	return seal.DataKeyFrom(raw)
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

// Pseudonymizes reports whether the node stores patients under pseudonyms
// (it was given a cluster key): the leader redacts every tx that names a
// patient, and patient queries go through the vault.
func (n *Node) Pseudonymizes() bool { return n.pseudo != nil }

// resolver returns the admission resolver over st (state.Admission
// Pseudonyms): a patient id's pseudonym from the committed vault, "" for a
// patient never recorded or erased. A patient whose first tx is still in
// flight has no pseudonym yet, and no identity record can name it either.
func (p *pseudonymizer) resolver(st *store.Store) state.PatientResolver {
	return func(patient string) (string, error) {
		mac, err := p.key.MAC([]byte(patient))
		if err != nil {
			return "", err
		}
		e, err := lookupVault(st, mac)
		switch {
		case errors.Is(err, ErrPatientErased):
			return "", nil
		case err != nil || e == nil:
			return "", err
		}
		return e.Pseudonym, nil
	}
}

// refuseClearDelegations refuses, on a chain that pseudonymizes, an
// identity_register or identity_update_roles that lists acts_for: the list
// of patient ids would be stored in clear in the identity record, and a
// record naming several patients cannot be sealed so that erasing one leaves
// the others readable. Delegations are made one patient at a time with
// identity_delegate, stored redacted under that patient's pseudonym.
func refuseClearDelegations(tx *types.Tx) error {
	if tx.Type != types.TxIdentityRegister && tx.Type != types.TxIdentityUpdateRoles {
		return nil
	}
	pl, err := tx.DecodePayload()
	if err != nil {
		return nil // the executor refuses it with the reason
	}
	var acts []string
	switch pl := pl.(type) {
	case *types.IdentityRegister:
		acts = pl.ActsFor
	case *types.IdentityUpdateRoles:
		acts = pl.ActsFor
	}
	if len(acts) == 0 {
		return nil
	}
	return &state.TxError{Code: types.CodeInvalidPayload,
		Reason: "acts_for would store patient ids in clear on a chain that pseudonymizes patients: appoint each delegate with identity_delegate (medchain tx identity delegate --id ID --patient PATIENT)"}
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
	if types.PatientOf(pl) == "" {
		return nil // names no patient: stored in clear, nothing to check
	}
	if types.IsPseudonym(types.PatientOf(pl)) {
		// A patient is named by id; the leader draws the pseudonym. A tx
		// naming one would be stored under a pseudonym its signer chose (or
		// copied from the chain), with a key of its own, beside the
		// patient's real records.
		return &state.TxError{Code: types.CodeInvalidPayload, Reason: "patient: give the patient's id, not a pseudonym: this chain records patients under pseudonyms it draws itself"}
	}
	mac, err := p.key.MAC([]byte(types.PatientOf(pl)))
	if err != nil {
		return fmt.Errorf("%w: %v", state.ErrIO, err)
	}
	var e *vaultEntry
	switch {
	case tx.Type == types.TxPatientErase:
		e, err = lookupVault(st, mac)
	case p.cache.holds(mac):
		// A cached patient is mapped (in the vault or in a block in
		// flight), so not erased (patientCache invariant 2): no read.
	default:
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

// cutPseudonyms is the pseudonymization step of the leader's block cut of
// fl (built on prev, nil for the store's head), before execution: it
// refuses the txs whose signature no longer holds (refuseStaleSignatures),
// then redacts the rest (redact). It returns the txs and hashes of the
// block, the patient keys first drawn for it, and the txs left out with the
// reason for each.
func (n *Node) cutPseudonyms(st *store.Store, fl, prev *flight, txs []*types.Tx, hashes []types.Hash) (out []*types.Tx, outHashes []types.Hash, keys []PatientKey, refused map[types.Hash]error, err error) {
	refused, err = n.refuseStaleSignatures(st, prev, fl.start.UnixMilli(), txs, hashes)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if len(refused) > 0 {
		kept, keptHashes := make([]*types.Tx, 0, len(txs)), make([]types.Hash, 0, len(txs))
		for i, h := range hashes {
			if _, ok := refused[h]; !ok {
				kept, keptHashes = append(kept, txs[i]), append(keptHashes, h)
			}
		}
		txs, hashes = kept, keptHashes
	}
	out, outHashes, keys, erasedOrUnknown, err := n.pseudo.redact(st, fl, txs, hashes)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if refused == nil {
		refused = erasedOrUnknown
	} else {
		maps.Copy(refused, erasedOrUnknown)
	}
	unlinked, err := n.checkAttestedLinks(st, prev, txs, hashes, out)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if len(unlinked) > 0 {
		kept, keptHashes := make([]*types.Tx, 0, len(out)), make([]types.Hash, 0, len(out))
		for j, h := range outHashes {
			if _, ok := unlinked[h]; !ok {
				kept, keptHashes = append(kept, out[j]), append(keptHashes, h)
			}
		}
		out, outHashes = kept, keptHashes
		if refused == nil {
			refused = unlinked
		} else {
			maps.Copy(refused, unlinked)
		}
		// A key drawn for a patient whose only tx was left out stays in the
		// block: the patient's mapping is made a block early, nothing else.
	}
	return out, outHashes, keys, refused, nil
}

// checkAttestedLinks runs state.CheckAttestedLink on each redaction in out
// (the cut's txs after redact; signed and hashes are the txs before it,
// index for index with hashes) whose signer's link to the patient execution
// takes as attested: against the state the block builds on (prev's outcome
// over the store while prev is in flight), and with the identity changes of
// the earlier txs of the cut. It returns the txs to leave out, by hash,
// with the reason.
func (n *Node) checkAttestedLinks(st *store.Store, prev *flight, signed []*types.Tx, hashes []types.Hash, out []*types.Tx) (map[types.Hash]error, error) {
	var view state.View = st
	if prev != nil && !prev.resolved() {
		view = newPendingView(st, prev, prev.hashes())
	}
	var bySigned map[types.Hash]*types.Tx
	var changing map[string]bool
	var refused map[types.Hash]error
	for _, tx := range out {
		if tx.Redaction != nil && state.ChecksAttestedLink(tx.Type) {
			if bySigned == nil {
				bySigned = make(map[types.Hash]*types.Tx, len(signed))
				for i, s := range signed {
					bySigned[hashes[i]] = s
				}
			}
			s, ok := bySigned[tx.Redaction.Original]
			pl, derr := tx.DecodePayload()
			if ok && derr == nil {
				err := n.exec.CheckAttestedLink(view, s, types.PatientOf(pl), changing[s.Signer])
				var te *state.TxError
				switch {
				case errors.As(err, &te):
					if refused == nil {
						refused = make(map[types.Hash]error)
					}
					if te.Code == types.CodeUnauthorized {
						// The signing rules' reason names the patient id: the
						// refusal goes to the log and to every follower.
						err = &state.TxError{Code: te.Code, Reason: fmt.Sprintf("%q does not speak for the tx's patient at this block (a delegation changed after the tx was admitted)", s.Signer)}
					}
					refused[tx.Redaction.Original] = err
				case err != nil:
					return nil, fmt.Errorf("consensus: check the links of %q: %w", s.Signer, err)
				}
			}
		}
		if id := state.ChangesIdentity(tx); id != "" {
			if changing == nil {
				changing = make(map[string]bool)
			}
			changing[id] = true
		}
	}
	return refused, nil
}

// refuseStaleSignatures closes, at the leader's block cut, the gap that
// redaction opens in the key rotation rule (chain/state rotation.go). The
// executor re-checks the signature of every tx whose signer rotated its key
// within two timestamp windows of the block time, because such a tx may have
// been admitted (checked against the key then current) before the rotation
// committed; it cannot check a redacted tx, whose signed payload is sealed.
// So here, on the signed form and before redaction, every redactable tx of
// a signer that rotated within two windows of now (the block time is at
// least now, so this covers every tx the executor would re-check) is
// checked against the key in force at the block's height, read from the
// state the block builds on (prev's outcome over the store while prev is in
// flight). A tx that fails is refused, with the reason the executor would
// give (types.CodeBadSignature), and left out of the block. The check reads
// the signer's record once per block and verifies nothing for signers that
// did not rotate recently.
func (n *Node) refuseStaleSignatures(st *store.Store, prev *flight, now int64, txs []*types.Tx, hashes []types.Hash) (map[types.Hash]error, error) {
	var view state.View = st
	height := uint64(1)
	if prev != nil && !prev.resolved() {
		view, height = newPendingView(st, prev, prev.hashes()), prev.block.Header.Height+1
	} else if head, ok := st.Head(); ok {
		height = head.Height + 1
	}
	window := 2 * n.exec.Genesis().Params.TimestampWindowMs
	var signers map[string]*state.Identity
	var refused map[types.Hash]error
	for i, tx := range txs {
		if !types.Redactable(tx.Type) || tx.Redaction != nil {
			continue // the executor checks what it can see
		}
		id, ok := signers[tx.Signer]
		if !ok {
			var err error
			if id, err = state.GetIdentity(view, tx.Signer); err != nil {
				return nil, fmt.Errorf("consensus: read signer %q: %w", tx.Signer, err)
			}
			if signers == nil {
				signers = make(map[string]*state.Identity)
			}
			signers[tx.Signer] = id
		}
		if id == nil || id.Revoked || id.KeyTime == 0 || now-id.KeyTime > window {
			continue // unknown or revoked: the executor refuses it; not rotated recently: admission checked the key in force
		}
		if err := tx.VerifySignature(id.KeyAt(height)); err != nil {
			if refused == nil {
				refused = make(map[types.Hash]error)
			}
			refused[hashes[i]] = &state.TxError{Code: types.CodeBadSignature,
				Reason: fmt.Sprintf("signature of %q does not verify under the key in force at height %d (the key changed after the tx was admitted): %v", tx.Signer, height, err)}
		}
	}
	return refused, nil
}

// redact returns txs with every redactable tx replaced by its redacted form,
// and the patient keys first drawn for this block (fl, whose inflight are
// the blocks still in Raft that it builds on, oldest first: their keys and
// erasures count as if applied). A tx that cannot be recorded (its patient
// is erased and its mapping already deleted, or an erasure of an unknown
// patient: both refused at admission, so only a tx admitted just before the
// erasure applied) is left out and reported in refused; the rest keep their
// order. Patients resolve from the cache first (patientCache), then from
// the keys in flight, then from the vault.
func (p *pseudonymizer) redact(st *store.Store, fl *flight, txs []*types.Tx, hashes []types.Hash) (out []*types.Tx, outHashes []types.Hash, keys []PatientKey, refused map[types.Hash]error, err error) {
	inflight := fl.inflight
	p.cache.begin(clusterKeyID(p.key), inflight)
	fresh := map[[32]byte]*mapping{}
	defer func() { p.cache.end(fresh) }()
	var flying map[[32]byte]flyingKey
	var mac [32]byte // of the patient last resolved
	resolve := func(patient string, create bool) (*mapping, error) {
		var err error
		if mac, err = p.key.MAC([]byte(patient)); err != nil {
			return nil, err
		}
		if m, ok := fresh[mac]; ok {
			return m, nil
		}
		if m := p.cache.get(mac, inflight); m != nil {
			fresh[mac] = m
			return m, nil
		}
		if flying == nil && len(inflight) > 0 {
			flying = map[[32]byte]flyingKey{}
			for _, f := range inflight {
				for _, k := range f.keys {
					flying[k.MAC] = flyingKey{k, f}
				}
			}
		}
		var e *vaultEntry
		var owner *flight // the block in flight that introduces the key; nil: committed
		if k, ok := flying[mac]; ok {
			e, owner = &vaultEntry{Pseudonym: k.Pseudonym, Wrapped: k.Wrapped}, k.fl
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
			p.cache.put(mac, m, owner)
			return m, nil
		}
		if !create {
			return nil, ErrPatientUnknown
		}
		var r [types.PseudonymSize]byte
		var raw [seal.DataKeySize]byte
		defer clear(raw[:])
		if _, err := io.ReadFull(p.rand, r[:]); err != nil {
			return nil, fmt.Errorf("consensus: draw pseudonym: %w", err)
		}
		if _, err := io.ReadFull(p.rand, raw[:]); err != nil {
			return nil, fmt.Errorf("consensus: draw patient key: %w", err)
		}
		m := &mapping{pseudonym: types.NewPseudonym(r)}
		var kerr error
		if m.key, kerr = seal.DataKeyFrom(raw[:]); kerr != nil {
			return nil, kerr
		}
		fresh[mac] = m // from here the cut owns the key (end destroys it unless cached)
		wrapped, err := p.key.Seal(raw[:], patientKeyAAD(m.pseudonym))
		if err != nil {
			return nil, fmt.Errorf("consensus: wrap patient key: %w", err)
		}
		keys = append(keys, PatientKey{MAC: mac, Pseudonym: m.pseudonym, Wrapped: wrapped})
		p.cache.put(mac, m, fl)
		return m, nil
	}
	out, outHashes = make([]*types.Tx, 0, len(txs)), make([]types.Hash, 0, len(txs))
	aad := make([]byte, 0, types.RedactionAADSize)
	for i, tx := range txs {
		if !types.Redactable(tx.Type) {
			out, outHashes = append(out, tx), append(outHashes, hashes[i])
			continue
		}
		if tx.Redaction != nil {
			// Admission refuses redacted txs, and a rejected block goes back
			// to the mempool as signed: a redaction here would be sealed a
			// second time, under a pseudonym of its pseudonym.
			if refused == nil {
				refused = map[types.Hash]error{}
			}
			refused[hashes[i]] = &state.TxError{Code: types.CodeInvalidPayload, Reason: "the tx is already redacted: submit the signed tx"}
			continue
		}
		pl, derr := tx.DecodePayload()
		// Admitted txs decode: keep one that does not, so the executor
		// records the rejection. Keep in clear an event naming no patient
		// (types.PatientOf): there is no patient to map.
		if derr != nil || types.PatientOf(pl) == "" {
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
		if tx.Type == types.TxPatientErase {
			// From this cut until the block resolves the patient is never
			// cached; once it commits the vault says erased.
			p.cache.doom(mac, fl)
		}
		aad = types.AppendRedactionAAD(aad[:0], hashes[i])
		sealed, serr := m.key.Seal(tx.Payload, aad)
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

// flyingKey is a patient key carried beside a block still in flight.
type flyingKey struct {
	PatientKey
	fl *flight
}

// PatientCacheSize bounds the leader's cache of patient mappings: at most
// this many patients (pseudonym and opened data key, about 1 KB each with
// the AES-GCM state, so about 4 MB) are kept from one block cut to the next.
// It holds the patients of a few seconds of blocks at the throughput
// measured here; patients beyond it cost a vault read and an unwrap, as
// without the cache.
const PatientCacheSize = 4096

// ClusterKeyIdentifier is an optional extension of ClusterKey for a key that
// may change while the node runs (e.g. a cluster data key replaced through
// governance): KeyID names the key in force, and the leader drops every
// cached patient key when it changes. A ClusterKey without it (such as
// StaticClusterKey) is taken to be fixed for the life of the process.
type ClusterKeyIdentifier interface {
	// KeyID returns the public id of the key in force, or an error while
	// the node holds none.
	KeyID() (string, error)
}

// clusterKeyID returns k's KeyID, "" for a fixed key, "unavailable" while
// it has none.
func clusterKeyID(k ClusterKey) string {
	ki, ok := k.(ClusterKeyIdentifier)
	if !ok {
		return ""
	}
	id, err := ki.KeyID()
	if err != nil {
		return "unavailable"
	}
	return id
}

// patientCache is the leader's cache of patient mappings across block cuts:
// MAC(patient id) -> pseudonym and opened data key, so a patient seen in a
// recent block costs no vault read and no unwrap. Invariants:
//
//  1. It only replaces reads whose result it knows: an entry is what the
//     vault holds (the entry was read from it, or its block committed) or
//     what a block still in flight that the cut builds on carries (checked
//     on every hit: an entry whose block failed, or is not among the blocks
//     the cut builds on, is dropped). So the blocks the leader builds, and
//     the chain, are the same with or without it.
//  2. Crypto-shredding stays true: a patient_erase drops its patient's entry
//     at the cut that puts it in a block, and the patient is not cached again
//     until that block resolves (doomed); then the vault says erased and the
//     patient never resolves again. Every applied erasure (the FSM's erasure
//     hook), the end of leadership (which also covers Close), and a change
//     of the cluster key drop every entry.
//  3. A dropped entry's key is destroyed (seal.DataKey.Destroy: its bytes
//     zeroed), at once, or at the end of the block cut under way if that cut
//     holds it; keys a cut resolved and the cache did not keep are destroyed
//     at the cut's end too.
//  4. At most PatientCacheSize entries; the least recently used goes first.
//
// One block cut runs at a time (the proposer goroutine); drops may come from
// any goroutine.
type patientCache struct {
	mu sync.Mutex
	// guards the following
	entries map[[32]byte]*list.Element // of *cacheEntry
	lru     list.List                  // most recently used at the front
	doomed  map[[32]byte]*flight       // erasures in blocks in flight: never cached meanwhile
	keyID   string                     // cluster key the entries were resolved under
}

type cacheEntry struct {
	mac [32]byte
	m   *mapping
	fl  *flight // the block in flight that introduces the key; nil once committed
}

// begin starts a block cut built on the blocks inflight, under cluster key
// keyID: a changed key drops everything, and dooms whose block resolved (or
// never reached Raft) end.
func (c *patientCache) begin(keyID string, inflight []*flight) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if keyID != c.keyID {
		c.dropAllLocked()
		c.keyID = keyID
	}
	for mac, fl := range c.doomed {
		if fl.resolved() || !slices.Contains(inflight, fl) {
			delete(c.doomed, mac)
		}
	}
}

// end finishes a block cut that resolved the mappings in fresh: those the
// cache does not hold (never kept, or dropped during the cut) are destroyed.
func (c *patientCache) end(fresh map[[32]byte]*mapping) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range fresh {
		m.inCut = false
		if !m.cached {
			m.key.Destroy()
		}
	}
}

// get returns the cached mapping of mac, or nil. inflight are the blocks the
// cut builds on (invariant 1).
func (c *patientCache) get(mac [32]byte, inflight []*flight) *mapping {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[mac]
	if !ok {
		return nil
	}
	e := el.Value.(*cacheEntry)
	if e.fl != nil {
		switch {
		case e.fl.resolved() && e.fl.err == nil:
			e.fl = nil // committed: the vault holds it
		case e.fl.resolved(), !slices.Contains(inflight, e.fl):
			c.removeLocked(el)
			return nil
		}
	}
	c.lru.MoveToFront(el)
	e.m.inCut = true
	return e.m
}

// put caches m, resolved in the cut under way, as the mapping of mac; fl is
// the block in flight that introduces it (nil: committed). A doomed patient
// is not cached.
func (c *patientCache) put(mac [32]byte, m *mapping, fl *flight) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m.inCut = true
	if _, ok := c.doomed[mac]; ok {
		return
	}
	if el, ok := c.entries[mac]; ok {
		c.removeLocked(el)
	}
	if c.entries == nil {
		c.entries = make(map[[32]byte]*list.Element)
	}
	m.cached = true
	c.entries[mac] = c.lru.PushFront(&cacheEntry{mac: mac, m: m, fl: fl})
	for c.lru.Len() > PatientCacheSize {
		c.removeLocked(c.lru.Back())
	}
}

// doom drops mac's entry and keeps the patient out of the cache until the
// block fl, which erases them, resolves.
func (c *patientCache) doom(mac [32]byte, fl *flight) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[mac]; ok {
		c.removeLocked(el)
	}
	if c.doomed == nil {
		c.doomed = make(map[[32]byte]*flight)
	}
	c.doomed[mac] = fl
}

// dropAll empties the cache, destroying every key no cut holds (invariant
// 3). The doomed patients stay doomed.
func (c *patientCache) dropAll() {
	c.mu.Lock()
	c.dropAllLocked()
	c.mu.Unlock()
}

func (c *patientCache) dropAllLocked() {
	for el := c.lru.Front(); el != nil; el = c.lru.Front() {
		c.removeLocked(el)
	}
}

func (c *patientCache) removeLocked(el *list.Element) {
	e := c.lru.Remove(el).(*cacheEntry)
	delete(c.entries, e.mac)
	e.m.cached = false
	if !e.m.inCut {
		e.m.key.Destroy()
	}
}

// holds reports whether mac is cached (any goroutine). A cached patient has
// a mapping in the vault or in a block in flight, and so is not erased: an
// erasure drops its patient when it is cut, before it can commit.
func (c *patientCache) holds(mac [32]byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.entries[mac]
	return ok
}

// len returns the number of cached patients.
func (c *patientCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// dropPatientCache empties the leader's patient cache (nil-safe): when
// leadership ends (and so on Close) and after every applied erasure.
func (p *pseudonymizer) dropPatientCache() {
	if p != nil {
		p.cache.dropAll()
	}
}

func newPseudonymizer(key ClusterKey) *pseudonymizer {
	if key == nil {
		return nil
	}
	return &pseudonymizer{key: key, rand: rand.Reader}
}
