package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/node/nodetest"
)

func TestPatientExportThenVerifyExportOffline(t *testing.T) {
	n := nodetest.Start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := n.Signer(t, "doctor456").Send(ctx, &types.AuditRecord{EventType: "data_access", Patient: "patient123", Actor: "doctor456", Action: "view_record"}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out, fhirOut := filepath.Join(dir, "export.json"), filepath.Join(dir, "export.fhir.json")
	genesis := filepath.Join(n.Config.Node.DataDir, "genesis.json")
	if _, err := runCmd(t, nil, "--rpc", n.URL, "--data-dir", n.Config.Node.DataDir, "--totp-file", n.TOTPSecretFile(t, "admin"), "patient", "export", "--patient", "patient123", "--out", out, "--fhir", fhirOut); err != nil {
		t.Fatal(err)
	}
	n.Stop() // offline from here
	if _, err := runCmd(t, nil, "patient", "verify-export", out, "--genesis", genesis); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(fhirOut); err != nil || !strings.Contains(string(b), `"collection"`) {
		t.Fatalf("FHIR bundle: %v", err)
	}
	b, _ := os.ReadFile(out)
	os.WriteFile(out, []byte(strings.Replace(string(b), `"patient": "patient123"`, `"patient": "patient124"`, 1)), 0o600)
	if _, err := runCmd(t, nil, "patient", "verify-export", out, "--genesis", genesis); err == nil || !strings.Contains(err.Error(), "does NOT verify") {
		t.Fatalf("tampered export: %v", err)
	}
}
