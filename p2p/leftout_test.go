package p2p

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/medchain/medchain/chain/codec"
	"github.com/medchain/medchain/chain/types"
)

func leftOuts(n int) []LeftOut {
	out := make([]LeftOut, n)
	for i := range out {
		out[i] = LeftOut{TxHash: types.Hash{byte(i), byte(i >> 8), 7}, Code: types.CodeConflict, Reason: "the tx's patient is erased: nothing more is recorded about them"}
	}
	return out
}

// TestLeftOutReportRoundTrip: every report within the limits decodes to the
// records encoded, in order.
func TestLeftOutReportRoundTrip(t *testing.T) {
	full := leftOuts(MaxLeftOutRecords)
	for i := range full {
		full[i].Reason = strings.Repeat("é", maxErrorLen/2) // the longest reason, multi-byte
	}
	cases := []struct {
		name string
		recs []LeftOut
	}{
		{"one erased patient", leftOuts(1)},
		{"stale signature", []LeftOut{{TxHash: types.Hash{0xff}, Code: types.CodeBadSignature, Reason: `signature of "dr" does not verify under the key in force at height 9`}}},
		{"unknown patient", []LeftOut{{TxHash: types.Hash{}, Code: types.CodeNotFound, Reason: "the chain holds nothing about the tx's patient to erase"}}},
		{"every refusing code", func() []LeftOut {
			var out []LeftOut
			for c := types.CodeUnknownSigner; c <= types.CodeWrongChain; c++ {
				if c != types.CodeReplay {
					out = append(out, LeftOut{TxHash: types.Hash{byte(c)}, Code: c, Reason: c.String()})
				}
			}
			return out
		}()},
		{"most records, longest reasons", full},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := encodeLeftOuts(c.recs)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) > maxLeftOutBytes {
				t.Fatalf("report of %d bytes exceeds the frame limit %d", len(b), maxLeftOutBytes)
			}
			got, err := decodeLeftOuts(b)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(c.recs) {
				t.Fatalf("%d records back, want %d", len(got), len(c.recs))
			}
			for i := range got {
				if got[i] != c.recs[i] {
					t.Fatalf("record %d: got %+v, want %+v", i, got[i], c.recs[i])
				}
			}
		})
	}
}

// TestLeftOutReportBadInputsRefused: truncated, oversize, empty, too many
// records, bad hashes, codes that refuse nothing or do not exist, bad
// reasons and unknown fields are refused with an error, never a panic.
func TestLeftOutReportBadInputsRefused(t *testing.T) {
	good, err := encodeLeftOuts(leftOuts(3))
	if err != nil {
		t.Fatal(err)
	}
	wire := func(recs ...leftOutRecord) []byte { return codec.MustMarshal(leftOutReport{Records: recs}) }
	h := make([]byte, 32)
	tooMany := make([]leftOutRecord, MaxLeftOutRecords+1)
	for i := range tooMany {
		tooMany[i] = leftOutRecord{Hash: h, Code: uint8(types.CodeConflict), Reason: "x"}
	}
	cases := []struct {
		name string
		b    []byte
		want error // nil: any error
	}{
		{"empty input", nil, nil},
		{"truncated", good[:len(good)-5], nil},
		{"trailing bytes", append(append([]byte{}, good...), 0), nil},
		{"oversize", make([]byte, maxLeftOutBytes+1), ErrTooLarge},
		{"no records", wire(), nil},
		{"records absent", codec.MustMarshal(map[int]int{}), nil},
		{"too many records", wire(tooMany...), ErrTooLarge},
		{"short hash", wire(leftOutRecord{Hash: h[:31], Code: uint8(types.CodeConflict), Reason: "x"}), nil},
		{"long hash", wire(leftOutRecord{Hash: append(h, 0), Code: uint8(types.CodeConflict), Reason: "x"}), nil},
		{"code zero", wire(leftOutRecord{Hash: h, Code: 0, Reason: "x"}), nil},
		{"code ok", wire(leftOutRecord{Hash: h, Code: uint8(types.CodeOK), Reason: "x"}), nil},
		{"code replay", wire(leftOutRecord{Hash: h, Code: uint8(types.CodeReplay), Reason: "x"}), nil},
		{"unknown code", wire(leftOutRecord{Hash: h, Code: 200, Reason: "x"}), nil},
		{"code over a byte", codec.MustMarshal(map[int]any{1: []map[int]any{{1: h, 2: 300, 3: "x"}}}), nil},
		{"empty reason", wire(leftOutRecord{Hash: h, Code: uint8(types.CodeConflict)}), nil},
		{"long reason", wire(leftOutRecord{Hash: h, Code: uint8(types.CodeConflict), Reason: strings.Repeat("x", maxErrorLen+1)}), ErrTooLarge},
		{"reason not UTF-8", codec.MustMarshal(map[int]any{1: []map[int]any{{1: h, 2: 10, 3: "\xff"}}}), nil},
		{"unknown field", codec.MustMarshal(map[int]any{1: []map[int]any{{1: h, 2: 10, 3: "x", 4: 1}}}), nil},
		{"not a map", codec.MustMarshal([]int{1}), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			recs, err := decodeLeftOuts(c.b)
			if err == nil {
				t.Fatalf("decoded %+v, want an error", recs)
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
		})
	}
	// The sender refuses what the receiver would.
	for _, recs := range [][]LeftOut{nil, leftOuts(MaxLeftOutRecords + 1), {{Code: types.CodeReplay, Reason: "x"}}, {{Code: types.CodeConflict}}} {
		if _, err := encodeLeftOuts(recs); err == nil {
			t.Errorf("encoded %d bad records", len(recs))
		}
	}
}

// FuzzDecodeLeftOuts: the decoder never panics, and what it accepts is
// within the limits and encodes back to a report that decodes the same.
func FuzzDecodeLeftOuts(f *testing.F) {
	for _, n := range []int{1, 3} {
		b, err := encodeLeftOuts(leftOuts(n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add(codec.MustMarshal(leftOutReport{Records: []leftOutRecord{{Hash: make([]byte, 32), Code: uint8(types.CodeReplay), Reason: "x"}}}))
	f.Add(codec.MustMarshal(map[int]any{1: []map[int]any{{1: make([]byte, 32), 2: 300, 3: "x"}}}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := decodeLeftOuts(b)
		if err != nil {
			return
		}
		if len(recs) == 0 || len(recs) > MaxLeftOutRecords {
			t.Fatalf("accepted %d records", len(recs))
		}
		again, err := encodeLeftOuts(recs)
		if err != nil {
			t.Fatalf("accepted records do not encode: %v", err)
		}
		back, err := decodeLeftOuts(again)
		if err != nil || len(back) != len(recs) {
			t.Fatalf("re-encoded report: %d records, %v", len(back), err)
		}
		for i := range back {
			if back[i] != recs[i] {
				t.Fatalf("record %d changed: %+v, %+v", i, recs[i], back[i])
			}
		}
	})
}

// leftOutTrio starts a leader and another voter, and a follower whose
// left-out handler records what it gets and follows the leader.
func leftOutTrio(t *testing.T) (leader, other, follower *testNode, got func() [][]LeftOut, froms func() []string) {
	reg := &MemRegistry{}
	leader = startNode(t, reg, nil, "leader", 1, RoleVoter, nil)
	other = startNode(t, reg, nil, "other", 2, RoleVoter, nil)
	follower = startNode(t, reg, nil, "follower", 3, RoleObserver, nil)
	var mu sync.Mutex
	var reports [][]LeftOut
	var senders []string
	follower.SetLeftOutHandler(func() peer.ID { return leader.ID() }, func(from NodeRecord, recs []LeftOut) {
		mu.Lock()
		reports, senders = append(reports, recs), append(senders, from.NodeID)
		mu.Unlock()
	})
	got = func() [][]LeftOut { mu.Lock(); defer mu.Unlock(); return append([][]LeftOut(nil), reports...) }
	froms = func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), senders...) }
	return leader, other, follower, got, froms
}

// TestLeftOutReportReachesTheFollowerFromItsLeader: a report from the peer
// the follower knows as its leader reaches the handler whole, with the
// authenticated sender's record.
func TestLeftOutReportReachesTheFollowerFromItsLeader(t *testing.T) {
	leader, _, follower, got, froms := leftOutTrio(t)
	recs := leftOuts(2)
	if err := leader.SendLeftOut(ctxT(t, 10*time.Second), follower.ID(), recs); err != nil {
		t.Fatal(err)
	}
	rs := got()
	if len(rs) != 1 || len(rs[0]) != 2 || rs[0][0] != recs[0] || rs[0][1] != recs[1] {
		t.Fatalf("handler got %+v, want the report", rs)
	}
	if f := froms(); f[0] != "leader" {
		t.Fatalf("handler saw the report from %q", f[0])
	}
	if ps := leader.Peers(); len(ps) != 1 || ps[0].NodeID != "follower" {
		t.Fatalf("leader's authenticated peers: %+v", ps)
	}
}

// TestLeftOutReportFromANonLeaderIsIgnored: a voter that is not the
// follower's leader (a stale leader, a compromised node) cannot wake the
// follower's waiters: its report is refused and never reaches the handler,
// and neither does one sent while the follower knows no leader. An observer
// may not open the protocol at all.
func TestLeftOutReportFromANonLeaderIsIgnored(t *testing.T) {
	leader, other, follower, got, _ := leftOutTrio(t)
	ctx := ctxT(t, 10*time.Second)
	err := other.SendLeftOut(ctx, follower.ID(), leftOuts(1))
	if !errors.Is(err, ErrRemote) || !strings.Contains(err.Error(), "not the leader") {
		t.Fatalf("report from a non-leader voter: %v, want a refusal naming the leader", err)
	}
	if !strings.Contains(follower.logs.String(), "refused left-out report") {
		t.Fatal("the refusal was not logged")
	}
	var noLeader atomic.Bool
	noLeader.Store(true)
	follower.SetLeftOutHandler(func() peer.ID {
		if noLeader.Load() {
			return ""
		}
		return leader.ID()
	}, func(NodeRecord, []LeftOut) { t.Error("handler called") })
	if err := leader.SendLeftOut(ctx, follower.ID(), leftOuts(1)); !errors.Is(err, ErrRemote) {
		t.Fatalf("report while no leader is known: %v, want a refusal", err)
	}
	if err := follower.SendLeftOut(ctx, leader.ID(), leftOuts(1)); !errors.Is(err, ErrForbidden) {
		t.Fatalf("observer opening the protocol: %v, want ErrForbidden", err)
	}
	if rs := got(); len(rs) != 0 {
		t.Fatalf("handler got %d reports from peers other than the leader", len(rs))
	}
}

// TestLeftOutReportRefusedWithoutAHandler: a node that takes no reports
// refuses them.
func TestLeftOutReportRefusedWithoutAHandler(t *testing.T) {
	reg := &MemRegistry{}
	leader := startNode(t, reg, nil, "leader", 1, RoleVoter, nil)
	follower := startNode(t, reg, nil, "follower", 2, RoleVoter, nil)
	err := leader.SendLeftOut(ctxT(t, 10*time.Second), follower.ID(), leftOuts(1))
	if err == nil {
		t.Fatal("report accepted by a node without a handler")
	}
}
