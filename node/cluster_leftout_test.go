package node_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/node/client"
	"github.com/medchain/medchain/node/config"
	"github.com/medchain/medchain/node/nodetest"
	"github.com/medchain/medchain/node/rpc"
)

// TestFollowerWaiterGetsTheLeadersLeftOutRefusal: a tx submitted with wait
// through a follower, admitted by the leader and then left out of its block
// at the cut (its patient was erased in between), is answered on the
// follower with the leader's refusal (tx rejected, conflict, the same code
// and message the leader's own waiters get) at once, not with a timeout
// after rpc.wait_timeout.
//
// The leader leaves it out deterministically: blocks hold one tx
// (max_block_txs 1) and at most two are in flight, so of the forwarded batch
// [erase patient123, an event about another patient, an event about
// patient123] the first two are cut at once and the third only once the
// erasure's block has applied on the leader, when patient123 no longer
// resolves to a pseudonym (consensus cutPseudonyms). The same holds for a
// single tx_submit with wait.
func TestFollowerWaiterGetsTheLeadersLeftOutRefusal(t *testing.T) {
	const waitTimeout = 30 * time.Second
	c := nodetest.StartCluster(t, 3, 1, 1, func(_ int, cfg *config.Config) {
		cfg.Consensus.MaxBlockTxs = 1
		cfg.RPC.WaitTimeout = config.Duration(waitTimeout)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	l := c.WaitLeader(20 * time.Second)
	leader, fol := c.Nodes[l], c.Nodes[(l+1)%3]
	if _, err := leader.Client.Signer("doctor456", c.Key("doctor456")).Send(ctx, erasureEvent("view_record")); err != nil {
		t.Fatal(err) // the patient is on record, so their erasure is admitted
	}
	c.WaitSameHead(1, 20*time.Second)

	patient := fol.Client.Signer("patient123", c.Key("patient123"))
	doctor := fol.Client.Signer("doctor456", c.Key("doctor456"))
	erase, err := patient.Build(&types.PatientErase{Patient: "patient123", Reason: "gdpr-art17"})
	if err != nil {
		t.Fatal(err)
	}
	other := auditRec(1)
	other.Patient = "patient777"
	filler, err := doctor.Build(other)
	if err != nil {
		t.Fatal(err)
	}
	late, err := doctor.Build(erasureEvent("update_record"))
	if err != nil {
		t.Fatal(err)
	}
	sent0, _ := leader.LeftOutStats()
	start := time.Now()
	items, err := fol.Client.SubmitMany(ctx, []*types.Tx{erase, filler, late}, true)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("batch answered on the follower in %v", took)
	for i, it := range items[:2] {
		if it.Error != nil || it.Receipt == nil || !it.Receipt.Result.OK() {
			t.Fatalf("tx %d: %+v %+v, want committed", i, it.Error, it.Receipt)
		}
	}
	e := items[2].Error
	if e == nil {
		t.Fatalf("the tx left out got %+v, want the leader's refusal", items[2].Receipt)
	}
	const want = "tx rejected: conflict: the tx's patient is erased: nothing more is recorded about them"
	if e.Code != rpc.CodeTxRejected || e.Message != want {
		t.Fatalf("the tx left out: code %d %q, want %d %q", e.Code, e.Message, rpc.CodeTxRejected, want)
	}
	if took > waitTimeout/3 {
		t.Fatalf("answered after %v: the follower waited for its timeout (%v)", took, waitTimeout)
	}
	if sent, dropped := leader.LeftOutStats(); sent-sent0 < 1 || dropped != 0 {
		t.Fatalf("leader's left-out reports: %d sent, %d dropped", sent-sent0, dropped)
	}
	// The tx is not in the chain on any node: it was left out, not refused
	// by the executor with a receipt.
	c.WaitSameHead(1, 20*time.Second)
	for i, n := range c.Nodes {
		if _, err := n.Consensus().Receipt(late.Hash()); err == nil {
			t.Fatalf("node %d: the left-out tx has a receipt", i+1)
		}
	}

	// A single tx_submit with wait, through the follower (forwarded on its
	// own) and on the leader: the same refusal, at once.
	for _, tc := range []struct {
		name, patient string
		on            *nodetest.Node
	}{{"follower", "patient555", fol}, {"leader", "patient556", leader}} {
		took, err := leaveOutSingle(ctx, t, c, tc.on, tc.patient)
		t.Logf("single tx answered on the %s in %v", tc.name, took)
		// (Admission would have refused it naming the patient: this
		// message is the cut's.)
		code, _, ok := client.RPCError(err)
		if !ok || code != rpc.CodeTxRejected || err.Error() != want {
			t.Fatalf("single tx left out, on the %s: %v, want %d %q", tc.name, err, rpc.CodeTxRejected, want)
		}
		if took > waitTimeout/3 {
			t.Fatalf("answered on the %s after %v: it waited for its timeout (%v)", tc.name, took, waitTimeout)
		}
	}
}

// leaveOutSingle submits with wait, on n, an event about patient that the
// leader admits and then leaves out of its block, and returns how long the
// answer took and the answer. First it records the patient, then queues on n 50
// one-tx blocks of events about another patient, the patient's erasure and
// one more event, so the event submitted next is admitted long before the
// erasure applies and cut after it.
func leaveOutSingle(ctx context.Context, t *testing.T, c *nodetest.Cluster, n *nodetest.Node, patient string) (time.Duration, error) {
	t.Helper()
	doctor := n.Client.Signer("doctor456", c.Key("doctor456"))
	event := func(action string) *types.AuditRecord {
		return &types.AuditRecord{EventType: "data_access", Patient: patient, Actor: "doctor456", Action: action, Purpose: "treatment", Outcome: "success"}
	}
	if _, err := doctor.Send(ctx, event("view_record")); err != nil {
		t.Fatal(err)
	}
	queue := make([]*types.Tx, 0, 52)
	for k := range 51 {
		a := auditRec(k)
		a.Patient, a.Details = "patient777", map[string]string{"k": fmt.Sprint(k), "p": patient}
		tx, err := doctor.Build(a)
		if err != nil {
			t.Fatal(err)
		}
		queue = append(queue, tx)
	}
	erase, err := n.Client.Signer("privacy_officer", c.Key("privacy_officer")).Build(&types.PatientErase{Patient: patient, Reason: "gdpr-art17"})
	if err != nil {
		t.Fatal(err)
	}
	queue = append(queue[:50], erase, queue[50])
	items, err := n.Client.SubmitMany(ctx, queue, false)
	if err != nil {
		t.Fatal(err)
	}
	for i, it := range items {
		if it.Error != nil {
			t.Fatalf("queued tx %d refused: %+v", i, it.Error)
		}
	}
	start := time.Now()
	_, err = doctor.Send(ctx, event("update_record"))
	return time.Since(start), err
}
