package p2p

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/medchain/medchain/chain/crypto"
)

const testChain = "medchain-test"

// testKey returns a deterministic ML-DSA-65 key.
func testKey(t testing.TB, seed byte) *crypto.PrivateKey {
	t.Helper()
	var s [32]byte
	s[0] = seed
	k, err := crypto.GenerateKey(crypto.MLDSA65, rand.NewChaCha8(s))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// logSink collects log lines for assertions and forwards them to t.Log
// until the test ends.
type logSink struct {
	t    testing.TB
	mu   sync.Mutex
	buf  bytes.Buffer
	done bool
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	if !l.done {
		l.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logSink) stop() {
	l.mu.Lock()
	l.done = true
	l.mu.Unlock()
}

type testNode struct {
	*Node
	key  *crypto.PrivateKey
	rec  NodeRecord
	logs *logSink
}

// startNode starts a node on loopback port 0. If role is valid, the node is
// admitted in reg (reg may be any Registry that is a *MemRegistry or wraps one).
func startNode(t testing.TB, mem *MemRegistry, reg Registry, id string, seed byte, role Role, mutate func(*Config)) *testNode {
	t.Helper()
	cfg := TestConfig(testChain, id)
	logs := &logSink{t: t}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if mutate != nil {
		mutate(&cfg)
	}
	key := testKey(t, seed)
	if reg == nil {
		reg = mem
	}
	n, err := New(cfg, key, reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		n.Close()
		logs.stop()
	})
	tn := &testNode{Node: n, key: key, logs: logs}
	tn.rec = NodeRecord{NodeID: id, PeerID: n.ID(), PublicKey: key.Public(), Role: role, Addrs: n.Addrs()}
	if role.Valid() {
		mem.Put(tn.rec)
	}
	return tn
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond every 10 ms until it holds or d passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < d {
		if cond() {
			return time.Since(start)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("after %v: %s", d, what)
	return 0
}

func connected(a, b *testNode) bool {
	return a.Host().Network().Connectedness(b.ID()) == network.Connected
}

func addrInfo(n *testNode, transport string) peer.AddrInfo {
	ai := peer.AddrInfo{ID: n.ID()}
	for _, a := range n.Host().Addrs() {
		if strings.Contains(a.String(), "/"+transport) {
			ai.Addrs = append(ai.Addrs, a)
		}
	}
	if len(ai.Addrs) == 0 {
		panic(fmt.Sprintf("no %s address in %v", transport, n.Host().Addrs()))
	}
	return ai
}

func protocolID(s string) protocol.ID { return protocol.ID(s) }
