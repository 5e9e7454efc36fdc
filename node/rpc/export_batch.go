package rpc

import (
	"cmp"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"

	"github.com/medchain/medchain/chain/store"
	"github.com/medchain/medchain/chain/types"
)

// How patient_export reads the chain in bulk. An export of n entries would
// otherwise cost n tx-index reads, n leaf-index reads and about n·log2(size)
// point reads of log nodes; here each block is read and decoded once (a few at
// a time, on every core) and every log node any proof needs is read once, in
// key order, through one cursor.

// exportRef is an entry the state lists for the patient, before its tx and
// proof are read. index is the tx's position in its block, or -1 when the
// state record does not say (then the tx index is read).
type exportRef struct {
	kind     string
	hash     types.Hash
	height   uint64
	index    int64
	time     int64
	decision string
}

// exportTx is a ref with its tx and log leaf.
type exportTx struct {
	exportRef
	tx   *types.Tx // shared with the block cache: read only
	leaf uint64
}

// resolveExportTxs reads each ref's tx and leaf index, in ref order, and
// drops the refs whose leaf is at or past logSize (committed after the head
// was read). A tx that does not hash to its ref is corruption.
func resolveExportTxs(r Reader, refs []exportRef, logSize uint64) ([]exportTx, error) {
	out := make([]exportTx, 0, len(refs))
	blocks := map[uint64]*types.Block{} // the current window of blocks
	for i, ref := range refs {
		var e exportTx
		e.exportRef = ref
		if ref.index >= 0 {
			b, ok := blocks[ref.height]
			if !ok {
				var err error
				if blocks, err = readBlockWindow(r, refs[i:]); err != nil {
					return nil, err
				}
				b = blocks[ref.height]
			}
			if ref.index >= int64(len(b.Txs)) {
				return nil, fmt.Errorf("%w: state names tx %d of block %d, which has %d", store.ErrCorrupt, ref.index, ref.height, len(b.Txs))
			}
			e.tx = b.Txs[ref.index]
			if h := e.tx.Hash(); h != ref.hash {
				return nil, fmt.Errorf("%w: tx %d of block %d hashes to %s, the state says %s", store.ErrCorrupt, ref.index, ref.height, h, ref.hash)
			}
			// Every tx of a block is a log leaf, in block order.
			e.leaf = b.Header.LogSize - uint64(len(b.Txs)) + uint64(ref.index)
		} else {
			tx, _, _, _, err := r.Tx(ref.hash)
			if err != nil {
				return nil, err
			}
			if e.leaf, err = r.LeafIndex(ref.hash); err != nil {
				return nil, err
			}
			e.tx = tx
		}
		if e.leaf < logSize {
			out = append(out, e)
		}
	}
	return out, nil
}

// readBlockWindow reads the blocks of the next few distinct heights refs
// name (two per core, the first being refs[0]'s), one goroutine per core:
// reading and decoding blocks is most of an export's work.
func readBlockWindow(r Reader, refs []exportRef) (map[uint64]*types.Block, error) {
	workers := runtime.GOMAXPROCS(0)
	var heights []uint64
	seen := map[uint64]bool{}
	for _, ref := range refs {
		if ref.index < 0 || seen[ref.height] {
			continue
		}
		if len(heights) == 2*workers {
			break
		}
		seen[ref.height] = true
		heights = append(heights, ref.height)
	}
	got := make([]*types.Block, len(heights))
	errs := make([]error, len(heights))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, len(heights)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < len(heights); i = int(next.Add(1)) - 1 {
				got[i], errs[i] = r.Block(heights[i])
			}
		}()
	}
	wg.Wait()
	m := make(map[uint64]*types.Block, len(heights))
	for i, h := range heights {
		if errs[i] != nil {
			return nil, errs[i]
		}
		m[h] = got[i]
	}
	return m, nil
}

// logNodeReader is implemented by readers that can stream stored log nodes
// in key order (chain/store.Store).
type logNodeReader interface {
	LogNodeCursor() *store.LogNodeCursor
}

// inclusionProofs returns the RFC 6962 inclusion proof of each leaf in the
// log of the given size (every leaf < size), in leaves order. Readers with a
// log node cursor read each needed node once, level by level in index order;
// others answer one InclusionProof per leaf.
func inclusionProofs(r Reader, leaves []uint64, size uint64) ([][]types.Hash, error) {
	out := make([][]types.Hash, len(leaves))
	lr, ok := r.(logNodeReader)
	if !ok {
		for i, l := range leaves {
			p, err := r.InclusionProof(l, size)
			if err != nil {
				return nil, err
			}
			out[i] = p
		}
		return out, nil
	}
	plans := make([]proof.Nodes, len(leaves))
	need := map[compact.NodeID][]byte{}
	for i, l := range leaves {
		n, err := proof.Inclusion(l, size)
		if err != nil {
			return nil, fmt.Errorf("%w: inclusion of %d in size %d: %v", store.ErrOutOfRange, l, size, err)
		}
		plans[i] = n
		for _, id := range n.IDs {
			need[id] = nil
		}
	}
	ids := make([]compact.NodeID, 0, len(need))
	for id := range need {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b compact.NodeID) int {
		return cmp.Or(cmp.Compare(a.Level, b.Level), cmp.Compare(a.Index, b.Index))
	})
	c := lr.LogNodeCursor()
	defer c.Close()
	for _, id := range ids {
		h, err := c.Node(id.Level, id.Index)
		if err != nil {
			return nil, err
		}
		need[id] = h[:]
	}
	for i, n := range plans {
		hs := make([][]byte, len(n.IDs))
		for j, id := range n.IDs {
			hs[j] = need[id]
		}
		hs, err := n.Rehash(hs, types.LogHasher.HashChildren)
		if err != nil {
			return nil, fmt.Errorf("rpc: rehash proof of leaf %d: %w", leaves[i], err)
		}
		p := make([]types.Hash, len(hs))
		for j, h := range hs {
			p[j] = types.Hash(h)
		}
		out[i] = p
	}
	return out, nil
}
