package state

import (
	"fmt"

	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/chain/types"
)

// Log is the global log as block assembly needs it; chain/store implements it.
type Log interface {
	// LogRootAfter returns the log size and root that appending leaves
	// (tx hashes) would give, without writing.
	LogRootAfter(leaves []types.Hash) (size uint64, root types.Hash, err error)
}

// AssembleBlock executes txs as the block after prev (nil: the first block,
// linked to the genesis) on top of v, and returns the block with its header
// filled and signed by key as proposer, with the execution outcome whose
// writes go to the store's commit. Block time is max(now, prev time): it
// never goes backwards.
func (e *Executor) AssembleBlock(v View, log Log, prev *types.Header, now int64, txs []*types.Tx, proposer string, key *crypto.PrivateKey) (*types.Block, *Outcome, error) {
	return e.AssembleBlockHashes(v, log, prev, now, txs, nil, proposer, key)
}

// AssembleBlockHashes is AssembleBlock for a caller that already holds the
// txs' hashes (hashes[i] = txs[i].Hash(); nil computes them).
func (e *Executor) AssembleBlockHashes(v View, log Log, prev *types.Header, now int64, txs []*types.Tx, hashes []types.Hash, proposer string, key *crypto.PrivateKey) (*types.Block, *Outcome, error) {
	h := types.Header{ChainID: e.g.ChainID, Height: 1, PrevHash: e.g.Hash(), Time: max(now, e.g.Time), Proposer: proposer}
	_, prevState := e.GenesisState()
	if prev != nil {
		h.Height, h.PrevHash, h.Time, prevState = prev.Height+1, prev.Hash(), max(now, prev.Time), prev.StateHash
	}
	if txs == nil {
		txs = []*types.Tx{}
	}
	if hashes == nil {
		hashes = make([]types.Hash, len(txs))
		for i, tx := range txs {
			hashes[i] = tx.Hash()
		}
	}
	out, err := e.ExecuteBlock(v, prevState, BlockContext{Height: h.Height, Time: h.Time}, txs, ExecOptions{TxHashes: hashes})
	if err != nil {
		return nil, nil, fmt.Errorf("state: execute block %d: %w", h.Height, err)
	}
	b := &types.Block{Header: h, Txs: txs, Results: out.Results}
	b.Header.TxRoot = types.TxRoot(txs, hashes)
	b.Header.ResultsHash = types.ResultsHash(out.Results)
	b.Header.StateHash = out.StateHash
	if b.Header.LogSize, b.Header.LogRoot, err = log.LogRootAfter(hashes); err != nil {
		return nil, nil, fmt.Errorf("state: log root for block %d: %w", h.Height, err)
	}
	if err := b.Sign(key); err != nil {
		return nil, nil, fmt.Errorf("state: sign block %d: %w", h.Height, err)
	}
	return b, out, nil
}
