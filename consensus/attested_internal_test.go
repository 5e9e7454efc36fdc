package consensus

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/types"
)

// TestCutChecksAttestedLinks: the cut leaves out the redactions whose
// signer links to patients by patient id and no longer speaks for the
// patient, or whose identity record an earlier tx of the same cut changes;
// the other txs keep their place.
func TestCutChecksAttestedLinks(t *testing.T) {
	now := time.Now().UnixMilli()
	keys := map[string]byte{"admin": 3, "patient123": 4, "guardian": 5, "doctor": 6}
	g := &state.Genesis{ChainID: "attested", Time: now - time.Hour.Milliseconds(), Params: state.DefaultParams(),
		Identities: []types.IdentityRegister{
			{ID: "admin", Kind: types.KindPerson, Roles: []string{types.RoleAdmin}, PublicKey: seededKey(t, keys["admin"]).Public()},
			{ID: "patient123", Kind: types.KindPatient, Patient: "patient123", Roles: []string{types.RolePatient}, PublicKey: seededKey(t, keys["patient123"]).Public()},
			{ID: "guardian", Kind: types.KindPerson, Roles: []string{types.RolePatient}, ActsFor: []string{"patient123"}, PublicKey: seededKey(t, keys["guardian"]).Public()},
			{ID: "doctor", Kind: types.KindPerson, Roles: []string{types.RoleClinician}, PublicKey: seededKey(t, keys["doctor"]).Public()},
		}}
	exec, st, _ := openGenesis(t, g)
	n := &Node{exec: exec}
	ps := types.NewPseudonym([types.PseudonymSize]byte{9}) // patient123's pseudonym
	nonce := uint64(0)
	sign := func(signer string, p types.Payload) *types.Tx {
		nonce++
		tx, err := types.NewTx(g.ChainID, signer, p, time.UnixMilli(now), nonce)
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Sign(seededKey(t, keys[signer])); err != nil {
			t.Fatal(err)
		}
		return tx
	}
	// redact stands in for the pseudonymizer: the cut's form of a signed tx.
	redact := func(tx *types.Tx) *types.Tx {
		if !types.Redactable(tx.Type) {
			return tx
		}
		pl, err := tx.DecodePayload()
		if err != nil {
			t.Fatal(err)
		}
		r, err := types.Redact(tx, tx.Hash(), pl, ps, []byte("sealed payload stand-in"))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	grant := sign("guardian", &types.ConsentGrant{Patient: "patient123", ConsentType: "data_sharing", Granted: true,
		Scope: types.ConsentScope{Purposes: []string{"treatment"}, Parties: []string{"doctor"}}})
	strangerGrant := sign("guardian", &types.ConsentGrant{Patient: "mrn-7", ConsentType: "data_sharing", Granted: true,
		Scope: types.ConsentScope{Purposes: []string{"treatment"}, Parties: []string{"doctor"}}})
	roles := sign("admin", &types.IdentityUpdateRoles{ID: "guardian", Roles: []string{types.RolePatient}})
	dismiss := sign("patient123", &types.IdentityDelegate{ID: "guardian", Patient: "patient123", Revoke: true})
	audit := sign("doctor", &types.AuditRecord{EventType: "data_access", Patient: "patient123", Actor: "doctor", Action: "view"})

	for _, tc := range []struct {
		name    string
		cut     []*types.Tx
		refused map[types.Hash]types.ResultCode
	}{
		{"a delegate in clear who still speaks for the patient", []*types.Tx{audit, grant}, nil},
		{"a delegate in clear who no longer does", []*types.Tx{strangerGrant}, map[types.Hash]types.ResultCode{strangerGrant.Hash(): types.CodeUnauthorized}},
		{"the roles of the delegate change earlier in the cut", []*types.Tx{roles, grant}, map[types.Hash]types.ResultCode{grant.Hash(): types.CodeConflict}},
		{"the roles change later in the cut", []*types.Tx{grant, roles}, nil},
		{"a dismissal that cannot reach a delegation in clear", []*types.Tx{dismiss, audit}, map[types.Hash]types.ResultCode{dismiss.Hash(): types.CodeConflict}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hashes := make([]types.Hash, len(tc.cut))
			out := make([]*types.Tx, len(tc.cut))
			for i, tx := range tc.cut {
				hashes[i], out[i] = tx.Hash(), redact(tx)
			}
			refused, err := n.checkAttestedLinks(st, nil, tc.cut, hashes, out)
			if err != nil {
				t.Fatal(err)
			}
			if len(refused) != len(tc.refused) {
				t.Fatalf("refused %v, want %v", refused, tc.refused)
			}
			for h, code := range tc.refused {
				var te *state.TxError
				if !errors.As(refused[h], &te) || te.Code != code {
					t.Fatalf("tx %s: %v, want %s", h, refused[h], code)
				}
				if strings.Contains(te.Reason, "patient123") || strings.Contains(te.Reason, "mrn-7") {
					t.Fatalf("the refusal names the patient: %q", te.Reason)
				}
			}
		})
	}
}
