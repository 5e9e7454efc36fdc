package node

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/p2p"
)

// Left-out reports. On a chain that pseudonymizes, the leader may leave an
// admitted tx out of its block at the cut (a signature made stale by a key
// rotation, a patient erased meanwhile): its own waiters get the refusal at
// once (consensus answerLeftOut), and consensus reports it through
// consensus.Config.LeftOut to queueLeftOut. A goroutine (sendLeftOuts) sends
// what is queued, in reports of up to p2p.MaxLeftOutRecords, to every
// authenticated peer in the Raft configuration (p2p.LeftOutProtocol); a
// follower takes a report only from the peer it follows as leader (p2p checks the authenticated peer id,
// handleLeftOut the node id) and wakes its waiters of those txs with the
// same refusal (consensus.Node.LeftOut), so a client that submitted with
// wait through it gets the leader's answer instead of a timeout. Best
// effort: the proposer never waits (a full queue drops the report and
// counts it), and a follower the report misses answers at its timeout, as
// before.
const (
	// leftOutQueue bounds the left-out txs waiting to be sent. Left-outs
	// are rare: a full queue means the sender is stuck on unreachable peers.
	leftOutQueue = 4096
)

// leftOuts is the leader's queue of left-out txs and its counters.
type leftOuts struct {
	queue   chan p2p.LeftOut
	dropped atomic.Uint64 // not queued: the queue was full
	sent    atomic.Uint64 // records sent in reports the peer accepted
}

func newLeftOuts() *leftOuts { return &leftOuts{queue: make(chan p2p.LeftOut, leftOutQueue)} }

// register exports the left-out counters on reg.
func (l *leftOuts) register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "medchain_leftout_dropped_total",
			Help: "Txs this node, leading, left out of a block whose report to the followers was dropped (queue full)."}, func() float64 { return float64(l.dropped.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "medchain_leftout_sent_total",
			Help: "Left-out tx records this node, leading, delivered to followers (one per tx and follower)."}, func() float64 { return float64(l.sent.Load()) }),
	} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("node: left-out metrics: %w", err)
		}
	}
	return nil
}

// LeftOutStats returns how many left-out tx records this node, leading,
// delivered to followers (one per tx and follower) and how many it dropped
// because its queue was full; zero on a node without p2p. They are exported
// as medchain_leftout_sent_total and medchain_leftout_dropped_total.
func (n *Node) LeftOutStats() (sent, dropped uint64) {
	if n.cl == nil {
		return 0, 0
	}
	return n.cl.left.sent.Load(), n.cl.left.dropped.Load()
}

// queueLeftOut is consensus.Config.LeftOut: it queues the record for the
// followers and returns at once (it runs on the proposer's goroutine). The
// reason is cut to the wire's 512 bytes of UTF-8 if need be.
func (c *cluster) queueLeftOut(h types.Hash, refusal *state.TxError) {
	reason := strings.ToValidUTF8(refusal.Reason, "?")
	if len(reason) > p2p.MaxLeftOutReason {
		reason = strings.ToValidUTF8(reason[:p2p.MaxLeftOutReason], "")
	}
	if reason == "" {
		reason = refusal.Code.String()
	}
	rec := p2p.LeftOut{TxHash: h, Code: refusal.Code, Reason: reason}
	if err := rec.ValidateBasic(); err != nil {
		c.log.Warn("node: left-out tx not reported to the followers", "tx", h, "err", err)
		return
	}
	select {
	case c.left.queue <- rec:
	default:
		if d := c.left.dropped.Add(1); d == 1 || d%100 == 0 {
			c.log.Warn("node: left-out report queue full; the followers' waiters of the tx wait for their timeout", "tx", h, "dropped", d)
		}
	}
}

// sendLeftOuts sends the queued left-out records until the cluster stops:
// everything queued at once goes in one report (up to
// p2p.MaxLeftOutRecords), to every authenticated peer in the Raft
// configuration, in parallel, while this node leads (a follower takes
// reports from its leader only).
func (c *cluster) sendLeftOuts() {
	defer c.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-c.stop
		cancel()
	}()
	for {
		var recs []p2p.LeftOut
		select {
		case r := <-c.left.queue:
			recs = append(recs, r)
		case <-c.stop:
			return
		}
	more:
		for len(recs) < p2p.MaxLeftOutRecords {
			select {
			case r := <-c.left.queue:
				recs = append(recs, r)
			default:
				break more
			}
		}
		if !c.n.cons.IsLeader() {
			c.log.Info("node: left-out txs not reported: this node no longer leads", "txs", len(recs))
			continue
		}
		members := map[string]bool{}
		if servers, err := c.n.cons.Servers(); err == nil {
			for _, s := range servers {
				members[string(s.ID)] = true
			}
		}
		var wg sync.WaitGroup
		for _, p := range c.p2p.Peers() {
			if !members[p.NodeID] { // only the Raft configuration's members follow this leader
				continue
			}
			wg.Go(func() {
				if err := c.p2p.SendLeftOut(ctx, p.PeerID, recs); err != nil {
					c.log.Info("node: left-out report not delivered", "node_id", p.NodeID, "txs", len(recs), "err", err)
					return
				}
				c.left.sent.Add(uint64(len(recs)))
			})
		}
		wg.Wait()
	}
}

// leaderPeerID returns the peer id of the Raft leader this node follows,
// "" when none is known (p2p.SetLeftOutHandler's leader).
func (c *cluster) leaderPeerID() peer.ID {
	addr, _ := c.n.cons.Leader()
	if addr == "" {
		return ""
	}
	pid, err := peer.Decode(string(addr))
	if err != nil {
		return ""
	}
	return pid
}

// handleLeftOut is a follower's side of a left-out report, from the peer it
// follows as leader (checked by p2p): it wakes its waiters of each tx with
// the leader's refusal. Nothing is stored; a tx with no waiter here is
// ignored.
func (c *cluster) handleLeftOut(from p2p.NodeRecord, recs []p2p.LeftOut) {
	if _, id := c.n.cons.Leader(); string(id) != from.NodeID {
		c.log.Warn("node: left-out report ignored: the sender is not the leader this node follows", "node_id", from.NodeID, "leader", id)
		return
	}
	for _, r := range recs {
		if err := c.n.cons.LeftOut(r.TxHash, &state.TxError{Code: r.Code, Reason: r.Reason}); err != nil {
			c.log.Warn("node: left-out record ignored", "node_id", from.NodeID, "tx", r.TxHash, "err", err)
		}
	}
	c.log.Debug("node: the leader left txs out of its block", "node_id", from.NodeID, "txs", len(recs))
}
