package node

import (
	"encoding/binary"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/codec"
	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/node/compliance"
	"github.com/medchain/medchain/node/config"
)

var (
	psA = types.NewPseudonym([types.PseudonymSize]byte{1})
	psB = types.NewPseudonym([types.PseudonymSize]byte{2})
)

// putAudit stores an audit entry under its patient trail key, as the
// executor does.
func putAudit(v *state.MemView, e state.AuditEntry) {
	k := state.TrailPrefix(e.Record.Patient, false)
	k = binary.BigEndian.AppendUint64(k, uint64(e.Time))
	k = binary.BigEndian.AppendUint64(k, e.Height)
	k = binary.BigEndian.AppendUint32(k, e.Index)
	v.Apply([]state.Write{{Key: k, Value: codec.MustMarshal(&e)}}, nil)
}

// TestAuditPassCountsWindowAndPseudonyms: one pass over the audit entries
// counts every event for pseudonymisation (an event stored in clear, even
// one whose patient id looks like a pseudonym, is in clear) and only those
// in the window (newest verify_max_blocks blocks, audit_recent_days) for the
// audit controls.
func TestAuditPassCountsWindowAndPseudonyms(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	recent, old := now.Add(-time.Hour).UnixMilli(), now.Add(-40*24*time.Hour).UnixMilli()
	cfg := config.Compliance{AuditRecentDays: 30, VerifyMaxBlocks: 10}
	v := state.NewMemView()
	for i, e := range []state.AuditEntry{
		{Height: 20, Time: recent, Record: types.AuditRecord{EventType: "data_access", Patient: psA}, Redacted: true},
		{Height: 19, Time: recent, Record: types.AuditRecord{EventType: types.EventAccessDenied, Patient: psB}, Redacted: true},
		{Height: 18, Time: recent, Record: types.AuditRecord{EventType: types.EventAccessDenied}},                    // names no patient
		{Height: 17, Time: recent, Record: types.AuditRecord{EventType: "data_access", Patient: "MRN-1"}},            // in clear
		{Height: 16, Time: recent, Record: types.AuditRecord{EventType: "data_access", Patient: psB}},                // pseudonym-shaped, not redacted
		{Height: 5, Time: recent, Record: types.AuditRecord{EventType: "data_access", Patient: psA}, Redacted: true}, // before the newest 10 blocks
		{Height: 12, Time: old, Record: types.AuditRecord{EventType: "data_access", Patient: psA}, Redacted: true},   // older than 30 days
	} {
		e.Index = uint32(i)
		putAudit(v, e)
	}
	var ps compliance.PseudonymCount
	a, err := auditEvidence(v, 20, cfg, now, &ps)
	if err != nil {
		t.Fatal(err)
	}
	if want := (compliance.PseudonymCount{Named: 6, Pseudonymous: 4, NoPatient: 1}); ps != want {
		t.Errorf("pseudonym counts %+v, want %+v", ps, want)
	}
	if a.Blocks != 10 || a.Total != 7 || a.Events != 5 || a.Denied != 2 || !a.Latest.Equal(time.UnixMilli(recent)) {
		t.Errorf("audit evidence %+v", a)
	}

	// An empty chain: nothing counted, no window.
	ps = compliance.PseudonymCount{}
	if a, err := auditEvidence(state.NewMemView(), 0, cfg, now, &ps); err != nil || a != (compliance.AuditEvidence{}) || ps != (compliance.PseudonymCount{}) {
		t.Errorf("empty chain: %+v %+v %v", a, ps, err)
	}
}

// TestIdentityLinksCounted: a patient identity's patient and each acts_for
// entry are counted; genesis links in clear are counted apart; revoked
// identities still count (their record names the patient).
func TestIdentityLinksCounted(t *testing.T) {
	for _, tc := range []struct {
		name string
		id   state.Identity
		want compliance.PseudonymEvidence
	}{
		{"genesis patient in clear", state.Identity{Kind: types.KindPatient, Patient: "patient123"},
			compliance.PseudonymEvidence{GenesisPatients: 1}},
		{"genesis delegate in clear and by pseudonym", state.Identity{Kind: types.KindPerson, ActsFor: []string{"patient123", psA}},
			compliance.PseudonymEvidence{GenesisDelegations: 1, Delegations: compliance.PseudonymCount{Named: 1, Pseudonymous: 1}}},
		{"patient under a pseudonym", state.Identity{Kind: types.KindPatient, Patient: psA, Height: 4},
			compliance.PseudonymEvidence{Identities: compliance.PseudonymCount{Named: 1, Pseudonymous: 1}}},
		{"patient in clear after genesis", state.Identity{Kind: types.KindPatient, Patient: "MRN-1", Height: 4},
			compliance.PseudonymEvidence{Identities: compliance.PseudonymCount{Named: 1}}},
		{"delegate in clear after genesis", state.Identity{Kind: types.KindService, ActsFor: []string{"MRN-1", psB}, Height: 7},
			compliance.PseudonymEvidence{Delegations: compliance.PseudonymCount{Named: 2, Pseudonymous: 1}}},
		{"person with no link", state.Identity{Kind: types.KindPerson, Height: 2}, compliance.PseudonymEvidence{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got compliance.PseudonymEvidence
			countIdentity(&got, &tc.id)
			if got.Identities != tc.want.Identities || got.Delegations != tc.want.Delegations ||
				got.GenesisPatients != tc.want.GenesisPatients || got.GenesisDelegations != tc.want.GenesisDelegations {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}

	// The key age scan counts them, revoked identities too.
	v := state.NewMemView()
	for _, id := range []state.Identity{
		{ID: "gone", Kind: types.KindPatient, Patient: "MRN-1", Height: 4, Revoked: true},
		{ID: "here", Kind: types.KindPatient, Patient: psA, Height: 4},
	} {
		v.Apply([]state.Write{{Key: state.IdentityKey(id.ID), Value: codec.MustMarshal(&id)}}, nil)
	}
	var ps compliance.PseudonymEvidence
	k := keyEvidence(v, &blockTimes{r: fakeBlocks{4: 1}, m: map[uint64]int64{}}, time.UnixMilli(2), 365, &ps)
	if k.Err != nil || k.Checked != 1 || ps.Identities != (compliance.PseudonymCount{Named: 2, Pseudonymous: 1}) {
		t.Errorf("key evidence %+v, identities %+v", k, ps.Identities)
	}
}

// TestRecordScansCountAndHideKeysOnError: executions, reviews and erasures
// are counted by the patient they name; a corrupt record fails the scan
// with an error, and what reaches the report names neither the patient
// nor the pseudonym in its key.
func TestRecordScansCountAndHideKeysOnError(t *testing.T) {
	v := state.NewMemView()
	put := func(k []byte, val any) { v.Apply([]state.Write{{Key: k, Value: codec.MustMarshal(val)}}, nil) }
	put(append(state.ExecutionPrefix("c1"), 1), &state.Execution{ContractID: "c1", Call: contracts.Call{Requester: "d", Action: "read", Patient: psA}})
	put(append(state.ExecutionPrefix("c1"), 2), &state.Execution{ContractID: "c1", Call: contracts.Call{Requester: "d", Action: "read"}})
	put(append(state.ExecutionPrefix("c2"), 1), &state.Execution{ContractID: "c2", Call: contracts.Call{Requester: "d", Action: "read", Patient: "MRN-1"}})
	put(state.ReviewKey(types.Hash{1}), &state.Review{ContractID: "c1", Patient: psA, Status: state.ReviewOpen})
	put(state.ErasureKey(psB), &state.Erasure{Patient: psB, Reason: "gdpr-art17"})
	var ps compliance.PseudonymEvidence
	for _, scan := range []func(state.Scanner, *compliance.PseudonymEvidence) error{countExecutions, countReviews, countErasures} {
		if err := scan(v, &ps); err != nil {
			t.Fatal(err)
		}
	}
	if ps.Executions != (compliance.PseudonymCount{Named: 2, Pseudonymous: 1, NoPatient: 1}) ||
		ps.Reviews != (compliance.PseudonymCount{Named: 1, Pseudonymous: 1}) || ps.Erasures != (compliance.PseudonymCount{Named: 1, Pseudonymous: 1}) {
		t.Fatalf("counts %+v", ps)
	}

	// A corrupt erasure record (its key holds the pseudonym) and a corrupt
	// execution.
	v.Apply([]state.Write{{Key: state.ErasureKey(psA), Value: []byte{0xff}}, {Key: append(state.ExecutionPrefix("MRN-2"), 9), Value: []byte{0x01}}}, nil)
	n := &Node{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, tc := range []struct {
		what string
		scan func(state.Scanner, *compliance.PseudonymEvidence) error
	}{{"the erasures", countErasures}, {"the contract executions", countExecutions}} {
		err := tc.scan(v, &compliance.PseudonymEvidence{})
		if err == nil {
			t.Fatalf("%s: a corrupt record was read", tc.what)
		}
		t.Logf("%s: the log gets %v", tc.what, err)
		shown := n.unreadable(tc.what, err).Error()
		if !strings.Contains(shown, tc.what+" could not be read") || strings.Contains(shown, types.PseudonymPrefix) || strings.Contains(shown, "MRN-2") {
			t.Errorf("%s: the report would show %q", tc.what, shown)
		}
	}
}
