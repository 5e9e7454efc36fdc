package consensus

import (
	"fmt"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/store"
	"github.com/medchain/medchain/chain/types"
)

// BenchmarkPseudonymizerAdmit measures pseudonymizer.admit per tx, the
// check submit and (since the batch path runs it too) checkBatch add to the
// executor's admission on a chain that pseudonymizes: decode, the pseudonym
// shape, the patient's MAC and, for a patient the leader has not cached,
// one vault read (here: none is cached, so every tx reads). Compare with
// ML-DSA-65 verification, about 48 µs per tx.
//
//	go test -run '^$' -bench PseudonymizerAdmit -count 5 ./consensus/
func BenchmarkPseudonymizerAdmit(b *testing.B) {
	st, err := store.Open("db", store.TestOptions())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	txs := make([]*types.Tx, 1000)
	for i := range txs {
		tx, err := types.NewTx("bench", "dr-1", &types.AuditRecord{EventType: "data_access", Patient: fmt.Sprintf("bench-patient-%d", i),
			Actor: "dr-1", Action: "view_record", Purpose: "treatment", Outcome: "success", Resource: fmt.Sprintf("Observation/%d", i)}, time.Now(), uint64(i))
		if err != nil {
			b.Fatal(err)
		}
		txs[i] = tx
	}
	p := newPseudonymizer(testClusterKey(b))
	b.ResetTimer()
	for i := range b.N {
		if err := p.admit(st, txs[i%len(txs)]); err != nil {
			b.Fatal(err)
		}
	}
}
