package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// ErrInvalid is wrapped by every validation and parse failure.
var ErrInvalid = errors.New("config: invalid")

// Duration is a time.Duration written as "10s", "5m" in TOML and env vars.
type Duration time.Duration

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalText formats the duration.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Config is the whole node configuration.
type Config struct {
	Node       Node       `toml:"node"`
	RPC        RPC        `toml:"rpc"`
	Consensus  Consensus  `toml:"consensus"`
	Store      Store      `toml:"store"`
	EHR        EHR        `toml:"ehr"`
	P2P        P2P        `toml:"p2p"`
	ZeroTrust  ZeroTrust  `toml:"zerotrust"`
	Retention  Retention  `toml:"retention"`
	Compliance Compliance `toml:"compliance"`
}

// ZeroTrust is the RPC gate (node/zerotrust): sessions, risk, segments,
// policies, lockout, rate limits and request validation. DefaultConfig
// holds zerotrust.DefaultConfig's values; a field set to 0 means 0, and the
// node refuses to start when 0 makes no sense for it (the error names the
// field), so ZEROTRUST_MAX_RISK=0 refuses every request that carries any
// risk. The seed's ZEROTRUST_ENABLED,
// ZEROTRUST_REAUTH_INTERVAL and ZEROTRUST_MAX_RISK also apply.
type ZeroTrust struct {
	// Enabled puts the gate in front of every JSON-RPC method. Default true.
	// ZEROTRUST_ENABLED=false (or enabled = false) turns it off: a dev
	// escape hatch for a loopback node only, never for a node that serves
	// real clients (every request then goes unauthenticated).
	Enabled bool `toml:"enabled"`
	// ReauthInterval: re-sign a challenge (auth_refresh) this often. Default 300s.
	ReauthInterval Duration `toml:"reauth_interval"`
	// IdleTimeout ends an unused session. Default 30m.
	IdleTimeout Duration `toml:"idle_timeout"`
	// AbsoluteTimeout ends any session this long after login. Default 8h.
	AbsoluteTimeout Duration `toml:"absolute_timeout"`
	// MaxSessionsPerIdentity bounds concurrent sessions. Default 1.
	MaxSessionsPerIdentity int `toml:"max_sessions_per_identity"`
	// MaxRisk refuses any request scoring above it (0-100). Default 70.
	MaxRisk int `toml:"max_risk"`
	// AdminPerMinute, UserPerMinute and Burst are the rate limits by role.
	// Defaults 500, 100 and 50.
	AdminPerMinute int `toml:"admin_per_minute"`
	UserPerMinute  int `toml:"user_per_minute"`
	Burst          int `toml:"burst"`
	// MaxBatch bounds the calls of one JSON-RPC batch. Default 100.
	MaxBatch int `toml:"max_batch"`
	// LockoutFailures failed logins lock an identity for LockoutDuration.
	// Defaults 5 and 15m.
	LockoutFailures int      `toml:"lockout_failures"`
	LockoutDuration Duration `toml:"lockout_duration"`
	// QuarantineDuration blocks a brute-forcing address. Default 24h.
	QuarantineDuration Duration `toml:"quarantine_duration"`
	// AlertWebhook, if set, receives security alerts as JSON POSTs.
	AlertWebhook string `toml:"alert_webhook"`
}

// P2P is the peer layer: with it enabled, Raft and tx forwarding run over
// authenticated libp2p connections and Raft server addresses are peer ids.
type P2P struct {
	// Enabled runs Raft over libp2p (a cluster). Default false: a single
	// node with Raft on consensus.raft_listen (TCP), as make run starts.
	Enabled bool `toml:"enabled"`
	// Listen are multiaddrs to listen on. Default ["/ip4/127.0.0.1/tcp/7600"].
	Listen []string `toml:"listen"`
	// Bootstrap are full multiaddrs (ending in /p2p/<peer id>) of known peers,
	// used with the addresses in on-chain node records. Default none.
	Bootstrap []string `toml:"bootstrap"`
	// KeyFile is the Ed25519 libp2p identity, relative to the data dir.
	// Default "keys/p2p.key".
	KeyFile string `toml:"key_file"`
	// Region is this node's region, put in its join request. Default "".
	Region string `toml:"region"`
	// ReauthenticationInterval is how often peers repeat the ML-DSA
	// handshake. Default 300s.
	ReauthenticationInterval Duration `toml:"reauthentication_interval"`
}

// Node is the node's identity and files.
type Node struct {
	// ID is this node's identity on chain (role "node"). Default "node-1".
	ID string `toml:"id"`
	// DataDir holds the chain, Raft log, keys and genesis. Default ".medchain".
	DataDir string `toml:"data_dir"`
	// KeyFile is the node's ML-DSA key, relative to DataDir unless absolute. Default "keys/node.key".
	KeyFile string `toml:"key_file"`
	// LogLevel is debug, info, warn or error. Default info.
	LogLevel string `toml:"log_level"`
	// Enabled false refuses to start the ledger (the seed's BLOCKCHAIN_ENABLED). Default true.
	Enabled bool `toml:"enabled"`
}

// RPC is the JSON-RPC listener.
type RPC struct {
	// Listen is host:port. Default 127.0.0.1:8545.
	Listen string `toml:"listen"`
	// MaxBodyBytes bounds a request body. Default 10 MiB (the seed's max_request_size).
	MaxBodyBytes int `toml:"max_body_bytes"`
	// BatchLimit bounds the calls in one batch. Default 1000.
	BatchLimit int `toml:"batch_limit"`
	// BatchResponseBytes bounds a batch response. Default 25 MiB.
	BatchResponseBytes int `toml:"batch_response_bytes"`
	// WaitTimeout bounds tx_submit with wait. Default 30s.
	WaitTimeout Duration `toml:"wait_timeout"`
	// Pprof serves Go's profiler at /debug/pprof/ on the RPC listener, for
	// operators chasing a performance problem. Default false.
	Pprof bool `toml:"pprof"`
	// TLSCert and TLSKey are the listener's PEM certificate chain and key,
	// relative to the data dir unless absolute. The listener speaks TLS 1.3
	// only, X25519MLKEM768 preferred. medchain certs (and init --dev) write
	// dev ones. Default "tls/server.crt" and "tls/server.key".
	TLSCert string `toml:"tls_cert"`
	TLSKey  string `toml:"tls_key"`
	// InsecureHTTP serves plain HTTP instead of HTTPS: a dev flag, refused
	// unless listen is a loopback address. Default false.
	InsecureHTTP bool `toml:"insecure_http"`
}

// Consensus tunes Raft and block production.
type Consensus struct {
	// RaftListen is the Raft transport address. Default 127.0.0.1:7400.
	RaftListen string `toml:"raft_listen"`
	// MaxBlockTxs cuts a block at this many txs. Default 2000.
	MaxBlockTxs int `toml:"max_block_txs"`
	// MaxBlockDelay cuts a block this long after its first tx. Default 10ms.
	MaxBlockDelay Duration `toml:"max_block_delay"`
	// MempoolSize bounds pending txs; beyond it submissions get "busy". Default 50000.
	MempoolSize int `toml:"mempool_size"`
	// VerifyTxSignatures re-checks every tx signature when applying blocks. Default false
	// (the leader checks each tx once; followers check the proposer's header signature).
	VerifyTxSignatures bool `toml:"verify_tx_signatures"`
	// SnapshotInterval is how often Raft considers a snapshot. Default 2m.
	SnapshotInterval Duration `toml:"snapshot_interval"`
	// SnapshotThreshold is how many log entries trigger a snapshot. Default 8192.
	SnapshotThreshold uint64 `toml:"snapshot_threshold"`
	// SnapshotLogMB is how many MiB of Raft log since the last snapshot
	// trigger one (blocks are large, so this usually fires before
	// SnapshotThreshold). At least 16 (the largest block). Default 1024.
	SnapshotLogMB int `toml:"snapshot_log_mb"`
	// TrailingLogs is how many Raft entries (blocks) a snapshot leaves in
	// the log: a follower at most this far behind catches up from the log,
	// one further behind (or a new node) installs a snapshot. Default 2048.
	TrailingLogs uint64 `toml:"trailing_logs"`
	// Join starts a node with no Raft state that waits for the leader to add
	// it after its admission on chain (medchain join). Default false.
	Join bool `toml:"join"`
}

// Store tunes Pebble.
type Store struct {
	// Sync makes Pebble sync its write-ahead log on every block commit when WAL
	// is on. Default true. Every block is durable before it is applied
	// whatever this says: raft-boltdb fsyncs the Raft log.
	Sync bool `toml:"sync"`
	// WAL turns Pebble's own write-ahead log on. Default false: the Raft log
	// is the write-ahead log of every block, the store is flushed before each
	// Raft snapshot and on a clean stop, and after a crash the node re-applies
	// from the Raft log the blocks written since the last memtable flush.
	// Turning it on writes every block a third time (Raft log, WAL,
	// sstable), for a faster restart after a crash.
	WAL bool `toml:"wal"`
	// CacheMB is Pebble's block cache. Default 256.
	CacheMB int `toml:"cache_mb"`
}

// EHR holds EHR integration defaults.
type EHR struct {
	// DefaultSyncInterval (seconds) applies to EHR registrations that give none
	// (the seed's BLOCKCHAIN_SYNC_INTERVAL). Default 300.
	DefaultSyncInterval int `toml:"default_sync_interval"`
}

// DefaultConfig returns the defaults documented on each field.
func DefaultConfig() Config {
	return Config{
		Node: Node{ID: "node-1", DataDir: ".medchain", KeyFile: "keys/node.key", LogLevel: "info", Enabled: true},
		RPC:  RPC{Listen: "127.0.0.1:8545", MaxBodyBytes: 10 << 20, BatchLimit: 1000, BatchResponseBytes: 25 << 20, WaitTimeout: Duration(30 * time.Second), TLSCert: "tls/server.crt", TLSKey: "tls/server.key"},
		Consensus: Consensus{RaftListen: "127.0.0.1:7400", MaxBlockTxs: 2000, MaxBlockDelay: Duration(10 * time.Millisecond), MempoolSize: 50000, SnapshotInterval: Duration(2 * time.Minute), SnapshotThreshold: 8192,
			SnapshotLogMB: 1024, TrailingLogs: 2048},
		Store: Store{Sync: true, CacheMB: 256},
		EHR:   EHR{DefaultSyncInterval: 300},
		ZeroTrust: ZeroTrust{Enabled: true, ReauthInterval: Duration(300 * time.Second), IdleTimeout: Duration(30 * time.Minute),
			AbsoluteTimeout: Duration(8 * time.Hour), MaxSessionsPerIdentity: 1, MaxRisk: 70, AdminPerMinute: 500, UserPerMinute: 100,
			Burst: 50, MaxBatch: 100, LockoutFailures: 5, LockoutDuration: Duration(15 * time.Minute), QuarantineDuration: Duration(24 * time.Hour)},
		Retention:  DefaultRetention(),
		Compliance: Compliance{MaxKeyAgeDays: 365, AuditRecentDays: 30, VerifyMaxBlocks: 10000},
		P2P:        P2P{Listen: []string{"/ip4/127.0.0.1/tcp/7600"}, KeyFile: "keys/p2p.key", ReauthenticationInterval: Duration(300 * time.Second)},
	}
}

// Load reads path (if not empty) over the defaults, applies the environment
// and validates.
func Load(path string, env []string) (Config, error) {
	c := DefaultConfig()
	if path != "" {
		md, err := toml.DecodeFile(path, &c)
		if err != nil {
			return c, fmt.Errorf("%w: %s: %v", ErrInvalid, path, err)
		}
		if und := md.Undecoded(); len(und) > 0 {
			keys := make([]string, len(und))
			for i, k := range und {
				keys[i] = k.String()
			}
			return c, fmt.Errorf("%w: %s: unknown keys %s", ErrInvalid, path, strings.Join(keys, ", "))
		}
	}
	if err := c.ApplyEnv(env); err != nil {
		return c, err
	}
	return c, c.Validate()
}

// ApplyEnv applies MEDCHAIN_<SECTION>_<KEY> variables and the seed's
// BLOCKCHAIN_ENABLED and BLOCKCHAIN_SYNC_INTERVAL from env ("K=V" pairs).
func (c *Config) ApplyEnv(env []string) error {
	vars := map[string]string{}
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	aliases := map[string]string{"BLOCKCHAIN_ENABLED": "MEDCHAIN_NODE_ENABLED", "BLOCKCHAIN_SYNC_INTERVAL": "MEDCHAIN_EHR_DEFAULT_SYNC_INTERVAL",
		"ZEROTRUST_ENABLED": "MEDCHAIN_ZEROTRUST_ENABLED", "ZEROTRUST_REAUTH_INTERVAL": "MEDCHAIN_ZEROTRUST_REAUTH_INTERVAL", "ZEROTRUST_MAX_RISK": "MEDCHAIN_ZEROTRUST_MAX_RISK"}
	for seed, ours := range aliases {
		if v, ok := vars[seed]; ok {
			if _, set := vars[ours]; !set {
				vars[ours] = v
			}
		}
	}
	var errs []error
	rv := reflect.ValueOf(c).Elem()
	for i := 0; i < rv.NumField(); i++ {
		section := rv.Type().Field(i).Tag.Get("toml")
		sv := rv.Field(i)
		for j := 0; j < sv.NumField(); j++ {
			key := sv.Type().Field(j).Tag.Get("toml")
			name := "MEDCHAIN_" + strings.ToUpper(section+"_"+key)
			v, ok := vars[name]
			if !ok {
				continue
			}
			if err := setField(sv.Field(j), v); err != nil {
				errs = append(errs, fmt.Errorf("%w: %s=%q: %v", ErrInvalid, name, v, err))
			}
		}
	}
	return errors.Join(errs...)
}

func setField(f reflect.Value, v string) error {
	if f.Type() == reflect.TypeOf(Duration(0)) {
		if n, err := strconv.Atoi(v); err == nil { // bare numbers are seconds, as the seed's intervals
			f.SetInt(int64(time.Duration(n) * time.Second))
			return nil
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			return err
		}
		f.SetInt(int64(d))
		return nil
	}
	switch f.Kind() {
	case reflect.Slice:
		if f.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("unsupported field kind %s", f.Kind())
		}
		var l []string
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				l = append(l, s)
			}
		}
		f.Set(reflect.ValueOf(l))
	case reflect.String:
		f.SetString(v)
	case reflect.Bool:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("want true or false")
		}
		f.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("want an integer")
		}
		f.SetInt(n)
	case reflect.Uint64:
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return fmt.Errorf("want a non-negative integer")
		}
		f.SetUint(n)
	default:
		return fmt.Errorf("unsupported field kind %s", f.Kind())
	}
	return nil
}

// Validate reports every bad field at once.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s: %s", ErrInvalid, field, fmt.Sprintf(format, args...)))
	}
	if c.Node.ID == "" {
		bad("node.id", "required")
	}
	if c.Node.DataDir == "" {
		bad("node.data_dir", "required")
	}
	if c.Node.KeyFile == "" {
		bad("node.key_file", "required")
	}
	switch c.Node.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("node.log_level", "%q is not debug, info, warn or error", c.Node.LogLevel)
	}
	if err := checkHostPort(c.RPC.Listen); err != nil {
		bad("rpc.listen", "%v", err)
	}
	if c.RPC.InsecureHTTP {
		if err := checkLoopback(c.RPC.Listen); err != nil {
			bad("rpc.insecure_http", "plain HTTP is a dev setting for loopback only: %v (serve HTTPS, or listen on 127.0.0.1)", err)
		}
	} else if c.RPC.TLSCert == "" || c.RPC.TLSKey == "" {
		bad("rpc.tls_cert", "HTTPS needs tls_cert and tls_key (medchain certs writes dev ones)")
	}
	if c.RPC.MaxBodyBytes < 1024 || c.RPC.MaxBodyBytes > 64<<20 {
		bad("rpc.max_body_bytes", "%d is outside [1024, 64 MiB]", c.RPC.MaxBodyBytes)
	}
	if c.RPC.BatchLimit < 1 || c.RPC.BatchLimit > 100000 {
		bad("rpc.batch_limit", "%d is outside [1, 100000]", c.RPC.BatchLimit)
	}
	if c.RPC.BatchResponseBytes < 1024 {
		bad("rpc.batch_response_bytes", "%d is below 1024", c.RPC.BatchResponseBytes)
	}
	if c.RPC.WaitTimeout.D() < 100*time.Millisecond {
		bad("rpc.wait_timeout", "%v is below 100ms", c.RPC.WaitTimeout.D())
	}
	if err := checkHostPort(c.Consensus.RaftListen); err != nil {
		bad("consensus.raft_listen", "%v", err)
	}
	if c.Consensus.MaxBlockTxs < 1 || c.Consensus.MaxBlockTxs > 20000 {
		bad("consensus.max_block_txs", "%d is outside [1, 20000]", c.Consensus.MaxBlockTxs)
	}
	if d := c.Consensus.MaxBlockDelay.D(); d < time.Millisecond || d > 10*time.Second {
		bad("consensus.max_block_delay", "%v is outside [1ms, 10s]", d)
	}
	if c.Consensus.MempoolSize < c.Consensus.MaxBlockTxs {
		bad("consensus.mempool_size", "%d is below max_block_txs (%d)", c.Consensus.MempoolSize, c.Consensus.MaxBlockTxs)
	}
	if c.Consensus.SnapshotInterval.D() < time.Second {
		bad("consensus.snapshot_interval", "%v is below 1s", c.Consensus.SnapshotInterval.D())
	}
	if c.Consensus.SnapshotThreshold < 16 {
		bad("consensus.snapshot_threshold", "%d is below 16", c.Consensus.SnapshotThreshold)
	}
	if c.Consensus.SnapshotLogMB < 16 || c.Consensus.SnapshotLogMB > 1<<20 {
		bad("consensus.snapshot_log_mb", "%d is outside [16, %d] (a snapshot every block or never)", c.Consensus.SnapshotLogMB, 1<<20)
	}
	if c.Consensus.TrailingLogs < 1 {
		bad("consensus.trailing_logs", "%d is below 1", c.Consensus.TrailingLogs)
	}
	if c.Store.CacheMB < 8 {
		bad("store.cache_mb", "%d is below 8", c.Store.CacheMB)
	}
	if c.P2P.Enabled {
		if len(c.P2P.Listen) == 0 {
			bad("p2p.listen", "at least one multiaddr required")
		}
		if c.P2P.KeyFile == "" {
			bad("p2p.key_file", "required")
		}
		if c.P2P.ReauthenticationInterval.D() < time.Second {
			bad("p2p.reauthentication_interval", "%v is below 1s", c.P2P.ReauthenticationInterval.D())
		}
	}
	c.validateRetention(bad)
	if c.EHR.DefaultSyncInterval < 1 {
		bad("ehr.default_sync_interval", "%d is below 1 second", c.EHR.DefaultSyncInterval)
	}
	return errors.Join(errs...)
}

func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return err
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("port %q is not a number in [0, 65535]", port)
	}
	if host == "" {
		return fmt.Errorf("host is empty: name an address such as 127.0.0.1")
	}
	return nil
}

// checkLoopback refuses a listen address whose host is not a loopback IP or
// localhost.
func checkLoopback(listen string) error {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("listen host %q is not a loopback address", host)
}

// Path resolves p against the data dir unless it is absolute.
func (c *Config) Path(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.Node.DataDir, p)
}

// Save writes c as TOML to path with mode 0644.
func (c *Config) Save(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := toml.NewEncoder(f).Encode(c); err != nil {
		f.Close()
		return fmt.Errorf("config: encode: %w", err)
	}
	return f.Close()
}
