package rpc

import (
	"context"

	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/chain/verify"
)

// Ledger is what the RPC services need from the node. The node implements
// it over consensus and the store; tests may implement it in memory.
type Ledger interface {
	// Submit admits tx (CheckTx) and returns its hash once it is queued for a
	// block. Refusals come back as errors carrying Rejection(); a full mempool
	// as ErrBusy.
	Submit(ctx context.Context, tx *types.Tx) (types.Hash, error)
	// SubmitAndWait is Submit, then waits until the tx is in a committed
	// block. ErrTimeout means it may or may not have committed.
	SubmitAndWait(ctx context.Context, tx *types.Tx) (Receipt, error)
	// Wait returns the receipt of tx h once it is committed (at once if it
	// already is). ErrTimeout when ctx ends first.
	Wait(ctx context.Context, h types.Hash) (Receipt, error)
	// Pending reports whether a tx is in the mempool.
	Pending(h types.Hash) bool
	// Reader returns the committed chain. Call it per request: the reader
	// changes when a snapshot is restored.
	Reader() Reader
	// Genesis returns the chain definition.
	Genesis() *state.Genesis
	// Status describes this node.
	Status() NodeStatus
	// Verify checks the stored chain; progress is called with blocks done and total.
	Verify(ctx context.Context, opts verify.Options, progress func(done, total uint64)) (*verify.Report, error)
}

// BatchLedger is an optional extension of Ledger that tx_submitBatch uses
// when the ledger implements it: the batch is admitted in one step (checked
// in parallel, forwarded by a follower to the leader as one batch) instead
// of tx by tx. results[i] answers txs[i] (never nil): Err is what Submit
// (wait false) or SubmitAndWait (wait true) would have returned for it.
type BatchLedger interface {
	SubmitBatch(ctx context.Context, txs []*types.Tx, wait bool) (results []BatchResult)
}

// BatchResult is one tx's outcome in BatchLedger.SubmitBatch: its hash and,
// with wait, its receipt when Err is nil.
type BatchResult struct {
	Hash    types.Hash
	Receipt Receipt
	Err     error
}

// Reader is the committed chain: state, blocks, txs and the global log.
// chain/store implements it.
type Reader interface {
	state.View
	state.Scanner
	Head() (types.Header, bool)
	Block(height uint64) (*types.Block, error)
	BlockByHash(h types.Hash) (*types.Block, error)
	Tx(h types.Hash) (*types.Tx, types.Result, uint64, uint32, error)
	LeafIndex(txHash types.Hash) (uint64, error)
	InclusionProof(index, size uint64) ([]types.Hash, error)
	ConsistencyProof(size1, size2 uint64) ([]types.Hash, error)
}

// Receipt says where a committed tx landed and what became of it.
type Receipt struct {
	TxHash    types.Hash   `json:"tx_hash"`
	Height    uint64       `json:"height"`
	Index     uint32       `json:"index"`
	Result    types.Result `json:"result"`
	BlockHash types.Hash   `json:"block_hash"`
}

// NodeStatus describes the node for node_status and /readyz.
type NodeStatus struct {
	NodeID       string `json:"node_id"`
	ChainID      string `json:"chain_id"`
	Version      string `json:"version"`
	Role         string `json:"role"` // leader, follower, candidate, shutdown
	Leader       string `json:"leader"`
	Height       uint64 `json:"height"`
	HeadHash     string `json:"head_hash"`
	AppliedIndex uint64 `json:"applied_index"`
	MempoolSize  int    `json:"mempool_size"`
	Halted       string `json:"halted,omitempty"` // why the node stopped applying, if it did
	Ready        bool   `json:"ready"`
}
