package consensus

import (
	"context"
	"errors"
	"fmt"
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
		if err := n.exec.CheckTxHash(st, tx, h, now.UnixMilli()); err != nil {
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

func (n *Node) wait(ctx context.Context, h types.Hash, ch chan Receipt) (Receipt, error) {
	select {
	case r := <-ch:
		return r, nil
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

func (n *Node) addWaiter(h types.Hash) chan Receipt {
	ch := make(chan Receipt, 1)
	n.waitMu.Lock()
	n.waiters[h] = append(n.waiters[h], ch)
	n.waitMu.Unlock()
	return ch
}

func (n *Node) removeWaiter(h types.Hash, ch chan Receipt) {
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
			if !ok {
				continue
			}
			r := Receipt{TxHash: h, Height: c.Block.Header.Height, Index: uint32(i), Result: c.Block.Results[i], BlockHash: c.Hash}
			for _, ch := range ws {
				select {
				case ch <- r:
				default:
				}
			}
			delete(n.waiters, h) // the first occurrence is the one the index records
		}
	}
	n.waitMu.Unlock()
	n.publish(c)
}

// rejected runs on the FSM goroutine for a committed block that was not
// applied. If this node proposed it, its txs go back to the mempool.
func (n *Node) rejected(b *types.Block, _ error) {
	if b.Header.Proposer != n.cfg.NodeID {
		return
	}
	now := time.Now() // mempool bookkeeping, not state
	ps := make([]*pending, len(b.Txs))
	for i, tx := range b.Txs {
		ps[i] = &pending{tx: tx, hash: tx.Hash(), size: tx.SizeBound(), at: now}
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
