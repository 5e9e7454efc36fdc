package main

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/node/compliance"
	"github.com/medchain/medchain/node/nodetest"
	"github.com/medchain/medchain/node/rpc"
)

func TestComplianceAndStatsCommands(t *testing.T) {
	n := nodetest.Start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := n.Signer(t, "doctor456").Send(ctx, &types.AuditRecord{EventType: "data_access", Patient: "patient123", Actor: "doctor456", Action: "view_record", Purpose: "treatment"}); err != nil {
		t.Fatal(err)
	}
	// The CLI logs in as the dev admin, with TOTP codes from its secret
	// (the report and the statistics are internal and clinical methods).
	base := []string{"--rpc", n.URL, "--data-dir", n.Config.Node.DataDir, "--totp-file", n.TOTPSecretFile(t, "admin")}
	b, err := runCmd(t, nil, append(base, "compliance")...)
	out := string(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`STATUS`, `PASS\s+hipaa\.transmission_security`, `PASS\s+hipaa\.access_control`, `PASS\s+gdpr\.erasure\s.*no erasure requested yet`, `not checkable by the node`} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("medchain compliance output lacks %q:\n%s", want, out)
		}
	}
	// A dev node passes every line the node can check: --strict succeeds.
	if b, err := runCmd(t, nil, append(base, "compliance", "--strict")...); err != nil {
		t.Errorf("compliance --strict on a dev node: %v\n%s", err, b)
	}
	b, err = runCmd(t, nil, append(base, "--json", "compliance")...)
	out = string(b)
	if err != nil {
		t.Fatal(err)
	}
	var rep compliance.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Check("hipaa.integrity") == nil {
		t.Fatalf("compliance --json: %v\n%s", err, out)
	}
	b, err = runCmd(t, nil, append(base, "--json", "query", "stats", "--k", "2")...)
	out = string(b)
	if err != nil {
		t.Fatal(err)
	}
	var st rpc.StatsResult
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.K != 2 || len(st.ByPurpose) != 1 || !st.ByPurpose[0].Suppressed || st.Total != nil {
		t.Fatalf("query stats --json: one event about one patient should be suppressed: %v\n%s", err, out)
	}
	if _, err := runCmd(t, nil, append(base, "query", "stats", "--k", "1")...); err == nil || !strings.Contains(err.Error(), "at least 2") {
		t.Fatalf("query stats --k 1: %v", err)
	}

	// Audit logs kept one year, below HIPAA's six: that line fails, and so
	// does --strict.
	cfg := n.Config
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	cfg.Retention.AuditLogsDays = 365
	n = nodetest.Restart(t, cfg)
	base[1] = n.URL
	b, err = runCmd(t, nil, append(base, "compliance", "--strict")...)
	if err == nil || !regexp.MustCompile(`FAIL\s+gdpr\.storage_limitation\s.*below HIPAA`).Match(b) {
		t.Errorf("compliance --strict with a failing check: %v, want an error\n%s", err, b)
	}
}
