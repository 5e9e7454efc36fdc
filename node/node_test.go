package node_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/chain/verify"
	"github.com/medchain/medchain/node/client"
	"github.com/medchain/medchain/node/nodetest"
	"github.com/medchain/medchain/node/rpc"
)

// TestSeedBlockchainWorkflow runs the seed's blockchain workflow through
// JSON-RPC on a real node: record audit events, grant a consent with scope,
// verify it for allowed and refused purposes and requesters, refuse an
// expired consent, revoke and refuse, read the trail in order, verify the
// chain, and check an inclusion proof and a consistency proof against signed
// headers, as a client that does not trust the node would.
func TestSeedBlockchainWorkflow(t *testing.T) {
	n := nodetest.Start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	doctor, patient := n.Signer(t, "doctor456"), n.Signer(t, "patient123")

	var trail []types.Hash
	for _, action := range []string{"view_record", "update_record", "view_record"} {
		r, err := doctor.Send(ctx, &types.AuditRecord{EventType: "data_access", Patient: "patient123", Actor: "doctor456",
			Action: action, Purpose: "treatment", Outcome: "success", Resource: "Observation/bp-1",
			Details: map[string]string{"ip_address": "192.168.1.1", "session_id": "abc123"}})
		if err != nil {
			t.Fatalf("audit: %v", err)
		}
		trail = append(trail, r.TxHash)
	}
	firstHead, err := n.Client.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}

	scope := types.ConsentScope{Purposes: []string{"treatment", "research"}, Parties: []string{"doctor456", "researcher789"},
		Expiration: time.Now().Add(365 * 24 * time.Hour).UnixMilli()}
	if _, err := patient.Send(ctx, &types.ConsentGrant{Patient: "patient123", ConsentType: "data_sharing", Granted: true, Scope: scope}); err != nil {
		t.Fatalf("grant: %v", err)
	}
	expired := types.ConsentScope{Purposes: []string{"treatment"}, Expiration: time.Now().Add(-time.Minute).UnixMilli()}
	if _, err := patient.Send(ctx, &types.ConsentGrant{Patient: "patient123", ConsentType: "imaging", Granted: true, Scope: expired}); err != nil {
		t.Fatalf("grant expired: %v", err)
	}
	verifyConsent := func(typ, purpose, requester string, want bool, reason string) {
		t.Helper()
		r, err := n.Client.VerifyConsent(ctx, rpc.VerifyParams{Patient: "patient123", ConsentType: typ, Purpose: purpose, Requester: requester})
		if err != nil {
			t.Fatal(err)
		}
		if r.Granted != want || !strings.Contains(r.Reason, reason) {
			t.Fatalf("%s/%s/%s: granted=%v %q; want %v %q", typ, purpose, requester, r.Granted, r.Reason, want, reason)
		}
	}
	verifyConsent("data_sharing", "treatment", "doctor456", true, "granted")
	verifyConsent("data_sharing", "research", "researcher789", true, "granted")
	verifyConsent("data_sharing", "marketing", "doctor456", false, "purpose")
	verifyConsent("data_sharing", "treatment", "stranger", false, "authorized party")
	verifyConsent("imaging", "treatment", "doctor456", false, "expired")
	verifyConsent("genomics", "treatment", "doctor456", false, "no consent")

	if _, err := patient.Send(ctx, &types.ConsentRevoke{Patient: "patient123", ConsentType: "data_sharing", Reason: "moved"}); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	verifyConsent("data_sharing", "treatment", "doctor456", false, "revoked")
	hist, err := n.Client.ConsentHistory(ctx, "patient123", "data_sharing")
	if err != nil || len(hist) != 2 {
		t.Fatalf("history: %v %v", hist, err)
	}

	page, err := n.Client.Trail(ctx, rpc.TrailParams{Patient: "patient123"})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != len(trail) {
		t.Fatalf("trail has %d entries, want %d", len(page.Entries), len(trail))
	}
	for i, e := range page.Entries {
		if e.TxHash != trail[i] || (i > 0 && e.Height < page.Entries[i-1].Height) {
			t.Fatalf("trail entry %d: %s at %d, want %s in chain order", i, e.TxHash, e.Height, trail[i])
		}
	}

	rep, err := n.Client.Verify(ctx, verify.Options{Signatures: true}, nil)
	if err != nil || !rep.OK || rep.Txs < 6 {
		t.Fatalf("verify: %+v %v", rep, err)
	}

	nodeKey := n.Key(t, "node").Public()
	p, err := n.Client.Proof(ctx, trail[1], 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.VerifyInclusion(p, nodeKey); err != nil {
		t.Fatalf("inclusion proof: %v", err)
	}
	bad := *p
	bad.TxHash = trail[0]
	if client.VerifyInclusion(&bad, nodeKey) == nil {
		t.Fatal("inclusion proof verified for the wrong tx")
	}
	if client.VerifyInclusion(p, n.Key(t, "admin").Public()) == nil {
		t.Fatal("header verified against the wrong key")
	}
	cp, err := n.Client.Consistency(ctx, firstHead.Height, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.VerifyConsistency(cp, nodeKey, nodeKey); err != nil {
		t.Fatalf("consistency proof: %v", err)
	}
	if cp.ToSize <= cp.FromSize {
		t.Fatalf("consistency from %d to %d proves nothing", cp.FromSize, cp.ToSize)
	}
}

// TestRestartKeepsChainAndAcceptsTxs closes a node and reopens its data dir.
func TestRestartKeepsChainAndAcceptsTxs(t *testing.T) {
	n := nodetest.Start(t, nil)
	ctx := context.Background()
	r, err := n.Signer(t, "doctor456").Send(ctx, &types.AuditRecord{EventType: "data_access", Patient: "p1", Actor: "doctor456", Action: "view_record"})
	if err != nil {
		t.Fatal(err)
	}
	head, _ := n.Client.Head(ctx)
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	m := nodetest.Restart(t, n.Config)
	again, err := m.Client.Head(ctx)
	if err != nil || again.Hash != head.Hash {
		t.Fatalf("head after restart %v (%v), want %s", again, err, head.Hash)
	}
	got, err := m.Client.Tx(ctx, r.TxHash)
	if err != nil || got.Status != "committed" || got.Height == nil || *got.Height != r.Height {
		t.Fatalf("tx after restart: %+v %v", got, err)
	}
	if _, err := m.Signer(t, "doctor456").Send(ctx, &types.AuditRecord{EventType: "data_access", Patient: "p1", Actor: "doctor456", Action: "view_record"}); err != nil {
		t.Fatalf("new tx after restart: %v", err)
	}
}
