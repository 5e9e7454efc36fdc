package consensus_test

import (
	"testing"

	"github.com/medchain/medchain/consensus"
)

// BenchmarkCommitSignedAuditPseudonyms is BenchmarkCommitSignedAudit
// (two blocks in flight, 1,000 distinct patients) with pseudonymization off
// and on: the cost of redacting and sealing every audit event at the leader,
// carrying the patient keys beside the blocks and storing them.
//
//	go test -run '^$' -bench CommitSignedAuditPseudonyms -benchtime 40000x -count 5 ./consensus/
func BenchmarkCommitSignedAuditPseudonyms(b *testing.B) {
	b.Run("pseudonyms=off", func(b *testing.B) { benchCommitSignedAudit(b, 2, nil) })
	b.Run("pseudonyms=on", func(b *testing.B) {
		var key consensus.ClusterKey = sharedClusterKey(b)
		benchCommitSignedAudit(b, 2, key)
	})
}
