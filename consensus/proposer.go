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
	if n.Height() == 0 {
		// Block 1 writes the genesis identities; commit it at once.
		if !n.proposeOrStop(nil) {
			return
		}
	}
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

// BuildBlock executes txs on top of the current head and returns the signed
// block this node would propose at block time t (Unix ms, raised to the head's
// time if earlier) with its outcome. It does not apply it.
func (n *Node) BuildBlock(txs []*types.Tx, t int64) (*types.Block, *state.Outcome, error) {
	var b *types.Block
	var out *state.Outcome
	err := n.fsm.WithStore(func(st *store.Store) error {
		var err error
		b, out, err = n.build(st, txs, t)
		return err
	})
	return b, out, err
}

func (n *Node) build(st *store.Store, txs []*types.Tx, now int64) (*types.Block, *state.Outcome, error) {
	g := n.exec.Genesis()
	head, hasHead := st.Head()
	hdr := types.Header{ChainID: g.ChainID, Height: 1, PrevHash: firstPrevHash(g), Time: max(now, g.Time), Proposer: n.cfg.NodeID}
	prevState := n.fsm.genState
	if hasHead {
		hdr.Height, hdr.PrevHash, hdr.Time, prevState = head.Height+1, head.Hash(), max(now, head.Time), head.StateHash
	}
	if txs == nil {
		txs = []*types.Tx{}
	}
	out, err := n.exec.ExecuteBlock(n.fsm.view(st), prevState, state.BlockContext{Height: hdr.Height, Time: hdr.Time}, txs, state.ExecOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("consensus: execute block %d: %w", hdr.Height, err)
	}
	b := &types.Block{Header: hdr, Txs: txs, Results: out.Results}
	hashes := b.TxHashes()
	b.Header.TxRoot = types.MerkleRoot(hashes)
	b.Header.ResultsHash = types.ResultsHash(out.Results)
	b.Header.StateHash = out.StateHash
	b.Header.LogSize, b.Header.LogRoot, err = st.LogRootAfter(hashes)
	if err != nil {
		return nil, nil, fmt.Errorf("consensus: log root for block %d: %w", hdr.Height, err)
	}
	if err := b.Sign(n.key); err != nil {
		return nil, nil, fmt.Errorf("consensus: sign block %d: %w", hdr.Height, err)
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
	for i, p := range ps {
		txs[i] = p.tx
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
		b, out, err = n.build(st, txs, start.UnixMilli())
		return err
	})
	if err != nil {
		n.pool.requeue(ps)
		return err
	}
	hash := b.Hash()
	n.fsm.cacheOutcome(hash, out)
	f := n.raft.Apply(EncodeBlockEntry(b), n.cfg.ApplyTimeout)
	if err := f.Error(); err != nil {
		n.fsm.dropOutcome(hash)
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
