package consensus

import (
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/hashicorp/raft"
)

// Raft transports. The node is handed a raft.Transport so that the cluster
// layer can pass one built on its own stream layer (libp2p streams, with
// peers authorised on Dial and Accept); these helpers cover a single node and
// tests.

// NewTCPTransport returns a Raft TCP transport listening on bind (for example
// "127.0.0.1:0" for a single node; the port is chosen by the kernel) and
// advertising its actual address. Close it with the node (Node.Close does).
func NewTCPTransport(bind string, logger *slog.Logger) (*raft.NetworkTransport, error) {
	addr, err := net.ResolveTCPAddr("tcp", bind)
	if err != nil {
		return nil, fmt.Errorf("consensus: raft bind address %q: %w", bind, err)
	}
	if logger == nil {
		logger = slog.Default()
	}
	if addr.Port == 0 {
		// NewTCPTransport refuses an unspecified advertise port; resolve one.
		l, err := net.ListenTCP("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("consensus: raft listen %s: %w", bind, err)
		}
		addr = l.Addr().(*net.TCPAddr)
		if err := l.Close(); err != nil {
			return nil, fmt.Errorf("consensus: raft listen %s: %w", bind, err)
		}
	}
	t, err := raft.NewTCPTransportWithLogger(addr.String(), addr, 3, 10*time.Second, newHclog(logger, "raft-net"))
	if err != nil {
		return nil, fmt.Errorf("consensus: raft transport on %s: %w", addr, err)
	}
	return t, nil
}

// NewInmemTransport returns an in-memory transport for tests with a fresh
// address; connect transports of one test cluster with Connect.
func NewInmemTransport() (raft.ServerAddress, *raft.InmemTransport) {
	return raft.NewInmemTransport("")
}
