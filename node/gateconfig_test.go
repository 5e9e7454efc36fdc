package node

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/medchain/medchain/node/config"
	"github.com/medchain/medchain/node/rpc"
	"github.com/medchain/medchain/node/zerotrust"
)

func TestGateConfigDefaultsMatchZerotrust(t *testing.T) {
	cfg := config.DefaultConfig()
	cfg.ZeroTrust.Enabled = true
	zc, err := gateConfig(cfg, "medchain")
	if err != nil {
		t.Fatal(err)
	}
	want := zerotrust.DefaultConfig()
	if zc.ReauthInterval != want.ReauthInterval || zc.IdleTimeout != want.IdleTimeout || zc.AbsoluteTimeout != want.AbsoluteTimeout ||
		zc.MaxSessionsPerIdentity != want.MaxSessionsPerIdentity || zc.MaxRisk != want.MaxRisk ||
		zc.RateLimit.AdminPerMinute != want.RateLimit.AdminPerMinute || zc.RateLimit.UserPerMinute != want.RateLimit.UserPerMinute || zc.RateLimit.Burst != want.RateLimit.Burst ||
		zc.Request.MaxBatch != want.Request.MaxBatch || zc.Lockout.MaxFailures != want.Lockout.MaxFailures ||
		zc.Lockout.Duration != want.Lockout.Duration || zc.Quarantine.Duration != want.Quarantine.Duration {
		t.Fatalf("node defaults drift from zerotrust.DefaultConfig:\n got %+v\nwant %+v", zc, want)
	}
	if len(zc.Methods) != len(rpc.MethodRules()) {
		t.Fatalf("gate methods are not rpc.MethodRules")
	}
}

// An explicit zero is kept (ZEROTRUST_MAX_RISK=0 means 0), and a zero that
// makes no sense is refused with the field's name.
func TestGateConfigExplicitZero(t *testing.T) {
	cfg, err := config.Load("", []string{"ZEROTRUST_MAX_RISK=0", "ZEROTRUST_ENABLED=true"})
	if err != nil {
		t.Fatal(err)
	}
	zc, err := gateConfig(cfg, "medchain")
	if err != nil {
		t.Fatal(err)
	}
	if zc.MaxRisk != 0 {
		t.Fatalf("ZEROTRUST_MAX_RISK=0 gave max_risk %d", zc.MaxRisk)
	}
	cfg.ZeroTrust.MaxSessionsPerIdentity = 0
	_, err = gateConfig(cfg, "medchain")
	if !errors.Is(err, zerotrust.ErrInvalidConfig) || !strings.Contains(err.Error(), "max_sessions_per_identity") {
		t.Fatalf("max_sessions_per_identity 0: %v", err)
	}
	cfg.ZeroTrust.MaxSessionsPerIdentity = 1
	cfg.ZeroTrust.ReauthInterval = 0
	if _, err = gateConfig(cfg, "medchain"); err == nil || !strings.Contains(err.Error(), "reauth_interval") {
		t.Fatalf("reauth_interval 0: %v", err)
	}
	if d := sweepInterval(zerotrust.DefaultConfig()); d != time.Minute {
		t.Fatalf("sweep every %v", d)
	}
}
