package consensus

import (
	"crypto/rand"
	"log/slog"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/store"
	"github.com/medchain/medchain/chain/types"
)

// TestRejectedOwnBlockRequeuesTheSignedTxs: when a block this node proposed
// is rejected, its txs go back to the mempool as they were admitted, signed
// and unredacted (the cached proposal's own), never as the redactions the
// block carries; without the proposal, the redacted ones are not proposed
// again. And a redaction that reaches the cut anyway is left out with a
// reason instead of being sealed a second time under a new pseudonym.
func TestRejectedOwnBlockRequeuesTheSignedTxs(t *testing.T) {
	st, err := store.Open("db", store.TestOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p := &pseudonymizer{key: testClusterKey(t), rand: rand.Reader}
	audit, err := types.NewTx("c", "dr", &types.AuditRecord{EventType: "data_access", Patient: "mrn-1", Actor: "dr", Action: "view"}, time.UnixMilli(1), 1)
	if err != nil {
		t.Fatal(err)
	}
	ehr, err := types.NewTx("c", "admin", &types.EHRRegister{SystemID: "epic", Vendor: "epic", Endpoint: "https://ehr.example/api"}, time.UnixMilli(1), 2)
	if err != nil {
		t.Fatal(err)
	}
	signed := []*types.Tx{audit, ehr}
	hashes := []types.Hash{audit.Hash(), ehr.Hash()}
	cut, _, keys, refused, err := p.redact(st, &flight{done: make(chan struct{})}, signed, hashes)
	if err != nil || len(cut) != 2 || len(keys) != 1 || len(refused) != 0 || cut[0].Redaction == nil || cut[1].Redaction != nil {
		t.Fatalf("cut: %v, %d txs, %d keys, refused %v", err, len(cut), len(keys), refused)
	}
	block := &types.Block{Header: types.Header{Height: 5, Proposer: "node-1"}, Txs: cut}
	own := []*pending{{tx: audit, hash: hashes[0]}, {tx: ehr, hash: hashes[1]}}

	for _, tc := range []struct {
		name     string
		proposer string
		own      []*pending
		want     []types.Hash // in the mempool afterwards, in order
	}{
		{"own proposal cached: the signed txs", "node-1", own, hashes},
		{"proposal gone: only the txs the block holds as signed", "node-1", nil, hashes[1:]},
		{"another node's block: nothing", "node-2", own, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := &Node{cfg: Config{NodeID: "node-1"}, pool: newMempool(10), log: slog.New(slog.DiscardHandler)}
			b := *block
			b.Header.Proposer = tc.proposer
			n.rejected(&b, tc.own, ErrRejected)
			got := n.pool.take(10, 1<<20)
			if len(got) != len(tc.want) {
				t.Fatalf("mempool holds %d txs, want %d", len(got), len(tc.want))
			}
			for i, p := range got {
				if p.hash != tc.want[i] || p.tx.Redaction != nil || p.tx.Hash() != tc.want[i] {
					t.Fatalf("mempool[%d] = %s (redacted %v), want the signed tx %s", i, p.hash, p.tx.Redaction != nil, tc.want[i])
				}
			}
		})
	}

	// A redaction that reaches the cut is refused, not redacted again.
	again, _, keys2, refused, err := p.redact(st, &flight{done: make(chan struct{})}, cut[:1], hashes[:1])
	if err != nil {
		t.Fatal(err)
	}
	te, ok := refused[hashes[0]].(*state.TxError)
	if len(again) != 0 || len(keys2) != 0 || !ok || te.Code != types.CodeInvalidPayload {
		t.Fatalf("a redacted tx at the cut: %d txs out, %d keys drawn, refused %v", len(again), len(keys2), refused)
	}
}
