package node

import (
	"context"
	"fmt"
	"sync"

	"github.com/hashicorp/raft"

	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/store"
	"github.com/medchain/medchain/node/rpc"
)

var (
	_ rpc.ReadBarrier = (*Node)(nil)
	_ rpc.Cluster     = (*Node)(nil)
)

// ReadBarrier implements rpc.ReadBarrier: see cluster.readBarrier; a node
// without p2p is its own leader and uses consensus.LinearizableBarrier.
func (n *Node) ReadBarrier(ctx context.Context) error {
	if n.cl != nil {
		return mapErr(n.cl.readBarrier(ctx))
	}
	return mapErr(n.cons.LinearizableBarrier(ctx))
}

// Nodes implements rpc.Cluster.
func (n *Node) Nodes() ([]state.NodeRecord, error) {
	var recs []state.NodeRecord
	err := n.cons.WithStore(func(st *store.Store) error {
		var err error
		recs, err = state.Nodes(st)
		return err
	})
	return recs, err
}

// TransferLeader implements rpc.Cluster; a follower forwards the request to
// the leader.
func (n *Node) TransferLeader(ctx context.Context, to string) error {
	if n.cons.IsLeader() {
		if to == n.cfg.Node.ID {
			return nil // already the leader
		}
		if n.cl != nil {
			return n.cl.transferLocal(to)
		}
		return fmt.Errorf("%w: a single node has no one to hand leadership to", rpc.ErrUnavailable)
	}
	if n.cl == nil {
		return fmt.Errorf("%w: not the leader", rpc.ErrUnavailable)
	}
	leader, err := n.cl.leaderPeer(ctx)
	if err != nil {
		return err
	}
	var ok bool
	if err := n.cl.query(ctx, leader, queryReq{Op: "transfer", To: to}, &ok); err != nil {
		return fmt.Errorf("%w: %v", rpc.ErrUnavailable, err)
	}
	return nil
}

// ClusterStatus implements rpc.Cluster: the Raft configuration with each
// member's on-chain record and, asked over p2p with a short timeout, its
// state, applied index, height and head hash.
func (n *Node) ClusterStatus(ctx context.Context) (*rpc.ClusterStatus, error) {
	servers, err := n.cons.Servers()
	if err != nil {
		return nil, mapErr(err)
	}
	recs, err := n.Nodes()
	if err != nil {
		return nil, err
	}
	byID := map[string]state.NodeRecord{}
	out := &rpc.ClusterStatus{ChainID: n.genesis.ChainID, Self: n.cfg.Node.ID, Transport: "tcp"}
	if n.cl != nil {
		out.Transport = "p2p"
	}
	for _, r := range recs {
		byID[r.NodeID] = r
		switch r.Status {
		case state.NodePending:
			out.Pending = append(out.Pending, r.NodeID)
		case state.NodeRemoved:
			out.Removed = append(out.Removed, r.NodeID)
		}
	}
	_, lid := n.cons.Leader()
	out.Leader = string(lid)
	out.Members = make([]rpc.MemberStatus, len(servers))
	var wg sync.WaitGroup
	for i, s := range servers {
		m := &out.Members[i]
		m.NodeID, m.Address, m.Suffrage = string(s.ID), string(s.Address), "voter"
		if s.Suffrage != raft.Voter {
			m.Suffrage = "nonvoter"
		}
		if r, ok := byID[m.NodeID]; ok {
			m.Role, m.Region = r.Role, r.Region
		}
		if m.NodeID == n.cfg.Node.ID {
			m.State, m.AppliedIndex = n.cons.Raft().State().String(), n.cons.AppliedIndex()
			if h, ok := n.cons.Store().Head(); ok {
				m.Height, m.HeadHash = h.Height, h.Hash().String()
			}
			continue
		}
		if n.cl == nil {
			m.Error = "no p2p layer"
			continue
		}
		wg.Go(func() {
			qctx, cancel := context.WithTimeout(ctx, statusTimeout)
			defer cancel()
			st, err := n.cl.peerStatus(qctx, m.Address)
			if err != nil {
				m.Error = err.Error()
				return
			}
			m.State, m.AppliedIndex, m.Height, m.HeadHash = st.State, st.AppliedIndex, st.Height, st.HeadHash
		})
	}
	wg.Wait()
	for _, m := range out.Members {
		if m.NodeID == out.Leader {
			out.Applied = m.AppliedIndex
		}
	}
	for i := range out.Members {
		if m := &out.Members[i]; m.Error == "" && out.Applied > m.AppliedIndex {
			m.Lag = out.Applied - m.AppliedIndex
		}
	}
	return out, nil
}
