package p2p

import (
	"context"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/medchain/medchain/chain/codec"
)

// TxBatchProtocol is the protocol id of batched tx forwarding (follower to
// leader): one stream carries many txs and returns one outcome per tx, so a
// follower pays one round trip for a whole batch instead of one per tx.
const TxBatchProtocol = "/medchain/txbatch/1"

// MaxTxBatch bounds the txs of one forwarded batch.
const MaxTxBatch = 5000

// maxTxResult bounds one tx's result in a batch answer (a tx hash is 32 bytes).
const maxTxResult = 256

// TxOutcome is one tx's answer in a forwarded batch: Result (e.g. the tx
// hash) when Err is empty, else Err, the handler's refusal. Err travels as a
// string, so it must not hold secrets.
type TxOutcome struct {
	Result []byte `cbor:"1,keyasint,omitempty"`
	Err    string `cbor:"2,keyasint,omitempty"`
}

// OK reports whether the tx was accepted.
func (o TxOutcome) OK() bool { return o.Err == "" }

// TxBatchHandler receives a batch of txs forwarded by an authenticated peer.
// It is owned by the consumer (the node wiring on the leader).
//
// Contract: called on its own goroutine per stream, concurrently; ctx ends at
// Config.TxTimeout or when the node closes. raws (1 to MaxTxBatch txs, each
// non-empty and at most Config.MaxTxBytes) are owned by the handler. It
// returns exactly one outcome per tx, in order; a tx's refusal is that tx's
// outcome and does not affect the others. A result over 256 bytes or an error
// over 512 bytes is cut or replaced before it is sent.
type TxBatchHandler func(ctx context.Context, from peer.ID, raws [][]byte) []TxOutcome

// txBatchRequest is the wire form of a forwarded batch.
type txBatchRequest struct {
	Txs [][]byte `cbor:"1,keyasint"`
}

// txBatchResponse is the wire answer to a forwarded batch: one outcome per
// tx, or Error when the batch as a whole was refused.
type txBatchResponse struct {
	Outcomes []TxOutcome `cbor:"1,keyasint,omitempty"`
	Error    string      `cbor:"2,keyasint,omitempty"`
}

// decodeTxBatchRequest decodes and checks a batch request frame: 1 to
// MaxTxBatch txs. A tx that is empty or over maxTx is not an error of the
// batch: the receiver answers it with its own outcome.
func decodeTxBatchRequest(b []byte) ([][]byte, error) {
	var req txBatchRequest
	if err := codec.Unmarshal(b, &req); err != nil {
		return nil, fmt.Errorf("p2p: bad tx batch: %w", err)
	}
	switch {
	case len(req.Txs) == 0:
		return nil, fmt.Errorf("p2p: bad tx batch: no txs")
	case len(req.Txs) > MaxTxBatch:
		return nil, fmt.Errorf("%w: tx batch of %d txs exceeds %d", ErrTooLarge, len(req.Txs), MaxTxBatch)
	}
	return req.Txs, nil
}

// decodeTxBatchResponse decodes and checks the answer to a batch of want
// txs: the batch error, or exactly want outcomes each within its limits.
func decodeTxBatchResponse(b []byte, want int) ([]TxOutcome, error) {
	var resp txBatchResponse
	if err := codec.Unmarshal(b, &resp); err != nil {
		return nil, fmt.Errorf("%w: bad tx batch answer: %v", ErrRemote, err)
	}
	if resp.Error != "" {
		if len(resp.Error) > maxErrorLen || len(resp.Outcomes) > 0 {
			return nil, fmt.Errorf("%w: malformed tx batch refusal", ErrRemote)
		}
		return nil, fmt.Errorf("%w: %s", ErrRemote, resp.Error)
	}
	if len(resp.Outcomes) != want {
		return nil, fmt.Errorf("%w: %d outcomes for a batch of %d txs", ErrRemote, len(resp.Outcomes), want)
	}
	for i, o := range resp.Outcomes {
		if len(o.Err) > maxErrorLen || len(o.Result) > maxTxResult || (o.Err == "" && len(o.Result) == 0) {
			return nil, fmt.Errorf("%w: malformed outcome %d in a tx batch answer", ErrRemote, i)
		}
	}
	return resp.Outcomes, nil
}

// maxBatchResponse bounds a batch answer frame.
const maxBatchResponse = MaxTxBatch*(maxErrorLen+maxTxResult+16) + 1024

// SetTxBatchHandler installs the handler for TxBatchProtocol. Until it is
// set, forwarded batches are answered with an error.
func (n *Node) SetTxBatchHandler(h TxBatchHandler) {
	n.mu.Lock()
	defer n.mu.Unlock()
	first := n.tbh == nil
	n.tbh = h
	if first && !n.closed {
		n.host.SetStreamHandler(TxBatchProtocol, n.guard(TxBatchProtocol, n.handleTxBatch))
	}
}

// MaxBatchBytes returns Config.MaxBatchBytes, the largest encoded batch
// ForwardTxs sends: raw txs plus at most 5 bytes of framing each, plus 8.
func (n *Node) MaxBatchBytes() int { return n.cfg.MaxBatchBytes }

// ForwardTxs sends raws (1 to MaxTxBatch txs, encoded within
// Config.MaxBatchBytes) to peer to (normally the Raft leader) in one round trip and
// returns one outcome per tx, in order. A tx the remote handler refused has
// its reason in its outcome; an error means the batch as a whole failed (too
// large, unreachable peer, refused stream, malformed answer: a refusal by
// the remote wraps ErrRemote) and none of the txs is known to be accepted.
// The round trip is bounded by Config.TxTimeout and ctx.
func (n *Node) ForwardTxs(ctx context.Context, to peer.ID, raws [][]byte) ([]TxOutcome, error) {
	if len(raws) == 0 {
		return nil, fmt.Errorf("p2p: empty tx batch")
	}
	if len(raws) > MaxTxBatch {
		return nil, fmt.Errorf("%w: tx batch of %d txs exceeds %d", ErrTooLarge, len(raws), MaxTxBatch)
	}
	for i, raw := range raws {
		if len(raw) == 0 {
			return nil, fmt.Errorf("p2p: tx %d of the batch is empty", i)
		}
		if len(raw) > n.cfg.MaxTxBytes {
			return nil, fmt.Errorf("%w: tx %d of %d bytes exceeds %d", ErrTooLarge, i, len(raw), n.cfg.MaxTxBytes)
		}
	}
	req, err := codec.Marshal(txBatchRequest{Txs: raws})
	if err != nil {
		return nil, fmt.Errorf("p2p: encode tx batch: %w", err)
	}
	if len(req) > n.cfg.MaxBatchBytes {
		return nil, fmt.Errorf("%w: tx batch of %d bytes exceeds %d", ErrTooLarge, len(req), n.cfg.MaxBatchBytes)
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.TxTimeout)
	defer cancel()
	s, _, err := n.openStream(ctx, to, TxBatchProtocol)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	dl, _ := ctx.Deadline()
	s.SetDeadline(dl)
	if err := writeFrame(s, req); err != nil {
		s.Reset()
		return nil, fmt.Errorf("p2p: forward tx batch: %w", err)
	}
	s.CloseWrite()
	b, err := readFrame(s, maxBatchResponse)
	if err != nil {
		s.Reset()
		return nil, fmt.Errorf("p2p: forward tx batch: read response: %w", err)
	}
	return decodeTxBatchResponse(b, len(raws))
}

func (n *Node) handleTxBatch(s network.Stream, rec NodeRecord) {
	defer s.Close()
	ctx, cancel := n.streamContext(s)
	defer cancel()
	respond := func(r txBatchResponse) { n.reply(s, rec, "tx batch", r) }
	refuse := func(err error) {
		n.log.Warn("p2p: refused forwarded tx batch", "peer", rec.PeerID, "node_id", rec.NodeID, "reason", err.Error())
		respond(txBatchResponse{Error: errorString(err)})
	}
	b, err := readFrame(s, n.cfg.MaxBatchBytes)
	if err != nil {
		refuse(err)
		return
	}
	raws, err := decodeTxBatchRequest(b)
	if err != nil {
		refuse(err)
		return
	}
	n.mu.Lock()
	h := n.tbh
	n.mu.Unlock()
	if h == nil {
		refuse(fmt.Errorf("p2p: this node accepts no forwarded tx batches"))
		return
	}
	// Txs the sender should not have sent get their own refusal; the rest go
	// to the handler, and the outcomes are merged back in order.
	out := make([]TxOutcome, len(raws))
	good := make([][]byte, 0, len(raws))
	at := make([]int, 0, len(raws))
	for i, raw := range raws {
		switch {
		case len(raw) == 0:
			out[i].Err = "p2p: empty tx"
		case len(raw) > n.cfg.MaxTxBytes:
			out[i].Err = fmt.Sprintf("%s: tx of %d bytes exceeds %d", ErrTooLarge, len(raw), n.cfg.MaxTxBytes)
		default:
			good = append(good, raw)
			at = append(at, i)
		}
	}
	start := time.Now()
	if len(good) > 0 {
		res := h(ctx, rec.PeerID, good)
		if len(res) != len(good) {
			refuse(fmt.Errorf("p2p: tx batch handler answered %d of %d txs", len(res), len(good)))
			return
		}
		for j, o := range res {
			out[at[j]] = sanitizeOutcome(o)
		}
	}
	respond(txBatchResponse{Outcomes: out})
	n.log.Debug("p2p: forwarded tx batch handled", "peer", rec.PeerID, "txs", len(raws), "bytes", len(b), "took", time.Since(start))
}

// sanitizeOutcome keeps an outcome within the wire limits.
func sanitizeOutcome(o TxOutcome) TxOutcome {
	switch {
	case o.Err != "":
		return TxOutcome{Err: errorString(fmt.Errorf("%s", o.Err))}
	case len(o.Result) == 0:
		return TxOutcome{Err: "p2p: tx batch handler gave no result"}
	case len(o.Result) > maxTxResult:
		return TxOutcome{Err: "p2p: tx batch handler result too large"}
	}
	return o
}
