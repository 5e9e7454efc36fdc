package consensus

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/medchain/medchain/chain/codec"
	"github.com/medchain/medchain/chain/crypto/seal"
	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/store"
	"github.com/medchain/medchain/chain/types"
)

// Erasure (crypto-shredding). A committed patient_erase deletes, in its
// block's own Pebble batch, the patient's mapping and wrapped key from the
// vault and writes a tombstone. Copies may remain elsewhere on the node, so
// each node then runs these steps on its own (the eraser goroutine), and
// patient_erasure_status reports them, checked live where possible:
//
//  1. mapping_deleted: the vault has no mapping for the patient (live).
//  2. pebble_compacted: memtables flushed and the vault keyspace compacted
//     through every level, so no live sstable holds the deleted record.
//  3. raft_log_compacted: a Raft snapshot was taken after step 2 with
//     TrailingLogs set to 0 for it, so raft-boltdb deleted every entry up to
//     the snapshot, those that carried the wrapped key included (live: the
//     log's first index is past the erasure entry).
//  4. snapshots_pruned: every snapshot older than that one is deleted (live:
//     no retained snapshot predates it).
//
// What this does not reach, and the docs say so: bytes of deleted records may
// survive in free pages of raft.db (bbolt does not zero them), in a recycled
// Pebble WAL file (only with the WAL turned on: FSMStoreOptions has none) and
// in filesystem blocks until overwritten. Every such copy
// is the key wrapped under the cluster key, never the key in clear.

// eraseProgress is this node's clean-up record for one erased patient.
type eraseProgress struct {
	Compacted     bool   `cbor:"1,keyasint"`
	SnapshotIndex uint64 `cbor:"2,keyasint"` // the snapshot taken after compaction
}

// vaultWrites returns the vault writes of block b (entry at index) with new
// keys: the keys' mappings and the heights they came at (keyHeight: b's),
// then for every applied patient_erase the deletion
// of its patient's mapping and a tombstone. A key that names an already
// mapped or erased patient rejects the block (invariant 1 in pseudonym.go).
func vaultWrites(st *store.Store, b *types.Block, keys []PatientKey, index uint64) (ws []state.Write, erased bool, err error) {
	byPseudonym := map[string][32]byte{}
	for _, k := range keys {
		for _, kind := range []byte{vaultMapping, vaultTombstone} {
			_, found, err := st.VaultGet(vaultKey(kind, k.MAC[:]))
			if err != nil {
				return nil, false, fmt.Errorf("%w: %v", state.ErrIO, err)
			}
			if found {
				return nil, false, fmt.Errorf("%w: block %d introduces a second key for a patient already mapped or erased", ErrRejected, b.Header.Height)
			}
		}
		if _, dup := byPseudonym[k.Pseudonym]; dup {
			return nil, false, fmt.Errorf("%w: block %d introduces pseudonym %s twice", ErrRejected, b.Header.Height, k.Pseudonym)
		}
		byPseudonym[k.Pseudonym] = k.MAC
		ws = append(ws,
			state.Write{Key: vaultKey(vaultMapping, k.MAC[:]), Value: codec.MustMarshal(&vaultEntry{Pseudonym: k.Pseudonym, Wrapped: k.Wrapped})},
			state.Write{Key: vaultKey(vaultReverse, []byte(k.Pseudonym)), Value: append([]byte(nil), k.MAC[:]...)},
			state.Write{Key: vaultKey(vaultKeyHeight, []byte(k.Pseudonym)), Value: codec.MustMarshal(&keyHeight{Height: b.Header.Height})})
	}
	for i, tx := range b.Txs {
		if tx.Type != types.TxPatientErase || tx.Redaction == nil || !b.Results[i].OK() {
			continue
		}
		pl, err := tx.DecodePayload()
		if err != nil {
			continue // an applied tx decodes; nothing to erase otherwise
		}
		ps := types.PatientOf(pl)
		mac, ok := byPseudonym[ps]
		if !ok {
			v, found, err := st.VaultGet(vaultKey(vaultReverse, []byte(ps)))
			if err != nil {
				return nil, false, fmt.Errorf("%w: %v", state.ErrIO, err)
			}
			if !found || len(v) != len(mac) {
				continue // not in this node's vault: nothing to delete
			}
			copy(mac[:], v)
		}
		ws = append(ws,
			state.Write{Key: vaultKey(vaultMapping, mac[:]), Delete: true},
			state.Write{Key: vaultKey(vaultReverse, []byte(ps)), Delete: true},
			state.Write{Key: vaultKey(vaultTombstone, mac[:]), Value: codec.MustMarshal(&tombstone{Index: index})})
		erased = true
	}
	return ws, erased, nil
}

// runEraser completes erasures on this node: at start (for erasures applied
// before a crash or received in a snapshot) and after every block that
// erased a patient. It runs until the node closes.
func (n *Node) runEraser() {
	defer n.wg.Done()
	for {
		if err := n.completeErasures(); err != nil && !errors.Is(err, ErrClosed) {
			n.log.Warn("consensus: erasure clean-up incomplete; will retry", "err", err)
		}
		select {
		case <-n.done:
			return
		case <-n.eraseCh:
		case <-time.After(n.cfg.SnapshotInterval):
		}
	}
}

// signalErase runs on the FSM goroutine after a block that erased a
// patient: it drops the leader's patient cache (whose keys are destroyed:
// patientCache invariant 2) and wakes the eraser (never blocks).
func (n *Node) signalErase() {
	n.pseudo.dropPatientCache()
	select {
	case n.eraseCh <- struct{}{}:
	default:
	}
}

func (n *Node) progressKey(mac []byte) []byte {
	k := append([]byte{vaultProgress}, n.cfg.NodeID...)
	return append(append(k, 0), mac...)
}

// pendingErasures lists the MACs of erased patients whose clean-up on this
// node is not complete, with their tombstones and progress.
func (n *Node) pendingErasures(st *store.Store) (macs [][]byte, tombs []tombstone, progs []eraseProgress, err error) {
	var derr error
	err = st.VaultScan([]byte{vaultTombstone}, func(k, v []byte) bool {
		var t tombstone
		if derr = codec.Unmarshal(v, &t); derr != nil {
			return false
		}
		mac := append([]byte(nil), k[1:]...)
		var p eraseProgress
		pb, found, gerr := st.VaultGet(n.progressKey(mac))
		if gerr != nil {
			derr = gerr
			return false
		}
		if found {
			if derr = codec.Unmarshal(pb, &p); derr != nil {
				return false
			}
		}
		if !n.erasureDone(st, mac, t, p) {
			macs, tombs, progs = append(macs, mac), append(tombs, t), append(progs, p)
		}
		return true
	})
	return macs, tombs, progs, errors.Join(err, derr)
}

// completeErasures runs the clean-up steps for every pending erasure: one
// compaction and one snapshot cover them all.
func (n *Node) completeErasures() error {
	st := n.fsm.Store()
	macs, tombs, progs, err := n.pendingErasures(st)
	if err != nil || len(macs) == 0 {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// Step 2: no live sstable or memtable may hold the deleted records.
	if err := n.fsm.WithStore(func(st *store.Store) error { return st.CompactVault(ctx) }); err != nil {
		return err
	}
	for i := range macs {
		progs[i].Compacted = true
		if err := n.saveProgress(macs[i], progs[i]); err != nil {
			return err
		}
	}
	// Step 3: a snapshot after the compaction, with the log compacted up to it.
	idx, err := n.snapshotNoTrailing()
	if err != nil {
		return err
	}
	for i := range macs {
		if idx >= tombs[i].Index {
			progs[i].SnapshotIndex = idx
			if err := n.saveProgress(macs[i], progs[i]); err != nil {
				return err
			}
		}
	}
	// Step 4: older snapshots hold checkpoints taken before the erasure.
	return n.pruneSnapshots(idx)
}

func (n *Node) saveProgress(mac []byte, p eraseProgress) error {
	return n.fsm.WithStore(func(st *store.Store) error { return st.VaultSet(n.progressKey(mac), codec.MustMarshal(&p)) })
}

// snapshotNoTrailing takes a Raft snapshot with TrailingLogs 0, so Raft
// deletes every log entry up to it, and returns its index.
func (n *Node) snapshotNoTrailing() (uint64, error) {
	n.snapMu.Lock()
	defer n.snapMu.Unlock()
	cfg := n.raft.ReloadableConfig()
	tmp := cfg
	tmp.TrailingLogs = 0
	if err := n.raft.ReloadConfig(tmp); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrSnapshot, err)
	}
	f := n.raft.Snapshot()
	err := f.Error()
	if rerr := n.raft.ReloadConfig(cfg); rerr != nil {
		n.log.Error("consensus: restore trailing logs after an erasure snapshot", "err", rerr)
	}
	if err != nil {
		return 0, fmt.Errorf("%w: erasure snapshot: %w", ErrSnapshot, err)
	}
	meta, rc, err := f.Open()
	if err != nil {
		return 0, fmt.Errorf("%w: erasure snapshot: %w", ErrSnapshot, err)
	}
	rc.Close()
	return meta.Index, nil
}

// pruneSnapshots deletes every retained snapshot older than index.
func (n *Node) pruneSnapshots(index uint64) error {
	metas, err := n.snaps.List()
	if err != nil {
		return fmt.Errorf("%w: list: %w", ErrSnapshot, err)
	}
	for _, m := range metas {
		if m.Index >= index {
			continue
		}
		if err := os.RemoveAll(filepath.Join(n.cfg.RaftDir(), "snapshots", m.ID)); err != nil {
			return fmt.Errorf("%w: remove %s: %w", ErrSnapshot, m.ID, err)
		}
	}
	return nil
}

// raftLogFirst returns the first index in the Raft log (0: empty).
func (n *Node) raftLogFirst() (uint64, error) { return n.logs.FirstIndex() }

// erasureDone reports whether every clean-up step of an erasure is complete
// on this node, checking the Raft log and the snapshots live.
func (n *Node) erasureDone(st *store.Store, mac []byte, t tombstone, p eraseProgress) bool {
	steps, err := n.erasureSteps(st, mac, t, p)
	if err != nil {
		return false
	}
	for _, s := range steps {
		if !s.Done {
			return false
		}
	}
	return true
}

// ErasureStep is one clean-up step of an erasure on one node.
type ErasureStep struct {
	Name     string `json:"name"`
	Done     bool   `json:"done"`
	Evidence string `json:"evidence"`
}

// erasureSteps reports each clean-up step of the erasure of the patient
// whose id has MAC mac, every one checked live: the vault read for the
// mapping, the progress record for the compaction, the Raft log and the
// snapshot store for the rest.
func (n *Node) erasureSteps(st *store.Store, mac []byte, t tombstone, p eraseProgress) ([]ErasureStep, error) {
	_, mapped, err := st.VaultGet(vaultKey(vaultMapping, mac))
	if err != nil {
		return nil, err
	}
	first, err := n.raftLogFirst()
	if err != nil {
		return nil, err
	}
	metas, err := n.snaps.List()
	if err != nil {
		return nil, err
	}
	older := 0
	for _, m := range metas {
		if p.SnapshotIndex == 0 || m.Index < p.SnapshotIndex {
			older++
		}
	}
	logDone := p.SnapshotIndex >= t.Index && (first == 0 || first > t.Index)
	return []ErasureStep{
		{Name: "mapping_deleted", Done: !mapped, Evidence: mappingEvidence(mapped)},
		{Name: "pebble_compacted", Done: p.Compacted, Evidence: fmt.Sprintf("vault keyspace flushed and compacted: %v", p.Compacted)},
		{Name: "raft_log_compacted", Done: logDone, Evidence: fmt.Sprintf("erasure at raft index %d; raft log now starts at %d; snapshot after compaction at %d", t.Index, first, p.SnapshotIndex)},
		{Name: "snapshots_pruned", Done: p.SnapshotIndex > 0 && older == 0, Evidence: fmt.Sprintf("%d snapshot(s) retained, %d taken before the erasure clean-up", len(metas), older)},
	}, nil
}

func mappingEvidence(mapped bool) string {
	if mapped {
		return "the vault still holds a pseudonym and a wrapped key for this patient"
	}
	return "the vault holds no pseudonym or key for this patient (read now; deleted in the erasure block's batch)"
}

// ErasureStatus is patient_erasure_status on one node.
type ErasureStatus struct {
	NodeID   string        `json:"node_id"`
	Erased   bool          `json:"erased"`
	Complete bool          `json:"complete"` // every step done: no copy of the key left on this node
	Steps    []ErasureStep `json:"steps,omitempty"`
}

// ErasureSummary is every recorded erasure as this node sees it, for the
// compliance report: how many patient_erase txs the chain applied and how
// many of them this node has completed (no copy of the key left: every step
// of erasureSteps done, checked live).
type ErasureSummary struct {
	Recorded int `json:"recorded"`
	Complete int `json:"complete"`
	// Pending names, for each erasure not complete here, its Raft index and
	// the steps still to do.
	Pending []string `json:"pending,omitempty"`
}

// ErasureSummary scans this node's erasure tombstones. ErrNoClusterKey on a
// node without pseudonyms (nothing can be erased).
func (n *Node) ErasureSummary() (ErasureSummary, error) {
	var sum ErasureSummary
	if n.pseudo == nil {
		return sum, ErrNoClusterKey
	}
	err := n.fsm.WithStore(func(st *store.Store) error {
		var derr error
		err := st.VaultScan([]byte{vaultTombstone}, func(k, v []byte) bool {
			var t tombstone
			if derr = codec.Unmarshal(v, &t); derr != nil {
				derr = fmt.Errorf("%w: corrupt tombstone: %v", state.ErrIO, derr)
				return false
			}
			var p eraseProgress
			pb, found, gerr := st.VaultGet(n.progressKey(k[1:]))
			if gerr != nil {
				derr = gerr
				return false
			}
			if found {
				if derr = codec.Unmarshal(pb, &p); derr != nil {
					derr = fmt.Errorf("%w: corrupt erasure progress: %v", state.ErrIO, derr)
					return false
				}
			}
			steps, serr := n.erasureSteps(st, k[1:], t, p)
			if serr != nil {
				derr = serr
				return false
			}
			sum.Recorded++
			var todo []string
			for _, s := range steps {
				if !s.Done {
					todo = append(todo, s.Name)
				}
			}
			if len(todo) == 0 {
				sum.Complete++
			} else {
				sum.Pending = append(sum.Pending, fmt.Sprintf("erasure at raft index %d: %s", t.Index, strings.Join(todo, ", ")))
			}
			return true
		})
		return errors.Join(err, derr)
	})
	return sum, err
}

// ErasureStatus reports the erasure of patient (the real id) on this node.
// ErrPatientUnknown if the chain never recorded the patient; a recorded
// patient not erased has Erased false.
func (n *Node) ErasureStatus(patient string) (*ErasureStatus, error) {
	if n.pseudo == nil {
		return nil, ErrNoClusterKey
	}
	mac, err := n.pseudo.key.MAC([]byte(patient))
	if err != nil {
		return nil, err
	}
	out := &ErasureStatus{NodeID: n.cfg.NodeID}
	err = n.fsm.WithStore(func(st *store.Store) error {
		tb, found, err := st.VaultGet(vaultKey(vaultTombstone, mac[:]))
		if err != nil {
			return err
		}
		if !found {
			if _, mapped, err := st.VaultGet(vaultKey(vaultMapping, mac[:])); err != nil || !mapped {
				if err == nil {
					err = ErrPatientUnknown
				}
				return err
			}
			return nil
		}
		var t tombstone
		if err := codec.Unmarshal(tb, &t); err != nil {
			return fmt.Errorf("%w: corrupt tombstone: %v", state.ErrIO, err)
		}
		var p eraseProgress
		if pb, found, err := st.VaultGet(n.progressKey(mac[:])); err != nil {
			return err
		} else if found {
			if err := codec.Unmarshal(pb, &p); err != nil {
				return fmt.Errorf("%w: corrupt erasure progress: %v", state.ErrIO, err)
			}
		}
		steps, err := n.erasureSteps(st, mac[:], t, p)
		if err != nil {
			return err
		}
		out.Erased, out.Steps, out.Complete = true, steps, true
		for _, s := range steps {
			out.Complete = out.Complete && s.Done
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Patient resolves a patient id for a query: the pseudonym the chain records
// the patient under and the key that opens their sealed fields.
// ErrPatientErased for an erased patient, ErrPatientUnknown for an id never
// recorded, ErrNoClusterKey without a cluster key.
func (n *Node) Patient(patient string) (pseudonym string, key *seal.DataKey, err error) {
	if n.pseudo == nil {
		return "", nil, ErrNoClusterKey
	}
	var e *vaultEntry
	err = n.fsm.WithStore(func(st *store.Store) error {
		var err error
		mac, err := n.pseudo.key.MAC([]byte(patient))
		if err != nil {
			return err
		}
		e, err = lookupVault(st, mac)
		return err
	})
	if err != nil {
		return "", nil, err
	}
	if e == nil {
		return "", nil, ErrPatientUnknown
	}
	k, err := n.pseudo.unwrap(e.Pseudonym, e.Wrapped)
	if err != nil {
		return "", nil, err
	}
	return e.Pseudonym, k, nil
}

// PseudonymKey returns the data key of the patient recorded under
// pseudonym. ErrPatientErased once the key is destroyed (the mapping of an
// erased patient is gone, so the pseudonym no longer resolves). The key is
// the caller's for one request: never keep it, an erasure must be final.
func (n *Node) PseudonymKey(pseudonym string) (*seal.DataKey, error) {
	if n.pseudo == nil {
		return nil, ErrNoClusterKey
	}
	var e *vaultEntry
	err := n.fsm.WithStore(func(st *store.Store) error {
		v, found, err := st.VaultGet(vaultKey(vaultReverse, []byte(pseudonym)))
		if err != nil || !found {
			return err
		}
		var mac [32]byte
		copy(mac[:], v)
		e, err = lookupVault(st, mac)
		return err
	})
	if err != nil {
		return nil, err
	}
	if e == nil || e.Pseudonym != pseudonym {
		return nil, ErrPatientErased // only an erasure deletes a pseudonym's mapping
	}
	return n.pseudo.unwrap(e.Pseudonym, e.Wrapped)
}

// OpenSealed opens a redacted tx's sealed payload (its hash is original)
// recorded under pseudonym, with that patient's key: the signed payload.
// ErrPatientErased once the key is destroyed.
func (n *Node) OpenSealed(pseudonym string, sealed []byte, original types.Hash) ([]byte, error) {
	k, err := n.PseudonymKey(pseudonym)
	if err != nil {
		return nil, err
	}
	return k.Open(sealed, types.RedactionAAD(original))
}

// OpenRedacted returns the signed tx a redacted tx stands for, its hash and
// redaction checked (types.Unredact). ErrPatientErased once the key is
// destroyed; types.ErrPruned once this node pruned the sealed payload under
// its retention policy.
func (n *Node) OpenRedacted(tx *types.Tx) (*types.Tx, error) {
	if tx.Redaction == nil {
		return tx, nil
	}
	if tx.Redaction.Pruned() {
		return nil, fmt.Errorf("%w: tx %s", types.ErrPruned, tx.Redaction.Original)
	}
	pl, err := tx.DecodePayload()
	if err != nil {
		return nil, err
	}
	payload, err := n.OpenSealed(types.PatientOf(pl), tx.Redaction.Sealed, tx.Redaction.Original)
	if err != nil {
		return nil, err
	}
	return types.Unredact(tx, payload)
}

// dropCheckpointWAL deletes the write-ahead log files from a snapshot's
// checkpoint. Store.Checkpoint flushes the memtables first and only this
// goroutine (the FSM's) writes blocks, so every applied write is in the
// checkpoint's sstables; the WAL files Pebble copies in are redundant, and
// Pebble copies them whole: obsolete logs and recycled files whose stale
// bytes may hold vault records an erasure deleted (wrapped patient keys).
// A node's own erasure progress records written at the same instant may be
// left out of the snapshot; the eraser redoes what they would have saved.
func dropCheckpointWAL(fs vfs.FS, dir string) error {
	names, err := fs.List(dir)
	if err != nil {
		return err
	}
	for _, name := range names {
		if strings.HasSuffix(name, ".log") {
			if err := fs.Remove(fs.PathJoin(dir, name)); err != nil {
				return err
			}
		}
	}
	return nil
}
