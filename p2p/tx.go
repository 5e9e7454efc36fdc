package p2p

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/medchain/medchain/chain/codec"
)

// TxProtocol is the protocol id of tx forwarding (follower to leader).
const TxProtocol = "/medchain/tx/1"

// maxTxResponse bounds a tx forwarding response frame.
const maxTxResponse = 64 << 10

// TxHandler receives a tx forwarded by an authenticated peer. It is owned by
// the consumer (the consensus proposer on the leader).
//
// Contract: called on its own goroutine per stream, concurrently; ctx ends at
// the forwarding deadline or when the node closes. raw is owned by the
// handler. result (e.g. the tx hash) is returned to the sender; an error's
// message is returned to the sender as a string, so it must not hold secrets.
// result is limited to 60 KiB.
type TxHandler func(ctx context.Context, from peer.ID, raw []byte) (result []byte, err error)

// txResponse is the wire answer to a forwarded tx.
type txResponse struct {
	OK     bool   `cbor:"1,keyasint"`
	Result []byte `cbor:"2,keyasint,omitempty"`
	Error  string `cbor:"3,keyasint,omitempty"`
}

// ValidateBasic checks that exactly one of result and error is meaningful.
func (r *txResponse) ValidateBasic() error {
	if r.OK && r.Error != "" {
		return fmt.Errorf("%w: tx response is ok with an error", ErrRemote)
	}
	if !r.OK && r.Error == "" {
		return fmt.Errorf("%w: tx response failed without a reason", ErrRemote)
	}
	if len(r.Error) > maxErrorLen {
		return fmt.Errorf("%w: tx response error of %d bytes", ErrTooLarge, len(r.Error))
	}
	return nil
}

// SetTxHandler installs the handler for forwarded txs. Until it is set,
// forwarded txs are answered with an error.
func (n *Node) SetTxHandler(h TxHandler) {
	n.mu.Lock()
	n.txh = h
	n.mu.Unlock()
}

// ForwardTx sends raw to peer to (normally the Raft leader) and returns the
// handler's result. A tx over Config.MaxTxBytes is refused locally with
// ErrTooLarge; an error from the remote handler wraps ErrRemote. The round
// trip is bounded by Config.TxTimeout and ctx.
func (n *Node) ForwardTx(ctx context.Context, to peer.ID, raw []byte) ([]byte, error) {
	if len(raw) == 0 {
		return nil, errors.New("p2p: empty tx")
	}
	if len(raw) > n.cfg.MaxTxBytes {
		return nil, fmt.Errorf("%w: tx of %d bytes exceeds %d", ErrTooLarge, len(raw), n.cfg.MaxTxBytes)
	}
	return n.roundTrip(ctx, to, TxProtocol, raw, maxTxResponse, "forward tx")
}

// roundTrip sends one request frame on a new stream of protocol proto and
// reads one txResponse frame back (at most maxResp bytes), bounded by
// Config.TxTimeout and ctx. A remote error wraps ErrRemote.
func (n *Node) roundTrip(ctx context.Context, to peer.ID, proto protocol.ID, req []byte, maxResp int, what string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.TxTimeout)
	defer cancel()
	s, _, err := n.openStream(ctx, to, proto)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	dl, _ := ctx.Deadline()
	s.SetDeadline(dl)
	if err := writeFrame(s, req); err != nil {
		s.Reset()
		return nil, fmt.Errorf("p2p: %s: %w", what, err)
	}
	s.CloseWrite()
	b, err := readFrame(s, maxResp)
	if err != nil {
		s.Reset()
		return nil, fmt.Errorf("p2p: %s: read response: %w", what, err)
	}
	var resp txResponse
	if err := codec.Unmarshal(b, &resp); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRemote, err)
	}
	if err := resp.ValidateBasic(); err != nil {
		return nil, err
	}
	if !resp.OK {
		return nil, fmt.Errorf("%w: %s", ErrRemote, resp.Error)
	}
	return resp.Result, nil
}

// streamContext bounds a handler's stream and its work by Config.TxTimeout.
func (n *Node) streamContext(s network.Stream) (context.Context, context.CancelFunc) {
	deadline := n.now().Add(n.cfg.TxTimeout)
	s.SetDeadline(deadline)
	return context.WithDeadline(n.ctx, deadline)
}

// reply writes v to s as one CBOR frame; if it cannot, it logs and resets
// the stream (the peer then sees an error, not a truncated answer).
func (n *Node) reply(s network.Stream, rec NodeRecord, what string, v any) {
	b, err := codec.Marshal(v)
	if err == nil {
		err = writeFrame(s, b)
	}
	if err != nil {
		n.log.Warn("p2p: "+what+" response not delivered", "peer", rec.PeerID, "err", err)
		s.Reset()
	}
}

func (n *Node) handleTx(s network.Stream, rec NodeRecord) {
	defer s.Close()
	ctx, cancel := n.streamContext(s)
	defer cancel()
	respond := func(r txResponse) { n.reply(s, rec, "tx", r) }
	raw, err := readFrame(s, n.cfg.MaxTxBytes)
	if err != nil {
		n.log.Warn("p2p: refused forwarded tx", "peer", rec.PeerID, "node_id", rec.NodeID, "reason", err.Error())
		respond(txResponse{Error: errorString(err)})
		return
	}
	n.mu.Lock()
	h := n.txh
	n.mu.Unlock()
	if h == nil {
		respond(txResponse{Error: "p2p: this node accepts no forwarded txs"})
		return
	}
	start := time.Now()
	res, err := h(ctx, rec.PeerID, raw)
	switch {
	case err != nil:
		respond(txResponse{Error: errorString(err)})
	case len(res) > maxTxResponse-1024:
		respond(txResponse{Error: "p2p: tx handler result too large"})
	default:
		respond(txResponse{OK: true, Result: res})
	}
	n.log.Debug("p2p: forwarded tx handled", "peer", rec.PeerID, "bytes", len(raw), "took", time.Since(start))
}
