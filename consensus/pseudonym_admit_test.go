package consensus_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/consensus"
	"github.com/medchain/medchain/consensus/consensustest"
)

// TestNoTxIsRecordedUnderAChosenPseudonym: on a chain that pseudonymizes,
// admission refuses a tx whose patient is shaped like a pseudonym
// (invalid_payload), whether it is a patient's pseudonym copied from the
// chain or one of nobody: the leader draws pseudonyms, so nothing is stored
// under one a signer chose; a batch (SubmitBatch) is admitted the same way.
// Without pseudonyms the same tx is an ordinary
// patient id and commits.
func TestNoTxIsRecordedUnderAChosenPseudonym(t *testing.T) {
	key := sharedClusterKey(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, mode := range []struct{ pseudonymizes, batch bool }{{true, false}, {true, true}, {false, false}} {
		pseudonymizes, batch := mode.pseudonymizes, mode.batch
		c := consensustest.New(t, consensustest.Options{N: 1, Configure: func(_ int, cfg *consensus.Config) {
			if pseudonymizes {
				cfg.ClusterKey = key
			}
		}})
		leader := c.WaitLeader(10 * time.Second)
		dr := c.RegisterClinician(ctx, leader, "dr-1", 7)
		if r, err := leader.SubmitAndWait(ctx, c.SignTx("dr-1", dr, consensustest.Audit("dr-1", "mrn-0", 1))); err != nil || !r.Result.OK() {
			t.Fatalf("an event about mrn-0: %v %+v", err, r)
		}
		copied := types.NewPseudonym([types.PseudonymSize]byte{5})
		if pseudonymizes {
			ps, _, err := leader.Patient("mrn-0")
			if err != nil {
				t.Fatal(err)
			}
			copied = ps
		}
		tests := []struct {
			name    string
			patient string
		}{
			{"the patient's own pseudonym", copied},
			{"a pseudonym of nobody", types.NewPseudonym([types.PseudonymSize]byte{0xab})},
		}
		for i, tt := range tests {
			name := "pseudonymizing chain, "
			if batch {
				name += "in a batch, "
			}
			if !pseudonymizes {
				name = "chain without pseudonyms, "
			}
			t.Run(name+tt.name, func(t *testing.T) {
				tx := c.SignTx("dr-1", dr, consensustest.Audit("dr-1", tt.patient, 10+i))
				var err error
				if batch {
					_, errs := leader.SubmitBatchAndWait(ctx, []*types.Tx{tx})
					err = errs[0]
				} else {
					_, err = leader.SubmitAndWait(ctx, tx)
				}
				var te *state.TxError
				switch {
				case !pseudonymizes && err != nil:
					t.Fatalf("without pseudonyms, a pseudonym-shaped id refused: %v", err)
				case pseudonymizes && (!errors.As(err, &te) || te.Code != types.CodeInvalidPayload || !strings.Contains(te.Reason, "not a pseudonym")):
					t.Fatalf("admission: %v, want %s", err, types.CodeInvalidPayload)
				}
				if pseudonymizes {
					if _, _, err := leader.Patient(tt.patient); !errors.Is(err, consensus.ErrPatientUnknown) {
						t.Fatalf("a pseudonym became a patient id: %v", err)
					}
				}
			})
		}
		c.Close()
	}
}
