package state

import (
	"errors"
	"testing"

	"github.com/medchain/medchain/chain/types"
)

// countingView counts reads of identity keys.
type countingView struct {
	View
	identityReads int
}

func (c *countingView) Get(key []byte) ([]byte, bool, error) {
	if len(key) > 0 && key[0] == prefixIdentity {
		c.identityReads++
	}
	return c.View.Get(key)
}

func TestAdmissionReadsASignerOnce(t *testing.T) {
	f := newFixture(t)
	f.register("doctor456", types.KindPerson, 10, types.RoleClinician)
	txs := make([]*types.Tx, 20)
	for i := range txs {
		txs[i] = f.tx("doctor456", audit("patient123", "doctor456"))
	}

	for _, tc := range []struct {
		name      string
		admission *Admission
		wantReads int
	}{
		{"without a cache every check reads the signer", nil, len(txs)},
		{"one admission run reads it once", NewAdmission(), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := &countingView{View: f.view}
			for _, tx := range txs {
				if err := f.ex.AdmitTxHash(tc.admission, v, tx, tx.Hash(), f.nowMs); err != nil {
					t.Fatalf("admit: %v", err)
				}
			}
			if v.identityReads != tc.wantReads {
				t.Fatalf("identity reads = %d, want %d", v.identityReads, tc.wantReads)
			}
		})
	}
}

func TestAdmissionStillRefuses(t *testing.T) {
	f := newFixture(t)
	f.register("doctor456", types.KindPerson, 10, types.RoleClinician)
	adm := NewAdmission()
	good := f.tx("doctor456", audit("patient123", "doctor456"))
	if err := f.ex.AdmitTxHash(adm, f.view, good, good.Hash(), f.nowMs); err != nil {
		t.Fatalf("first admit: %v", err)
	}

	forged := f.tx("doctor456", audit("patient123", "doctor456"))
	forged.Signature.Sig[10] ^= 1
	unknown := f.tx("nobody", audit("patient123", "nobody"))
	wrongRole := f.tx("doctor456", &types.IdentityRevoke{ID: "admin", Reason: "test"})
	for _, tc := range []struct {
		name string
		tx   *types.Tx
		code types.ResultCode
	}{
		{"a cached signer's bad signature", forged, types.CodeBadSignature},
		{"an unknown signer", unknown, types.CodeUnknownSigner},
		{"a cached signer's type its roles may not sign", wrongRole, types.CodeUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var te *TxError
			err := f.ex.AdmitTxHash(adm, f.view, tc.tx, tc.tx.Hash(), f.nowMs)
			if !errors.As(err, &te) || te.Code != tc.code {
				t.Fatalf("admit: %v, want a refusal with code %v", err, tc.code)
			}
		})
	}
}
