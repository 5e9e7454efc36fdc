package p2p

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/medchain/medchain/chain/codec"
)

func txPair(t *testing.T, maxTx int) (leader, follower *testNode) {
	reg := &MemRegistry{}
	small := func(c *Config) { c.MaxTxBytes = maxTx }
	leader = startNode(t, reg, nil, "leader", 1, RoleVoter, small)
	follower = startNode(t, reg, nil, "follower", 2, RoleObserver, small)
	leader.SetTxHandler(func(ctx context.Context, from peer.ID, raw []byte) ([]byte, error) {
		if from != follower.ID() {
			return nil, errors.New("unexpected sender")
		}
		if bytes.HasPrefix(raw, []byte("bad")) {
			return nil, errors.New("chain: tx signature does not verify")
		}
		h := sha256.Sum256(raw)
		return h[:], nil
	})
	return leader, follower
}

func TestTxForwardingRoundTrip(t *testing.T) {
	leader, follower := txPair(t, 4096)
	ctx := ctxT(t, 10*time.Second)
	tx := bytes.Repeat([]byte{7}, 3900) // about one signed tx
	start := time.Now()
	got, err := follower.ForwardTx(ctx, leader.ID(), tx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first forward (dial + handshake + tx) took %v", time.Since(start))
	want := sha256.Sum256(tx)
	if !bytes.Equal(got, want[:]) {
		t.Fatalf("result %x, want tx hash %x", got, want)
	}
	const rounds = 200
	start = time.Now()
	for range rounds {
		if _, err := follower.ForwardTx(ctx, leader.ID(), tx); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d sequential forwards of 3.9 KB: %v each", rounds, time.Since(start)/rounds)
	_, err = follower.ForwardTx(ctx, leader.ID(), []byte("bad tx"))
	if !errors.Is(err, ErrRemote) || !strings.Contains(err.Error(), "signature does not verify") {
		t.Fatalf("handler error: got %v, want ErrRemote with the reason", err)
	}
	if _, err := follower.ForwardTx(ctx, leader.ID(), nil); err == nil {
		t.Fatal("empty tx forwarded")
	}
}

func TestTxForwardingSizeLimit(t *testing.T) {
	leader, follower := txPair(t, 1024)
	ctx := ctxT(t, 10*time.Second)
	if _, err := follower.ForwardTx(ctx, leader.ID(), make([]byte, 1024)); err != nil {
		t.Fatalf("tx at the limit refused: %v", err)
	}
	if _, err := follower.ForwardTx(ctx, leader.ID(), make([]byte, 1025)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("tx over the limit: got %v, want ErrTooLarge", err)
	}
	// A sender that ignores its own limit is refused by the receiver before
	// it allocates: the frame header announces 1 MiB.
	s, _, err := follower.openStream(ctx, leader.ID(), TxProtocol)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Write([]byte{0, 0x10, 0, 0})
	s.Write(make([]byte, 2048))
	s.SetReadDeadline(time.Now().Add(3 * time.Second))
	b, err := readFrame(s, maxTxResponse)
	if err != nil {
		t.Fatal(err)
	}
	var resp txResponse
	if err := codec.Unmarshal(b, &resp); err != nil {
		t.Fatal(err)
	}
	if resp.OK || !strings.Contains(resp.Error, ErrTooLarge.Error()) {
		t.Fatalf("oversized frame answered %+v", resp)
	}
}

func TestTxForwardingDeadline(t *testing.T) {
	reg := &MemRegistry{}
	short := func(c *Config) { c.TxTimeout = 300 * time.Millisecond }
	leader := startNode(t, reg, nil, "leader", 1, RoleVoter, short)
	follower := startNode(t, reg, nil, "follower", 2, RoleVoter, short)
	leader.SetTxHandler(func(ctx context.Context, _ peer.ID, _ []byte) ([]byte, error) {
		<-ctx.Done() // a stuck proposer
		return nil, ctx.Err()
	})
	if _, err := follower.Connect(ctxT(t, 5*time.Second), leader.ID()); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := follower.ForwardTx(context.Background(), leader.ID(), []byte("tx"))
	if err == nil {
		t.Fatal("stuck handler answered")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("forward took %v despite a 300ms deadline", d)
	}
}
