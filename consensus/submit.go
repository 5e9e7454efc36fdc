package consensus

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/store"
	"github.com/medchain/medchain/chain/types"
)

// Submit admits tx to the leader's mempool and returns its hash. It runs the
// executor's CheckTx (signature included) against committed state at the
// current time, in the caller's goroutine, so admissions verify in parallel.
//
// Errors: ErrNotLeader (forward to the leader), ErrBusy (mempool full, retry
// later), ErrHalted, ErrClosed, or a *state.TxError naming why the tx is
// refused (a tx already in the chain is refused with types.CodeReplay). A tx
// already waiting in the mempool is accepted again without a second copy.
// Submit does not wait for the commit; see SubmitAndWait and WaitTx.
func (n *Node) Submit(ctx context.Context, tx *types.Tx) (types.Hash, error) {
	if tx == nil {
		return types.Hash{}, fmt.Errorf("%w: nil tx", types.ErrInvalid)
	}
	tx = tx.Clone()
	return n.submit(ctx, tx, tx.Hash())
}

// submit admits tx, which the node owns (a clone of the caller's: nothing
// mutates it after this point), whose hash is h. The mempool keeps h with the
// tx and block building, execution and commit use it instead of hashing again.
func (n *Node) submit(ctx context.Context, tx *types.Tx, h types.Hash) (types.Hash, error) {
	if err := n.admissible(); err != nil {
		return h, err
	}
	if err := ctx.Err(); err != nil {
		return h, err
	}
	if n.pool.contains(h) {
		return h, nil
	}
	if l := n.pool.len(); l >= n.cfg.MempoolSize { // shed load before the costly check
		return h, fmt.Errorf("%w: consensus: mempool full (%d txs), retry later", ErrBusy, l)
	}
	now := time.Now()
	err := n.fsm.WithStore(func(st *store.Store) error {
		if err := n.admitTx(nil, st, tx, h, now); err != nil {
			return err
		}
		if n.pseudo != nil {
			return n.pseudo.admit(st, tx)
		}
		return nil
	})
	if err != nil {
		return h, err
	}
	return h, n.pool.add(&pending{tx: tx, hash: h, size: tx.SizeBound(), at: now})
}

// admitTx runs the executor's admission checks on tx (hash h) against st
// at now, within the admission run adm (nil: a run of its own). On a chain
// that pseudonymizes, the run resolves patient ids to pseudonyms (so a
// signer whose identity record names the patient's pseudonym is recognised)
// and a tx listing delegations in clear is refused.
func (n *Node) admitTx(adm *state.Admission, st *store.Store, tx *types.Tx, h types.Hash, now time.Time) error {
	if n.pseudo == nil {
		return n.exec.AdmitTxHash(adm, st, tx, h, now.UnixMilli())
	}
	if err := refuseClearDelegations(tx); err != nil {
		return err
	}
	if adm == nil {
		adm = state.NewAdmission()
	}
	return n.exec.AdmitTxHash(adm.Pseudonyms(n.pseudo.resolver(st)), st, tx, h, now.UnixMilli())
}

// SubmitBatch admits txs as Submit would, in one step: every tx is checked
// (CheckTx, signature included) against committed state, in parallel on
// every core, and the admitted ones enter the mempool together, in the
// batch's order, so they share blocks. It returns one hash and one error per
// tx, in order: errs[i] is nil when txs[i] was admitted, else the error
// Submit would have returned for it. A nil tx gets types.ErrInvalid.
func (n *Node) SubmitBatch(ctx context.Context, txs []*types.Tx) (hashes []types.Hash, errs []error) {
	hashes, errs = make([]types.Hash, len(txs)), make([]error, len(txs))
	ps := n.checkBatch(ctx, txs, hashes, errs)
	n.admitBatch(ps, errs)
	return hashes, errs
}

// checkBatch clones, hashes and checks txs in parallel; it fills hashes and
// errs and returns the pending entries of the txs that passed (nil for the
// others, index for index).
func (n *Node) checkBatch(ctx context.Context, txs []*types.Tx, hashes []types.Hash, errs []error) []*pending {
	ps := make([]*pending, len(txs))
	fail := func(err error) {
		for i := range errs {
			errs[i] = err
		}
	}
	if err := n.admissible(); err != nil {
		fail(err)
		return ps
	}
	if err := ctx.Err(); err != nil {
		fail(err)
		return ps
	}
	if l := n.pool.len(); l >= n.cfg.MempoolSize { // shed load before the costly checks
		fail(fmt.Errorf("%w: consensus: mempool full (%d txs), retry later", ErrBusy, l))
		return ps
	}
	now := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(txs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			adm := state.NewAdmission() // this worker's run: the batch's signers are read once
			for {
				i := int(next.Add(1) - 1)
				if i >= len(txs) {
					return
				}
				if txs[i] == nil {
					errs[i] = fmt.Errorf("%w: nil tx", types.ErrInvalid)
					continue
				}
				tx := txs[i].Clone()
				h := tx.Hash()
				hashes[i] = h
				if !n.pool.contains(h) {
					errs[i] = n.fsm.WithStore(func(st *store.Store) error {
						if err := n.admitTx(adm, st, tx, h, now); err != nil {
							return err
						}
						if n.pseudo != nil { // as submit does: the batch path skipped it
							return n.pseudo.admit(st, tx)
						}
						return nil
					})
				}
				if errs[i] == nil {
					ps[i] = &pending{tx: tx, hash: h, size: tx.SizeBound(), at: now}
				}
			}
		}()
	}
	wg.Wait()
	return ps
}

// admitBatch adds the non-nil entries of ps to the mempool and records a
// full pool in errs.
func (n *Node) admitBatch(ps []*pending, errs []error) {
	idx := make([]int, 0, len(ps))
	ok := make([]*pending, 0, len(ps))
	for i, p := range ps {
		if p != nil {
			idx, ok = append(idx, i), append(ok, p)
		}
	}
	for j, err := range n.pool.addAll(ok) {
		if err != nil {
			errs[idx[j]] = err
		}
	}
}

// SubmitBatchAndWait is SubmitBatch, then waits until every admitted tx
// commits: receipts[i] is txs[i]'s receipt when errs[i] is nil. A tx already
// in the chain gets its receipt, as with SubmitAndWait. When ctx ends first,
// the txs still waiting get ctx's error (they may commit later).
func (n *Node) SubmitBatchAndWait(ctx context.Context, txs []*types.Tx) (receipts []Receipt, errs []error) {
	hashes, errs := make([]types.Hash, len(txs)), make([]error, len(txs))
	ps := n.checkBatch(ctx, txs, hashes, errs)
	// Register the waiters before admission, so the receipt comes from the
	// commit itself and never from reading the block back.
	chs := make([]chan waitOutcome, len(txs))
	for i, p := range ps {
		if p != nil || isReplay(errs[i]) {
			chs[i] = n.addWaiter(hashes[i])
		}
	}
	defer func() {
		for i, ch := range chs {
			if ch != nil {
				n.removeWaiter(hashes[i], ch)
			}
		}
	}()
	n.admitBatch(ps, errs)
	receipts = make([]Receipt, len(txs))
	for i := range txs {
		switch {
		case chs[i] == nil:
			continue
		case errs[i] == nil:
		case isReplay(errs[i]):
			r, found, err := n.lookup(hashes[i])
			if err != nil || found {
				receipts[i], errs[i] = r, err
				continue
			}
			errs[i] = nil // committed in a block that is being applied: the waiter will fire
		default:
			continue // refused at admission (mempool full)
		}
		receipts[i], errs[i] = n.wait(ctx, hashes[i], chs[i])
	}
	return receipts, errs
}

// WaitTxs is WaitTx for many txs at once: receipts[i] is the receipt of the
// tx with hash hs[i] when errs[i] is nil.
func (n *Node) WaitTxs(ctx context.Context, hs []types.Hash) (receipts []Receipt, errs []error) {
	receipts, errs = make([]Receipt, len(hs)), make([]error, len(hs))
	chs := make([]chan waitOutcome, len(hs))
	for i, h := range hs {
		chs[i] = n.addWaiter(h)
	}
	defer func() {
		for i, ch := range chs {
			n.removeWaiter(hs[i], ch)
		}
	}()
	for i, h := range hs {
		r, found, err := n.lookup(h)
		if err != nil || found {
			receipts[i], errs[i] = r, err
			continue
		}
		receipts[i], errs[i] = n.wait(ctx, h, chs[i])
	}
	return receipts, errs
}

// TxWatch holds waiters registered for txs before they are submitted
// through another node: a follower forwarding them to the leader registers
// first, so neither a fast commit nor the leader's left-out report
// (LeftOut) can come before there is a waiter to wake. Create it with
// WatchTxs and Close it when done; Wait may be called from several
// goroutines, once per tx.
type TxWatch struct {
	n   *Node
	hs  []types.Hash
	chs []chan waitOutcome
}

// WatchTxs registers a waiter for each of hs now and returns them; wait
// with TxWatch.Wait and release them with TxWatch.Close.
func (n *Node) WatchTxs(hs []types.Hash) *TxWatch {
	w := &TxWatch{n: n, hs: slices.Clone(hs), chs: make([]chan waitOutcome, len(hs))}
	for i, h := range w.hs {
		w.chs[i] = n.addWaiter(h)
	}
	return w
}

// Wait is WaitTx for the i-th tx of the watch: its receipt once it is in a
// block on this node (at once if it already is, or if it committed since
// WatchTxs), or the refusal the leader gave for leaving it out of its block.
func (w *TxWatch) Wait(ctx context.Context, i int) (Receipt, error) {
	h := w.hs[i]
	if r, found, err := w.n.lookup(h); err != nil || found {
		return r, err
	}
	return w.n.wait(ctx, h, w.chs[i])
}

// Close removes the watch's waiters, once every Wait has returned. It is
// idempotent.
func (w *TxWatch) Close() {
	for i, ch := range w.chs {
		w.n.removeWaiter(w.hs[i], ch)
	}
}

// isReplay reports whether err refuses a tx because it is already in the chain.
func isReplay(err error) bool {
	var te *state.TxError
	return errors.As(err, &te) && te.Code == types.CodeReplay
}

func (n *Node) admissible() error {
	select {
	case <-n.done:
		return ErrClosed
	default:
	}
	if err := n.fsm.Err(); err != nil {
		return err
	}
	if n.raft.State() != raft.Leader {
		return ErrNotLeader
	}
	return nil
}

// SubmitAndWait submits tx and waits until it commits, returning where and
// with which result. A tx already in the chain returns its receipt (so a
// client retrying after ErrUncertain or a lost response gets the answer).
// Other errors are Submit's, ctx's, or ErrClosed.
func (n *Node) SubmitAndWait(ctx context.Context, tx *types.Tx) (Receipt, error) {
	if tx == nil {
		return Receipt{}, fmt.Errorf("%w: nil tx", types.ErrInvalid)
	}
	tx = tx.Clone()
	h := tx.Hash()
	ch := n.addWaiter(h)
	defer n.removeWaiter(h, ch)
	if _, err := n.submit(ctx, tx, h); err != nil {
		var te *state.TxError
		if errors.As(err, &te) && te.Code == types.CodeReplay {
			if r, found, lerr := n.lookup(h); lerr != nil || found {
				return r, lerr
			}
			// committed in a block that is being applied: the waiter will fire
		} else {
			return Receipt{}, err
		}
	}
	return n.wait(ctx, h, ch)
}

// WaitTx waits until the tx with hash h is in a block on this node (leader or
// follower) and returns its receipt; it returns at once if it already is.
func (n *Node) WaitTx(ctx context.Context, h types.Hash) (Receipt, error) {
	ch := n.addWaiter(h)
	defer n.removeWaiter(h, ch)
	if r, found, err := n.lookup(h); err != nil || found {
		return r, err
	}
	return n.wait(ctx, h, ch)
}

// Receipt returns the receipt of a committed tx, or store.ErrNotFound.
func (n *Node) Receipt(h types.Hash) (Receipt, error) {
	r, found, err := n.lookup(h)
	if err == nil && !found {
		err = fmt.Errorf("%w: tx %s", store.ErrNotFound, h)
	}
	return r, err
}

// waitOutcome is what a waiter receives: the receipt of its tx, or why the
// leader left the tx out of its block (it will not commit as submitted).
type waitOutcome struct {
	r   Receipt
	err error
}

func (n *Node) wait(ctx context.Context, h types.Hash, ch chan waitOutcome) (Receipt, error) {
	select {
	case o := <-ch:
		return o.r, o.err
	case <-ctx.Done():
		return Receipt{}, fmt.Errorf("consensus: waiting for tx %s: %w", h, ctx.Err())
	case <-n.done:
		return Receipt{}, ErrClosed
	}
}

func (n *Node) lookup(h types.Hash) (Receipt, bool, error) {
	var r Receipt
	var found bool
	err := n.fsm.WithStore(func(st *store.Store) error {
		_, res, height, index, err := st.Tx(h)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		b, err := st.Block(height)
		if err != nil {
			return err
		}
		r, found = Receipt{TxHash: h, Height: height, Index: index, Result: res, BlockHash: b.Hash()}, true
		return nil
	})
	return r, found, err
}

func (n *Node) addWaiter(h types.Hash) chan waitOutcome {
	ch := make(chan waitOutcome, 1)
	n.waitMu.Lock()
	n.waiters[h] = append(n.waiters[h], ch)
	n.waitMu.Unlock()
	return ch
}

func (n *Node) removeWaiter(h types.Hash, ch chan waitOutcome) {
	n.waitMu.Lock()
	defer n.waitMu.Unlock()
	ws := n.waiters[h]
	for i, c := range ws {
		if c == ch {
			ws = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(n.waiters, h)
	} else {
		n.waiters[h] = ws
	}
}

// committed runs on the FSM goroutine after each stored block: it wakes the
// waiters of its txs and fans the block out to subscribers. It never blocks.
func (n *Node) committed(c *Committed) {
	n.waitMu.Lock()
	if len(n.waiters) > 0 {
		for i, tx := range c.Block.Txs {
			var h types.Hash
			if c.TxHashes != nil {
				h = c.TxHashes[i]
			} else {
				h = tx.Hash()
			}
			ws, ok := n.waiters[h]
			if !ok || c.Block.Results[i].Code == types.CodeReplay {
				// A replay copy is not where the tx is committed: its waiters
				// get the first occurrence (the one the index records), from
				// its own block or from the lookup of their next attempt.
				continue
			}
			r := Receipt{TxHash: h, Height: c.Block.Header.Height, Index: uint32(i), Result: c.Block.Results[i], BlockHash: c.Hash}
			for _, ch := range ws {
				select {
				case ch <- waitOutcome{r: r}:
				default:
				}
			}
			delete(n.waiters, h) // the first occurrence is the one the index records
		}
	}
	n.waitMu.Unlock()
	n.publish(c)
}

// leftOut wakes the local waiters of a tx the proposer left out of its block
// with err, the reason (a *state.TxError): the tx will never commit as
// submitted, so they need not wait for their timeout. Waiters on other nodes
// (a follower that forwarded the tx) learn it through Config.LeftOut on the
// leader, which the node layer sends to the followers, and Node.LeftOut on
// each of them; a follower the message does not reach still waits for its
// timeout.
func (n *Node) leftOut(h types.Hash, err error) {
	n.waitMu.Lock()
	defer n.waitMu.Unlock()
	for _, ch := range n.waiters[h] {
		select {
		case ch <- waitOutcome{err: err}:
		default:
		}
	}
	delete(n.waiters, h)
}

// LeftOut wakes this node's waiters of the tx with hash h with refusal, the
// reason the leader gave for leaving the tx out of its block (reported by
// Config.LeftOut on the leader): the tx will not commit as submitted, so a
// client that submitted it through this follower gets the refusal the
// leader's own clients get instead of waiting for its timeout. It only
// wakes waiters registered now (WaitTx, WaitTxs, SubmitAndWait and
// SubmitBatchAndWait): nothing is stored and the chain is not touched. The
// caller vouches that refusal comes from the current leader.
//
// Errors: types.ErrInvalid for a nil refusal or one whose code is ok or
// replay (neither refuses a tx: a replay's waiters get the committed copy).
func (n *Node) LeftOut(h types.Hash, refusal *state.TxError) error {
	switch {
	case refusal == nil:
		return fmt.Errorf("%w: consensus: nil left-out refusal", types.ErrInvalid)
	case refusal.Code == types.CodeOK, refusal.Code == types.CodeReplay:
		return fmt.Errorf("%w: consensus: left-out refusal with code %s", types.ErrInvalid, refusal.Code)
	}
	n.leftOut(h, &state.TxError{Code: refusal.Code, Reason: refusal.Reason})
	return nil
}

// leftOutRefusal is the refusal the waiters of a tx left out at the cut get
// for err, the cut's reason: err itself when it is a *state.TxError (a
// stale signature), else the result code and reason admission gives for
// the same case, without naming the patient (the reason is logged and sent
// to the followers): an erased patient is a conflict, an erasure of a
// patient the chain never recorded is not found.
func leftOutRefusal(err error) *state.TxError {
	var te *state.TxError
	switch {
	case errors.As(err, &te):
		return te
	case errors.Is(err, ErrPatientErased):
		return &state.TxError{Code: types.CodeConflict, Reason: "the tx's patient is erased: nothing more is recorded about them"}
	case errors.Is(err, ErrPatientUnknown):
		return &state.TxError{Code: types.CodeNotFound, Reason: "the chain holds nothing about the tx's patient to erase"}
	}
	return &state.TxError{Code: types.CodeConflict, Reason: "left out of the block: " + err.Error()}
}

// rejected runs on the FSM goroutine for a committed block that was not
// applied. If this node proposed it, its txs go back to the mempool as they
// were admitted: own, the signed txs the block was cut from (its cached
// proposal). Without them (the proposal left the cache), only the txs the
// block holds as signed go back: a redacted tx's signed payload is sealed in
// the block, and proposing its redaction again would seal it a second time
// under a new pseudonym, so its waiters time out and its client sends it
// again (a resubmitted tx is harmless).
func (n *Node) rejected(b *types.Block, own []*pending, _ error) {
	if b.Header.Proposer != n.cfg.NodeID {
		return
	}
	if own != nil {
		n.pool.requeue(own)
		return
	}
	now := time.Now() // mempool bookkeeping, not state
	ps := make([]*pending, 0, len(b.Txs))
	dropped := 0
	for _, tx := range b.Txs {
		if tx.Redaction != nil {
			dropped++
			continue
		}
		ps = append(ps, &pending{tx: tx, hash: tx.Hash(), size: tx.SizeBound(), at: now})
	}
	if dropped > 0 {
		n.log.Warn("consensus: redacted txs of a rejected block are not proposed again; their clients resubmit them",
			"height", b.Header.Height, "txs", dropped)
	}
	n.pool.requeue(ps)
}

// subscriber is one Subscribe channel.
type subscriber struct{ ch chan *Committed }

// Subscribe returns a channel of committed blocks, in order, and a cancel
// function. Delivery never blocks the FSM: a subscriber whose buffer (buf,
// at least 1) is full is dropped and its channel closed; DroppedSubscribers
// counts them. The channel is also closed by cancel and by Close.
func (n *Node) Subscribe(buf int) (<-chan *Committed, func()) {
	s := &subscriber{ch: make(chan *Committed, max(buf, 1))}
	n.subMu.Lock()
	select {
	case <-n.done:
		close(s.ch)
	default:
		n.subs[s] = struct{}{}
	}
	n.subMu.Unlock()
	return s.ch, func() {
		n.subMu.Lock()
		if _, ok := n.subs[s]; ok {
			delete(n.subs, s)
			close(s.ch)
		}
		n.subMu.Unlock()
	}
}

// DroppedSubscribers returns how many subscribers were dropped for being slow.
func (n *Node) DroppedSubscribers() uint64 {
	n.subMu.Lock()
	defer n.subMu.Unlock()
	return n.dropped
}

func (n *Node) publish(c *Committed) {
	n.subMu.Lock()
	defer n.subMu.Unlock()
	for s := range n.subs {
		select {
		case s.ch <- c:
		default:
			delete(n.subs, s)
			close(s.ch)
			n.dropped++
			n.m.SubscriberDropped()
		}
	}
}

// LinearizableBarrier returns once this node may serve a read that reflects
// every write acknowledged before the call: it checks with a quorum that this
// node is still the leader (VerifyLeader), then waits until the FSM has
// applied the commit index: every entry of earlier terms (the proposer's
// term-start barrier) and the blocks in flight, if any.
func (n *Node) LinearizableBarrier(ctx context.Context) error {
	if err := n.admissible(); err != nil {
		return err
	}
	if err := n.raft.VerifyLeader().Error(); err != nil {
		return fmt.Errorf("%w: %w", ErrNotLeader, err)
	}
	commit := n.raft.CommitIndex()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		n.leadMu.Lock()
		ready, inflight := n.ready, n.inflight
		n.leadMu.Unlock()
		if n.fsm.LastIndex() >= commit || (ready && inflight == nil && n.raft.AppliedIndex() >= commit) {
			return n.fsm.Err()
		}
		if ready && inflight != nil {
			select {
			case <-inflight:
			case <-ctx.Done():
				return ctx.Err()
			case <-n.done:
				return ErrClosed
			}
			continue
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		case <-n.done:
			return ErrClosed
		}
	}
}
