package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDefaultsValidate(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestLoadFileThenEnv(t *testing.T) {
	path := filepath.Join(t.TempDir(), "medchain.toml")
	os.WriteFile(path, []byte("[node]\nid = \"hospital-a\"\n[rpc]\nlisten = \"127.0.0.1:9000\"\n[consensus]\nmax_block_delay = \"25ms\"\n"), 0o644)
	c, err := Load(path, []string{"MEDCHAIN_RPC_LISTEN=127.0.0.1:9100", "BLOCKCHAIN_SYNC_INTERVAL=600", "BLOCKCHAIN_ENABLED=false"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Node.ID != "hospital-a" || c.RPC.Listen != "127.0.0.1:9100" || c.Consensus.MaxBlockDelay.D() != 25*time.Millisecond {
		t.Fatalf("file or env not applied: %+v", c)
	}
	if c.EHR.DefaultSyncInterval != 600 || c.Node.Enabled {
		t.Fatalf("seed variables not applied: %+v %+v", c.EHR, c.Node)
	}
	// Our own name wins over the seed's alias.
	c, _ = Load("", []string{"BLOCKCHAIN_ENABLED=false", "MEDCHAIN_NODE_ENABLED=true"})
	if !c.Node.Enabled {
		t.Fatal("MEDCHAIN_NODE_ENABLED should win over BLOCKCHAIN_ENABLED")
	}
}

// TestGateOnByDefaultOffOnlyWhenAsked: the zero-trust gate is on unless the
// file or ZEROTRUST_ENABLED=false (the dev escape hatch) turns it off.
func TestGateOnByDefaultOffOnlyWhenAsked(t *testing.T) {
	off := filepath.Join(t.TempDir(), "off.toml")
	os.WriteFile(off, []byte("[zerotrust]\nenabled = false\n"), 0o644)
	tests := []struct {
		name string
		path string
		env  []string
		want bool
	}{
		{"default", "", nil, true},
		{"seed variable off", "", []string{"ZEROTRUST_ENABLED=false"}, false},
		{"our variable off", "", []string{"MEDCHAIN_ZEROTRUST_ENABLED=false"}, false},
		{"file off", off, nil, false},
		{"file off, env on", off, []string{"ZEROTRUST_ENABLED=true"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.path, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if c.ZeroTrust.Enabled != tt.want {
				t.Fatalf("zerotrust.enabled = %v, want %v", c.ZeroTrust.Enabled, tt.want)
			}
		})
	}
}

func TestLoadRejects(t *testing.T) {
	dir := t.TempDir()
	unknown := filepath.Join(dir, "unknown.toml")
	os.WriteFile(unknown, []byte("[rpc]\nlisten = \"127.0.0.1:1\"\nlisen = \"typo\"\n"), 0o644)
	broken := filepath.Join(dir, "broken.toml")
	os.WriteFile(broken, []byte("[rpc\n"), 0o644)
	tests := []struct {
		name, path string
		env        []string
		want       []string
	}{
		{"unknown key", unknown, nil, []string{"rpc.lisen"}},
		{"broken toml", broken, nil, []string{"broken.toml"}},
		{"missing file", filepath.Join(dir, "nope.toml"), nil, []string{"nope.toml"}},
		{"bad env bool", "", []string{"BLOCKCHAIN_ENABLED=maybe"}, []string{"MEDCHAIN_NODE_ENABLED", "true or false"}},
		{"bad env duration", "", []string{"MEDCHAIN_CONSENSUS_MAX_BLOCK_DELAY=soon"}, []string{"MAX_BLOCK_DELAY"}},
		{"every bad field named", "", []string{"MEDCHAIN_RPC_LISTEN=nohost", "MEDCHAIN_CONSENSUS_MAX_BLOCK_TXS=0", "MEDCHAIN_NODE_LOG_LEVEL=loud"},
			[]string{"rpc.listen", "consensus.max_block_txs", "node.log_level"}},
		{"snapshot and log bounds", "", []string{"MEDCHAIN_CONSENSUS_TRAILING_LOGS=0", "MEDCHAIN_CONSENSUS_SNAPSHOT_LOG_MB=8"},
			[]string{"consensus.trailing_logs", "consensus.snapshot_log_mb"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.path, tt.env)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}

func TestSaveRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.toml")
	c := DefaultConfig()
	c.Node.ID = "region-eu-1"
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("round trip: got %+v, want %+v", got, c)
	}
}

func TestInsecureHTTPOnlyOnLoopback(t *testing.T) {
	for _, tc := range []struct {
		listen string
		ok     bool
	}{{"127.0.0.1:8545", true}, {"[::1]:8545", true}, {"localhost:8545", true}, {"0.0.0.0:8545", false}, {"10.1.2.3:8545", false}, {"example.org:8545", false}} {
		c := DefaultConfig()
		c.RPC.Listen, c.RPC.InsecureHTTP = tc.listen, true
		err := c.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("listen %s with insecure_http: err = %v, want ok=%v", tc.listen, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "rpc.insecure_http") {
			t.Errorf("error does not name rpc.insecure_http: %v", err)
		}
	}
}
