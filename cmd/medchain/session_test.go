package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TestStepCodesNeverRepeatAStep: consecutive code sources of one secret
// file (as consecutive CLI commands are) never hand out the same time step,
// so the node never sees a reused code; the third code within one step
// waits for the clock.
func TestStepCodesNeverRepeatAStep(t *testing.T) {
	const secret = "JBSWY3DPEHPK3PXP"
	file := filepath.Join(t.TempDir(), "admin.secret")
	if err := os.WriteFile(file, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	g := &globals{dataDir: t.TempDir(), totpFile: file}
	t.Setenv("MEDCHAIN_TOTP_SECRET", "")
	codeAt := func(step int64) string {
		c, err := totp.GenerateCodeCustom(secret, time.Unix(step*totpPeriod, 0), totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	now := time.Now().Unix() / totpPeriod
	if time.Now().Unix()%totpPeriod > totpPeriod-3 {
		time.Sleep(4 * time.Second) // keep both codes inside one step
		now = time.Now().Unix() / totpPeriod
	}
	var got []string
	for range 2 {
		c, err := g.totpCodes("admin")
		if err != nil || c == nil {
			t.Fatalf("code source: %v %v", c, err)
		}
		code, err := c.next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, code)
	}
	if got[0] != codeAt(now) || got[1] != codeAt(now+1) {
		t.Fatalf("codes %v, want the steps %d and %d (%s %s)", got, now, now+1, codeAt(now), codeAt(now+1))
	}
	b, err := os.ReadFile(file + ".step")
	if err != nil || strings.TrimSpace(string(b)) != strconv.FormatInt(now+1, 10) {
		t.Fatalf("step file: %q %v", b, err)
	}
	if st, _ := os.Stat(file + ".step"); st.Mode().Perm() != 0o600 {
		t.Fatalf("step file mode %v", st.Mode().Perm())
	}
	c, _ := g.totpCodes("admin")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if code, err := c.next(ctx); err == nil && time.Now().Unix()/totpPeriod == now {
		t.Fatalf("a third code %s within step %d: want a wait", code, now)
	}
}

// TestSessionIdentityFallsBackToTheDevAdmin: --as wins, then the identity
// of the last login, then the dev admin when its key is in the data dir.
func TestSessionIdentityFallsBackToTheDevAdmin(t *testing.T) {
	dir := t.TempDir()
	g := &globals{dataDir: dir}
	if id := g.sessionIdentity(); id != "" {
		t.Fatalf("no key, no login: %q, want none", id)
	}
	os.MkdirAll(filepath.Join(dir, "keys"), 0o700)
	os.WriteFile(filepath.Join(dir, "keys", "admin.key"), []byte("x"), 0o600)
	if id := g.sessionIdentity(); id != "admin" {
		t.Fatalf("dev data dir: %q, want admin", id)
	}
	os.MkdirAll(filepath.Join(dir, sessionsDir), 0o700)
	if err := g.setCurrent("doctor456"); err != nil {
		t.Fatal(err)
	}
	if id := g.sessionIdentity(); id != "doctor456" {
		t.Fatalf("after a login: %q, want doctor456", id)
	}
	g.as = "patient123"
	if id := g.sessionIdentity(); id != "patient123" {
		t.Fatalf("--as: %q, want patient123", id)
	}
	// Caching a session (as a tx command signing --as patient123 does)
	// does not change the identity of later commands.
	if err := g.saveSession("patient123", "tok"); err != nil {
		t.Fatal(err)
	}
	g.as = ""
	if id := g.sessionIdentity(); id != "doctor456" {
		t.Fatalf("after caching patient123's session: %q, want doctor456", id)
	}
}
