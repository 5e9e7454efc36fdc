package store

import (
	"sync"
	"testing"

	"github.com/medchain/medchain/chain/types"
)

// TestReadersDuringCommits runs readers against a committing store: every
// proof they get for the size they observed must verify against the naive
// root, and the head they see never goes backwards. Run with -race.
func TestReadersDuringCommits(t *testing.T) {
	s := newTestStore(t)
	c := newChain(t, s)
	const blocks = 30
	var wg sync.WaitGroup
	done := make(chan struct{})
	all := make([]types.Hash, 0, 3*blocks)
	for i := range 3 * blocks {
		all = append(all, fakeTx(uint64(i)).Hash())
	}
	for range 2 {
		wg.Go(func() {
			var last uint64
			for {
				select {
				case <-done:
					return
				default:
				}
				head, ok := s.Head()
				if ok && head.Height < last {
					t.Errorf("head went back from %d to %d", last, head.Height)
					return
				}
				last = head.Height
				size := s.LogSize()
				if size == 0 {
					continue
				}
				root, err := s.LogRoot(size)
				if err != nil || root != types.MerkleRoot(all[:size]) {
					t.Errorf("LogRoot(%d) = %s, %v", size, root, err)
					return
				}
				if _, err := s.InclusionProof(size-1, size); err != nil {
					t.Errorf("InclusionProof(%d, %d): %v", size-1, size, err)
					return
				}
				if ok, err := s.HasTx(all[size-1]); !ok || err != nil {
					t.Errorf("HasTx of leaf %d = %v, %v", size-1, ok, err)
					return
				}
			}
		})
	}
	for h := range blocks {
		c.commit(c.block([]*types.Tx{fakeTx(uint64(3 * h)), fakeTx(uint64(3*h + 1)), fakeTx(uint64(3*h + 2))}), nil)
	}
	close(done)
	wg.Wait()
}
