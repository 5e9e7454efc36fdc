package zerotrust

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
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
		"file": func(t *testing.T) SessionStore {
			s, err := OpenFileStore(filepath.Join(t.TempDir(), "sessions.json"))
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

func TestFileStoreSessionSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.json")
	st, err := OpenFileStore(path)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, nil, func(o *Options) { o.Store = st })
	h.addIdentity("dr.lee", SegmentCritical, true, "clinician")
	tok := h.login("dr.lee", SegmentClinical)
	h.clock.Advance(time.Minute)
	if _, _, err := h.gate.Authorize(h.ctx, tok, "audit_trail", testAddr, RequestMeta{}); err != nil {
		t.Fatal(err)
	}
	if err := h.gate.Close(); err != nil { // flushes the touch
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), tok) {
		t.Fatal("the session file holds the token itself")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode().Perm())
	}

	// "Restart": a new gate over the reopened file, same identities and clock.
	st2, err := OpenFileStore(path)
	if err != nil {
		t.Fatal(err)
	}
	g2, err := NewGate(h.gate.cfg, Options{Identities: h.ids, Store: st2, Clock: h.clock, Alerter: h.alerts})
	if err != nil {
		t.Fatal(err)
	}
	defer g2.Close()
	s, _, err := g2.Authorize(h.ctx, tok, "audit_trail", testAddr, RequestMeta{})
	if err != nil || s.Segment != SegmentClinical || !s.MFA {
		t.Fatalf("after restart: %v %+v", err, s)
	}
	// Logout is durable too.
	if err := g2.Logout(h.ctx, tok); err != nil {
		t.Fatal(err)
	}
	st3, err := OpenFileStore(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st3.Get(mustHash(t, tok)); !errors.Is(err, ErrSessionUnknown) {
		t.Fatalf("logged-out session came back: %v", err)
	}
}

func TestFileStoreRejectsCorruptFile(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"not json":      `{"version":1,"sessions":[`,
		"wrong version": `{"version":7,"sessions":[]}`,
		"bad hash":      `{"version":1,"sessions":[{"id":"a","identity":"x","token_hash":"zz","segment":"public","clearance":"public"}]}`,
		"incomplete":    `{"version":1,"sessions":[{"id":"a","segment":"public","clearance":"public"}]}`,
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := OpenFileStore(path); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: got %v, want ErrCorrupt", name, err)
		}
	}
}
