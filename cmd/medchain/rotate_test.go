package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCLIRotateKeyThenOnlyTheNewKeySignsAndLogsIn: against a node with the
// zero-trust gate on, doctor456 rotates its key with the CLI; afterwards its
// old key neither logs in nor signs, the new key does both, and the identity
// and the chain, signatures included, still verifies.
func TestCLIRotateKeyThenOnlyTheNewKeySignsAndLogsIn(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node")
	}
	dir := initChain(t)
	n := startNodeEnv(t, dir, "ZEROTRUST_ENABLED=true")
	env := []string{"MEDCHAIN_RPC=" + n.rpcURL}
	dd := []string{"--data-dir", dir}
	newKey := filepath.Join(t.TempDir(), "doctor456-2.key")
	mustCLI(t, env, append(dd, "keygen", "--out", newKey)...)
	// An event signed with the first key, before the rotation.
	mustCLI(t, env, append(dd, "tx", "audit", "--as", "doctor456", "--patient", "patient123", "--action", "view_record")...)
	mustCLI(t, env, append(dd, "logout")...)

	// Bad inputs first: no new key, the public half instead of the key.
	if r := cli(t, env, append(dd, "tx", "identity", "rotate-key", "--as", "doctor456")...); r.code == 0 || !strings.Contains(r.stderr, "--new-key") {
		t.Fatalf("without --new-key:\n%s", r)
	}
	if r := cli(t, env, append(dd, "tx", "identity", "rotate-key", "--as", "doctor456", "--new-key", newKey+".pub")...); r.code == 0 || !strings.Contains(r.stderr, "not FILE.pub") {
		t.Fatalf("with the public key file:\n%s", r)
	}
	// Not signed by the old key: the new key signs the tx too.
	if r := cli(t, env, append(dd, "tx", "identity", "rotate-key", "--as", "doctor456", "--key", newKey, "--new-key", newKey)...); r.code == 0 {
		t.Fatalf("rotation signed by the new key only:\n%s", r)
	}
	time.Sleep(2 * time.Second) // the gate backs off after the failed login that refusal began with

	r := mustCLI(t, env, append(dd, "tx", "identity", "rotate-key", "--as", "doctor456", "--new-key", newKey, "--reason", "yearly")...)
	if !strings.Contains(r.stdout, "identity_rotate_key tx") || !strings.Contains(r.stdout, "result   ok") {
		t.Fatalf("rotation:\n%s", r)
	}
	// logout may try to refresh with the default (now retired) key file,
	// which counts as a failed attempt: wait out the gate's delay.
	cli(t, env, append(dd, "logout")...)
	time.Sleep(2 * time.Second)

	// The old key: login refused (a tx it signs is refused by the executor
	// too: chain/state's rotation tests). The client's first attempt fails on
	// the signature and its second meets the gate's delay, which it reports.
	if r := cli(t, env, append(dd, "login", "--as", "doctor456")...); r.code == 0 ||
		!strings.Contains(r.stderr, "signature") && !strings.Contains(r.stderr, "after a failed attempt") {
		t.Fatalf("login with the retired key:\n%s", r)
	}
	time.Sleep(3 * time.Second)
	// The new key: login and a signed audit event.
	mustCLI(t, env, append(dd, "login", "--as", "doctor456", "--key", newKey)...)
	mustCLI(t, env, append(dd, "tx", "audit", "--as", "doctor456", "--key", newKey, "--patient", "patient123", "--action", "view_record")...)

	// The whole chain, signatures included, verifies across the rotation
	// (from genesis and from a later height, which reads keys at the head).
	n.stop()
	for _, from := range []string{"0", "2"} {
		if r := cli(t, nil, "verify", "--offline", "--from", from, "--data-dir", dir); r.code != 0 || !strings.Contains(r.stdout, "Chain verification OK") {
			t.Fatalf("verify after the rotation:\n%s", r)
		}
	}
}
