package types

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/crypto"
)

func testKey(t testing.TB, seed byte) *crypto.PrivateKey {
	t.Helper()
	var s [32]byte
	s[0] = seed
	k, err := crypto.GenerateKey(crypto.MLDSA65, rand.NewChaCha8(s))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func makeTx(t testing.TB, p Payload) *Tx {
	t.Helper()
	tx, err := NewTx("test-chain", "dr-1", p, time.UnixMilli(1_700_000_000_000), 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Sign(testKey(t, 1)); err != nil {
		t.Fatal(err)
	}
	return tx
}

func audit() *AuditRecord {
	return &AuditRecord{EventType: "data_access", Patient: "patient123", Actor: "doctor456", Action: "view_record",
		Purpose: "treatment", Outcome: "success", Resource: "Observation/1", Details: map[string]string{"ip_address": "192.168.1.1"}}
}

func TestTxRoundTripAndHash(t *testing.T) {
	tx := makeTx(t, audit())
	got, err := DecodeTx(tx.Encode(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if got.Hash() != tx.Hash() {
		t.Fatal("hash changed across encode/decode")
	}
	if err := got.VerifySignature(testKey(t, 1).Public()); err != nil {
		t.Fatalf("signature: %v", err)
	}
	if err := got.ValidateBasic(); err != nil {
		t.Fatal(err)
	}
	// The hash excludes signature bytes: a re-signed copy keeps its identity.
	resigned := *tx
	resigned.Signature.Sig = append([]byte(nil), tx.Signature.Sig...)
	resigned.Signature.Sig[0] ^= 1
	if resigned.Hash() != tx.Hash() {
		t.Fatal("hash depends on signature bytes")
	}
	// But every signed field changes it.
	other := *tx
	other.Nonce++
	if other.Hash() == tx.Hash() {
		t.Fatal("hash ignores nonce")
	}
	other = *tx
	other.ChainID = "other-chain"
	if other.VerifySignature(testKey(t, 1).Public()) == nil {
		t.Fatal("signature valid on another chain")
	}
}

func TestDecodeTxRejects(t *testing.T) {
	enc := makeTx(t, audit()).Encode()
	if _, err := DecodeTx(enc, 100); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized: got %v", err)
	}
	if _, err := DecodeTx(enc[:len(enc)-5], 0); err == nil {
		t.Fatal("truncated tx decoded")
	}
	if _, err := DecodeTx([]byte("{\"json\":1}"), 0); err == nil {
		t.Fatal("JSON decoded as tx")
	}
}

func TestValidateBasic(t *testing.T) {
	key := testKey(t, 2).Public()
	tests := []struct {
		name    string
		p       Payload
		wantErr string
	}{
		{"audit ok", audit(), ""},
		{"audit missing patient", &AuditRecord{EventType: "e", Actor: "a", Action: "x"}, "patient: required"},
		{"data access naming no patient", &AuditRecord{EventType: "data_access", Actor: "a", Action: "x"}, "only an access_denied event may name no patient"},
		{"access denial naming no patient", &AuditRecord{EventType: EventAccessDenied, Actor: "a", Action: "identity_get", Outcome: "denied"}, ""},
		{"access denial naming a patient", &AuditRecord{EventType: EventAccessDenied, Patient: "patient123", Actor: "a", Action: "audit_trail"}, ""},
		{"access denial with a bad patient id", &AuditRecord{EventType: EventAccessDenied, Patient: "bad id", Actor: "a", Action: "x"}, "patient: character"},
		{"access denial naming no actor", &AuditRecord{EventType: EventAccessDenied, Action: "x"}, "actor: required"},
		{"audit injection in id", &AuditRecord{EventType: "e", Patient: "'; DROP TABLE users; --", Actor: "a", Action: "x"}, "patient: character"},
		{"audit script in details is inert text", func() Payload {
			a := audit()
			a.Details["note"] = "<script>alert('xss')</script>"
			return a
		}(), ""},
		{"audit control char", func() Payload { a := audit(); a.Resource = "Obs\x00"; return a }(), "control character"},
		{"consent without purposes", &ConsentGrant{Patient: "p", ConsentType: "data_sharing", Granted: true}, "allowed_purposes"},
		{"consent refusal needs no purpose", &ConsentGrant{Patient: "p", ConsentType: "data_sharing"}, ""},
		{"consent duplicate purpose", &ConsentGrant{Patient: "p", ConsentType: "c", Granted: true, Scope: ConsentScope{Purposes: []string{"t", "t"}}}, "listed twice"},
		{"consent negative expiry", &ConsentGrant{Patient: "p", ConsentType: "c", Granted: true, Scope: ConsentScope{Purposes: []string{"t"}, Expiration: -1}}, "expiration"},
		{"identity ok", &IdentityRegister{ID: "dr-1", Kind: KindPerson, Roles: []string{RoleClinician}, PublicKey: key}, ""},
		{"identity no roles", &IdentityRegister{ID: "dr-1", Kind: KindPerson, PublicKey: key}, "roles"},
		{"identity bad kind", &IdentityRegister{ID: "dr-1", Kind: "robot", Roles: []string{"x"}, PublicKey: key}, "kind"},
		{"identity bad key", &IdentityRegister{ID: "dr-1", Kind: KindPerson, Roles: []string{"x"}, PublicKey: crypto.PublicKey{Algorithm: crypto.MLDSA65}}, "public_key"},
		{"patient identity needs patient", &IdentityRegister{ID: "p-1", Kind: KindPatient, Roles: []string{RolePatient}, PublicKey: key}, "patient: required"},
		{"long id", &IdentityRevoke{ID: strings.Repeat("a", MaxIDLen+1)}, "limit"},
		{"ehr sync without interval", &EHRRegister{SystemID: "epic", SyncEnabled: true}, "sync_interval"},
		{"ehr ok", &EHRRegister{SystemID: "epic_system", SyncEnabled: true, SyncInterval: 300, Endpoint: "https://ehr.example.com/api"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := makeTx(t, tt.p).ValidateBasic()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want ErrInvalid mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func TestBlockSignAndRoot(t *testing.T) {
	tx := makeTx(t, audit())
	b := &Block{Header: Header{ChainID: "test-chain", Height: 1, Time: 1, Proposer: "node-1"}, Txs: []*Tx{tx}, Results: []Result{{Code: CodeOK}}}
	b.Header.TxRoot = MerkleRoot(b.TxHashes())
	key := testKey(t, 3)
	if err := b.Sign(key); err != nil {
		t.Fatal(err)
	}
	got, err := DecodeBlock(b.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if got.Hash() != b.Hash() {
		t.Fatal("block hash changed across encoding")
	}
	if err := crypto.Verify(key.Public(), got.Header.SignBytes(), got.Signature); err != nil {
		t.Fatal(err)
	}
	if MerkleRoot(nil) == MerkleRoot([]Hash{{}}) {
		t.Fatal("empty root equals one-leaf root")
	}
}

func FuzzDecodeTx(f *testing.F) {
	f.Add(makeTx(f, audit()).Encode())
	f.Add(makeTx(f, &ConsentGrant{Patient: "p", ConsentType: "c", Granted: true, Scope: ConsentScope{Purposes: []string{"t"}}}).Encode())
	f.Add([]byte{0xa0})
	// A redacted tx, sealed and pruned (its sealed payload replaced by its hash).
	signed := makeTx(f, audit())
	p, _ := signed.DecodePayload()
	if r, err := Redact(signed, signed.Hash(), p, NewPseudonym([PseudonymSize]byte{1}), fakeSealed(signed.Payload)); err == nil {
		f.Add(r.Encode())
		pr := r.Redaction.PruneSealed()
		r.Redaction = &pr
		f.Add(r.Encode())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tx, err := DecodeTx(b, 0)
		if err != nil {
			return
		}
		_ = tx.BodyHash() // must not panic
		if tx.Redaction != nil {
			// Pruning never changes what the tx root commits to, nor
			// anything the executor checks (CheckBasic, SizeBound).
			_ = tx.Redaction.ValidateStored(0)
			cp := tx.Clone()
			pr := cp.Redaction.PruneSealed()
			cp.Redaction = &pr
			errTx, errCp := tx.ValidateBasic(), cp.ValidateBasic()
			if errTx == nil && cp.BodyHash() != tx.BodyHash() {
				t.Fatal("the pruned form of a valid redacted tx has another body hash")
			}
			if fmt.Sprint(errTx) != fmt.Sprint(errCp) || cp.SizeBound() != tx.SizeBound() {
				t.Fatalf("pruning changed what the executor checks: ValidateBasic %v -> %v, SizeBound %d -> %d", errTx, errCp, tx.SizeBound(), cp.SizeBound())
			}
		}
		if _, err := DecodeTx(tx.Encode(), 0); err != nil {
			t.Fatalf("re-encoded tx does not decode: %v", err)
		}
	})
}

func FuzzDecodeBlock(f *testing.F) {
	tx := makeTx(f, audit())
	f.Add((&Block{Txs: []*Tx{tx}, Results: []Result{{Code: CodeOK}}}).Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		blk, err := DecodeBlock(b)
		if err != nil {
			return
		}
		_ = blk.TxHashes()
		_ = blk.Hash()
	})
}
