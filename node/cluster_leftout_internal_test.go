package node

import (
	"log/slog"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/p2p"
)

// TestQueueLeftOutFitsTheWireAndNeverBlocks: the proposer's hook queues a
// record the followers will take (a reason cut to 512 bytes of UTF-8; an
// empty one replaced by the code's name) and, with the queue full, drops
// and counts instead of waiting; a refusal that is no refusal is not sent.
func TestQueueLeftOutFitsTheWireAndNeverBlocks(t *testing.T) {
	c := &cluster{left: newLeftOuts(), log: slog.New(slog.DiscardHandler)}
	cases := []struct {
		name   string
		reason string
		want   func(string) bool
	}{
		{"short reason kept", "the tx's patient is erased", func(r string) bool { return r == "the tx's patient is erased" }},
		{"long reason cut", strings.Repeat("é", 400), func(r string) bool {
			return len(r) <= p2p.MaxLeftOutReason && len(r) >= p2p.MaxLeftOutReason-1 && utf8.ValidString(r)
		}},
		{"invalid UTF-8 mended", "bad \xff byte", func(r string) bool { return r == "bad ? byte" }},
		{"empty reason named", "", func(r string) bool { return r == types.CodeConflict.String() }},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.queueLeftOut(types.Hash{byte(i)}, &state.TxError{Code: types.CodeConflict, Reason: tc.reason})
			select {
			case rec := <-c.left.queue:
				if rec.TxHash != (types.Hash{byte(i)}) || rec.Code != types.CodeConflict || !tc.want(rec.Reason) || rec.ValidateBasic() != nil {
					t.Fatalf("queued %+v", rec)
				}
			default:
				t.Fatal("nothing queued")
			}
		})
	}
	c.queueLeftOut(types.Hash{9}, &state.TxError{Code: types.CodeReplay, Reason: "already in the chain"})
	if len(c.left.queue) != 0 {
		t.Fatal("a replay was queued as a refusal")
	}
	for i := range leftOutQueue {
		c.queueLeftOut(types.Hash{byte(i), byte(i >> 8)}, &state.TxError{Code: types.CodeBadSignature, Reason: "stale"})
	}
	start := time.Now()
	for range 3 {
		c.queueLeftOut(types.Hash{0xff}, &state.TxError{Code: types.CodeBadSignature, Reason: "stale"})
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Fatalf("queueing into a full queue took %v", d)
	}
	if got := c.left.dropped.Load(); got != 3 {
		t.Fatalf("dropped %d, want 3", got)
	}
}
