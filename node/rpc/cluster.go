package rpc

import (
	"context"

	"github.com/medchain/medchain/chain/state"
)

// Read consistency levels of the reads that take a consistency param.
const (
	// ConsistencyLocal (the default, also "") reads this node's committed
	// state: on a follower it may trail the leader by a few blocks.
	ConsistencyLocal = "local"
	// ConsistencyLinearizable reflects every write acknowledged before the
	// read: the leader confirms its leadership with a quorum and the node
	// waits until it has applied the leader's commit index.
	ConsistencyLinearizable = "linearizable"
)

// ReadBarrier is an optional extension of Ledger for linearizable reads.
//
// Contract: ReadBarrier returns once this node's committed state reflects
// every write acknowledged (by any node) before the call, or an error
// (ErrUnavailable when no leader can confirm it, ErrTimeout when ctx ends).
type ReadBarrier interface {
	ReadBarrier(ctx context.Context) error
}

// barrier applies the consistency level c before a read.
func barrier(ctx context.Context, l Ledger, c string) error {
	switch c {
	case "", ConsistencyLocal:
		return nil
	case ConsistencyLinearizable:
		b, ok := l.(ReadBarrier)
		if !ok {
			return &Error{Code: CodeUnavailable, Msg: "linearizable reads are not supported by this node"}
		}
		return toRPC(b.ReadBarrier(ctx))
	}
	return invalidParams("consistency: %q is not local or linearizable", c)
}

// Cluster is an optional extension of Ledger for operators: membership,
// replication progress and leadership.
//
// Contract: methods are safe for concurrent use; ClusterStatus queries peers
// with a short timeout and reports an unreachable peer in its entry, never as
// an error of the whole call.
type Cluster interface {
	ClusterStatus(ctx context.Context) (*ClusterStatus, error)
	// TransferLeader hands leadership to the voter node id ("" lets the
	// leader choose); a follower forwards the request to the leader.
	TransferLeader(ctx context.Context, to string) error
	// Nodes returns the on-chain node records.
	Nodes() ([]state.NodeRecord, error)
}

// ClusterStatus is cluster_status's result.
type ClusterStatus struct {
	ChainID   string         `json:"chain_id"`
	Self      string         `json:"self"`
	Leader    string         `json:"leader"`            // leader node id, "" if unknown
	Applied   uint64         `json:"leader_applied"`    // the leader's applied Raft index
	Members   []MemberStatus `json:"members"`           // the Raft configuration
	Pending   []string       `json:"pending,omitempty"` // join requests waiting for approvals
	Removed   []string       `json:"removed,omitempty"` // removed nodes
	Transport string         `json:"transport"`         // "p2p" or "tcp"
}

// MemberStatus is one server of the Raft configuration.
type MemberStatus struct {
	NodeID       string `json:"node_id"`
	Address      string `json:"address"`        // Raft address: a peer id over p2p
	Suffrage     string `json:"suffrage"`       // voter or nonvoter
	Role         string `json:"role,omitempty"` // requested on chain: voter or observer
	Region       string `json:"region,omitempty"`
	State        string `json:"state,omitempty"` // Leader, Follower, Candidate; "" if unreachable
	AppliedIndex uint64 `json:"applied_index"`
	Height       uint64 `json:"height"`
	HeadHash     string `json:"head_hash,omitempty"`
	Lag          uint64 `json:"lag"` // leader's applied index minus this node's
	Error        string `json:"error,omitempty"`
}

// ClusterAPI is the cluster_ namespace.
type ClusterAPI struct {
	l Ledger
	c Cluster
}

// Status returns the members, their roles, regions and replication progress.
func (a *ClusterAPI) Status(ctx context.Context) (*ClusterStatus, error) {
	s, err := a.c.ClusterStatus(ctx)
	return s, toRPC(err)
}

// TransferLeaderParams are cluster_transferLeader's params.
type TransferLeaderParams struct {
	To string `json:"to"` // node id; "" lets the leader pick
}

// TransferLeader hands leadership to another voter.
func (a *ClusterAPI) TransferLeader(ctx context.Context, p TransferLeaderParams) (map[string]string, error) {
	if err := a.c.TransferLeader(ctx, p.To); err != nil {
		return nil, toRPC(err)
	}
	return map[string]string{"status": "transferred", "to": p.To}, nil
}

// Nodes returns the on-chain node records (pending, admitted and removed).
func (a *ClusterAPI) Nodes() ([]state.NodeRecord, error) {
	rs, err := a.c.Nodes()
	if err != nil {
		return nil, toRPC(err)
	}
	if rs == nil {
		rs = []state.NodeRecord{}
	}
	return rs, nil
}

// Genesis returns the chain's genesis document, so a joining node can start
// from it (medchain join).
func (a *ClusterAPI) Genesis() *state.Genesis { return a.l.Genesis() }
