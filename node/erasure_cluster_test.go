package node_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/chain/verify"
	"github.com/medchain/medchain/node/nodetest"
	"github.com/medchain/medchain/node/rpc"
)

// TestErasureOnEveryNodeOfACluster is the multi-node half of issue 6's
// "done when": three nodes over libp2p, sharing the cluster key that
// InitCluster hands out (a stand-in for the cluster data key). Every node
// stores the events and consents pseudonymized and sealed and serves them
// opened; after
// the patient's erasure every node refuses the patient, shows the sealed
// fields unreadable, still verifies the chain, and reports its own clean-up
// complete, with no copy of the wrapped key in its Pebble files or snapshots.
func TestErasureOnEveryNodeOfACluster(t *testing.T) {
	c := nodetest.StartCluster(t, 3, 1, 1, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	leader := c.Nodes[c.WaitLeader(20*time.Second)]
	doctor := leader.Client.Signer("doctor456", c.Key("doctor456"))
	for _, a := range []string{"view_record", "update_record"} {
		if _, err := doctor.Send(ctx, erasureEvent(a)); err != nil {
			t.Fatal(err)
		}
	}
	patient := leader.Client.Signer("patient123", c.Key("patient123"))
	const revokeReason = "second opinion elsewhere"
	if _, err := patient.Send(ctx, &types.ConsentGrant{Patient: "patient123", ConsentType: "imaging", Granted: true, Scope: types.ConsentScope{Purposes: []string{"treatment"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := patient.Send(ctx, &types.ConsentRevoke{Patient: "patient123", ConsentType: "imaging", Reason: revokeReason}); err != nil {
		t.Fatal(err)
	}
	c.WaitSameHead(1, 20*time.Second)

	wrapped := map[int][][]byte{}
	for i, n := range c.Nodes {
		page, err := n.Client.Trail(ctx, rpc.TrailParams{Patient: "patient123", Consistency: rpc.ConsistencyLinearizable})
		if err != nil {
			t.Fatalf("node %d: %v", i+1, err)
		}
		if len(page.Entries) != 2 || page.Entries[0].Record.Details["note"] != erasureNote {
			t.Fatalf("node %d: trail not opened: %+v", i+1, page.Entries)
		}
		if cs, err := n.Client.Consent(ctx, "patient123", "imaging"); err != nil || cs.Patient != "patient123" || cs.Reason != revokeReason {
			t.Fatalf("node %d: consent not opened: %+v %v", i+1, cs, err)
		}
		st := n.Consensus().Store()
		for h := uint64(1); h <= st.Height(); h++ {
			raw, err := st.RawBlock(h)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(raw, []byte(erasureNote)) || bytes.Contains(raw, []byte(erasureResource)) || bytes.Contains(raw, []byte(revokeReason)) {
				t.Fatalf("node %d: block %d holds personal fields in clear", i+1, h)
			}
		}
		wrapped[i] = vaultRecords(t, n)
		if len(wrapped[i]) != 1 || !bytes.Equal(wrapped[i][0], wrapped[0][0]) {
			t.Fatalf("node %d: vault %d records, want the one the leader drew", i+1, len(wrapped[i]))
		}
	}

	if _, err := patient.Send(ctx, &types.PatientErase{Patient: "patient123", Reason: "gdpr-art17"}); err != nil {
		t.Fatal(err)
	}
	c.WaitSameHead(1, 20*time.Second)

	for i, n := range c.Nodes {
		if _, err := n.Client.PatientExport(ctx, "patient123", false); rpcCode(t, err) != rpc.CodePatientErased {
			t.Fatalf("node %d: export of an erased patient: %v", i+1, err)
		}
		if _, err := n.Client.Consent(ctx, "patient123", "imaging"); rpcCode(t, err) != rpc.CodePatientErased {
			t.Fatalf("node %d: consent of an erased patient: %v", i+1, err)
		}
		page, err := n.Client.Trail(ctx, rpc.TrailParams{Actor: "doctor456"})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Entries {
			if e.Record.Details != nil || e.Record.Resource != "" || !types.IsPseudonym(e.Record.Patient) {
				t.Fatalf("node %d: erased entry readable: %+v", i+1, e.Record)
			}
		}
		vr, err := n.Client.Verify(ctx, verify.Options{Signatures: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !vr.OK || vr.AttestedOnly != 5 { // two events, the grant, the revocation, the erasure
			t.Fatalf("node %d: verify after erasure: ok %v attested-only %d faults %v", i+1, vr.OK, vr.AttestedOnly, vr.Faults)
		}
		var st *rpc.ErasureStatus
		deadline := time.Now().Add(60 * time.Second)
		for {
			if st, err = n.Client.ErasureStatus(ctx, "patient123"); err != nil {
				t.Fatal(err)
			}
			if st.Complete || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if !st.Complete || st.NodeID != n.Config.Node.ID {
			t.Fatalf("node %d: erasure status %+v", i+1, st)
		}
		for _, dir := range []string{filepath.Join(n.Config.Node.DataDir, "chain"), filepath.Join(n.Config.Node.DataDir, "raft", "snapshots")} {
			for _, f := range grepDir(t, dir, wrapped[i][0]) { // no WAL: no .log holds it either
				t.Errorf("node %d: the wrapped key is still in %s %s", i+1, f, tarMembers(f, wrapped[i][0]))
			}
		}
	}
}
