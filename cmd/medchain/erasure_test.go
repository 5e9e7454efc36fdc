package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/node/nodetest"
)

func TestPatientEraseAndErasureStatus(t *testing.T) {
	n := nodetest.Start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := n.Signer(t, "doctor456").Send(ctx, &types.AuditRecord{EventType: "data_access", Patient: "patient123", Actor: "doctor456", Action: "view_record"}); err != nil {
		t.Fatal(err)
	}
	// The CLI logs in as the dev admin (erasure_status is clinical), with
	// TOTP codes from its secret; --as patient123 signs the erasure.
	base := []string{"--rpc", n.URL, "--data-dir", n.Config.Node.DataDir, "--totp-file", n.TOTPSecretFile(t, "admin"), "patient"}
	cli := func(args ...string) (string, error) {
		out, err := runCmd(t, nil, append(append([]string{}, base...), args...)...)
		return string(out), err
	}
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no patient", []string{"erase", "--reason", "gdpr-art17"}, "--patient and --reason are required"},
		{"free-text reason", []string{"erase", "--patient", "patient123", "--reason", "Jane asked"}, "reason"},
		{"by a clinician", []string{"erase", "--patient", "patient123", "--reason", "gdpr-art17", "--as", "doctor456"}, "may not erase"},
		{"status without patient", []string{"erasure-status"}, "--patient is required"},
	} {
		if out, err := cli(c.args...); err == nil || !strings.Contains(err.Error()+out, c.want) {
			t.Errorf("%s: got %v\n%s\nwant an error containing %q", c.name, err, out, c.want)
		}
	}
	out, err := cli("erasure-status", "--patient", "patient123")
	if err != nil || !strings.Contains(out, "is not erased") {
		t.Fatalf("status before: %v\n%s", err, out)
	}
	if out, err := cli("erase", "--patient", "patient123", "--reason", "gdpr-art17", "--as", "patient123"); err != nil {
		t.Fatalf("erase: %v\n%s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err = cli("erasure-status", "--patient", "patient123")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out, "complete, no copy of the key is left") || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, want := range []string{"complete", "mapping_deleted", "pebble_compacted", "raft_log_compacted", "snapshots_pruned"} {
		if !strings.Contains(out, want) {
			t.Fatalf("status after erasure lacks %q:\n%s", want, out)
		}
	}
	if out, err := cli("erase", "--patient", "patient123", "--reason", "gdpr-art17"); err == nil || !strings.Contains(err.Error()+out, "erased") {
		t.Fatalf("second erasure: %v\n%s", err, out)
	}
	// medchain verify passes after the erasure and says what it could only attest.
	vout, err := runCmd(t, nil, "--rpc", n.URL, "--data-dir", n.Config.Node.DataDir, "verify")
	if err != nil || !strings.Contains(string(vout), "Chain verification OK") ||
		!strings.Contains(string(vout), "attested by the proposer only (key erased or not available): 2") {
		t.Fatalf("verify after erasure: %v\n%s", err, vout)
	}
}
