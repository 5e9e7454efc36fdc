package verify

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/transparency-dev/merkle/compact"

	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/store"
	"github.com/medchain/medchain/chain/types"
)

// Source is the stored chain being verified; chain/store implements it.
type Source interface {
	state.View
	state.Scanner
	Genesis() ([]byte, error)
	Head() (types.Header, bool)
	RawBlock(height uint64) ([]byte, error)
	TxIndexEntry(h types.Hash) (height uint64, index uint32, leaf uint64, err error)
	LogRoot(size uint64) (types.Hash, error)
	LogNodeCursor() *store.LogNodeCursor
}

// SealedSource is an optional extension of Source for stores that keep a
// copy of each redacted tx's sealed payload and prune sealed payloads under
// a retention policy (chain/store implements it). With it, Verify also
// checks, for every redacted tx, that its copy agrees with the block body
// (store.CheckSealedCopy) and that a pruned one lies at a height this node
// pruned.
type SealedSource interface {
	// SealedPayloads calls fn with the index and bytes of every sealed
	// payload copy kept for the block at height, in index order, until fn
	// returns false; sealed is valid only during the call.
	SealedPayloads(height uint64, fn func(index uint32, sealed []byte) bool) error
	// PrunedUpTo returns the highest height a pruning pass's mark reached
	// (0: this node pruned nothing).
	PrunedUpTo() (uint64, error)
}

var _ SealedSource = (*store.Store)(nil)

// maxFaults bounds a report: past it, verification stops.
const maxFaults = 100

// Verify checks src as described in the package doc. progress, if not nil,
// is called after each block with blocks done and total. An error means the
// verification itself could not run (no genesis, context cancelled); faults
// in the data are in the report.
func Verify(ctx context.Context, src Source, opts Options, progress func(done, total uint64)) (*Report, error) {
	start := time.Now()
	graw, err := src.Genesis()
	if err != nil {
		return nil, fmt.Errorf("verify: read genesis: %w", err)
	}
	g, err := state.DecodeGenesis(graw)
	if err != nil {
		return nil, fmt.Errorf("verify: genesis does not decode: %w", err)
	}
	ex, err := state.NewExecutor(g)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	head, ok := src.Head()
	rep := &Report{From: max(opts.From, 1), To: opts.To}
	if !ok {
		rep.OK, rep.From, rep.To = true, 0, 0
		rep.Checked = []string{"no blocks yet"}
		return rep, nil
	}
	if rep.To == 0 || rep.To > head.Height {
		rep.To = head.Height
	}
	if rep.From > rep.To {
		return nil, fmt.Errorf("verify: from %d is above to %d", rep.From, rep.To)
	}
	v := &verifier{src: src, g: g, ex: ex, rep: rep, opts: opts, full: rep.From == 1}
	if v.full {
		v.scratch = state.NewMemView()
		v.written = map[string]uint64{}
		ws, h := ex.GenesisState()
		v.scratch.Apply(ws, nil)
		v.stateHash = h
		v.prevHash = g.Hash()
		v.log = (&compact.RangeFactory{Hash: types.LogHasher.HashChildren}).NewEmptyRange(0)
		v.nodes = src.LogNodeCursor()
		defer v.nodes.Close()
		rep.Checked = []string{"hash links from genesis", "header signatures", "tx roots", "results hashes",
			"log roots and every stored log node", "tx index", "state re-execution", "final state against stored state"}
	} else {
		prev, err := v.block(rep.From - 1)
		if err != nil {
			return nil, fmt.Errorf("verify: cannot start at %d: %w", rep.From, err)
		}
		v.prevHash, v.prevTime, v.prevLogSize = prev.Hash(), prev.Header.Time, prev.Header.LogSize
		rep.Checked = []string{"hash links", "header signatures (current keys)", "tx roots", "results hashes", "log roots against stored nodes", "tx index"}
	}
	if ss, ok := src.(SealedSource); ok {
		top, err := ss.PrunedUpTo()
		if err != nil {
			v.fault(0, "pruning marks: %v", err)
		}
		v.sealed, v.prunedUpTo = ss, top
		rep.Checked = append(rep.Checked, "redactions as stored, sealed payload copies and pruned heights")
	}
	if opts.Signatures {
		rep.Checked = append(rep.Checked, "tx signatures")
	}
	total := rep.To - rep.From + 1
	for h := rep.From; h <= rep.To && len(rep.Faults) < maxFaults && !v.stopped; h++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("verify: %w", err)
		}
		if err := v.verifyBlock(h); err != nil {
			return nil, err
		}
		if progress != nil {
			progress(h-rep.From+1, total)
		}
	}
	if v.full && !v.stopped && len(rep.Faults) < maxFaults && rep.To == head.Height {
		if err := v.compareState(); err != nil {
			return nil, err
		}
	}
	rep.Redacted, rep.AttestedOnly, rep.Pruned = v.redacted.Load(), v.attested.Load(), v.pruned.Load()
	slices.SortStableFunc(rep.Faults, func(a, b Fault) int { return cmp.Compare(faultOrder(a), faultOrder(b)) })
	rep.OK = len(rep.Faults) == 0
	rep.Seconds = time.Since(start).Seconds()
	if rep.Seconds > 0 {
		rep.TxsPerSec = float64(rep.Txs) / rep.Seconds
	}
	return rep, nil
}

// faultOrder sorts faults by height, state-wide faults (height 0) last.
func faultOrder(f Fault) uint64 {
	if f.Height == 0 {
		return ^uint64(0)
	}
	return f.Height
}

type verifier struct {
	faultMu sync.Mutex // fault is called from the storage checks and the signature checks at once

	redacted, attested atomic.Uint64 // redacted txs seen, and those only attested (signature checks)
	pruned             atomic.Uint64 // of the attested, those whose sealed payload was pruned

	src  Source
	g    *state.Genesis
	ex   *state.Executor
	rep  *Report
	opts Options
	full bool
	// sealed is src's SealedSource (nil: src keeps no copies), prunedUpTo
	// its highest pruning mark.
	sealed     SealedSource
	prunedUpTo uint64

	prevHash    types.Hash
	prevTime    int64
	prevLogSize uint64
	// full verification only
	scratch   *state.MemView
	written   map[string]uint64 // state key -> height that last wrote it
	stateHash types.Hash
	log       *compact.Range
	diverged  bool                 // re-execution already disagreed: later state checks would only repeat it
	logBroken bool                 // the rebuilt log already disagreed: later log checks would only repeat it
	stopped   bool                 // a block could not be read: nothing after it can be checked
	nodes     *store.LogNodeCursor // full verification: the stored log, read in order
}

func (v *verifier) fault(height uint64, format string, args ...any) {
	v.faultMu.Lock()
	defer v.faultMu.Unlock()
	if len(v.rep.Faults) < maxFaults {
		v.rep.Faults = append(v.rep.Faults, Fault{Height: height, What: fmt.Sprintf(format, args...)})
	}
}

func (v *verifier) block(h uint64) (*types.Block, error) {
	raw, err := v.src.RawBlock(h)
	if err != nil {
		return nil, err
	}
	b, err := types.DecodeBlock(raw)
	if err != nil {
		return nil, err
	}
	if b.Header.Height != h {
		return nil, fmt.Errorf("block stored at height %d says height %d", h, b.Header.Height)
	}
	return b, nil
}

func (v *verifier) verifyBlock(h uint64) error {
	b, err := v.block(h)
	if err != nil {
		v.fault(h, "block unreadable: %v", err)
		// Without this block the links, log and state after it cannot be checked.
		v.stopped = true
		return nil
	}
	hd := &b.Header
	v.rep.Blocks++
	v.rep.Txs += uint64(len(b.Txs))
	if hd.ChainID != v.g.ChainID {
		v.fault(h, "header chain id %q, genesis says %q", hd.ChainID, v.g.ChainID)
	}
	if hd.PrevHash != v.prevHash {
		v.fault(h, "prev hash %s does not link to the previous block %s", hd.PrevHash, v.prevHash)
	}
	if hd.Time < v.prevTime {
		v.fault(h, "block time %d is before the previous block's %d", hd.Time, v.prevTime)
	}
	v.checkProposer(b)
	hashes := b.TxHashes()
	if got := types.TxRoot(b.Txs, hashes); got != hd.TxRoot {
		v.fault(h, "tx root %s does not match the txs (%s)", hd.TxRoot, got)
	}
	if got := types.ResultsHash(b.Results); got != hd.ResultsHash {
		v.fault(h, "results hash %s does not match the results (%s)", hd.ResultsHash, got)
	}
	// The stored log, the tx index, the signatures and re-execution are
	// checked at once: the first two are Pebble reads, the signatures fill
	// the cores, and re-execution (serial) writes the scratch state, so the
	// signature checks take their keys from it before it starts.
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); v.checkLog(b, hashes) }()
	go func() { defer wg.Done(); v.checkTxIndex(b, hashes) }()
	go func() { defer wg.Done(); v.checkRedactions(b) }()
	var sigOK []bool
	if v.opts.Signatures {
		keys := v.signerKeys(b)
		wg.Add(1)
		go func() { defer wg.Done(); sigOK = v.checkSignatures(b, keys) }()
	}
	var out *state.Outcome
	var execErr error
	if v.full {
		out, execErr = v.ex.ExecuteBlock(v.scratch, v.stateHash, state.BlockContext{Height: h, Time: hd.Time}, b.Txs,
			state.ExecOptions{TxHashes: hashes})
	}
	wg.Wait()
	if execErr != nil {
		return fmt.Errorf("verify: re-execute height %d: %w", h, execErr)
	}
	if v.full {
		v.reexecuted(b, hashes, out, sigOK)
	}
	v.prevHash, v.prevTime, v.prevLogSize = b.Hash(), hd.Time, hd.LogSize
	return nil
}

// identityView is the state the proposer's and signers' keys come from: the
// re-executed state at the previous height, or the stored state.
func (v *verifier) identityView() state.View {
	if v.full {
		return v.scratch
	}
	return v.src
}

func (v *verifier) checkProposer(b *types.Block) {
	h := b.Header.Height
	id, err := state.GetIdentity(v.identityView(), b.Header.Proposer)
	switch {
	case err != nil:
		v.fault(h, "proposer %q: %v", b.Header.Proposer, err)
	case id == nil:
		v.fault(h, "proposer %q is not a registered identity", b.Header.Proposer)
	case id.Revoked:
		v.fault(h, "proposer %q was revoked", b.Header.Proposer)
	case !id.HasRole(types.RoleNode):
		v.fault(h, "proposer %q does not hold the node role", b.Header.Proposer)
	default:
		if err := crypto.Verify(id.KeyAt(h), b.Header.SignBytes(), b.Signature); err != nil {
			v.fault(h, "header signature of %q: %v", b.Header.Proposer, err)
		}
	}
}

func (v *verifier) checkLog(b *types.Block, hashes []types.Hash) {
	h := &b.Header
	if want := v.prevLogSize + uint64(len(hashes)); h.LogSize != want {
		v.fault(h.Height, "log size %d, want %d (previous %d + %d txs)", h.LogSize, want, v.prevLogSize, len(hashes))
	}
	if !v.full {
		if root, err := v.src.LogRoot(h.LogSize); err != nil {
			v.fault(h.Height, "log root at size %d: %v", h.LogSize, err)
		} else if root != h.LogRoot {
			v.fault(h.Height, "stored log nodes give root %s at size %d, header says %s", root, h.LogSize, h.LogRoot)
		}
		return
	}
	found := false
	logFault := func(format string, args ...any) {
		found = true
		if !v.logBroken {
			v.fault(h.Height, format, args...)
		}
	}
	defer func() {
		if found {
			// Every later node and root hashes over this one: report the first
			// divergence only.
			v.logBroken = true
		}
	}()
	for _, th := range hashes {
		err := v.log.Append(types.LogHasher.HashLeaf(th[:]), func(id compact.NodeID, hash []byte) {
			stored, err := v.nodes.Node(id.Level, id.Index)
			if err != nil {
				logFault("log node (%d, %d): %v", id.Level, id.Index, err)
			} else if !bytes.Equal(stored[:], hash) {
				logFault("log node (%d, %d) is %x, rebuilt %x", id.Level, id.Index, stored[:8], hash[:8])
			}
		})
		if err != nil {
			v.fault(h.Height, "rebuild log: %v", err)
			return
		}
	}
	root, err := v.log.GetRootHash(nil)
	if err != nil {
		v.fault(h.Height, "rebuild log root: %v", err)
		return
	}
	if types.Hash(root) != h.LogRoot {
		logFault("log root %s, rebuilt %s", h.LogRoot, types.Hash(root))
	}
}

func (v *verifier) checkTxIndex(b *types.Block, hashes []types.Hash) {
	h := b.Header.Height
	for i, th := range hashes {
		height, idx, leaf, err := v.src.TxIndexEntry(th)
		if err != nil {
			v.fault(h, "tx %d (%s): index entry: %v", i, th, err)
			continue
		}
		if b.Results[i].Code == types.CodeReplay {
			if height > h || (height == h && idx >= uint32(i)) {
				v.fault(h, "tx %d (%s) is a replay but the index points at %d/%d, not an earlier copy", i, th, height, idx)
			}
			continue
		}
		if height != h || idx != uint32(i) {
			v.fault(h, "tx %d (%s): index points at %d/%d", i, th, height, idx)
			continue
		}
		if want := b.Header.LogSize - uint64(len(hashes)) + uint64(i); leaf != want {
			v.fault(h, "tx %d (%s): log leaf index %d, want %d", i, th, leaf, want)
		}
	}
}

// checkRedactions checks every redacted tx of b as stored: its redaction
// is one a new block may carry (types.Redaction.ValidateStored), the
// block's sealed payload copies agree with the body (store.CheckSealedCopy:
// one for each redacted tx whose body holds the payload, equal to it, and
// no other), and a pruned one lies at a height this node pruned. The consensus FSM refuses a block
// whose redaction arrives pruned, so a pruned payload above every pruning
// mark was not pruned by this node's passes: it is a fault (a block stored
// pruned at birth, or a body rewritten by something else), unless its
// patient was erased at that height or later, whose erased pass prunes
// the events recorded before the erasure before its mark moves there.
func (v *verifier) checkRedactions(b *types.Block) {
	if v.sealed == nil {
		return
	}
	h := b.Header.Height
	for i, tx := range b.Txs {
		r := tx.Redaction
		if r == nil {
			continue
		}
		if err := r.ValidateStored(v.g.Params.MaxTxBytes); err != nil {
			v.fault(h, "tx %d (%s): stored redaction: %v", i, r.Original, err)
		}
		if r.Pruned() && h > v.prunedUpTo && !v.erasedAfter(h, tx) {
			v.fault(h, "tx %d (%s) is stored pruned, but this node pruned no block above height %d (a block is never committed pruned)",
				i, r.Original, v.prunedUpTo)
		}
	}
	// The block's copies, in index order beside its txs: one range read.
	next := 0 // txs before next were checked
	check := func(i int, cp []byte, found bool) {
		var tx *types.Tx
		if i < len(b.Txs) {
			tx = b.Txs[i]
		}
		if err := store.CheckSealedCopy(h, uint32(i), tx, cp, found); err != nil {
			if tx != nil {
				v.fault(h, "tx %d (%s): %v", i, tx.Hash(), err)
			} else {
				v.fault(h, "%v", err)
			}
		}
	}
	err := v.sealed.SealedPayloads(h, func(index uint32, cp []byte) bool {
		for ; next < len(b.Txs) && next < int(index); next++ {
			check(next, nil, false)
		}
		check(int(index), cp, true)
		next = int(index) + 1
		return true
	})
	if err != nil {
		v.fault(h, "sealed payload copies: %v", err)
		return
	}
	for ; next < len(b.Txs); next++ {
		check(next, nil, false)
	}
}

// erasedAfter reports whether the patient tx (a redacted tx at height h)
// names was erased at height h or above, in the stored state (an event
// may precede its patient's erasure in the same block).
func (v *verifier) erasedAfter(h uint64, tx *types.Tx) bool {
	p, err := tx.DecodePayload()
	if err != nil {
		return false
	}
	e, err := state.GetErasure(v.src, types.PatientOf(p))
	return err == nil && e != nil && e.Height >= h
}

// unredact opens a redacted tx with the Opener, if any.
func (v *verifier) unredact(tx *types.Tx) (*types.Tx, bool, error) {
	if v.opts.Opener == nil {
		return nil, false, nil
	}
	return v.opts.Opener.Unredact(tx)
}

// signerKeys returns the key that signs for each distinct signer of b at
// b's height (state.Identity.KeyAt), read from the state at the previous
// height or, from a later start, at the head: a key rotated after b does not
// invalidate it, and a retired key does not sign after its rotation (nil for
// a signer unknown there).
func (v *verifier) signerKeys(b *types.Block) map[string]*crypto.PublicKey {
	view := v.identityView()
	keys := make(map[string]*crypto.PublicKey, 4)
	for _, tx := range b.Txs {
		if _, done := keys[tx.Signer]; done {
			continue
		}
		var k *crypto.PublicKey
		if id, err := state.GetIdentity(view, tx.Signer); err == nil && id != nil {
			key := id.KeyAt(b.Header.Height)
			k = &key
		}
		keys[tx.Signer] = k
	}
	return keys
}

// checkSignatures verifies every tx signature in parallel against the key
// that signs for its signer at the block's height (keys, from signerKeys). A signer
// registered in this very block has no key yet there: reexecuted checks
// those against the result.
func (v *verifier) checkSignatures(b *types.Block, keys map[string]*crypto.PublicKey) []bool {
	ok := make([]bool, len(b.Txs))
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < len(b.Txs); i += workers {
				tx := b.Txs[i]
				if tx.Redaction != nil {
					v.redacted.Add(1)
					if tx.Redaction.Pruned() { // retention: the tx root holds its hash, nothing opens it
						v.pruned.Add(1)
						v.attested.Add(1)
						ok[i] = true
						continue
					}
					orig, opened, err := v.unredact(tx)
					if err != nil {
						v.fault(b.Header.Height, "tx %d (%s) is redacted, but its opened original does not match: %v", i, tx.Hash(), err)
						continue
					}
					if !opened {
						v.attested.Add(1)
						ok[i] = true // vouched for by the proposer's header only
						continue
					}
					tx = orig
				}
				if k := keys[tx.Signer]; k != nil {
					ok[i] = tx.VerifySignature(*k) == nil
				}
			}
		}(w)
	}
	wg.Wait()
	if !v.full {
		for i, r := range b.Results {
			if r.OK() && !ok[i] {
				v.fault(b.Header.Height, "tx %d (%s) was applied but its signature does not verify against %q", i, b.Txs[i].Hash(), b.Txs[i].Signer)
			}
		}
	}
	return ok
}

// reexecuted compares the re-execution of b (out) with what the block
// records, then moves the scratch state to the block's height.
func (v *verifier) reexecuted(b *types.Block, hashes []types.Hash, out *state.Outcome, sigOK []bool) {
	h := b.Header.Height
	for i, r := range out.Results {
		if i < len(b.Results) && (r.Code != b.Results[i].Code || r.Reason != b.Results[i].Reason) && !v.diverged {
			v.fault(h, "tx %d (%s): re-execution gives %s (%s), block records %s (%s)", i, hashes[i], r.Code, r.Reason, b.Results[i].Code, b.Results[i].Reason)
		}
	}
	if types.ResultsHash(out.Results) != b.Header.ResultsHash && !v.diverged {
		v.fault(h, "re-executed results do not match the header's results hash")
		v.diverged = true
	}
	if out.StateHash != b.Header.StateHash && !v.diverged {
		v.fault(h, "re-executed state hash %s, header says %s", out.StateHash, b.Header.StateHash)
		v.diverged = true
	}
	v.scratch.Apply(out.Writes, hashes)
	for _, w := range out.Writes {
		v.written[string(w.Key)] = h
	}
	v.stateHash = out.StateHash
	for i, r := range out.Results {
		if sigOK != nil && r.OK() && !sigOK[i] {
			// Either a bad signature, or a signer registered in this block:
			// check against the key the block leaves.
			tx := b.Txs[i]
			if tx.Redaction != nil { // only an opened one reaches here (checkSignatures)
				if orig, opened, err := v.unredact(tx); err == nil && opened {
					tx = orig
				}
			}
			id, _ := state.GetIdentity(v.scratch, tx.Signer)
			if id == nil || tx.VerifySignature(id.KeyAt(h)) != nil {
				v.fault(h, "tx %d (%s) was applied but its signature does not verify against %q", i, hashes[i], b.Txs[i].Signer)
			}
		}
	}
}

// compareState compares the re-executed state with the stored state, key by
// key, in one ordered pass over each.
func (v *verifier) compareState() error {
	seen := 0
	err := v.src.Scan(nil, nil, false, func(k, val []byte) bool {
		want, ok := v.scratch.KV[string(k)]
		switch {
		case !ok:
			v.fault(0, "stored state key %q was never written by any block", k)
		case !bytes.Equal(want, val):
			v.fault(v.written[string(k)], "stored state key %q differs from re-execution (last written at height %d)", k, v.written[string(k)])
			seen++
		default:
			seen++
		}
		return len(v.rep.Faults) < maxFaults
	})
	if err != nil {
		return fmt.Errorf("verify: scan stored state: %w", err)
	}
	if seen < len(v.scratch.KV) && len(v.rep.Faults) < maxFaults {
		for k := range v.scratch.KV {
			if _, found, err := v.src.Get([]byte(k)); err == nil && !found {
				v.fault(v.written[k], "state key %q written at height %d is missing from the store", k, v.written[k])
			}
		}
	}
	return nil
}
