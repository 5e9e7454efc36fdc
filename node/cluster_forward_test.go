package node_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/node/client"
	"github.com/medchain/medchain/node/nodetest"
	"github.com/medchain/medchain/node/rpc"
)

// signedAudits builds n distinct audit txs signed by doctor456 on node i.
func signedAudits(t *testing.T, c *nodetest.Cluster, i, n, offset int) []*types.Tx {
	t.Helper()
	s := c.Nodes[i].Client.Signer("doctor456", c.Key("doctor456"))
	txs := make([]*types.Tx, n)
	for k := range n {
		a := auditRec(k)
		a.Resource = "Observation/" + string(rune('A'+(offset+k)/26%26)) + string(rune('a'+(offset+k)%26))
		a.Details = map[string]string{"k": strings.Repeat("x", 1+(offset+k)%7), "o": string(rune('a' + offset%26))}
		tx, err := s.Build(a)
		if err != nil {
			t.Fatal(err)
		}
		txs[k] = tx
	}
	return txs
}

// TestFollowerForwardsBatchesAndAnswersEachTx: a follower's tx_submitBatch
// goes to the leader as one forwarded batch and commits with receipts on
// the follower; a bad tx in it is refused on its own; concurrent tx_submit
// calls with wait on a follower share batches; every node ends with the
// same chain.
func TestFollowerForwardsBatchesAndAnswersEachTx(t *testing.T) {
	c := nodetest.StartCluster(t, 3, 1, 1, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	l := c.Leader()
	f := (l + 1) % 3
	fol := c.Nodes[f]

	txs := signedAudits(t, c, f, 120, 0)
	bad := signedAudits(t, c, f, 1, 500)[0]
	bad.Signature.Sig[9] ^= 0x10
	txs = append(txs[:60], append([]*types.Tx{bad}, txs[60:]...)...)
	b0, n0 := fol.ForwardStats()
	items, err := fol.Client.SubmitMany(ctx, txs, true)
	if err != nil {
		t.Fatal(err)
	}
	b1, n1 := fol.ForwardStats()
	if b1-b0 != 1 || n1-n0 != 120 {
		t.Fatalf("tx_submitBatch of 121 txs (one bad) forwarded as %d batches of %d txs, want 1 of 120", b1-b0, n1-n0)
	}
	for i, it := range items {
		if i == 60 {
			if it.Error == nil || it.Error.Code != rpc.CodeTxRejected {
				t.Fatalf("bad signature in the batch: %+v", it)
			}
			continue
		}
		if it.Error != nil || it.Status != "committed" || it.Receipt == nil || !it.Receipt.Result.OK() || *it.TxHash != txs[i].Hash() {
			t.Fatalf("tx %d: %+v (error %+v)", i, it, it.Error)
		}
	}

	// Concurrent single submissions with wait coalesce into shared batches.
	const single = 40
	singles := signedAudits(t, c, f, single, 1000)
	b0, n0 = fol.ForwardStats()
	var wg sync.WaitGroup
	errs := make([]error, single)
	for i, tx := range singles {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := fol.Client.Submit(ctx, tx, true)
			if err == nil && (r.Receipt == nil || !r.Receipt.Result.OK()) {
				err = errors.New("no ok receipt")
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("single submission %d on the follower: %v", i, err)
		}
	}
	b1, n1 = fol.ForwardStats()
	t.Logf("%d concurrent tx_submit calls on a follower: %d forwarded batches, %d txs", single, b1-b0, n1-n0)
	if n1-n0 != single || b1-b0 >= single {
		t.Fatalf("%d single submissions went in %d batches of %d txs: not coalesced", single, b1-b0, n1-n0)
	}

	// Without wait, the follower answers once the leader admitted them.
	more := signedAudits(t, c, f, 30, 2000)
	items, err = fol.Client.SubmitMany(ctx, more, false)
	if err != nil {
		t.Fatal(err)
	}
	for i, it := range items {
		if it.Error != nil || it.Status != "pending" {
			t.Fatalf("tx %d without wait: %+v", i, it)
		}
	}
	for _, tx := range more {
		if _, err := fol.Wait(ctx, tx.Hash()); err != nil {
			t.Fatal(err)
		}
	}
	c.WaitSameHead(c.Nodes[l].Consensus().Height(), 10*time.Second)
	if b, _ := c.Nodes[l].ForwardStats(); b != 0 {
		t.Fatalf("the leader forwarded %d batches", b)
	}
}

// TestForwardedBatchIsVerifiedTxByTxOnTheLeader: a follower that skips its
// own checks and sends a batch straight over p2p gets each bad tx refused by
// the leader with its reason, while the good tx of the same batch is
// admitted; nothing bad enters the leader's mempool or the chain.
func TestForwardedBatchIsVerifiedTxByTxOnTheLeader(t *testing.T) {
	c := nodetest.StartCluster(t, 3, 1, 1, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l := c.Leader()
	f := (l + 1) % 3
	txs := signedAudits(t, c, f, 3, 0)
	good, badSig, unknownSigner := txs[0], txs[1], txs[2]
	badSig.Signature.Sig[3] ^= 0x40
	unknownSigner.Signer = "nobody"
	raws := [][]byte{good.Encode(), badSig.Encode(), []byte("not a tx"), unknownSigner.Encode()}
	outs, err := c.Nodes[f].P2P().ForwardTxs(ctx, c.Nodes[l].P2P().ID(), raws)
	if err != nil {
		t.Fatal(err)
	}
	h := good.Hash()
	if !outs[0].OK() || string(outs[0].Result) != string(h[:]) {
		t.Fatalf("good tx: %+v", outs[0])
	}
	for i, want := range map[int]string{1: "signature", 2: "", 3: "nobody"} {
		if outs[i].OK() || !strings.Contains(outs[i].Err, want) {
			t.Fatalf("bad tx %d: outcome %+v, want a refusal naming %q", i, outs[i], want)
		}
	}
	if _, err := c.Nodes[l].Wait(ctx, h); err != nil {
		t.Fatal(err)
	}
	for _, tx := range []*types.Tx{badSig, unknownSigner} {
		if c.Nodes[l].Consensus().Pending(tx.Hash()) {
			t.Fatal("a refused tx is in the leader's mempool")
		}
		if _, err := c.Nodes[l].Client.Tx(ctx, tx.Hash()); err == nil {
			if r, _ := c.Nodes[l].Client.Tx(ctx, tx.Hash()); r.Status == "committed" {
				t.Fatal("a refused tx is in the chain")
			}
		}
	}
	// The follower's own path refuses the bad tx before it leaves the node.
	_, err = c.Nodes[f].Client.Submit(ctx, badSig, true)
	if code, _, _ := client.RPCError(err); code != rpc.CodeTxRejected {
		t.Fatalf("bad signature through the follower: %v", err)
	}
}
