package consensus

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hashicorp/raft"

	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/store"
	"github.com/medchain/medchain/chain/types"
)

// The proposer runs on the leader only. It cuts a block when MaxBlockTxs txs
// wait or MaxBlockDelay after the oldest arrived, executes it, fills and
// signs the header, and applies it through Raft. Up to MaxBlocksInFlight
// blocks are in Raft at once: block N+1 is built and executed on block N's
// outcome layered over the store (pendingView), so its header names N as
// prev and the FSM applies it only after N. If N does not commit, N+1 is
// rejected deterministically (prev hash mismatch, "first committed wins")
// or fails in Raft with it; either way the txs of both go back to the
// mempool. Txs of a block that did not commit go back to the mempool; a tx
// that did commit meanwhile is then refused as a replay by the executor, so
// the retry is harmless.

func (n *Node) runProposer() {
	defer n.wg.Done()
	leaderCh := n.raft.LeaderCh()
	for {
		select {
		case <-n.done:
			return
		case isLeader := <-leaderCh:
			if isLeader {
				n.lead(leaderCh)
			}
		}
	}
}

// lead proposes blocks until leadership is lost, the FSM halts or the node
// closes. It returns only once every block it proposed has resolved.
func (n *Node) lead(leaderCh <-chan bool) {
	// Apply everything committed in earlier terms before building on the head.
	for {
		err := n.await(n.raft.Barrier(n.cfg.ApplyTimeout))
		if err == nil {
			break
		}
		if errors.Is(err, ErrClosed) {
			return
		}
		n.log.Warn("consensus: leader barrier failed", "err", err)
		if n.raft.State() != raft.Leader {
			return
		}
		select {
		case <-n.done:
			return
		case <-time.After(n.cfg.CommitTimeout):
		}
	}
	n.setReady(true)
	defer n.setReady(false)
	defer n.pseudo.dropPatientCache() // after the flights below resolve: no key outlives leadership
	n.log.Info("consensus: leading", "height", n.Height())
	var flights []*flight // in Raft, oldest first
	defer func() {
		for _, fl := range flights {
			<-fl.done // resolves promptly once leadership is lost or the node closes (await)
		}
	}()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		for len(flights) > 0 && flights[0].resolved() {
			err := flights[0].err
			flights = flights[1:]
			if !n.keepLeading(err) {
				return
			}
		}
		if n.fsm.Halted() {
			return
		}
		n.m.MempoolSize(n.pool.len())
		wait := time.Hour
		if oldest, ok := n.pool.oldest(); ok && len(flights) < n.cfg.MaxBlocksInFlight {
			wait = time.Until(oldest.Add(n.cfg.MaxBlockDelay))
			if n.pool.len() >= n.cfg.MaxBlockTxs || wait <= 0 {
				var prev *flight
				if len(flights) > 0 {
					prev = flights[len(flights)-1]
				}
				fl, err := n.propose(n.pool.take(n.cfg.MaxBlockTxs, n.cfg.MaxBlockBytes), prev)
				if err != nil {
					if !n.keepLeading(err) {
						return
					}
					continue
				}
				flights = append(flights, fl)
				continue
			}
		}
		var resolved <-chan struct{}
		if len(flights) > 0 {
			resolved = flights[0].done
		}
		timer.Reset(wait)
		select {
		case <-n.done:
			return
		case isLeader := <-leaderCh:
			if !isLeader {
				return
			}
		case <-n.pool.ready:
		case <-resolved:
		case <-timer.C:
		}
	}
}

// keepLeading reports, after a block's outcome err (nil: committed), whether
// to keep proposing.
func (n *Node) keepLeading(err error) bool {
	switch {
	case err == nil:
		return true
	case errors.Is(err, ErrHalted), errors.Is(err, ErrClosed):
		return false
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrRaftShutdown):
		n.log.Info("consensus: stopped leading", "err", err)
		return false
	default:
		n.log.Warn("consensus: block not committed; txs returned to the mempool", "err", err)
		select { // back off briefly so a persistent failure does not spin
		case <-n.done:
			return false
		case <-time.After(n.cfg.MaxBlockDelay):
		}
		return n.raft.State() == raft.Leader
	}
}

func (n *Node) setReady(v bool) {
	n.leadMu.Lock()
	n.ready = v
	n.leadMu.Unlock()
}

// Ready reports whether this node leads and takes txs: its term-start
// barrier has applied and the FSM has not halted.
func (n *Node) Ready() bool {
	n.leadMu.Lock()
	defer n.leadMu.Unlock()
	return n.ready && n.fsm.Err() == nil
}

// Pending reports whether tx h waits in this node's mempool.
func (n *Node) Pending(h types.Hash) bool { return n.pool.contains(h) }

// BuildBlock executes txs on top of the current head and returns the signed
// block this node would propose at block time t (Unix ms, raised to the head's
// time if earlier) with its outcome. It does not apply it.
func (n *Node) BuildBlock(txs []*types.Tx, t int64) (*types.Block, *state.Outcome, error) {
	var b *types.Block
	var out *state.Outcome
	err := n.fsm.WithStore(func(st *store.Store) error {
		var err error
		b, out, err = n.build(st, txs, nil, t)
		return err
	})
	return b, out, err
}

func (n *Node) build(st *store.Store, txs []*types.Tx, hashes []types.Hash, now int64) (*types.Block, *state.Outcome, error) {
	var prev *types.Header
	if head, ok := st.Head(); ok {
		prev = &head
	}
	b, out, err := n.exec.AssembleBlockHashes(st, st, prev, now, txs, hashes, n.cfg.NodeID, n.key)
	if err != nil {
		return nil, nil, fmt.Errorf("consensus: %w", err)
	}
	return b, out, nil
}

// flight is a proposed block in Raft.
type flight struct {
	ps    []*pending
	block *types.Block
	hash  types.Hash
	out   *state.Outcome
	start time.Time
	done  chan struct{} // closed once the block committed or failed
	err   error         // nil if it committed; set before done closes
	keys  []PatientKey  // patient keys first drawn for this block (pseudonym.go)
	// inflight are the unresolved blocks this one was built on, oldest
	// first, at the time it was built: their keys count as applied.
	inflight []*flight
}

// unresolvedChain returns fl's still unresolved ancestors and fl itself,
// oldest first (nil if fl is nil or resolved).
func (fl *flight) unresolvedChain() []*flight {
	if fl == nil || fl.resolved() {
		return nil
	}
	var out []*flight
	for _, a := range fl.inflight {
		if !a.resolved() {
			out = append(out, a)
		}
	}
	return append(out, fl)
}

func (fl *flight) resolved() bool {
	select {
	case <-fl.done:
		return true
	default:
		return false
	}
}

// pendingView is the state after block prev, which is in Raft and may or
// may not have been applied yet: prev's writes and tx hashes over the store.
// Either way it reads the same, because prev's writes are exactly what its
// commit adds and nothing else can commit before prev except a block that
// takes its height, in which case the block built on this view is rejected.
type pendingView struct {
	st     *store.Store
	writes map[string]state.Write
	txs    map[types.Hash]struct{}
}

func newPendingView(st *store.Store, prev *flight, hashes []types.Hash) *pendingView {
	v := &pendingView{st: st, writes: make(map[string]state.Write, len(prev.out.Writes)), txs: make(map[types.Hash]struct{}, len(hashes))}
	for _, w := range prev.out.Writes {
		v.writes[string(w.Key)] = w
	}
	for _, h := range hashes {
		v.txs[h] = struct{}{}
	}
	return v
}

// Get implements state.View.
func (v *pendingView) Get(key []byte) ([]byte, bool, error) {
	if w, ok := v.writes[string(key)]; ok {
		if w.Delete {
			return nil, false, nil
		}
		return bytes.Clone(w.Value), true, nil
	}
	return v.st.Get(key)
}

// HasTx implements state.View.
func (v *pendingView) HasTx(h types.Hash) (bool, error) {
	if _, ok := v.txs[h]; ok {
		return true, nil
	}
	return v.st.HasTx(h)
}

// pendingLog is the global log after block prev, which may or may not have
// been applied yet (state.Log).
type pendingLog struct {
	st     *store.Store
	size   uint64
	hashes []types.Hash
}

func (l pendingLog) LogRootAfter(leaves []types.Hash) (uint64, types.Hash, error) {
	return l.st.LogRootAfterPending(l.size, l.hashes, leaves)
}

// propose builds the block of ps on top of prev (nil: the store's head) and
// hands it to Raft; the returned flight resolves when it commits or fails.
// An error means nothing was proposed and ps are back in the mempool.
func (n *Node) propose(ps []*pending, prev *flight) (*flight, error) {
	if err := n.fsm.Err(); err != nil {
		n.pool.requeue(ps)
		return nil, err
	}
	fl := &flight{ps: ps, start: time.Now(), done: make(chan struct{})}
	txs := make([]*types.Tx, len(ps))
	hashes := make([]types.Hash, len(ps))
	for i, p := range ps {
		txs[i], hashes[i] = p.tx, p.hash
	}
	var refused map[types.Hash]error // left out of the block: their waiters learn why once it is proposed
	err := n.fsm.WithStore(func(st *store.Store) error {
		if n.pseudo != nil {
			fl.inflight = prev.unresolvedChain()
			rtxs, rhashes, keys, out, err := n.cutPseudonyms(st, fl, prev, txs, hashes)
			if err != nil {
				return err
			}
			if refused = out; len(refused) > 0 {
				kept := make([]*pending, 0, len(ps))
				for _, p := range ps {
					if _, ok := refused[p.hash]; !ok {
						kept = append(kept, p)
					}
				}
				fl.ps = kept
			}
			txs, hashes, fl.keys = rtxs, rhashes, keys
		}
		if prev == nil || (prev.resolved() && prev.err == nil) { // prev applied: the store is the base
			var err error
			fl.block, fl.out, err = n.build(st, txs, hashes, fl.start.UnixMilli())
			return err
		}
		if prev.resolved() {
			return fmt.Errorf("consensus: block %d did not commit: %w", prev.block.Header.Height, prev.err)
		}
		ph := prev.block.Header
		var err error
		fl.block, fl.out, err = n.exec.AssembleBlockHashes(newPendingView(st, prev, prev.hashes()), pendingLog{st, ph.LogSize, prev.hashes()},
			&ph, fl.start.UnixMilli(), txs, hashes, n.cfg.NodeID, n.key)
		if err != nil {
			return fmt.Errorf("consensus: %w", err)
		}
		return nil
	})
	if err != nil {
		n.pool.requeue(ps) // the refused too, unanswered: the next cut decides them again
		return nil, err
	}
	n.answerLeftOut(refused, fl.inflight)
	fl.hash = fl.block.Hash()
	entry := encodeBlockKeysEntry(fl.block, fl.keys)
	n.fsm.cacheProposal(fl.hash, &proposal{entry: entry, block: fl.block, hashes: hashes, out: fl.out, keys: fl.keys, own: fl.ps})
	n.leadMu.Lock()
	n.inflight = fl.done
	n.leadMu.Unlock()
	f := n.raft.Apply(entry, n.cfg.ApplyTimeout)
	go func() {
		fl.err = n.resolve(fl, f)
		n.leadMu.Lock()
		if n.inflight == fl.done { // the newest block: none left in flight
			n.inflight = nil
		}
		n.leadMu.Unlock()
		close(fl.done)
	}()
	return fl, nil
}

// answerLeftOut wakes the waiters of the txs the cut just proposed left out,
// with the reason as a *state.TxError (leftOutRefusal), and reports each to
// Config.LeftOut so the followers' waiters learn it too. A tx whose first
// copy is in a block still in flight (a client's retry admitted while the
// original was in Raft: admission checks committed state only) is neither
// answered nor reported: that block's outcome answers its waiters, and it
// may well commit.
func (n *Node) answerLeftOut(refused map[types.Hash]error, inflight []*flight) {
	for h, err := range refused {
		if slices.ContainsFunc(inflight, func(f *flight) bool { return slices.Contains(f.hashes(), h) }) {
			n.log.Info("consensus: a copy of a tx in flight was left out of the block", "tx", h, "err", err)
			continue
		}
		if n.committedTx(h) {
			// A copy admitted while its first copy's block was in flight,
			// cut after that block committed: the tx is in the chain, and
			// its waiters (here and on the followers) get that receipt.
			n.log.Info("consensus: a copy of a committed tx was left out of the block", "tx", h, "err", err)
			continue
		}
		te := leftOutRefusal(err)
		n.log.Warn("consensus: tx left out of the block", "tx", h, "err", te)
		n.leftOut(h, te)
		if n.cfg.LeftOut != nil {
			n.cfg.LeftOut(h, &state.TxError{Code: te.Code, Reason: te.Reason})
		}
	}
}

// committedTx reports whether the tx with hash h is in the chain; a read
// error counts as not (the tx is then answered as left out, as before).
func (n *Node) committedTx(h types.Hash) bool {
	var found bool
	err := n.fsm.WithStore(func(st *store.Store) error {
		var err error
		found, err = st.HasTx(h)
		return err
	})
	return err == nil && found
}

// hashes returns the tx hashes of the flight's block.
func (fl *flight) hashes() []types.Hash {
	hs := make([]types.Hash, len(fl.ps))
	for i, p := range fl.ps {
		hs[i] = p.hash
	}
	return hs
}

// resolve waits for the block's Raft future and returns nil if it committed;
// otherwise its txs are back in the mempool.
func (n *Node) resolve(fl *flight, f raft.ApplyFuture) error {
	b := fl.block
	if err := n.await(f); err != nil {
		n.fsm.dropProposal(fl.hash)
		n.pool.requeue(fl.ps)
		if errors.Is(err, raft.ErrLeadershipLost) || errors.Is(err, raft.ErrEnqueueTimeout) {
			return fmt.Errorf("%w: block %d: %w", ErrUncertain, b.Header.Height, err)
		}
		return fmt.Errorf("consensus: apply block %d: %w", b.Header.Height, err)
	}
	res, _ := f.Response().(*ApplyResult)
	switch {
	case res == nil:
		n.pool.requeue(fl.ps)
		return fmt.Errorf("consensus: block %d: no apply result", b.Header.Height)
	case res.Err != nil:
		// rejected: the rejected hook already returned the txs to the mempool.
		return res.Err
	}
	n.m.BlockProposed(len(fl.ps), time.Since(fl.start))
	return nil
}
