package main

import (
	"strings"
	"testing"
)

// TestCLIMFAEnrolThenClinicalReadAtOnce: against a node with the gate on,
// medchain mfa enroll --save-secret returns only once the node holds the
// seed, so the very next command, a clinical read that logs in with a code
// made from the saved secret, succeeds; no failed login is counted (the
// identity is not delayed or locked for the next ones).
func TestCLIMFAEnrolThenClinicalReadAtOnce(t *testing.T) {
	dir := initChain(t)
	n := startNodeEnv(t, dir, "ZEROTRUST_ENABLED=true")
	env := []string{"MEDCHAIN_RPC=" + n.rpcURL}
	dd := []string{"--data-dir", dir}

	r := mustCLI(t, env, append(dd, "mfa", "enroll", "--as", "doctor456", "--save-secret")...)
	if !strings.Contains(r.stdout, "otpauth://") {
		t.Fatalf("no otpauth URI:\n%s", r)
	}
	r = mustCLI(t, env, append(dd, "query", "trail", "--patient", "patient123", "--as", "doctor456")...)
	if !strings.Contains(r.stdout, "Audit trail of patient patient123") {
		t.Fatalf("trail:\n%s", r)
	}
	r = mustCLI(t, env, append(dd, "login", "--as", "doctor456", "--segment", "clinical")...)
	if !strings.Contains(r.stdout, "segment clinical") || !strings.Contains(r.stdout, "mfa true") {
		t.Fatalf("a second login after the enrolment:\n%s", r)
	}
}
