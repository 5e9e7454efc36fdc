package node_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/node/nodetest"
)

// newIdentityKey makes and saves the key of an identity the test registers.
func newIdentityKey(t *testing.T, n *nodetest.Node, id string) *crypto.PrivateKey {
	t.Helper()
	k, err := crypto.GenerateKey(crypto.MLDSA65, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := crypto.SaveKey(filepath.Join(n.Config.Node.DataDir, node.KeysDir, id+".key"), k); err != nil {
		t.Fatal(err)
	}
	return k
}

// TestPatientIdentitiesAndDelegationsArePseudonymized: a patient identity
// registered on a running chain names the patient's pseudonym, not the
// patient id, and not the patient's name; a delegate is appointed with
// identity_delegate and its record names the pseudonym too; both are
// recognised when they sign txs naming the patient id (admission resolves
// the id through the vault) and in the block (by pseudonym), while an
// identity that is not a delegate is refused; a delegation listed in clear
// is refused with the way to do it; after the patient's erasure no record
// links back to the patient.
func TestPatientIdentitiesAndDelegationsArePseudonymized(t *testing.T) {
	n := nodetest.Start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const mrn, name = "MRN-770011", "Jane Roe"
	admin := n.Signer(t, "admin")
	for _, id := range []struct {
		reg *types.IdentityRegister
	}{
		{&types.IdentityRegister{ID: "jroe", Kind: types.KindPatient, Name: name, Roles: []string{types.RolePatient}, Patient: mrn}},
		{&types.IdentityRegister{ID: "guardian1", Kind: types.KindPerson, Roles: []string{types.RolePatient}}},
		{&types.IdentityRegister{ID: "neighbour", Kind: types.KindPerson, Roles: []string{types.RolePatient}}},
	} {
		id.reg.PublicKey = newIdentityKey(t, n, id.reg.ID).Public()
		if _, err := admin.Send(ctx, id.reg); err != nil {
			t.Fatalf("register %s: %v", id.reg.ID, err)
		}
	}
	rec, err := n.Client.Identity(ctx, "jroe")
	if err != nil {
		t.Fatal(err)
	}
	pseudonym := rec.Patient
	if !types.IsPseudonym(pseudonym) || rec.Name != "" {
		t.Fatalf("the patient's identity record names %q, %q", rec.Patient, rec.Name)
	}

	// The patient appoints a delegate; a clear list is refused.
	patient := n.Signer(t, "jroe")
	if _, err := patient.Send(ctx, &types.IdentityDelegate{ID: "guardian1", Patient: mrn}); err != nil {
		t.Fatalf("the patient appoints a delegate: %v", err)
	}
	if _, err := admin.Send(ctx, &types.IdentityUpdateRoles{ID: "neighbour", Roles: []string{types.RolePatient}, ActsFor: []string{mrn}}); err == nil || !strings.Contains(err.Error(), "identity_delegate") {
		t.Fatalf("a delegation listed in clear: %v", err)
	}
	if g, err := n.Client.Identity(ctx, "guardian1"); err != nil || len(g.ActsFor) != 1 || g.ActsFor[0] != pseudonym {
		t.Fatalf("the delegate's record: %+v %v", g, err)
	}

	// Patient and delegate sign for the patient id; a neighbour may not.
	grant := &types.ConsentGrant{Patient: mrn, ConsentType: "data_sharing", Granted: true, Scope: types.ConsentScope{Purposes: []string{"treatment"}}}
	if _, err := patient.Send(ctx, grant); err != nil {
		t.Fatalf("the patient's grant: %v", err)
	}
	if _, err := n.Signer(t, "guardian1").Send(ctx, &types.ConsentRevoke{Patient: mrn, ConsentType: "data_sharing", Reason: "family decision"}); err != nil {
		t.Fatalf("the delegate's revoke: %v", err)
	}
	if _, err := n.Signer(t, "neighbour").Send(ctx, grant); err == nil || !strings.Contains(err.Error(), "may not manage consents") {
		t.Fatalf("a neighbour's grant: %v", err)
	}
	if c, err := n.Client.Consent(ctx, mrn, "data_sharing"); err != nil || c.Status != "revoked" || c.Signer != "guardian1" || c.Reason != "family decision" {
		t.Fatalf("consent after the delegate's revoke: %+v %v", c, err)
	}

	// Neither the patient id nor the name is in any block.
	st := n.Consensus().Store()
	for h := uint64(1); h <= st.Height(); h++ {
		raw, err := st.RawBlock(h)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{mrn, name} {
			if bytes.Contains(raw, []byte(s)) {
				t.Fatalf("block %d holds %q in clear", h, s)
			}
		}
	}

	// The delegate erases the patient: the records keep the pseudonym only,
	// which no longer resolves.
	if _, err := n.Signer(t, "guardian1").Send(ctx, &types.PatientErase{Patient: mrn, Reason: "gdpr-art17"}); err != nil {
		t.Fatalf("the delegate's erasure: %v", err)
	}
	if _, err := admin.Send(ctx, &types.IdentityDelegate{ID: "neighbour", Patient: mrn}); err == nil || !strings.Contains(err.Error(), "is erased") {
		t.Fatalf("a delegation for an erased patient: %v", err)
	}
	if _, err := n.Client.Consent(ctx, mrn, "data_sharing"); err == nil {
		t.Fatal("consent of an erased patient readable")
	}
	if rec, err := n.Client.Identity(ctx, "jroe"); err != nil || rec.Patient != pseudonym || rec.Name != "" {
		t.Fatalf("identity after the erasure: %+v %v", rec, err)
	}
}
