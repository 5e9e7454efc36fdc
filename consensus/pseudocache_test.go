package consensus_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/store"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/consensus"
	"github.com/medchain/medchain/consensus/consensustest"
)

// TestTxSignedWithARetiredKeyIsRefusedAtTheCut proves the rotation rule
// holds for redacted txs: an audit event signed with a clinician's key and
// admitted before the clinician's key rotation committed, but cut into a
// block after it, is refused (bad signature) and never recorded, while the
// same clinician's events signed with the new key are. Before the block
// cut checked the signed form, the redacted event was recorded as valid:
// the executor's forced re-check cannot see a sealed payload.
func TestTxSignedWithARetiredKeyIsRefusedAtTheCut(t *testing.T) {
	c := consensustest.New(t, consensustest.Options{Configure: func(_ int, cfg *consensus.Config) {
		cfg.ClusterKey = sharedClusterKey(t)
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n := c.WaitLeader(10 * time.Second)
	oldKey := c.RegisterClinician(ctx, n, "dr-rot", 7)
	newKey := consensustest.Key(t, 70)
	// Signed and (in effect) admitted under the old key.
	stale := c.SignTx("dr-rot", oldKey, consensustest.Audit("dr-rot", "mrn-rot", 1))
	staleOther := c.SignTx("dr-rot", oldKey, consensustest.Audit("dr-rot", "mrn-new", 2))

	rot := &types.IdentityRotateKey{ID: "dr-rot", OldKey: oldKey.Public(), NewKey: newKey.Public(), Reason: "scheduled"}
	var err error
	if rot.Proof, err = newKey.Sign(types.RotationProofBytes(consensustest.ChainID, rot)); err != nil {
		t.Fatal(err)
	}
	if r, err := n.SubmitAndWait(ctx, c.SignTx("dr-rot", oldKey, rot)); err != nil || !r.Result.OK() {
		t.Fatalf("rotation: %v %+v", err, r)
	}
	for _, tx := range []*types.Tx{stale, staleOther} {
		if err := n.AdmittedEarlierForTest(tx); err != nil {
			t.Fatal(err)
		}
	}
	// Queued after the stale txs, so it is cut in their block or a later one.
	good := c.SignTx("dr-rot", newKey, consensustest.Audit("dr-rot", "mrn-rot", 3))
	if r, err := n.SubmitAndWait(ctx, good); err != nil || !r.Result.OK() {
		t.Fatalf("event signed with the new key: %v %+v", err, r)
	}
	for name, tx := range map[string]*types.Tx{"known patient": stale, "new patient": staleOther} {
		if r, err := n.Receipt(tx.Hash()); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: an event signed with the retired key was recorded: %+v %v", name, r, err)
		}
	}
	// The refused event's new patient got no mapping.
	if _, _, err := n.Patient("mrn-new"); !errors.Is(err, consensus.ErrPatientUnknown) {
		t.Errorf("a refused event created a patient mapping: %v", err)
	}
	// Submitted again now, admission refuses it the same way.
	var te *state.TxError
	if _, err := n.Submit(ctx, stale); !errors.As(err, &te) || te.Code != types.CodeBadSignature {
		t.Fatalf("stale event at admission: %v", err)
	}
	// The recorded event opens and verifies under the new key.
	n.WithStore(func(st *store.Store) error {
		tx, _, _, _, err := st.Tx(good.Hash())
		if err != nil {
			t.Fatal(err)
		}
		orig, err := n.OpenRedacted(tx)
		if err != nil || orig.VerifySignature(newKey.Public()) != nil {
			t.Fatalf("open the recorded event: %v", err)
		}
		return nil
	})
}

// TestLeaderPatientCacheKeepsNoErasedKey proves crypto-shredding with the
// leader's patient cache: patients seen in earlier blocks are served from
// it, with the vault's pseudonym and key; an erasure leaves no cached key
// for the erased patient (the cached key object is destroyed, its bytes
// zeroed) and drops the rest; the cache refills from the vault; and
// stopping the leader destroys what it holds.
func TestLeaderPatientCacheKeepsNoErasedKey(t *testing.T) {
	c := consensustest.New(t, consensustest.Options{Configure: func(_ int, cfg *consensus.Config) {
		cfg.ClusterKey = sharedClusterKey(t)
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n := c.WaitLeader(10 * time.Second)
	dr := c.RegisterClinician(ctx, n, "dr-1", 7)
	po := consensustest.Key(t, 8)
	reg := c.SignTx(consensustest.AdminID, c.AdminKey, &types.IdentityRegister{ID: "po-1", Kind: types.KindPerson, Roles: []string{types.RolePrivacyOfficer}, PublicKey: po.Public()})
	if r, err := n.SubmitAndWait(ctx, reg); err != nil || !r.Result.OK() {
		t.Fatalf("register privacy officer: %v %+v", err, r)
	}
	record := func(patient string, i int) *types.Tx {
		t.Helper()
		tx := c.SignTx("dr-1", dr, consensustest.Audit("dr-1", patient, i))
		if r, err := n.SubmitAndWait(ctx, tx); err != nil || !r.Result.OK() {
			t.Fatalf("event %d about %s: %v %+v", i, patient, err, r)
		}
		return tx
	}
	// Each event in its own block: the second and third come from the cache.
	var last *types.Tx
	for i := range 3 {
		record("mrn-a", i)
		last = record("mrn-b", i)
	}
	keyA, size := n.CachedPatientForTest("mrn-a")
	keyB, _ := n.CachedPatientForTest("mrn-b")
	if keyA == nil || keyB == nil || size != 2 {
		t.Fatalf("leader caches %d patients (mrn-a %v, mrn-b %v), want both", size, keyA != nil, keyB != nil)
	}
	// The cached mapping is the vault's: same pseudonym, same key.
	psB, vaultB, err := n.Patient("mrn-b")
	if err != nil || !vaultB.Equal(keyB) {
		t.Fatalf("cached key of mrn-b differs from the vault's: %v", err)
	}
	n.WithStore(func(st *store.Store) error {
		tx, _, _, _, err := st.Tx(last.Hash())
		if err != nil || types.PatientOf(mustPayload(t, tx)) != psB {
			t.Fatalf("last event of mrn-b is not recorded under the vault's pseudonym %s: %v", psB, err)
		}
		return nil
	})

	erase := c.SignTx("po-1", po, &types.PatientErase{Patient: "mrn-a", Reason: "gdpr-art17"})
	if r, err := n.SubmitAndWait(ctx, erase); err != nil || !r.Result.OK() {
		t.Fatalf("erasure: %v %+v", err, r)
	}
	if k, _ := n.CachedPatientForTest("mrn-a"); k != nil {
		t.Fatal("the leader still caches the erased patient's key")
	}
	if !keyA.Destroyed() {
		t.Fatal("the erased patient's cached key was dropped but not destroyed")
	}
	if _, size := n.CachedPatientForTest("mrn-b"); size != 0 || !keyB.Destroyed() {
		t.Fatalf("after an applied erasure the cache holds %d patients (mrn-b key destroyed: %v), want none", size, keyB.Destroyed())
	}
	// Later events: the erased patient is refused, the other refills the cache.
	var te *state.TxError
	if _, err := n.SubmitAndWait(ctx, c.SignTx("dr-1", dr, consensustest.Audit("dr-1", "mrn-a", 9))); !errors.As(err, &te) || te.Code != types.CodeConflict {
		t.Fatalf("event about the erased patient: %v", err)
	}
	record("mrn-b", 10)
	keyB2, _ := n.CachedPatientForTest("mrn-b")
	if keyB2 == nil || !keyB2.Equal(vaultB) {
		t.Fatal("mrn-b did not come back into the cache with the vault's key")
	}
	c.Stop(0)
	if !keyB2.Destroyed() {
		t.Fatal("stopping the node left a patient key in the cache")
	}
}

func mustPayload(t *testing.T, tx *types.Tx) types.Payload {
	t.Helper()
	p, err := tx.DecodePayload()
	if err != nil {
		t.Fatal(err)
	}
	return p
}
