package main

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
)

// TestCLILoginMFAAndClinicalRead: against a node with the gate on, the CLI
// logs in (challenge, ML-DSA signature), enrols in MFA, logs in again with
// a TOTP code straight into the clinical segment, caches the token 0600,
// reads a patient's trail and writes an audit event with the cached
// session, and medchain pentest reports no vulnerability.
func TestCLILoginMFAAndClinicalRead(t *testing.T) {
	dir := initChain(t)
	n := startNodeEnv(t, dir, "ZEROTRUST_ENABLED=true")
	env := []string{"MEDCHAIN_RPC=" + n.rpcURL}
	dd := []string{"--data-dir", dir}

	// Without a session a clinical read is refused, naming the fix.
	r := cli(t, env, append(dd, "query", "trail", "--patient", "patient123")...)
	if r.code == 0 {
		t.Fatalf("trail without a session:\n%s", r)
	}
	r = mustCLI(t, env, append(dd, "mfa", "enroll", "--as", "doctor456")...)
	i := strings.Index(r.stdout, "otpauth://")
	if i < 0 {
		t.Fatalf("no otpauth URI:\n%s", r)
	}
	u, err := url.Parse(strings.Fields(r.stdout[i:])[0])
	if err != nil {
		t.Fatal(err)
	}
	secret := u.Query().Get("secret")
	code, err := totp.GenerateCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r = mustCLI(t, env, append(dd, "login", "--as", "doctor456", "--totp", code, "--segment", "clinical")...)
	if !strings.Contains(r.stdout, "segment clinical") || !strings.Contains(r.stdout, "mfa true") {
		t.Fatalf("login:\n%s", r)
	}
	st, err := os.Stat(filepath.Join(dir, "sessions", "doctor456.json"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("session cache: %v %v", st, err)
	}
	mustCLI(t, env, append(dd, "tx", "audit", "--as", "doctor456", "--patient", "patient123", "--action", "view_record")...)
	r = mustCLI(t, env, append(dd, "query", "trail", "--patient", "patient123")...)
	if !strings.Contains(r.stdout, "doctor456") {
		t.Fatalf("trail:\n%s", r)
	}
	mustCLI(t, env, append(dd, "query", "head")...)
	mustCLI(t, env, append(dd, "logout")...)
	if _, err := os.Stat(filepath.Join(dir, "sessions", "doctor456.json")); !os.IsNotExist(err) {
		t.Fatalf("cache after logout: %v", err)
	}
	// pentest logs in as doctor456 itself: one session per identity.
	r = cli(t, append(env, "MEDCHAIN_TOTP_SECRET="+secret), append(dd, "pentest", "--target", n.rpcURL, "--only",
		"forged_signature,replayed_login,stolen_token_after_logout,clinical_from_public_session,oversize_body,batch_10000,injection_strings")...)
	if r.code != 0 || !strings.Contains(r.stdout, "0 vulnerabilities") {
		t.Fatalf("pentest:\n%s", r)
	}
}
