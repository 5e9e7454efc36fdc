package zerotrust

import (
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func testSession(id, identity string, n byte) Session {
	return Session{
		ID: id, TokenHash: TokenHash{n}, Identity: identity, Roles: []string{"clinician"},
		Clearance: SegmentCritical, Segment: SegmentPublic, DeviceKeyID: "d", Address: "192.0.2.1",
		Created: t0, LastAuth: t0, LastSeen: t0,
	}
}

// TestSessionStoreConformance runs the SessionStore contract against every implementation.
func TestSessionStoreConformance(t *testing.T) {
	impls := map[string]func(t *testing.T) SessionStore{
		"mem": func(*testing.T) SessionStore { return NewMemStore() },
		"journal": func(t *testing.T) SessionStore {
			s, err := OpenJournalStore(filepath.Join(t.TempDir(), "sessions.journal"))
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
	never := func(Session) bool { return false }
	for name, open := range impls {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			a := testSession("a", "dr.lee", 1)
			if err := st.Create(a, 2, never); err != nil {
				t.Fatal(err)
			}
			if err := st.Create(testSession("b", "dr.lee", 2), 2, never); err != nil {
				t.Fatal(err)
			}
			if err := st.Create(testSession("c", "dr.lee", 3), 2, never); !errors.Is(err, ErrTooManySessions) {
				t.Fatalf("third: %v", err)
			}
			// Expired sessions give up their slot.
			if err := st.Create(testSession("c", "dr.lee", 3), 2, func(s Session) bool { return s.ID == "a" }); err != nil {
				t.Fatal(err)
			}
			if _, err := st.Get(TokenHash{1}); !errors.Is(err, ErrSessionUnknown) {
				t.Fatalf("evicted session: %v", err)
			}
			got, err := st.Get(TokenHash{2})
			if err != nil || got.ID != "b" {
				t.Fatalf("get: %v %+v", err, got)
			}
			got.Roles[0] = "mutated"
			if again, _ := st.Get(TokenHash{2}); again.Roles[0] != "clinician" {
				t.Fatal("Get returned shared memory")
			}
			if err := st.Touch(TokenHash{2}, t0.Add(time.Minute), 42); err != nil {
				t.Fatal(err)
			}
			if err := st.Touch(TokenHash{2}, t0, 42); err != nil { // never moves back
				t.Fatal(err)
			}
			if got, _ := st.Get(TokenHash{2}); !got.LastSeen.Equal(t0.Add(time.Minute)) || got.Risk != 42 {
				t.Fatalf("touch: %+v", got)
			}
			upd := testSession("b", "dr.lee", 2)
			upd.Segment = SegmentClinical
			if err := st.Update(upd); err != nil {
				t.Fatal(err)
			}
			if got, _ := st.Get(TokenHash{2}); got.Segment != SegmentClinical {
				t.Fatal("update lost")
			}
			if err := st.Update(testSession("z", "x", 9)); !errors.Is(err, ErrSessionUnknown) {
				t.Fatalf("update missing: %v", err)
			}
			if err := st.Touch(TokenHash{9}, t0, 0); !errors.Is(err, ErrSessionUnknown) {
				t.Fatalf("touch missing: %v", err)
			}
			n, err := st.DeleteExpired(func(s Session) bool { return s.ID == "c" })
			if err != nil || n != 1 {
				t.Fatalf("delete expired: %d %v", n, err)
			}
			if err := st.Delete(TokenHash{2}); err != nil {
				t.Fatal(err)
			}
			if err := st.Delete(TokenHash{2}); err != nil {
				t.Fatalf("delete missing: %v", err)
			}
			if _, err := st.Get(TokenHash{2}); !errors.Is(err, ErrSessionUnknown) {
				t.Fatalf("deleted: %v", err)
			}
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := st.Get(TokenHash{2}); !errors.Is(err, ErrClosed) {
				t.Fatalf("after close: %v", err)
			}
		})
	}
}
