package p2p

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	ma "github.com/multiformats/go-multiaddr"
)

// Config configures a Node. Every field has a documented default; build it
// with DefaultConfig or TestConfig and override what you need.
type Config struct {
	// ChainID names the chain; it is signed into every handshake so a node of
	// one consortium chain cannot be replayed into another. Required.
	ChainID string
	// NodeID is this node's id as recorded in the registry. Required.
	NodeID string
	// ListenAddrs are the multiaddrs to listen on (TCP and QUIC v1).
	// Default: /ip4/127.0.0.1/tcp/7400 and /ip4/127.0.0.1/udp/7400/quic-v1.
	ListenAddrs []string
	// IdentityKeyFile is the path of the Ed25519 libp2p key. It is created
	// with mode 0600 if missing; a file readable by group or others is
	// refused. Empty means an ephemeral key (tests only). Default "p2p.key".
	IdentityKeyFile string
	// BootstrapPeers are full multiaddrs (ending in /p2p/<id>) used, with the
	// registry's Addrs, to find peers. Default none.
	BootstrapPeers []string
	// ReauthInterval is how often an authenticated peer is re-authenticated
	// with a fresh handshake; a peer not re-authenticated within
	// ReauthInterval + 2*HandshakeTimeout is disconnected. Default 300 s.
	ReauthInterval time.Duration
	// HandshakeTimeout bounds one handshake, and how long an inbound
	// connection may stay unauthenticated. Default 10 s.
	HandshakeTimeout time.Duration
	// ClockSkew is the largest accepted difference between a handshake
	// message's timestamp and the local clock. Default 30 s.
	ClockSkew time.Duration
	// MaxTxBytes is the largest raw tx accepted by tx forwarding. Default 128 KiB.
	MaxTxBytes int
	// MaxBatchBytes is the largest encoded tx batch accepted by batched tx
	// forwarding (TxBatchProtocol): the raw txs plus at most 5 bytes each of
	// CBOR framing, plus 8. Default 8 MiB (about 2,000 signed audit txs);
	// at least MaxTxBytes + 16, at most 16 MiB.
	MaxBatchBytes int
	// TxTimeout bounds one tx forwarding round trip. Default 10 s.
	TxTimeout time.Duration
	// RequirePostQuantum refuses a connection whose TLS key exchange is not
	// X25519MLKEM768. Default true.
	RequirePostQuantum bool
	// Logger receives refusals and disconnections. Default slog.Default().
	Logger *slog.Logger
}

// DefaultConfig returns the production defaults; ChainID and NodeID must
// still be set.
func DefaultConfig() Config {
	return Config{
		ListenAddrs:        []string{"/ip4/127.0.0.1/tcp/7400", "/ip4/127.0.0.1/udp/7400/quic-v1"},
		IdentityKeyFile:    "p2p.key",
		ReauthInterval:     300 * time.Second,
		HandshakeTimeout:   10 * time.Second,
		ClockSkew:          30 * time.Second,
		MaxTxBytes:         128 << 10,
		MaxBatchBytes:      8 << 20,
		TxTimeout:          10 * time.Second,
		RequirePostQuantum: true,
	}
}

// TestConfig returns a configuration for in-process tests: loopback port 0,
// an ephemeral identity and short timeouts.
func TestConfig(chainID, nodeID string) Config {
	c := DefaultConfig()
	c.ChainID = chainID
	c.NodeID = nodeID
	c.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}
	c.IdentityKeyFile = ""
	c.ReauthInterval = 5 * time.Second
	c.HandshakeTimeout = 2 * time.Second
	c.ClockSkew = 5 * time.Second
	c.TxTimeout = 3 * time.Second
	return c
}

// Validate reports every invalid field, each error wrapping ErrConfig.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, a...)...))
	}
	if c.ChainID == "" {
		bad("ChainID is empty")
	}
	if c.NodeID == "" {
		bad("NodeID is empty")
	}
	if len(c.ListenAddrs) == 0 {
		bad("ListenAddrs is empty")
	}
	for _, a := range c.ListenAddrs {
		if _, err := ma.NewMultiaddr(a); err != nil {
			bad("ListenAddrs: %q: %v", a, err)
		}
	}
	for _, a := range c.BootstrapPeers {
		if _, err := ma.NewMultiaddr(a); err != nil {
			bad("BootstrapPeers: %q: %v", a, err)
		}
	}
	if c.HandshakeTimeout <= 0 {
		bad("HandshakeTimeout %v must be positive", c.HandshakeTimeout)
	}
	if c.ReauthInterval < 2*c.HandshakeTimeout {
		bad("ReauthInterval %v must be at least twice HandshakeTimeout %v", c.ReauthInterval, c.HandshakeTimeout)
	}
	if c.ClockSkew <= 0 {
		bad("ClockSkew %v must be positive", c.ClockSkew)
	}
	if c.MaxTxBytes <= 0 || c.MaxTxBytes > maxFrameLimit {
		bad("MaxTxBytes %d must be in 1..%d", c.MaxTxBytes, maxFrameLimit)
	}
	if c.MaxBatchBytes < c.MaxTxBytes+16 || c.MaxBatchBytes > maxFrameLimit {
		bad("MaxBatchBytes %d must be in MaxTxBytes+16 (%d)..%d", c.MaxBatchBytes, c.MaxTxBytes+16, maxFrameLimit)
	}
	if c.TxTimeout <= 0 {
		bad("TxTimeout %v must be positive", c.TxTimeout)
	}
	return errors.Join(errs...)
}
