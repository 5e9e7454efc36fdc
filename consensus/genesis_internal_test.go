package consensus

import (
	"testing"

	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/store"
)

// openGenesis returns g's executor and an in-memory store holding g's
// genesis (closed when the test ends), opened with opts: the base of the
// internal tests that drive the cut or the FSM without a Raft.
func openGenesis(t *testing.T, g *state.Genesis) (*state.Executor, *store.Store, store.Options) {
	t.Helper()
	ex, err := state.NewExecutor(g)
	if err != nil {
		t.Fatal(err)
	}
	opts := store.TestOptions()
	st, err := store.Open("db", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := InitStore(st, g); err != nil {
		t.Fatal(err)
	}
	return ex, st, opts
}
