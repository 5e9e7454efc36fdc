package consensus

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/store"
	"github.com/medchain/medchain/chain/types"
)

// ApplyResult is what FSM.Apply returns for a log entry; raft hands it to the
// proposer through ApplyFuture.Response.
type ApplyResult struct {
	Height  uint64     // the committed height (0 unless the block committed)
	Hash    types.Hash // the committed block hash
	Skipped bool       // the entry was at or below the stored applied index
	Err     error      // ErrRejected (deterministic) or ErrHalted (this node stopped)
}

// Committed describes a block the FSM just stored.
type Committed struct {
	Block *types.Block
	Hash  types.Hash
	Index uint64 // Raft log index
	// TxHashes are the hashes of Block.Txs, in order.
	TxHashes []types.Hash
}

// FSM is medchain's persistent Raft state machine over the Pebble store. It
// implements raft.FSM. Raft calls Apply, Snapshot and Restore from one
// goroutine; Store, WithStore, Err and Head are safe from any goroutine.
//
// Apply is deterministic: it reads only the entry, the store and the genesis,
// never the local clock (time.Now is read only to report apply latency).
type FSM struct {
	exec       *state.Executor
	genesis    *state.Genesis
	genState   types.Hash
	dir        string
	opts       store.Options
	verifySigs bool
	log        *slog.Logger
	metrics    Metrics

	// hooks, set before Raft starts
	onCommit func(*Committed)
	onReject func(b *types.Block, own []*pending, err error)
	onErase  func() // after a block that erased a patient

	mu sync.RWMutex
	// guards the following
	st *store.Store

	halt      atomic.Pointer[error]
	lastIndex atomic.Uint64 // last entry index applied, rejected or skipped

	// logBytes counts the bytes of the entries handed to Apply since the
	// last Snapshot (replayed ones included): the log a restart would read.
	// Once it reaches snapLogBytes (0: never), Apply signals snapWanted.
	logBytes     atomic.Int64
	snapLogBytes int64
	snapWanted   chan struct{} // capacity 1; nil without snapLogBytes

	cacheMu sync.Mutex
	// guards the following
	cache map[types.Hash]*proposal // blocks this node proposed, by block hash
}

// proposal is a block this node built as leader, kept until its entry comes
// back through Apply: the entry bytes identify it exactly, so Apply skips
// decoding the entry, hashing its txs and executing it a second time.
type proposal struct {
	entry  []byte // the Raft command proposing block (EncodeBlockEntry)
	block  *types.Block
	hashes []types.Hash // block.TxHashes()
	out    *state.Outcome
	keys   []PatientKey // the patient keys carried beside block
	// own are the signed txs the block was cut from, as admitted (a
	// redacted tx's signed form, not its redaction): what goes back to the
	// mempool if the block is rejected.
	own []*pending
}

var _ raft.FSM = (*FSM)(nil)

// newFSM wraps an open store. The store must hold the genesis (InitStore).
func newFSM(st *store.Store, dir string, opts store.Options, exec *state.Executor, verifySigs bool, log *slog.Logger, m Metrics) *FSM {
	_, h := exec.GenesisState()
	f := &FSM{exec: exec, genesis: exec.Genesis(), genState: h, dir: dir, opts: opts,
		verifySigs: verifySigs, log: log, metrics: m, st: st, cache: make(map[types.Hash]*proposal)}
	f.lastIndex.Store(st.AppliedIndex())
	return f
}

// Store returns the current store. A snapshot restore replaces it (the old
// one is closed): read through Store or WithStore each time, never keep it.
func (f *FSM) Store() *store.Store {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st
}

// WithStore calls fn with the current store, holding off a restore until fn
// returns.
func (f *FSM) WithStore(fn func(*store.Store) error) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return fn(f.st)
}

// Err returns nil, or the ErrHalted error that stopped the FSM.
func (f *FSM) Err() error {
	if p := f.halt.Load(); p != nil {
		return *p
	}
	return nil
}

// Halted reports whether the FSM stopped applying.
func (f *FSM) Halted() bool { return f.halt.Load() != nil }

// LastIndex is the last Raft index the FSM handled (applied, rejected or
// skipped as already applied).
func (f *FSM) LastIndex() uint64 { return f.lastIndex.Load() }

func (f *FSM) stop(err error) *ApplyResult {
	herr := fmt.Errorf("%w: %w", ErrHalted, err)
	if f.halt.CompareAndSwap(nil, &herr) {
		f.log.Error("consensus: FSM HALTED: this node stops applying and must not serve state; operator action needed",
			"err", err)
	}
	return &ApplyResult{Err: f.Err()}
}

// cacheProposal remembers a block this node built and executed as proposer
// (with block hash h), so its own Apply of the same entry skips the decode
// and the second execution.
func (f *FSM) cacheProposal(h types.Hash, p *proposal) {
	f.cacheMu.Lock()
	if len(f.cache) >= 8 { // few blocks in flight; stale entries are from failed proposals
		clear(f.cache)
	}
	f.cache[h] = p
	f.cacheMu.Unlock()
}

// takeProposal returns and forgets the cached proposal whose entry is
// exactly data, or nil. Comparing the bytes (not a digest) makes a match
// certain: the cached block is the one the entry encodes.
func (f *FSM) takeProposal(data []byte) *proposal {
	f.cacheMu.Lock()
	defer f.cacheMu.Unlock()
	for h, p := range f.cache {
		if bytes.Equal(p.entry, data) {
			delete(f.cache, h)
			return p
		}
	}
	return nil
}

func (f *FSM) dropProposal(h types.Hash) {
	f.cacheMu.Lock()
	delete(f.cache, h)
	f.cacheMu.Unlock()
}

// applyHook, when set (tests only, through export_test.go), runs at the
// start of every Apply with the entry's index: a seam to slow the FSM down
// and widen the windows between Raft and the FSM.
var applyHook atomic.Pointer[func(index uint64)]

// Apply implements raft.FSM.
func (f *FSM) Apply(l *raft.Log) any {
	if h := applyHook.Load(); h != nil {
		(*h)(l.Index)
	}
	f.countLog(len(l.Data))
	if err := f.Err(); err != nil {
		return &ApplyResult{Err: err}
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	st := f.st
	if l.Index <= st.AppliedIndex() {
		f.lastIndex.Store(max(f.lastIndex.Load(), l.Index))
		return &ApplyResult{Skipped: true}
	}
	kind, body := decodeEntry(l.Data)
	var res *ApplyResult
	switch kind {
	case EntryBlock:
		res = f.applyBlock(st, l.Index, body, f.takeProposal(l.Data), nil)
	case EntryBlockKeys:
		bk, err := decodeBlockKeys(body)
		if err != nil {
			res = f.reject(st, l.Index, nil, fmt.Errorf("%w: index %d: %v", ErrRejected, l.Index, err))
			break
		}
		res = f.applyBlock(st, l.Index, bk.Block, f.takeProposal(l.Data), bk.Keys)
	case 0:
		res = f.reject(st, l.Index, nil, fmt.Errorf("%w: empty log entry at index %d", ErrRejected, l.Index))
	default:
		res = f.stop(fmt.Errorf("%w: %s at index %d", ErrUnknownEntry, kind, l.Index))
	}
	if !f.Halted() {
		f.lastIndex.Store(l.Index)
	}
	return res
}

// countLog adds an entry of n bytes to the log since the last snapshot and
// asks for a snapshot once it reaches snapLogBytes. It never blocks and
// never touches state: when the snapshot comes is a local matter.
func (f *FSM) countLog(n int) {
	if f.snapLogBytes <= 0 {
		return
	}
	if f.logBytes.Add(int64(n)) >= f.snapLogBytes {
		select {
		case f.snapWanted <- struct{}{}:
		default:
		}
	}
}

// reject records a deterministic rejection: the applied index moves past the
// entry and nothing else changes.
// own are the signed txs b was cut from when this node proposed it (its
// cached proposal), else nil.
func (f *FSM) reject(st *store.Store, index uint64, b *types.Block, err error, own ...*pending) *ApplyResult {
	if serr := st.SetAppliedIndex(index); serr != nil {
		return f.stop(fmt.Errorf("set applied index %d after rejecting an entry: %w", index, serr))
	}
	f.log.Warn("consensus: committed entry rejected", "index", index, "err", err)
	f.metrics.BlockRejected()
	if b != nil && f.onReject != nil {
		f.onReject(b, own, err)
	}
	return &ApplyResult{Err: err}
}

// applyBlock applies the block entry body at index. p is this node's own
// proposal of exactly this entry (nil on followers and for blocks this node
// did not build): its decoded block, tx hashes and outcome stand in for the
// decode and the re-execution. Everything else is checked the same way.
//
// keys are the patient keys carried beside the block (EntryBlockKeys): they
// and the erasures the block applies go to the vault in the block's batch.
func (f *FSM) applyBlock(st *store.Store, index uint64, body []byte, p *proposal, keys []PatientKey) *ApplyResult {
	start := time.Now() // latency metric only; never reaches state
	var b *types.Block
	var hashes []types.Hash
	var out *state.Outcome
	if p != nil {
		b, hashes, out = p.block, p.hashes, p.out
	} else {
		var err error
		if b, err = types.DecodeBlock(body); err != nil {
			return f.reject(st, index, nil, fmt.Errorf("%w: index %d: %v", ErrRejected, index, err))
		}
		hashes = b.TxHashes()
	}
	hash := b.Hash()
	var own []*pending
	if p != nil {
		own = p.own
	}
	head, hasHead := st.Head()
	view := st
	if err := f.verifyHeader(view, head, hasHead, b, hashes, p != nil); err != nil {
		if errors.Is(err, state.ErrIO) {
			return f.stop(fmt.Errorf("verify block %d: %w", b.Header.Height, err))
		}
		return f.reject(st, index, b, fmt.Errorf("%w: height %d (%s): %w", ErrRejected, b.Header.Height, hash, err), own...)
	}
	prevState := f.genState
	if hasHead {
		prevState = head.StateHash
	}
	if out == nil {
		bc := state.BlockContext{Height: b.Header.Height, Time: b.Header.Time}
		var err error
		out, err = f.exec.ExecuteBlock(view, prevState, bc, b.Txs, state.ExecOptions{VerifySignatures: f.verifySigs, TxHashes: hashes})
		if err != nil {
			return f.stop(fmt.Errorf("execute block %d: %w", b.Header.Height, err))
		}
	}
	if got := types.ResultsHash(out.Results); got != b.Header.ResultsHash {
		return f.stop(fmt.Errorf("%w: block %d (%s): re-executed results hash %s, header says %s",
			ErrDivergence, b.Header.Height, hash, got, b.Header.ResultsHash))
	}
	if out.StateHash != b.Header.StateHash {
		return f.stop(fmt.Errorf("%w: block %d (%s): re-executed state hash %s, header says %s",
			ErrDivergence, b.Header.Height, hash, out.StateHash, b.Header.StateHash))
	}
	vault, erased, err := vaultWrites(st, b, keys, index)
	switch {
	case errors.Is(err, ErrRejected):
		return f.reject(st, index, b, err, own...)
	case err != nil:
		return f.stop(fmt.Errorf("vault writes of block %d: %w", b.Header.Height, err))
	}
	err = st.Commit(store.Commit{Block: b, Writes: out.Writes, AppliedIndex: index, TxHashes: hashes, Raw: body, Vault: vault})
	switch {
	case errors.Is(err, store.ErrLogMismatch), errors.Is(err, store.ErrNotNext), errors.Is(err, store.ErrInvalidBlock):
		return f.reject(st, index, b, fmt.Errorf("%w: height %d (%s): %w", ErrRejected, b.Header.Height, hash, err), own...)
	case err != nil:
		return f.stop(fmt.Errorf("commit block %d: %w", b.Header.Height, err))
	}
	ok := 0
	for _, r := range b.Results {
		if r.OK() {
			ok++
		}
	}
	f.metrics.BlockCommitted(b.Header.Height, len(b.Txs), ok, time.Since(start))
	if f.onCommit != nil {
		f.onCommit(&Committed{Block: b, Hash: hash, Index: index, TxHashes: hashes})
	}
	if erased && f.onErase != nil {
		f.onErase()
	}
	return &ApplyResult{Height: b.Header.Height, Hash: hash}
}

// firstPrevHash is the PrevHash block 1 must carry: the genesis hash, which
// binds the header chain to the chain definition.
func firstPrevHash(g *state.Genesis) types.Hash { return g.Hash() }

// verifyHeader checks everything about b that needs no execution. A returned
// error wrapping state.ErrIO is an I/O failure; any other is a rejection.
//
// own is set for this node's own proposal (the entry's bytes equal what it
// proposed): its tx root and results hash were computed from these very txs
// and results when the block was assembled, so they are not hashed again
// (with redacted txs the tx root hashes every stored body). The links and
// the proposer are checked for every block.
func (f *FSM) verifyHeader(view state.View, head types.Header, hasHead bool, b *types.Block, hashes []types.Hash, own bool) error {
	h := &b.Header
	if h.ChainID != f.genesis.ChainID {
		return fmt.Errorf("chain id %q, this chain is %q", h.ChainID, f.genesis.ChainID)
	}
	wantHeight, wantPrev, minTime := uint64(1), firstPrevHash(f.genesis), f.genesis.Time
	if hasHead {
		wantHeight, wantPrev, minTime = head.Height+1, head.Hash(), head.Time
	}
	if h.Height != wantHeight {
		return fmt.Errorf("height %d, want %d (another block already took this height)", h.Height, wantHeight)
	}
	if h.PrevHash != wantPrev {
		return fmt.Errorf("prev hash %s, want %s (another block already took this height)", h.PrevHash, wantPrev)
	}
	if h.Time < minTime {
		return fmt.Errorf("block time %d is before the previous block's %d", h.Time, minTime)
	}
	if err := f.verifyProposer(view, b); err != nil {
		return err
	}
	// Checked on own proposals too: every node must decide alike.
	if err := checkRedactions(b, f.genesis.Params.MaxTxBytes); err != nil {
		return err
	}
	if own {
		return nil
	}
	if root := types.TxRoot(b.Txs, hashes); root != h.TxRoot {
		return fmt.Errorf("tx root %s, txs hash to %s", h.TxRoot, root)
	}
	if rh := types.ResultsHash(b.Results); rh != h.ResultsHash {
		return fmt.Errorf("results hash %s, results hash to %s", h.ResultsHash, rh)
	}
	return nil
}

// checkRedactions refuses a new block whose redacted txs are not stored as
// a proposer seals them (types.Redaction.ValidateStored): each carries its
// sealed payload, within the chain's bound, and no digest beside it. A
// redaction that arrives pruned (only its digest) is refused too: a node
// prunes sealed payloads of blocks it accepted, by its own clock
// (chain/store Prune), never before; a block "pruned at birth" would commit
// clear fields that no sealed original backs, and the executor cannot tell
// (it sees only what pruning leaves, so that re-execution after pruning is
// unchanged). The check reads only the entry and the genesis: every node
// applies the same bytes from the Raft log, so all reject alike.
func checkRedactions(b *types.Block, maxTxBytes int) error {
	for i, tx := range b.Txs {
		r := tx.Redaction
		if r == nil {
			continue
		}
		if r.Pruned() {
			return fmt.Errorf("tx %d (%s) is redacted without its sealed payload: a new block carries every sealed payload", i, r.Original)
		}
		if err := r.ValidateStored(maxTxBytes); err != nil {
			return fmt.Errorf("tx %d (%s): %w", i, r.Original, err)
		}
	}
	return nil
}

// verifyProposer checks that the header is signed by a registered, unrevoked
// node identity (role "node", or a node registered at genesis).
func (f *FSM) verifyProposer(view state.View, b *types.Block) error {
	p := b.Header.Proposer
	if err := types.ValidateID("proposer", p); err != nil {
		return err
	}
	id, err := state.GetIdentity(view, p)
	if err != nil {
		return err // wraps state.ErrIO
	}
	if id == nil {
		return fmt.Errorf("proposer %q is not a registered identity", p)
	}
	if id.Revoked {
		return fmt.Errorf("proposer %q is revoked", p)
	}
	if !id.HasRole(types.RoleNode) && !(id.Kind == types.KindNode && id.Height == 0) {
		return fmt.Errorf("proposer %q is not a node (roles %v)", p, id.Roles)
	}
	if err := crypto.Verify(id.PublicKey, b.Header.SignBytes(), b.Signature); err != nil {
		return fmt.Errorf("proposer %q signature: %w", p, err)
	}
	return nil
}
