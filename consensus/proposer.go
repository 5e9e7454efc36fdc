package consensus

import (
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/store"
	"github.com/medchain/medchain/chain/types"
)

// The proposer runs on the leader only. It cuts a block when MaxBlockTxs txs
// wait or MaxBlockDelay after the oldest arrived, executes it on the store,
// fills and signs the header, and applies it through Raft, one block in
// flight at a time. Txs of a block that did not commit go back to the
// mempool; a tx that did commit meanwhile is then refused as a replay by the
// executor, so the retry is harmless.

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
// closes.
func (n *Node) lead(leaderCh <-chan bool) {
	// Apply everything committed in earlier terms before building on the head.
	for {
		err := n.raft.Barrier(n.cfg.ApplyTimeout).Error()
		if err == nil {
			break
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
	n.log.Info("consensus: leading", "height", n.Height())
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if n.fsm.Halted() {
			return
		}
		n.m.MempoolSize(n.pool.len())
		wait := time.Hour
		if oldest, ok := n.pool.oldest(); ok {
			wait = time.Until(oldest.Add(n.cfg.MaxBlockDelay))
			if n.pool.len() >= n.cfg.MaxBlockTxs || wait <= 0 {
				if !n.proposeOrStop(n.pool.take(n.cfg.MaxBlockTxs, n.cfg.MaxBlockBytes)) {
					return
				}
				continue
			}
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
		case <-timer.C:
		}
	}
}

// proposeOrStop proposes one block and reports whether to keep leading.
func (n *Node) proposeOrStop(ps []*pending) bool {
	err := n.propose(ps)
	switch {
	case err == nil:
		return true
	case errors.Is(err, ErrHalted):
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

// propose builds, applies and waits for one block.
func (n *Node) propose(ps []*pending) error {
	if err := n.fsm.Err(); err != nil {
		n.pool.requeue(ps)
		return err
	}
	start := time.Now()
	txs := make([]*types.Tx, len(ps))
	hashes := make([]types.Hash, len(ps))
	for i, p := range ps {
		txs[i], hashes[i] = p.tx, p.hash
	}
	done := make(chan struct{})
	n.leadMu.Lock()
	n.inflight = done
	n.leadMu.Unlock()
	defer func() {
		n.leadMu.Lock()
		n.inflight = nil
		n.leadMu.Unlock()
		close(done)
	}()

	var b *types.Block
	var out *state.Outcome
	err := n.fsm.WithStore(func(st *store.Store) error {
		var err error
		b, out, err = n.build(st, txs, hashes, start.UnixMilli())
		return err
	})
	if err != nil {
		n.pool.requeue(ps)
		return err
	}
	hash := b.Hash()
	entry := EncodeBlockEntry(b)
	n.fsm.cacheProposal(hash, &proposal{entry: entry, block: b, hashes: hashes, out: out})
	f := n.raft.Apply(entry, n.cfg.ApplyTimeout)
	if err := f.Error(); err != nil {
		n.fsm.dropProposal(hash)
		n.pool.requeue(ps)
		if errors.Is(err, raft.ErrLeadershipLost) || errors.Is(err, raft.ErrEnqueueTimeout) {
			return fmt.Errorf("%w: block %d: %w", ErrUncertain, b.Header.Height, err)
		}
		return fmt.Errorf("consensus: apply block %d: %w", b.Header.Height, err)
	}
	res, _ := f.Response().(*ApplyResult)
	switch {
	case res == nil:
		n.pool.requeue(ps)
		return fmt.Errorf("consensus: block %d: no apply result", b.Header.Height)
	case res.Err != nil:
		// rejected: the rejected hook already returned the txs to the mempool.
		return res.Err
	}
	n.m.BlockProposed(len(txs), time.Since(start))
	return nil
}
