package consensus

import (
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/medchain/medchain/chain/store"
	"github.com/medchain/medchain/chain/types"
)

// Server names one member of an initial cluster configuration.
type Server struct {
	ID      string             // the node id (Raft server id)
	Address raft.ServerAddress // where Raft reaches it (a libp2p peer id over p2p)
	Voter   bool               // false: a non-voter (observer)
}

// BootstrapCluster writes the initial Raft configuration of a multi-node
// cluster. Every initial node runs it with the same servers (testnet and
// multi-node init); it fails with ErrAlreadyBootstrapped on a data dir that
// has Raft state.
func BootstrapCluster(cfg Config, servers []Server) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if len(servers) == 0 {
		return fmt.Errorf("%w: no servers", ErrConfig)
	}
	log := cfg.logger()
	rs, err := openRaftStores(cfg, log)
	if err != nil {
		return err
	}
	defer rs.logs.Close()
	has, err := raft.HasExistingState(rs.logs, rs.logs, rs.snaps)
	if err != nil {
		return fmt.Errorf("consensus: bootstrap: %w", err)
	}
	if has {
		return ErrAlreadyBootstrapped
	}
	var conf raft.Configuration
	for _, s := range servers {
		suf := raft.Voter
		if !s.Voter {
			suf = raft.Nonvoter
		}
		conf.Servers = append(conf.Servers, raft.Server{Suffrage: suf, ID: raft.ServerID(s.ID), Address: s.Address})
	}
	if err := raft.BootstrapCluster(cfg.raftConfig(log), rs.logs, rs.logs, rs.snaps, nil, conf); err != nil {
		return fmt.Errorf("consensus: bootstrap: %w", err)
	}
	return nil
}

// CheckTx runs the executor's admission checks (signature included) on tx
// against committed state at the current time, without queueing it. A
// follower calls it before forwarding a tx to the leader, to shed bad load
// early. It returns a *state.TxError for a refusal.
func (n *Node) CheckTx(tx *types.Tx) error {
	if tx == nil {
		return fmt.Errorf("%w: nil tx", types.ErrInvalid)
	}
	if err := n.fsm.Err(); err != nil {
		return err
	}
	now := time.Now()
	return n.fsm.WithStore(func(st *store.Store) error {
		return n.admitTx(nil, st, tx, tx.Hash(), now)
	})
}

// LeadershipTransferTo asks the leader to hand leadership to the voter id at
// addr.
func (n *Node) LeadershipTransferTo(id string, addr raft.ServerAddress) error {
	return n.raft.LeadershipTransferToServer(raft.ServerID(id), addr).Error()
}

// AppliedIndex returns the index of the last Raft log entry this node's FSM
// has applied (or deterministically rejected): comparable across the nodes
// of one cluster, so a follower can wait for a leader's read index. It only
// counts entries the FSM has finished with; Raft's own applied index runs
// ahead of it while the FSM works through a backlog, and it skips Raft's
// configuration and no-op entries (after a barrier the leader's value is its
// last block entry, which every follower's FSM reaches).
func (n *Node) AppliedIndex() uint64 { return n.fsm.LastIndex() }
