package p2p

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/medchain/medchain/chain/codec"
	"github.com/medchain/medchain/chain/types"
)

// LeftOutProtocol is the protocol id of the leader's left-out reports
// (leader to followers): the txs the leader left out of a block at the cut,
// each with the refusal its own waiters got, so a follower that forwarded
// one wakes its waiters with the same refusal instead of letting them wait
// for their timeout. One stream carries one report and an empty answer.
const LeftOutProtocol = "/medchain/leftout/1"

// MaxLeftOutRecords bounds the records of one left-out report.
const MaxLeftOutRecords = 512

// MaxLeftOutReason bounds the reason of one left-out record, in bytes.
const MaxLeftOutReason = maxErrorLen

// maxLeftOutBytes bounds a left-out report frame: each record is a 32-byte
// hash, a code and a reason of at most maxErrorLen bytes, plus CBOR heads.
const maxLeftOutBytes = MaxLeftOutRecords*(MaxLeftOutReason+48) + 16

// maxLeftOutResponse bounds the answer to a left-out report.
const maxLeftOutResponse = maxErrorLen + 64

// LeftOut is one record of a left-out report: the tx with hash TxHash was
// left out of the leader's block and will not commit as submitted; Code and
// Reason are the refusal (a state.TxError's fields) the leader's own
// waiters of the tx got. Reason travels in clear to every follower, so it
// must not hold secrets or patient ids.
type LeftOut struct {
	TxHash types.Hash
	Code   types.ResultCode
	Reason string
}

// ValidateBasic checks the record alone: a known result code that refuses a
// tx (not ok; not replay, whose waiters get the committed copy), and a
// reason of 1 to 512 bytes of valid UTF-8.
func (l LeftOut) ValidateBasic() error {
	var known types.ResultCode
	switch {
	case l.Code == types.CodeOK || l.Code == types.CodeReplay:
		return fmt.Errorf("p2p: left-out record of tx %s: code %s refuses nothing", l.TxHash, l.Code)
	case known.UnmarshalText([]byte(l.Code.String())) != nil:
		return fmt.Errorf("p2p: left-out record of tx %s: unknown result code %d", l.TxHash, uint8(l.Code))
	case l.Reason == "":
		return fmt.Errorf("p2p: left-out record of tx %s: no reason", l.TxHash)
	case len(l.Reason) > MaxLeftOutReason:
		return fmt.Errorf("%w: left-out record of tx %s: reason of %d bytes exceeds %d", ErrTooLarge, l.TxHash, len(l.Reason), MaxLeftOutReason)
	case !utf8.ValidString(l.Reason):
		return fmt.Errorf("p2p: left-out record of tx %s: reason is not UTF-8", l.TxHash)
	}
	return nil
}

// leftOutRecord is the wire form of a LeftOut: {1: hash (32 bytes), 2: code,
// 3: reason}.
type leftOutRecord struct {
	Hash   []byte `cbor:"1,keyasint"`
	Code   uint8  `cbor:"2,keyasint"`
	Reason string `cbor:"3,keyasint"`
}

// leftOutReport is the wire form of a report: {1: [records]}.
type leftOutReport struct {
	Records []leftOutRecord `cbor:"1,keyasint"`
}

// encodeLeftOuts encodes 1 to MaxLeftOutRecords valid records as one
// report.
func encodeLeftOuts(recs []LeftOut) ([]byte, error) {
	if err := checkLeftOutCount(len(recs)); err != nil {
		return nil, err
	}
	rep := leftOutReport{Records: make([]leftOutRecord, len(recs))}
	for i, r := range recs {
		if err := r.ValidateBasic(); err != nil {
			return nil, err
		}
		rep.Records[i] = leftOutRecord{Hash: r.TxHash[:], Code: uint8(r.Code), Reason: r.Reason}
	}
	b, err := codec.Marshal(rep)
	if err != nil {
		return nil, fmt.Errorf("p2p: encode left-out report: %w", err)
	}
	return b, nil
}

// decodeLeftOuts decodes and checks a report: at most maxLeftOutBytes, 1 to
// MaxLeftOutRecords records, each a 32-byte hash and a record that passes
// ValidateBasic. Any bad record refuses the whole report.
func decodeLeftOuts(b []byte) ([]LeftOut, error) {
	if len(b) > maxLeftOutBytes {
		return nil, fmt.Errorf("%w: left-out report of %d bytes exceeds %d", ErrTooLarge, len(b), maxLeftOutBytes)
	}
	var rep leftOutReport
	if err := codec.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("p2p: bad left-out report: %w", err)
	}
	if err := checkLeftOutCount(len(rep.Records)); err != nil {
		return nil, err
	}
	out := make([]LeftOut, len(rep.Records))
	for i, r := range rep.Records {
		if len(r.Hash) != len(types.Hash{}) {
			return nil, fmt.Errorf("p2p: bad left-out report: record %d has a hash of %d bytes", i, len(r.Hash))
		}
		out[i] = LeftOut{TxHash: types.Hash(r.Hash), Code: types.ResultCode(r.Code), Reason: r.Reason}
		if err := out[i].ValidateBasic(); err != nil {
			return nil, fmt.Errorf("p2p: bad left-out report: record %d: %w", i, err)
		}
	}
	return out, nil
}

func checkLeftOutCount(n int) error {
	switch {
	case n == 0:
		return errors.New("p2p: bad left-out report: no records")
	case n > MaxLeftOutRecords:
		return fmt.Errorf("%w: left-out report of %d records exceeds %d", ErrTooLarge, n, MaxLeftOutRecords)
	}
	return nil
}

// LeftOutHandler receives a left-out report from the current leader. It is
// owned by the consumer (the node wiring on a follower).
//
// Contract: called on its own goroutine per stream, concurrently, only for a
// report whose authenticated sender is the peer the leader function given to
// SetLeftOutHandler names at that moment, and only with 1 to
// MaxLeftOutRecords records that each passed ValidateBasic. recs is owned by
// the handler. It must not block for long: the sender waits for the answer.
type LeftOutHandler func(from NodeRecord, recs []LeftOut)

// SetLeftOutHandler installs the handler for LeftOutProtocol. leader
// returns the peer id of the current Raft leader as this node knows it
// ("" when unknown); a report from any other peer is refused and logged,
// and reaches no handler. Until it is set, reports are refused.
func (n *Node) SetLeftOutHandler(leader func() peer.ID, h LeftOutHandler) {
	n.mu.Lock()
	defer n.mu.Unlock()
	first := n.loh == nil
	n.loh, n.lol = h, leader
	if first && !n.closed {
		n.host.SetStreamHandler(LeftOutProtocol, n.guard(LeftOutProtocol, n.handleLeftOut))
	}
}

// SendLeftOut sends one report of recs (1 to MaxLeftOutRecords records that
// pass ValidateBasic) to peer to and waits for its answer; a refusal by the
// peer (this node is not its leader, a bad report) wraps ErrRemote. The
// round trip is bounded by Config.TxTimeout and ctx.
func (n *Node) SendLeftOut(ctx context.Context, to peer.ID, recs []LeftOut) error {
	b, err := encodeLeftOuts(recs)
	if err != nil {
		return err
	}
	_, err = n.roundTrip(ctx, to, LeftOutProtocol, b, maxLeftOutResponse, "left-out report")
	return err
}

// Peers returns the records of the peers authenticated on a live
// connection, in peer id order.
func (n *Node) Peers() []NodeRecord {
	n.mu.Lock()
	out := make([]NodeRecord, 0, len(n.authed))
	for _, st := range n.authed {
		out = append(out, st.rec)
	}
	n.mu.Unlock()
	slices.SortFunc(out, func(a, b NodeRecord) int {
		switch {
		case a.PeerID < b.PeerID:
			return -1
		case a.PeerID > b.PeerID:
			return 1
		}
		return 0
	})
	return out
}

func (n *Node) handleLeftOut(s network.Stream, rec NodeRecord) {
	defer s.Close()
	_, cancel := n.streamContext(s)
	defer cancel()
	respond := func(r txResponse) { n.reply(s, rec, "left-out report", r) }
	refuse := func(err error) {
		n.log.Warn("p2p: refused left-out report", "peer", rec.PeerID, "node_id", rec.NodeID, "reason", err.Error())
		respond(txResponse{Error: errorString(err)})
	}
	n.mu.Lock()
	h, leader := n.loh, n.lol
	n.mu.Unlock()
	if h == nil {
		refuse(errors.New("p2p: this node takes no left-out reports"))
		return
	}
	b, err := readFrame(s, maxLeftOutBytes)
	if err != nil {
		refuse(err)
		return
	}
	// The leader is checked once the report is read (so the sender gets
	// the refusal rather than a reset stream), before it is decoded.
	if l := leader(); l == "" || l != rec.PeerID {
		refuse(fmt.Errorf("p2p: left-out report from node %q, which is not the leader this node follows", rec.NodeID))
		return
	}
	recs, err := decodeLeftOuts(b)
	if err != nil {
		refuse(err)
		return
	}
	h(rec, recs)
	respond(txResponse{OK: true})
}
