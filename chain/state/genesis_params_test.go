package state

import (
	"strings"
	"testing"

	"github.com/medchain/medchain/chain/types"
)

// TestGenesisParamsBounds: a genesis names the chain's limits; one outside
// them is refused with the key and the range, and the edges are accepted.
func TestGenesisParamsBounds(t *testing.T) {
	f := newGovFixture(t)
	for _, tc := range []struct {
		name    string
		edit    func(*Params)
		wantErr string // "" when the genesis must be accepted
	}{
		{"defaults", func(*Params) {}, ""},
		{"smallest tx limit", func(p *Params) { p.MaxTxBytes = 1024 }, ""},
		{"largest tx limit", func(p *Params) { p.MaxTxBytes = types.MaxTxBytesCeiling }, ""},
		{"tx limit too small", func(p *Params) { p.MaxTxBytes = 1023 }, "max_tx_bytes is 1023"},
		{"tx limit above the ceiling", func(p *Params) { p.MaxTxBytes = types.MaxTxBytesCeiling + 1 }, "between 1024 and 1048576"},
		{"tx limit of 1 GiB", func(p *Params) { p.MaxTxBytes = 1 << 30 }, "max_tx_bytes"},
		{"no timestamp window", func(p *Params) { p.TimestampWindowMs = 0 }, "timestamp_window_ms"},
		{"no admin threshold", func(p *Params) { p.AdminThreshold = 0 }, "admin_threshold"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := *f.ex.Genesis()
			tc.edit(&g.Params)
			err := g.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("accepted %+v", g.Params)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("error %q does not say %q", err, tc.wantErr)
			}
		})
	}
}
