package node

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/consensus"
	"github.com/medchain/medchain/node/rpc"
	"github.com/medchain/medchain/p2p"
)

// Tx forwarding from a follower to the leader goes in batches: a follower's
// tx_submitBatch becomes one forwarded batch (p2p.TxBatchProtocol), and
// single submissions that arrive together (tx_submit calls, or a client's
// concurrent calls) are coalesced for up to coalesceWindow into one batch.
// Every tx is checked on the follower first (CheckTx: signature, signer,
// role, replay window) to shed bad load early, and again by the leader,
// which answers each tx on its own: one bad tx never fails the others.
const (
	// coalesceWindow is how long the first single submission waits for
	// others to share its batch. Small next to the leader's MaxBlockDelay.
	coalesceWindow = 2 * time.Millisecond
	// forwardInFlight bounds the batches in flight to the leader at once;
	// while all are in flight, the next batch keeps growing.
	forwardInFlight = 4
	// forwardQueue bounds the single submissions waiting to be coalesced.
	forwardQueue = 8192
	// forwardPatience is how long a follower keeps sending a batch (or the
	// txs of it the leader asked to retry) while no leader takes it: no
	// leader known, the leader unreachable or no longer leading. It covers
	// an election (2-4 s measured on the testnet, more under load), so a
	// client submitting through a follower does not see one.
	forwardPatience = 10 * time.Second
	// forwardBusyRetries is how many times txs the leader refused with a
	// full mempool are sent: a busy leader answers its followers' clients
	// with -32012 soon, so they back off.
	forwardBusyRetries = 3
	// maxLoggedRefusals bounds the refusal log lines of one forwarded batch.
	maxLoggedRefusals = 8
)

var errForwardRefused = errors.New("node: forwarded tx refused")

// fwdItem is one tx on its way to the leader.
type fwdItem struct {
	tx   *types.Tx
	raw  []byte
	hash types.Hash
	err  error         // the outcome; set before done is closed
	done chan struct{} // closed once err is set (coalesced items only)
}

// forwarder coalesces single submissions into batches.
type forwarder struct {
	c       *cluster
	queue   chan *fwdItem
	slots   chan struct{}
	batches atomic.Uint64 // batches sent to the leader
	txs     atomic.Uint64 // txs in them (retries counted again)
}

// ForwardStats returns how many tx batches this node forwarded to the
// leader, and how many txs they carried (a retried tx counts again). Both
// are zero on a node without p2p; they are exported as the Prometheus
// counters medchain_forwarded_batches_total and medchain_forwarded_txs_total.
func (n *Node) ForwardStats() (batches, txs uint64) {
	if n.cl == nil || n.cl.fwd == nil {
		return 0, 0
	}
	return n.cl.fwd.batches.Load(), n.cl.fwd.txs.Load()
}

// register exports the forwarding counters on reg.
func (f *forwarder) register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "medchain_forwarded_batches_total",
			Help: "Tx batches this node forwarded to the Raft leader."}, func() float64 { return float64(f.batches.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "medchain_forwarded_txs_total",
			Help: "Txs this node forwarded to the Raft leader (a retried tx counts again)."}, func() float64 { return float64(f.txs.Load()) }),
	} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("node: forwarding metrics: %w", err)
		}
	}
	return nil
}

func newForwarder(c *cluster) *forwarder {
	return &forwarder{c: c, queue: make(chan *fwdItem, forwardQueue), slots: make(chan struct{}, forwardInFlight)}
}

// forward checks tx locally and has it forwarded to the leader in the next
// batch; it returns once the leader admitted or refused it.
func (c *cluster) forward(ctx context.Context, tx *types.Tx) (types.Hash, error) {
	h := tx.Hash()
	return h, c.forwardHash(ctx, tx, h)
}

// forwardHash is forward for tx whose hash h the caller computed.
func (c *cluster) forwardHash(ctx context.Context, tx *types.Tx, h types.Hash) error {
	if err := c.n.cons.CheckTx(tx); err != nil {
		return err
	}
	it := &fwdItem{tx: tx, raw: tx.Encode(), hash: h, done: make(chan struct{})}
	select {
	case c.fwd.queue <- it:
	case <-ctx.Done():
		return ctx.Err()
	case <-c.stop:
		return fmt.Errorf("%w: node closing", rpc.ErrUnavailable)
	}
	select {
	case <-it.done:
		return it.err
	case <-ctx.Done():
		return ctx.Err()
	case <-c.stop: // it may or may not have reached the leader
		return fmt.Errorf("%w: node closing", rpc.ErrUnavailable)
	}
}

// run cuts batches from the queue until the cluster stops: a batch closes
// coalesceWindow after its first tx, or when full; while every slot is in
// flight it keeps growing.
func (f *forwarder) run() {
	defer f.c.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-f.c.stop
		cancel()
	}()
	maxBytes := f.c.p2p.MaxBatchBytes()
	var carry *fwdItem
	for {
		var batch []*fwdItem
		size := 8
		add := func(it *fwdItem) bool {
			if len(batch) > 0 && (len(batch) >= p2p.MaxTxBatch || size+len(it.raw)+5 > maxBytes) {
				carry = it
				return false
			}
			batch = append(batch, it)
			size += len(it.raw) + 5
			return true
		}
		if carry != nil {
			it := carry
			carry = nil
			add(it)
		} else {
			select {
			case it := <-f.queue:
				add(it)
			case <-f.c.stop:
				return
			}
		}
		timer := time.NewTimer(coalesceWindow)
	window:
		for carry == nil {
			select {
			case it := <-f.queue:
				add(it)
			case <-timer.C:
				break window
			case <-f.c.stop:
				timer.Stop()
				f.finish(batch, fmt.Errorf("%w: node closing", rpc.ErrUnavailable))
				return
			}
		}
		timer.Stop()
	slot:
		for {
			if carry != nil { // full: wait for a slot only
				select {
				case f.slots <- struct{}{}:
					break slot
				case <-f.c.stop:
					f.finish(append(batch, carry), fmt.Errorf("%w: node closing", rpc.ErrUnavailable))
					return
				}
			}
			select {
			case f.slots <- struct{}{}:
				break slot
			case it := <-f.queue:
				add(it)
			case <-f.c.stop:
				f.finish(batch, fmt.Errorf("%w: node closing", rpc.ErrUnavailable))
				return
			}
		}
		f.c.wg.Add(1)
		go func(batch []*fwdItem) {
			defer func() { <-f.slots; f.c.wg.Done() }()
			f.c.sendBatch(ctx, batch)
			for _, it := range batch {
				close(it.done)
			}
		}(batch)
	}
}

func (f *forwarder) finish(batch []*fwdItem, err error) {
	for _, it := range batch {
		it.err = err
		close(it.done)
	}
}

// forwardBatch is the follower's side of tx_submitBatch: every tx is checked
// locally in parallel, then the ones that pass go to the leader in as few
// batches as the size limits allow. hashes[i] and errs[i] answer txs[i];
// a tx already in the chain gets the local replay error, as Submit gives it.
// before, if not nil, runs once the txs are checked and before any is sent,
// with the hashes and the local errors so far (it must not keep them).
func (c *cluster) forwardBatch(ctx context.Context, txs []*types.Tx, before func(hashes []types.Hash, errs []error)) (hashes []types.Hash, errs []error) {
	hashes, errs = make([]types.Hash, len(txs)), make([]error, len(txs))
	items := make([]*fwdItem, len(txs))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(txs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(txs) {
					return
				}
				tx := txs[i]
				if tx == nil {
					errs[i] = fmt.Errorf("%w: nil tx", types.ErrInvalid)
					continue
				}
				hashes[i] = tx.Hash()
				if errs[i] = c.n.cons.CheckTx(tx); errs[i] == nil {
					items[i] = &fwdItem{tx: tx, raw: tx.Encode(), hash: hashes[i]}
				}
			}
		}()
	}
	wg.Wait()
	if before != nil {
		before(hashes, errs)
	}
	maxBytes := c.p2p.MaxBatchBytes()
	var batch []*fwdItem
	size := 8
	flush := func() {
		if len(batch) > 0 {
			c.sendBatch(ctx, batch)
		}
		batch, size = nil, 8
	}
	for _, it := range items {
		if it == nil {
			continue
		}
		if len(batch) > 0 && (len(batch) >= p2p.MaxTxBatch || size+len(it.raw)+5 > maxBytes) {
			flush()
		}
		batch = append(batch, it)
		size += len(it.raw) + 5
	}
	flush()
	for i, it := range items {
		if it != nil {
			errs[i] = it.err
		}
	}
	return hashes, errs
}

// sendBatch sends items to the leader and sets each item's err: nil when
// the leader admitted it. A batch refused as a whole for a retryable reason
// (no leader yet, leadership moved, unreachable), and the txs the leader
// asked to retry (not the leader), are sent again, with a growing pause,
// for up to forwardPatience; txs refused with a full mempool, up to
// forwardBusyRetries times. If this node became the leader, it admits them
// itself.
func (c *cluster) sendBatch(ctx context.Context, items []*fwdItem) {
	todo := items
	var lastErr error
	deadline := time.Now().Add(forwardPatience)
	pause, busy := forwardPause, 0
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if busy >= forwardBusyRetries || !time.Now().Add(pause).Before(deadline) {
				break
			}
			select {
			case <-ctx.Done():
				setErr(todo, ctx.Err())
				return
			case <-time.After(pause):
			}
			pause = min(2*pause, time.Second)
		}
		lctx, cancel := context.WithDeadline(ctx, deadline) // the look for a leader ends with the patience
		leader, err := c.leaderPeer(lctx)
		cancel()
		switch {
		case errors.Is(err, rpc.ErrUnavailable): // no leader known yet: an election
			lastErr = err
			continue
		case err != nil && ctx.Err() == nil: // the patience ran out while looking
			lastErr = fmt.Errorf("no leader is known after %v", forwardPatience)
			continue
		case err != nil:
			setErr(todo, err)
			return
		}
		if leader == string(c.p2p.RaftAddress()) { // we became leader meanwhile
			txs := make([]*types.Tx, len(todo))
			for i, it := range todo {
				txs[i] = it.tx
			}
			_, errs := c.n.cons.SubmitBatch(ctx, txs)
			for i, it := range todo {
				it.err = errs[i]
			}
			return
		}
		pid, err := peer.Decode(leader)
		if err != nil {
			setErr(todo, fmt.Errorf("node: leader address %q: %w", leader, err))
			return
		}
		raws := make([][]byte, len(todo))
		for i, it := range todo {
			raws[i] = it.raw
		}
		c.fwd.batches.Add(1)
		c.fwd.txs.Add(uint64(len(raws)))
		outs, err := c.p2p.ForwardTxs(ctx, pid, raws)
		if err != nil {
			lastErr = err
			if errors.Is(err, p2p.ErrRemote) && !isRetryable(err) {
				setErr(todo, fmt.Errorf("%w: refused by the leader: %v", errForwardRefused, err))
				return
			}
			continue
		}
		var retry []*fwdItem
		allBusy := true
		for i, o := range outs {
			it := todo[i]
			switch {
			case o.OK() && (len(o.Result) != len(it.hash) || types.Hash(o.Result) != it.hash):
				it.err = fmt.Errorf("%w: leader answered another tx hash", rpc.ErrUnavailable)
			case o.OK():
				it.err = nil
			case isRetryable(errors.New(o.Err)):
				lastErr = fmt.Errorf("%w: %s", p2p.ErrRemote, o.Err)
				retry = append(retry, it)
				allBusy = allBusy && strings.Contains(o.Err, consensus.ErrBusy.Error())
			default:
				it.err = fmt.Errorf("%w: refused by the leader: %w: %s", errForwardRefused, p2p.ErrRemote, o.Err)
			}
		}
		if len(retry) == 0 {
			return
		}
		if allBusy {
			busy++
		}
		todo = retry
	}
	setErr(todo, fmt.Errorf("%w: forward to leader: %v", rpc.ErrUnavailable, lastErr))
}

func setErr(items []*fwdItem, err error) {
	for _, it := range items {
		it.err = err
	}
}

// handleTxBatch is the leader's side of batched forwarding: each tx is
// decoded and admitted exactly as a local submission (CheckTx: signature,
// signer, role, replay window), the batch's checks in parallel. A refused tx
// is logged and answered on its own; nothing of it enters the mempool.
func (c *cluster) handleTxBatch(ctx context.Context, from peer.ID, raws [][]byte) []p2p.TxOutcome {
	out := make([]p2p.TxOutcome, len(raws))
	txs := make([]*types.Tx, 0, len(raws))
	at := make([]int, 0, len(raws))
	refused := 0
	refuse := func(i int, h string, err error) {
		out[i].Err = err.Error()
		if refused++; refused <= maxLoggedRefusals {
			c.log.Warn("node: refused forwarded tx", "peer", from, "tx", h, "reason", err.Error())
		}
	}
	for i, raw := range raws {
		tx, err := types.DecodeTx(raw, c.n.genesis.Params.MaxTxBytes)
		if err != nil {
			refuse(i, "", err)
			continue
		}
		txs, at = append(txs, tx), append(at, i)
	}
	hashes, errs := c.n.cons.SubmitBatch(ctx, txs)
	for j, i := range at {
		if errs[j] != nil {
			refuse(i, hashes[j].String(), errs[j])
			continue
		}
		out[i].Result = hashes[j][:]
	}
	if refused > maxLoggedRefusals {
		c.log.Warn("node: refused forwarded txs", "peer", from, "refused", refused, "of", len(raws))
	}
	return out
}

var _ rpc.BatchLedger = (*Node)(nil)

// SubmitBatch implements rpc.BatchLedger: the leader (or a single node)
// checks the batch in parallel and admits it into the mempool at once; a
// follower of a p2p cluster checks it and forwards it to the leader as one
// batch, then, with wait, awaits the commits locally.
func (n *Node) SubmitBatch(ctx context.Context, txs []*types.Tx, wait bool) []rpc.BatchResult {
	// Governance checks first (node removals); the refused txs leave the batch.
	var refused map[int]error
	for i, tx := range txs {
		if err := n.checkRemoval(ctx, tx); err != nil {
			if refused == nil {
				refused = map[int]error{}
			}
			refused[i] = err
		}
	}
	if refused != nil {
		var keep []*types.Tx
		var at []int
		for i, tx := range txs {
			if _, bad := refused[i]; !bad {
				keep, at = append(keep, tx), append(at, i)
			}
		}
		out := make([]rpc.BatchResult, len(txs))
		for i, err := range refused {
			out[i] = rpc.BatchResult{Hash: txs[i].Hash(), Err: err}
		}
		for j, r := range n.submitBatch(ctx, keep, wait) {
			out[at[j]] = r
		}
		return out
	}
	return n.submitBatch(ctx, txs, wait)
}

func (n *Node) submitBatch(ctx context.Context, txs []*types.Tx, wait bool) []rpc.BatchResult {
	out := make([]rpc.BatchResult, len(txs))
	if len(txs) == 0 {
		return out
	}
	if n.cl == nil || n.cons.IsLeader() {
		if wait {
			rs, errs := n.cons.SubmitBatchAndWait(ctx, txs)
			for i := range out {
				out[i] = rpc.BatchResult{Hash: rs[i].TxHash, Receipt: rpc.Receipt(rs[i]), Err: mapErr(errs[i])}
			}
			return out
		}
		hs, errs := n.cons.SubmitBatch(ctx, txs)
		for i := range out {
			out[i] = rpc.BatchResult{Hash: hs[i], Err: mapErr(errs[i])}
		}
		return out
	}
	// With wait, the txs that passed the local checks are watched from
	// before they are sent: the commit, or the leader's report that it left
	// a tx out, may come back before the forward's answer.
	var w *consensus.TxWatch
	var watched []int // index in txs of each watched tx
	var watch func([]types.Hash, []error)
	if wait {
		watch = func(hs []types.Hash, errs []error) {
			var whs []types.Hash
			for i := range hs {
				if errs[i] == nil || isReplayErr(errs[i]) {
					whs, watched = append(whs, hs[i]), append(watched, i)
				}
			}
			w = n.cons.WatchTxs(whs)
		}
	}
	hs, errs := n.cl.forwardBatch(ctx, txs, watch)
	if w != nil {
		defer w.Close()
	}
	for i := range out {
		out[i] = rpc.BatchResult{Hash: hs[i], Err: mapErr(errs[i])}
	}
	for j, i := range watched {
		if errs[i] == nil || isReplayErr(errs[i]) { // admitted by the leader, or already in the chain
			r, err := w.Wait(ctx, j)
			out[i].Receipt, out[i].Err = rpc.Receipt(r), mapErr(err)
		}
	}
	return out
}

// isReplayErr reports whether err refuses a tx because it is already in the chain.
func isReplayErr(err error) bool {
	var te *state.TxError
	return errors.As(err, &te) && te.Code == types.CodeReplay
}
