package node

import (
	"strings"
	"testing"

	"github.com/medchain/medchain/chain/codec"
	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/types"
)

// mapView is committed state held in a map, for rules read off state.
type mapView map[string][]byte

func (m mapView) Get(k []byte) ([]byte, bool, error) { v, ok := m[string(k)]; return v, ok, nil }
func (m mapView) HasTx(types.Hash) (bool, error)     { return false, nil }

// TestVoterMustHoldTheClusterKey: a caught-up node is promoted to voter only
// once a grant of the chain's current cluster key to it is on chain, it has
// applied the block carrying it and it reports holding that key (opened with
// its seal key); a chain without a cluster key promotes at once.
func TestVoterMustHoldTheClusterKey(t *testing.T) {
	info := codec.MustMarshal(&state.ClusterKeyInfo{KeyID: "ck-2", Height: 5})
	grant := func(keyID string, height uint64) []byte {
		return codec.MustMarshal(&state.ClusterKeyGrantRecord{NodeID: "node-4", KeyID: keyID, Wrapped: []byte{1}, GrantedBy: "node-1", Height: height})
	}
	for _, tc := range []struct {
		name    string
		view    mapView
		height  uint64
		held    string // the key id the node reports holding
		waitFor string // "" means it may vote
	}{
		{"chain without a cluster key", mapView{}, 1, "", ""},
		{"no grant yet", mapView{string(state.ClusterKeyInfoKey()): info}, 20, "", "no grant"},
		{"grant of a retired key", mapView{string(state.ClusterKeyInfoKey()): info, string(state.ClusterKeyGrantKey("node-4")): grant("ck-1", 3)}, 20, "ck-1", "no grant"},
		{"grant not applied by the node", mapView{string(state.ClusterKeyInfoKey()): info, string(state.ClusterKeyGrantKey("node-4")): grant("ck-2", 12)}, 11, "", "has not applied"},
		{"grant applied, key not opened", mapView{string(state.ClusterKeyInfoKey()): info, string(state.ClusterKeyGrantKey("node-4")): grant("ck-2", 12)}, 12, "", "could not open"},
		{"grant applied, key held", mapView{string(state.ClusterKeyInfoKey()): info, string(state.ClusterKeyGrantKey("node-4")): grant("ck-2", 12)}, 12, "ck-2", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			why, err := awaitsClusterKey(tc.view, "node-4", tc.height, tc.held)
			if err != nil {
				t.Fatal(err)
			}
			if tc.waitFor == "" && why != "" || tc.waitFor != "" && !strings.Contains(why, tc.waitFor) {
				t.Fatalf("awaits %q, want %q", why, tc.waitFor)
			}
		})
	}
}
