package zerotrust

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func openJournal(t testing.TB, path string) *JournalStore {
	t.Helper()
	j, err := OpenJournalStore(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

// crashImage returns what a crash now would leave of path: the file's
// bytes (every acknowledged write was synced) copied to a new path.
func crashImage(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "crashed.journal")
	if err := os.WriteFile(out, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestJournalSessionSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.journal")
	st, err := OpenJournalStore(path)
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
	if bytes.Contains(raw, []byte(tok)) {
		t.Fatal("the journal holds the token itself")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode().Perm())
	}

	// Restart: a new gate over the reopened journal, same identities and clock.
	st2 := openJournal(t, path)
	if s, err := st2.Get(mustHash(t, tok)); err != nil || !s.LastSeen.Equal(t0.Add(time.Minute)) {
		t.Fatalf("touch not kept: %v %+v", err, s)
	}
	g2, err := NewGate(h.gate.cfg, Options{Identities: h.ids, Store: st2, Clock: h.clock, Alerter: h.alerts})
	if err != nil {
		t.Fatal(err)
	}
	s, _, err := g2.Authorize(h.ctx, tok, "audit_trail", testAddr, RequestMeta{})
	if err != nil || s.Segment != SegmentClinical || !s.MFA {
		t.Fatalf("after restart: %v %+v", err, s)
	}
	// Logout is durable too, without a clean close.
	if err := g2.Logout(h.ctx, tok); err != nil {
		t.Fatal(err)
	}
	st3 := openJournal(t, crashImage(t, path))
	if _, err := st3.Get(mustHash(t, tok)); !errors.Is(err, ErrSessionUnknown) {
		t.Fatalf("logged-out session came back: %v", err)
	}
}

// TestJournalCrashKeepsAcknowledgedWrites: every mutation is on disk when
// it returns; an unflushed touch is lost, which only shortens the session.
func TestJournalCrashKeepsAcknowledgedWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.journal")
	j := openJournal(t, path)
	never := func(Session) bool { return false }
	for i, id := range []string{"a", "b", "c"} {
		if err := j.Create(testSession(id, "dr.lee", byte(i+1)), 10, never); err != nil {
			t.Fatal(err)
		}
	}
	upd := testSession("b", "dr.lee", 2)
	upd.Segment, upd.MFA, upd.Risk = SegmentCritical, true, 17
	if err := j.Update(upd); err != nil {
		t.Fatal(err)
	}
	if err := j.Delete(TokenHash{3}); err != nil {
		t.Fatal(err)
	}
	if err := j.Touch(TokenHash{1}, t0.Add(time.Hour), 9); err != nil {
		t.Fatal(err)
	}

	c := openJournal(t, crashImage(t, path))
	if s, err := c.Get(TokenHash{1}); err != nil || !s.LastSeen.Equal(t0) {
		t.Fatalf("a after crash: %v %+v (want the unflushed touch lost)", err, s)
	}
	if s, err := c.Get(TokenHash{2}); err != nil || s.Segment != SegmentCritical || !s.MFA || s.Risk != 17 {
		t.Fatalf("b after crash: %v %+v", err, s)
	}
	if _, err := c.Get(TokenHash{3}); !errors.Is(err, ErrSessionUnknown) {
		t.Fatalf("deleted c after crash: %v", err)
	}

	if err := j.Flush(); err != nil {
		t.Fatal(err)
	}
	c2 := openJournal(t, crashImage(t, path))
	if s, err := c2.Get(TokenHash{1}); err != nil || !s.LastSeen.Equal(t0.Add(time.Hour)) || s.Risk != 9 {
		t.Fatalf("a after flush and crash: %v %+v", err, s)
	}
	// An older touch never moves LastSeen back on replay.
	if err := j.Touch(TokenHash{1}, t0, 3); err != nil {
		t.Fatal(err)
	}
	if err := j.Flush(); err != nil {
		t.Fatal(err)
	}
	if s, _ := openJournal(t, crashImage(t, path)).Get(TokenHash{1}); !s.LastSeen.Equal(t0.Add(time.Hour)) || s.Risk != 3 {
		t.Fatalf("older touch replayed: %+v", s)
	}
	// Expired sessions deleted by the sweep, and sessions evicted by
	// Create, stay deleted.
	if n, err := j.DeleteExpired(func(s Session) bool { return s.ID == "b" }); err != nil || n != 1 {
		t.Fatalf("delete expired: %d %v", n, err)
	}
	if err := j.Create(testSession("d", "dr.lee", 4), 10, func(s Session) bool { return s.ID == "a" }); err != nil {
		t.Fatal(err)
	}
	c3 := openJournal(t, crashImage(t, path))
	for h, want := range map[byte]error{1: ErrSessionUnknown, 2: ErrSessionUnknown, 4: nil} {
		if _, err := c3.Get(TokenHash{h}); !errors.Is(err, want) && (want != nil || err != nil) {
			t.Errorf("session %d after sweep, evict and crash: %v, want %v", h, err, want)
		}
	}
}

// TestJournalIgnoresTornTail cuts the last write at every byte and appends
// garbage a torn write could leave: the acknowledged sessions are all
// there, the torn one is not, and the store keeps working.
func TestJournalIgnoresTornTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.journal")
	j := openJournal(t, path)
	never := func(Session) bool { return false }
	if err := j.Create(testSession("a", "dr.lee", 1), 10, never); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	if err := j.Create(testSession("b", "dr.lee", 2), 10, never); err != nil {
		t.Fatal(err)
	}
	full, _ := os.ReadFile(path)
	if !bytes.HasPrefix(full, before) || len(full) <= len(before) {
		t.Fatal("the journal was not appended to")
	}
	tails := map[string][]byte{}
	for cut := len(before); cut < len(full); cut += 1 + 6*min(1, max(0, cut-len(before)-recordHeader)) { // every header byte, then every 7th
		tails[fmt.Sprintf("cut %d bytes into the last write", cut-len(before))] = full[:cut]
	}
	tails["zeros after"] = append(bytes.Clone(before), make([]byte, 4096)...)
	tails["flipped bit in last record"] = func() []byte {
		b := bytes.Clone(full)
		b[len(b)-3] ^= 0x10
		return b
	}()
	tails["huge length"] = append(bytes.Clone(before), 0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4, recPut)
	for name, img := range tails {
		p := filepath.Join(t.TempDir(), "torn.journal")
		if err := os.WriteFile(p, img, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := OpenJournalStore(p)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got, want := c.TornTail(), int64(len(img)-len(before)); got != want {
			t.Errorf("%s: torn tail %d, want %d", name, got, want)
		}
		if _, err := c.Get(TokenHash{1}); err != nil {
			t.Errorf("%s: acknowledged session lost: %v", name, err)
		}
		if _, err := c.Get(TokenHash{2}); !errors.Is(err, ErrSessionUnknown) {
			t.Errorf("%s: torn session present: %v", name, err)
		}
		if err := c.Create(testSession("c", "dr.lee", 3), 10, never); err != nil {
			t.Fatalf("%s: create after recovery: %v", name, err)
		}
		c.Close()
		c2, err := OpenJournalStore(p)
		if err != nil {
			t.Fatalf("%s: reopen after recovery: %v", name, err)
		}
		if _, err := c2.Get(TokenHash{3}); err != nil || c2.TornTail() != 0 {
			t.Errorf("%s: write after recovery lost (%v) or tail still torn (%d)", name, err, c2.TornTail())
		}
		c2.Close()
	}
}

func TestJournalRejectsCorruption(t *testing.T) {
	good := func(b []byte) []byte {
		b, err := putRecord(b, testSession("a", "dr.lee", 1))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// padding is enough whole records after a bad one that it cannot be a torn last write.
	padding := func(b []byte) []byte {
		for len(b) < 2*journalMaxWrite {
			b = deleteRecord(b, TokenHash{9})
		}
		return b
	}
	hdr := []byte(journalMagic)
	cases := map[string][]byte{
		"empty file":        {},
		"bad magic":         append([]byte("MCZTSJ\x00\x02"), good(nil)...),
		"json session file": []byte(`{"version":1,"sessions":[]}`),
		"bad put json":      appendRecord(bytes.Clone(hdr), recPut, []byte(`{"id":`)),
		"incomplete put":    appendRecord(bytes.Clone(hdr), recPut, []byte(`{"id":"a","segment":"public","clearance":"public"}`)),
		"bad token hash":    appendRecord(bytes.Clone(hdr), recPut, []byte(`{"id":"a","identity":"x","token_hash":"zz","segment":"public","clearance":"public"}`)),
		"short delete":      appendRecord(bytes.Clone(hdr), recDelete, []byte{1, 2, 3}),
		"short touch":       appendRecord(bytes.Clone(hdr), recTouch, make([]byte, 40)),
		"unknown kind":      appendRecord(bytes.Clone(hdr), 7, nil),
		"hash reused by another identity": func() []byte {
			b := good(bytes.Clone(hdr))
			b, _ = putRecord(b, testSession("b", "mallory", 1))
			return b
		}(),
		"bad record before the tail": func() []byte {
			b := good(bytes.Clone(hdr))
			b[len(hdr)+recordHeader+2] ^= 0x01
			return padding(b)
		}(),
	}
	dir := t.TempDir()
	for name, body := range cases {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
		if err := os.WriteFile(path, body, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := OpenJournalStore(path); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: got %v, want ErrCorrupt", name, err)
		}
	}
	// The same padding after good records opens.
	path := filepath.Join(dir, "good")
	if err := os.WriteFile(path, padding(good(bytes.Clone(hdr))), 0o600); err != nil {
		t.Fatal(err)
	}
	if j, err := OpenJournalStore(path); err != nil {
		t.Fatalf("well-formed journal: %v", err)
	} else {
		j.Close()
	}
}

// TestJournalCompacts: the journal stays bounded under login/logout churn
// and its compacted form holds the same sessions.
func TestJournalCompacts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.journal")
	j := openJournal(t, path)
	j.compactMin = 4 << 10
	never := func(Session) bool { return false }
	keep := testSession("keep", "dr.lee", 200)
	if err := j.Create(keep, 10, never); err != nil {
		t.Fatal(err)
	}
	var maxSize int64
	for i := range 200 {
		s := testSession("churn", "dr.lee", byte(i%100+1))
		if err := j.Create(s, 10, never); err != nil {
			t.Fatal(err)
		}
		if err := j.Touch(keep.TokenHash, t0.Add(time.Duration(i)*time.Second), i%100); err != nil {
			t.Fatal(err)
		}
		if err := j.Delete(s.TokenHash); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		maxSize = max(maxSize, fi.Size())
	}
	if maxSize > 3*j.compactMin {
		t.Fatalf("journal grew to %d bytes with compaction at %d", maxSize, j.compactMin)
	}
	c := openJournal(t, crashImage(t, path))
	if s, err := c.Get(keep.TokenHash); err != nil || !s.LastSeen.Equal(t0.Add(199*time.Second)) || s.Risk != 99 {
		t.Fatalf("after compactions and crash: %v %+v", err, s)
	}
	if n, _ := c.DeleteExpired(func(Session) bool { return true }); n != 1 {
		t.Fatalf("%d sessions after churn, want 1", n)
	}
}

// FuzzJournalReplay: no journal bytes panic the store; each opens or is
// reported as corrupt.
func FuzzJournalReplay(f *testing.F) {
	hdr := []byte(journalMagic)
	b, _ := putRecord(bytes.Clone(hdr), testSession("a", "dr.lee", 1))
	f.Add(b)
	f.Add(touchRecord(bytes.Clone(b), testSession("a", "dr.lee", 1)))
	f.Add(deleteRecord(bytes.Clone(b), TokenHash{1}))
	f.Add(hdr)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		m := NewMemStore()
		end, err := replayJournal(data, m)
		if err != nil {
			if !bytes.HasPrefix(data, hdr) || len(data) > len(hdr) {
				return
			}
			t.Fatalf("header alone refused: %v", err)
		}
		if end < len(hdr) || end > len(data) {
			t.Fatalf("valid prefix %d outside [%d, %d]", end, len(hdr), len(data))
		}
		for _, s := range m.snapshot() {
			if s.ID == "" || !s.Segment.Valid() {
				t.Fatalf("replayed an invalid session %+v", s)
			}
		}
	})
}
