package types

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/medchain/medchain/chain/codec"
)

// fakeSealed stands in for a sealed payload: the types package only carries
// the bytes (the consensus package seals them).
func fakeSealed(payload []byte) []byte { return append([]byte{0xA5}, payload...) }

func redactedAudit(t *testing.T) (signed, redacted *Tx) {
	t.Helper()
	signed = makeTx(t, audit())
	p, err := signed.DecodePayload()
	if err != nil {
		t.Fatal(err)
	}
	redacted, err = Redact(signed, signed.Hash(), p, NewPseudonym([PseudonymSize]byte{1, 2, 3}), fakeSealed(signed.Payload))
	if err != nil {
		t.Fatal(err)
	}
	return signed, redacted
}

func TestRedactedTxKeepsTheSignedHashAndHidesPersonalFields(t *testing.T) {
	signed, r := redactedAudit(t)
	if r.Hash() != signed.Hash() {
		t.Fatalf("redacted hash %s, signed %s", r.Hash(), signed.Hash())
	}
	if r.BodyHash() == signed.Hash() {
		t.Fatal("the body hash of a redacted tx must commit to its stored bytes, not only the signed hash")
	}
	enc := r.Encode()
	for _, s := range []string{"patient123", "Observation/1", "192.168.1.1"} {
		if bytes.Contains(r.Payload, []byte(s)) {
			t.Fatalf("redacted payload holds %q", s)
		}
	}
	back, err := DecodeTx(enc, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := back.ValidateBasic(); err != nil {
		t.Fatalf("redacted tx fails ValidateBasic: %v", err)
	}
	orig, err := Unredact(back, signed.Payload)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(orig.SignBytes(), signed.SignBytes()) {
		t.Fatal("unredact does not rebuild the signed tx")
	}
	if err := orig.VerifySignature(testKey(t, 1).Public()); err != nil {
		t.Fatalf("rebuilt tx signature: %v", err)
	}
}

func TestTxRootOfPlainTxsIsTheMerkleRootOfTheirHashes(t *testing.T) {
	a, b := makeTx(t, audit()), makeTx(t, &IdentityRevoke{ID: "x"})
	hs := []Hash{a.Hash(), b.Hash()}
	if TxRoot([]*Tx{a, b}, hs) != MerkleRoot(hs) {
		t.Fatal("a chain without redactions must keep its tx roots")
	}
	_, r := redactedAudit(t)
	hs2 := []Hash{r.Hash(), b.Hash()}
	if TxRoot([]*Tx{r, b}, hs2) == MerkleRoot(hs2) {
		t.Fatal("the tx root must commit to the redacted bytes")
	}
	r2 := r.Clone()
	r2.Redaction.Sealed[1] ^= 1
	if TxRoot([]*Tx{r, b}, hs2) == TxRoot([]*Tx{r2, b}, hs2) {
		t.Fatal("a changed sealed payload must change the tx root")
	}
}

func TestBadRedactionsAreRefused(t *testing.T) {
	signed, r := redactedAudit(t)
	cases := []struct {
		name string
		mut  func(tx *Tx)
		want string
	}{
		{"empty sealed payload", func(tx *Tx) { tx.Redaction.Sealed = nil }, "sealed payload"},
		{"a type that is never redacted", func(tx *Tx) { tx.Type = TxIdentityRevoke }, "never redacted"},
		{"patient in clear", func(tx *Tx) {
			p, _ := tx.DecodePayload()
			a := p.(*AuditRecord)
			a.Patient = "patient123"
			tx.Payload = codec.MustMarshal(a)
		}, "not a pseudonym"},
		{"personal field in clear", func(tx *Tx) {
			p, _ := tx.DecodePayload()
			a := p.(*AuditRecord)
			a.Details = map[string]string{"note": "x"}
			tx.Payload = codec.MustMarshal(a)
		}, "personal fields"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tx := r.Clone()
			c.mut(tx)
			err := tx.ValidateBasic()
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want ErrInvalid mentioning %q", err, c.want)
			}
		})
	}
	// Unredact refuses an opened payload that is not the original, and a
	// redacted payload that is not the redaction of the opened one.
	other := makeTx(t, &AuditRecord{EventType: "data_access", Patient: "patient999", Actor: "doctor456", Action: "view_record"})
	if _, err := Unredact(r, other.Payload); err == nil || !strings.Contains(err.Error(), "tx hash") {
		t.Fatalf("unredact with another payload: %v", err)
	}
	bad := r.Clone()
	p, _ := bad.DecodePayload()
	a := p.(*AuditRecord)
	a.Purpose = "research"
	bad.Payload = codec.MustMarshal(a)
	if _, err := Unredact(bad, signed.Payload); err == nil || !strings.Contains(err.Error(), "not the redaction") {
		t.Fatalf("unredact of an altered redaction: %v", err)
	}
}

// TestAnAuditEventNamingNoPatientIsNeverRedacted: an access_denied event
// that names no patient has no patient to key a pseudonym to, so the
// proposer stores it in clear; redacting it is refused, and so is a stored
// redaction that claims to stand for one.
func TestAnAuditEventNamingNoPatientIsNeverRedacted(t *testing.T) {
	denial := &AuditRecord{EventType: EventAccessDenied, Actor: "doctor456", Action: "identity_get", Outcome: "denied",
		Details: map[string]string{"reason": "policy administrative refused"}}
	if got := PatientOf(denial); got != "" {
		t.Fatalf("PatientOf = %q, want none", got)
	}
	tx := makeTx(t, denial)
	if err := tx.ValidateBasic(); err != nil {
		t.Fatalf("a denial naming no patient is refused: %v", err)
	}
	if _, err := RedactPayload(denial, NewPseudonym([PseudonymSize]byte{9})); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "names no patient") {
		t.Fatalf("RedactPayload: %v, want ErrInvalid naming the missing patient", err)
	}
	if _, err := Redact(tx, tx.Hash(), denial, NewPseudonym([PseudonymSize]byte{9}), fakeSealed(tx.Payload)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Redact: %v, want ErrInvalid", err)
	}
	// A redacted tx whose original names no patient does not unredact.
	_, r := redactedAudit(t)
	if _, err := Unredact(r, tx.Payload); err == nil {
		t.Fatal("unredact with a patient-less original succeeded")
	}
}

func TestPseudonymFormat(t *testing.T) {
	ps := NewPseudonym([PseudonymSize]byte{0xff, 1})
	if !IsPseudonym(ps) || ValidateID("patient", ps) != nil {
		t.Fatalf("%q is not a valid pseudonym id", ps)
	}
	for _, s := range []string{"", "ps:", "patient123", ps + "a", strings.ToUpper(ps), "ps:" + strings.Repeat("a", 25) + "!"} {
		if IsPseudonym(s) {
			t.Errorf("IsPseudonym(%q) = true", s)
		}
	}
}

func TestPatientEraseValidateBasic(t *testing.T) {
	for _, c := range []struct {
		p    PatientErase
		want string
	}{
		{PatientErase{Reason: "gdpr-art17"}, "patient"},
		{PatientErase{Patient: "patient123"}, "reason"},
		{PatientErase{Patient: "patient123", Reason: "Jane asked me"}, "reason"},
	} {
		if err := c.p.ValidateBasic(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want an error about %s", c.p, err, c.want)
		}
	}
	if err := (&PatientErase{Patient: "patient123", Reason: "gdpr-art17"}).ValidateBasic(); err != nil {
		t.Fatal(err)
	}
	if TxPatientErase.String() != "patient_erase" {
		t.Fatalf("name %q", TxPatientErase)
	}
}

// TestConsentsAndContractCallsAreRedacted: consents, revocations and contract
// executions about a patient are stored like audit events, under a
// pseudonym with their personal fields sealed, keeping the fields the
// executor and the contracts decide on; each unredacts to the signed tx.
// A contract call that names no patient stays in clear, and a stored
// redaction with a personal field in clear is refused.
func TestConsentsAndContractCallsAreRedacted(t *testing.T) {
	ps := NewPseudonym([PseudonymSize]byte{7})
	scope := ConsentScope{Purposes: []string{"treatment"}, Parties: []string{"doctor456"}, Expiration: 1e12}
	cases := []struct {
		name     string
		p        Payload
		hidden   []string // must not be in the redacted payload
		kept     func(Payload) bool
		personal func(Payload) // puts a personal field back in clear
	}{
		{"consent_grant", &ConsentGrant{Patient: "patient123", ConsentType: "data_sharing", Granted: true, Scope: scope},
			[]string{"patient123"},
			func(p Payload) bool {
				g := p.(*ConsentGrant)
				return g.ConsentType == "data_sharing" && g.Granted && g.Scope.Parties[0] == "doctor456" && g.Scope.Expiration == 1e12
			}, nil},
		{"consent_revoke", &ConsentRevoke{Patient: "patient123", ConsentType: "data_sharing", Reason: "moved to Lyon with my daughter"},
			[]string{"patient123", "Lyon"},
			func(p Payload) bool { return p.(*ConsentRevoke).ConsentType == "data_sharing" },
			func(p Payload) { p.(*ConsentRevoke).Reason = "moved" }},
		{"contract_execute", &ContractExecute{ContractID: "access", Action: "read", Purpose: "treatment", Patient: "patient123",
			Resource: "Patient/patient123/Observation/7", Segment: "clinical", Risk: 20, Attrs: map[string]string{"emergency": "no"}},
			[]string{"patient123", "Observation/7"},
			func(p Payload) bool {
				c := p.(*ContractExecute)
				return c.Action == "read" && c.Purpose == "treatment" && c.Segment == "clinical" && c.Risk == 20 && c.Attrs["emergency"] == "no"
			},
			func(p Payload) { p.(*ContractExecute).Resource = "Observation/7" }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !Redactable(c.p.TxType()) || PatientOf(c.p) != "patient123" {
				t.Fatalf("Redactable %v, PatientOf %q", Redactable(c.p.TxType()), PatientOf(c.p))
			}
			signed := makeTx(t, c.p)
			r, err := Redact(signed, signed.Hash(), c.p, ps, fakeSealed(signed.Payload))
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range c.hidden {
				if bytes.Contains(r.Payload, []byte(s)) {
					t.Fatalf("redacted payload holds %q", s)
				}
			}
			back, err := DecodeTx(r.Encode(), 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := back.ValidateBasic(); err != nil {
				t.Fatalf("redacted tx fails ValidateBasic: %v", err)
			}
			rp, _ := back.DecodePayload()
			if PatientOf(rp) != ps || !c.kept(rp) {
				t.Fatalf("redacted payload %+v lost a field the executor needs, or names %q", rp, PatientOf(rp))
			}
			orig, err := Unredact(back, signed.Payload)
			if err != nil {
				t.Fatal(err)
			}
			if orig.Hash() != signed.Hash() || orig.VerifySignature(testKey(t, 1).Public()) != nil {
				t.Fatal("unredact does not rebuild the signed tx")
			}
			if c.personal != nil {
				bad := back.Clone()
				c.personal(rp)
				bad.Payload = codec.MustMarshal(rp)
				if err := bad.ValidateBasic(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "personal fields") {
					t.Fatalf("a redaction with a personal field in clear: %v", err)
				}
			}
		})
	}
	call := &ContractExecute{ContractID: "access", Action: "read"}
	if PatientOf(call) != "" {
		t.Fatal("a call naming no patient has a patient")
	}
	if _, err := RedactPayload(call, ps); !errors.Is(err, ErrInvalid) {
		t.Fatalf("redacting a call naming no patient: %v", err)
	}
}

// TestIdentityLinksToPatientsAreRedacted: a patient's registration and a
// delegation are stored under the patient's pseudonym, the patient's name
// sealed; a redacted registration naming delegations too is refused (one
// patient per redacted tx), and acts_for lists may not name pseudonyms,
// which only the chain assigns.
func TestIdentityLinksToPatientsAreRedacted(t *testing.T) {
	ps := NewPseudonym([PseudonymSize]byte{8})
	reg := &IdentityRegister{ID: "jroe", Kind: KindPatient, Name: "Jane Roe", Roles: []string{RolePatient}, PublicKey: testKey(t, 2).Public(), Patient: "MRN-77"}
	for _, p := range []Payload{reg, &IdentityDelegate{ID: "guardian", Patient: "MRN-77"}} {
		signed := makeTx(t, p)
		r, err := Redact(signed, signed.Hash(), p, ps, fakeSealed(signed.Payload))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{"MRN-77", "Jane Roe"} {
			if bytes.Contains(r.Payload, []byte(s)) {
				t.Fatalf("redacted %s holds %q", p.TxType(), s)
			}
		}
		if err := r.ValidateBasic(); err != nil {
			t.Fatalf("redacted %s: %v", p.TxType(), err)
		}
		if _, err := Unredact(r, signed.Payload); err != nil {
			t.Fatalf("unredact %s: %v", p.TxType(), err)
		}
	}
	// A clear registration of a non-patient is never redacted.
	if PatientOf(&IdentityRegister{ID: "dr", Kind: KindPerson}) != "" {
		t.Fatal("a person's registration names a patient")
	}
	signed := makeTx(t, reg)
	r, _ := Redact(signed, signed.Hash(), reg, ps, fakeSealed(signed.Payload))
	bad := r.Clone()
	rp, _ := bad.DecodePayload()
	rp.(*IdentityRegister).ActsFor = []string{"MRN-78"}
	bad.Payload = codec.MustMarshal(rp)
	if err := bad.ValidateBasic(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "names one patient") {
		t.Fatalf("redacted registration with acts_for: %v", err)
	}
	for _, p := range []Payload{
		&IdentityRegister{ID: "g", Kind: KindPerson, Roles: []string{RolePatient}, PublicKey: testKey(t, 3).Public(), ActsFor: []string{ps}},
		&IdentityUpdateRoles{ID: "g", Roles: []string{RolePatient}, ActsFor: []string{"MRN-1", ps}},
	} {
		if err := p.ValidateBasic(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "identity_delegate") {
			t.Fatalf("%s naming a pseudonym in acts_for: %v", p.TxType(), err)
		}
	}
	for _, d := range []*IdentityDelegate{{ID: "", Patient: "MRN-1"}, {ID: "g", Patient: ""}, {ID: "g", Patient: "bad id"}} {
		if err := d.ValidateBasic(); !errors.Is(err, ErrInvalid) {
			t.Fatalf("identity_delegate %+v: %v", d, err)
		}
	}
}
