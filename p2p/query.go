package p2p

import (
	"context"
	"fmt"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// QueryProtocol is the protocol id of node-to-node queries: the cluster
// layer asks a peer for its status (applied index, role) or asks the leader
// for a read index or a leadership transfer. The request and response bytes
// are the consumer's; this package only frames, bounds and authorizes them.
const QueryProtocol = "/medchain/query/1"

// maxQueryBytes bounds a query request and its response.
const maxQueryBytes = 64 << 10

// QueryHandler answers a query from an authenticated peer. It is owned by
// the consumer (the node wiring).
//
// Contract: called on its own goroutine per stream, concurrently; ctx ends at
// Config.TxTimeout or when the node closes. req is owned by the handler. The
// result is limited to 60 KiB; an error's message goes back to the sender as a
// string, so it must not hold secrets.
type QueryHandler func(ctx context.Context, from NodeRecord, req []byte) (result []byte, err error)

// SetQueryHandler installs the handler for QueryProtocol. Until it is set,
// queries are answered with an error.
func (n *Node) SetQueryHandler(h QueryHandler) {
	n.mu.Lock()
	defer n.mu.Unlock()
	first := n.qh == nil
	n.qh = h
	if first && !n.closed {
		n.host.SetStreamHandler(QueryProtocol, n.guard(QueryProtocol, n.handleQuery))
	}
}

// Query sends req to peer to and returns its handler's result; a remote
// error wraps ErrRemote. The round trip is bounded by Config.TxTimeout and ctx.
func (n *Node) Query(ctx context.Context, to peer.ID, req []byte) ([]byte, error) {
	if len(req) == 0 || len(req) > maxQueryBytes-1024 {
		return nil, fmt.Errorf("%w: query of %d bytes", ErrTooLarge, len(req))
	}
	return n.roundTrip(ctx, to, QueryProtocol, req, maxQueryBytes, "query")
}

func (n *Node) handleQuery(s network.Stream, rec NodeRecord) {
	defer s.Close()
	ctx, cancel := n.streamContext(s)
	defer cancel()
	respond := func(r txResponse) { n.reply(s, rec, "query", r) }
	req, err := readFrame(s, maxQueryBytes)
	if err != nil {
		n.log.Warn("p2p: refused query", "peer", rec.PeerID, "node_id", rec.NodeID, "reason", err.Error())
		respond(txResponse{Error: errorString(err)})
		return
	}
	n.mu.Lock()
	h := n.qh
	n.mu.Unlock()
	if h == nil {
		respond(txResponse{Error: "p2p: this node answers no queries"})
		return
	}
	res, err := h(ctx, rec, req)
	switch {
	case err != nil:
		respond(txResponse{Error: errorString(err)})
	case len(res) > maxQueryBytes-1024:
		respond(txResponse{Error: "p2p: query result too large"})
	default:
		respond(txResponse{OK: true, Result: res})
	}
}
