package consensus

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/codec"
	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/types"
)

func seededKey(t *testing.T, seed byte) *crypto.PrivateKey {
	t.Helper()
	k, err := crypto.GenerateKey(crypto.MLDSA65, rand.NewChaCha8([32]byte{seed}))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestStaleSignatureRefusedWhileTheRotationIsInFlight covers the block cut's
// signature check on the path the cluster test cannot pin down: the
// rotation is in a block still in flight (not applied), and the block being
// cut builds on it, so the key in force is read from that block's outcome
// over the store. Redactable txs signed with the retired key are refused
// with CodeBadSignature; those signed with the new key pass; and cut on the
// store alone (the rotation not beneath the block) nothing is refused.
func TestStaleSignatureRefusedWhileTheRotationIsInFlight(t *testing.T) {
	oldKey, newKey := seededKey(t, 1), seededKey(t, 2)
	now := time.Now().UnixMilli()
	g := &state.Genesis{ChainID: "stale-sig", Time: now - time.Hour.Milliseconds(), Params: state.DefaultParams(),
		Identities: []types.IdentityRegister{{ID: "admin", Kind: types.KindPerson, Roles: []string{types.RoleAdmin}, PublicKey: seededKey(t, 3).Public()}, {ID: "dr", Kind: types.KindPerson, Roles: []string{types.RoleClinician, types.RolePrivacyOfficer}, PublicKey: oldKey.Public()}}}
	exec, st, _ := openGenesis(t, g)
	n := &Node{exec: exec}

	sign := func(k *crypto.PrivateKey, p types.Payload, nonce uint64) *types.Tx {
		tx, err := types.NewTx(g.ChainID, "dr", p, time.UnixMilli(now), nonce)
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Sign(k); err != nil {
			t.Fatal(err)
		}
		return tx
	}
	audit := &types.AuditRecord{EventType: "data_access", Patient: "mrn-1", Actor: "dr", Action: "view"}
	txs := []*types.Tx{
		sign(oldKey, audit, 1), // stale
		sign(newKey, audit, 2), // signed with the key in force
		sign(oldKey, &types.PatientErase{Patient: "mrn-1", Reason: "gdpr-art17"}, 3), // stale
	}
	hashes := []types.Hash{txs[0].Hash(), txs[1].Hash(), txs[2].Hash()}

	// Block 1, in flight, rotated dr's key: its outcome holds the record.
	id, err := state.GetIdentity(st, "dr")
	if err != nil || id == nil {
		t.Fatalf("genesis identity: %v", err)
	}
	rotated := *id
	rotated.OldKeys = []state.KeyVersion{{PublicKey: oldKey.Public(), From: id.CurrentKeyFrom(), Until: 1}}
	rotated.PublicKey, rotated.KeyFrom, rotated.KeyTime = newKey.Public(), 2, now-1000
	prev := &flight{done: make(chan struct{}), block: &types.Block{Header: types.Header{Height: 1}},
		out: &state.Outcome{Writes: []state.Write{{Key: state.IdentityKey("dr"), Value: codec.MustMarshal(&rotated)}}}}

	refused, err := n.refuseStaleSignatures(st, prev, now, txs, hashes)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, false, true} {
		err, got := refused[hashes[i]]
		if got != want {
			t.Errorf("tx %d: refused %v, want %v (%v)", i, got, want, err)
			continue
		}
		if te, ok := err.(*state.TxError); got && (!ok || te.Code != types.CodeBadSignature) {
			t.Errorf("tx %d refused with %v, want a bad-signature refusal", i, err)
		}
	}
	// Without the rotation beneath the block (prev applied elsewhere or
	// not at all), the old key is in force: nothing is refused.
	close(prev.done)
	if refused, err := n.refuseStaleSignatures(st, prev, now, txs[:1], hashes[:1]); err != nil || len(refused) != 0 {
		t.Fatalf("cut on the store: refused %v, %v", refused, err)
	}
}

// TestLeftOutTxWakesItsWaiters: a tx the proposer leaves out of its block at
// the cut (a stale signature, an erased patient) will never commit as
// submitted, so its local waiters get the refusal at once instead of waiting
// for their timeout; waiters of other txs keep waiting.
func TestLeftOutTxWakesItsWaiters(t *testing.T) {
	n := &Node{waiters: make(map[types.Hash][]chan waitOutcome), done: make(chan struct{})}
	left, other := types.Hash{1}, types.Hash{2}
	a, b, c := n.addWaiter(left), n.addWaiter(left), n.addWaiter(other)
	refusal := &state.TxError{Code: types.CodeBadSignature, Reason: "stale"}
	n.leftOut(left, refusal)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	for i, ch := range []chan waitOutcome{a, b} {
		start := time.Now()
		_, err := n.wait(ctx, left, ch)
		if !errors.Is(err, refusal) {
			t.Fatalf("waiter %d of the left-out tx got %v, want the refusal", i, err)
		}
		if d := time.Since(start); d > 20*time.Millisecond {
			t.Fatalf("waiter %d woke after %v", i, d)
		}
	}
	if _, err := n.wait(ctx, other, c); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiter of another tx got %v, want its own timeout", err)
	}
	if len(n.waiters[left]) != 0 {
		t.Fatalf("left-out tx still has %d waiters registered", len(n.waiters[left]))
	}
}

// TestALeftOutCopyOfATxInFlightIsNotAnswered: a client's retry of a tx,
// admitted while the original is still in a block in Raft, may be left out
// of the next block (its signer rotated in the block in flight). Its
// waiters are those of the original, which may well commit: answering them
// with the refusal would tell a client its committed tx failed. Only txs
// with no copy in flight are answered.
func TestALeftOutCopyOfATxInFlightIsNotAnswered(t *testing.T) {
	n := &Node{fsm: newFSMHarness(t).fsm, waiters: make(map[types.Hash][]chan waitOutcome), done: make(chan struct{}), log: slog.New(slog.DiscardHandler)}
	copied, alone := types.Hash{1}, types.Hash{2}
	inflight := []*flight{{ps: []*pending{{hash: types.Hash{9}}, {hash: copied}}}}
	a, b := n.addWaiter(copied), n.addWaiter(alone)
	refusal := &state.TxError{Code: types.CodeBadSignature, Reason: "stale"}
	n.answerLeftOut(map[types.Hash]error{copied: refusal, alone: refusal}, inflight)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := n.wait(ctx, alone, b); !errors.Is(err, refusal) {
		t.Fatalf("waiter of a tx with no copy in flight got %v, want the refusal", err)
	}
	if _, err := n.wait(ctx, copied, a); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiter of a tx whose copy is in flight got %v, want to keep waiting", err)
	}
}
