package consensus

import (
	"bytes"

	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/types"
)

// genesisView layers the genesis state writes over the store until block 1
// commits them (the store has no separate genesis-state path: block 1's
// commit carries them). It is read-only and safe for concurrent readers.
type genesisView struct {
	base   state.View
	writes map[string]state.Write
}

var _ state.View = (*genesisView)(nil)

func newGenesisView(base state.View, ws []state.Write) *genesisView {
	m := make(map[string]state.Write, len(ws))
	for _, w := range ws {
		m[string(w.Key)] = w
	}
	return &genesisView{base: base, writes: m}
}

// Get implements state.View.
func (g *genesisView) Get(key []byte) ([]byte, bool, error) {
	if w, ok := g.writes[string(key)]; ok {
		if w.Delete {
			return nil, false, nil
		}
		return bytes.Clone(w.Value), true, nil
	}
	return g.base.Get(key)
}

// HasTx implements state.View.
func (g *genesisView) HasTx(h types.Hash) (bool, error) { return g.base.HasTx(h) }

// mergeWrites returns base overridden by over, sorted by key.
func mergeWrites(base, over []state.Write) []state.Write {
	m := make(map[string]state.Write, len(base)+len(over))
	for _, w := range base {
		m[string(w.Key)] = w
	}
	for _, w := range over {
		m[string(w.Key)] = w
	}
	out := make([]state.Write, 0, len(m))
	for _, w := range m {
		out = append(out, w)
	}
	state.SortWrites(out)
	return out
}
