package consensus_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/crypto/seal"
	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/store"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/consensus"
	"github.com/medchain/medchain/consensus/consensustest"
)

func sharedClusterKey(t testing.TB) *consensus.StaticClusterKey {
	dk, err := seal.NewDataKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	mac := make([]byte, 32)
	rand.Read(mac)
	k, err := consensus.NewStaticClusterKey(dk, mac)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestErasureLeavesNoKeyOnAnyNode runs pseudonymization and erasure on a
// three-node cluster sharing one cluster key, with two blocks in flight and
// a leader change while a new patient's first events are being cut: every
// node ends with one pseudonym for the patient (never two keys), opens the
// sealed payloads, and after the erasure holds no mapping or key, refuses
// the patient, reports every clean-up step complete and still agrees on the
// state.
func TestErasureLeavesNoKeyOnAnyNode(t *testing.T) {
	key := sharedClusterKey(t)
	c := consensustest.New(t, consensustest.Options{N: 3, Configure: func(_ int, cfg *consensus.Config) {
		cfg.ClusterKey = key
		cfg.MaxBlockTxs = 4
		cfg.MaxBlocksInFlight = 2
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	leader := c.WaitLeader(10 * time.Second)
	dr := c.RegisterClinician(ctx, leader, "dr-1", 7)
	po := consensustest.Key(t, 8)
	reg := c.SignTx(consensustest.AdminID, c.AdminKey, &types.IdentityRegister{ID: "po-1", Kind: types.KindPerson, Roles: []string{types.RolePrivacyOfficer}, PublicKey: po.Public()})
	if r, err := leader.SubmitAndWait(ctx, reg); err != nil || !r.Result.OK() {
		t.Fatalf("register privacy officer: %v %+v", err, r)
	}

	// Many first events of the same new patients at once, across a leader change.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var hashes []types.Hash
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 4 {
				tx := c.SignTx("dr-1", dr, consensustest.Audit("dr-1", fmt.Sprintf("mrn-%d", i%2), w*10+i))
				for ctx.Err() == nil {
					actx, acancel := context.WithTimeout(ctx, 2*time.Second)
					r, err := c.WaitLeader(10*time.Second).SubmitAndWait(actx, tx)
					acancel()
					if err == nil && r.Result.OK() {
						mu.Lock()
						hashes = append(hashes, tx.Hash())
						mu.Unlock()
						break
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
		}()
		if w == 3 {
			if err := c.WaitLeader(10 * time.Second).LeadershipTransfer(); err != nil {
				t.Logf("leadership transfer: %v", err)
			}
		}
	}
	wg.Wait()
	leader = c.WaitLeader(10 * time.Second)
	c.WaitHeight(leader.Height(), 20*time.Second)
	c.EnsureSameState()

	var pseudonym string
	for _, n := range c.Running() {
		ps, _, err := n.Patient("mrn-0")
		if err != nil {
			t.Fatalf("%v", err)
		}
		if pseudonym == "" {
			pseudonym = ps
		} else if ps != pseudonym {
			t.Fatalf("nodes disagree on the pseudonym: %s and %s", pseudonym, ps)
		}
		n.WithStore(func(st *store.Store) error {
			page, err := state.Trail(st, st, state.TrailQuery{ID: ps, Limit: state.MaxTrailLimit})
			if err != nil || len(page.Entries) != 16 {
				t.Fatalf("trail of mrn-0 by pseudonym: %d entries, %v", len(page.Entries), err)
			}
			tx, _, _, _, err := st.Tx(page.Entries[0].TxHash)
			if err != nil {
				t.Fatal(err)
			}
			orig, err := n.OpenRedacted(tx)
			if err != nil || orig.Hash() != tx.Hash() || orig.VerifySignature(dr.Public()) != nil {
				t.Fatalf("open a redacted tx on a follower: %v", err)
			}
			// Never two live keys: one vault mapping per patient.
			maps := 0
			st.VaultScan([]byte{'i'}, func(_, _ []byte) bool { maps++; return true })
			if maps != 2 {
				t.Fatalf("vault holds %d mappings, want 2 (one per patient)", maps)
			}
			return nil
		})
	}

	// Bad input: erasing an unknown patient; then the erasure; then a second.
	erase := func(patient string) (consensus.Receipt, error) {
		return c.WaitLeader(10*time.Second).SubmitAndWait(ctx, c.SignTx("po-1", po, &types.PatientErase{Patient: patient, Reason: "gdpr-art17"}))
	}
	var te *state.TxError
	if _, err := erase("mrn-unknown"); !errors.As(err, &te) || te.Code != types.CodeNotFound {
		t.Fatalf("erasure of an unknown patient: %v", err)
	}
	// The erasure, with an event about the patient racing it: the event
	// lands before it (ok), after it in the same pipeline (recorded as
	// refused, with a receipt) or is refused at admission; never lost.
	l := c.WaitLeader(10 * time.Second)
	etx := c.SignTx("po-1", po, &types.PatientErase{Patient: "mrn-0", Reason: "gdpr-art17"})
	if _, err := l.Submit(ctx, etx); err != nil {
		t.Fatalf("erasure: %v", err)
	}
	race := c.SignTx("dr-1", dr, consensustest.Audit("dr-1", "mrn-0", 77))
	_, raceErr := l.Submit(ctx, race)
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	if r, err := l.WaitTx(wctx, etx.Hash()); err != nil || !r.Result.OK() {
		t.Fatalf("erasure: %v %+v", err, r)
	}
	if raceErr == nil {
		r, err := l.WaitTx(wctx, race.Hash())
		if err != nil {
			t.Fatalf("an event racing the erasure got no receipt: %v", err)
		}
		t.Logf("event racing the erasure: %s %s", r.Result.Code, r.Result.Reason)
	} else if !errors.As(raceErr, &te) || te.Code != types.CodeConflict {
		t.Fatalf("event racing the erasure refused with %v", raceErr)
	}
	c.WaitHeight(c.WaitLeader(10*time.Second).Height(), 20*time.Second)
	if _, err := erase("mrn-0"); !errors.As(err, &te) || te.Code != types.CodeConflict {
		t.Fatalf("second erasure: %v", err)
	}

	for _, n := range c.Running() {
		if _, _, err := n.Patient("mrn-0"); !errors.Is(err, consensus.ErrPatientErased) {
			t.Fatalf("patient after erasure: %v", err)
		}
		if _, _, err := n.Patient("mrn-1"); err != nil {
			t.Fatalf("the other patient: %v", err)
		}
		n.WithStore(func(st *store.Store) error {
			if _, err := n.OpenSealed(pseudonym, []byte("x"), types.Hash{}); !errors.Is(err, consensus.ErrPatientErased) {
				t.Fatalf("open after erasure: %v", err)
			}
			if e, _ := state.GetErasure(st, pseudonym); e == nil {
				t.Fatal("no erasure record by pseudonym")
			}
			return nil
		})
	}
	// Every node completes the clean-up: compaction, snapshot, log, pruning.
	for _, n := range c.Running() {
		deadline := time.Now().Add(30 * time.Second)
		for {
			st, err := n.ErasureStatus("mrn-0")
			if err != nil {
				t.Fatal(err)
			}
			if st.Complete {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("erasure on %s not complete: %+v", st.NodeID, st.Steps)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	c.EnsureSameState()
	// The mapping step is read live: a mapping left in a vault fails it.
	n0 := c.Running()[0]
	if err := n0.PutVaultMappingForTest("mrn-0"); err != nil {
		t.Fatal(err)
	}
	if st, err := n0.ErasureStatus("mrn-0"); err != nil || st.Complete || st.Steps[0].Name != "mapping_deleted" || st.Steps[0].Done {
		t.Fatalf("status with a mapping left in the vault: %+v %v", st, err)
	}
	// Txs about the erased patient are refused at admission.
	tx := c.SignTx("dr-1", dr, consensustest.Audit("dr-1", "mrn-0", 99))
	if _, err := c.WaitLeader(10*time.Second).SubmitAndWait(ctx, tx); !errors.As(err, &te) || te.Code != types.CodeConflict || !bytes.Contains([]byte(te.Reason), []byte("erased")) {
		t.Fatalf("event about an erased patient: %v", err)
	}
}
