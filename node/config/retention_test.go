package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRetentionDefaultsAndValidation(t *testing.T) {
	c := DefaultConfig()
	if r := c.Retention; r.MedicalDataDays != 2555 || r.AuditLogsDays != 2555 || r.ResearchDataDays != 3650 || r.APILogsDays != 90 {
		t.Fatalf("default retention %+v, want the seed's 2555/2555/3650/90 days", r)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if r := c.Retention; r.PruneInterval.D() != DefaultPruneInterval || r.PruneBatchBlocks != 64 {
		t.Fatalf("default pruner %v every, %d blocks a batch", r.PruneInterval.D(), r.PruneBatchBlocks)
	}
	off := c
	off.Retention.PruneInterval = 0
	if err := off.Validate(); err != nil {
		t.Fatalf("a pruner turned off is valid: %v", err)
	}
	c.Retention.APILogsDays = 0
	c.Retention.ResearchDataDays = MaxRetentionDays + 1
	c.Retention.PruneInterval = Duration(time.Second)
	c.Retention.PruneBatchBlocks = 0
	c.Compliance.MaxKeyAgeDays = -1
	err := c.Validate()
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("want ErrInvalid, got %v", err)
	}
	for _, f := range []string{"retention.api_logs_days", "retention.research_data_days", "retention.prune_interval", "retention.prune_batch_blocks", "compliance.max_key_age_days"} {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error does not name %s: %v", f, err)
		}
	}
}

func TestRetentionFromFileAndEnv(t *testing.T) {
	p := filepath.Join(t.TempDir(), "medchain.toml")
	if err := os.WriteFile(p, []byte("[retention]\napi_logs_days = 30\nprune_interval = \"1h\"\n[compliance]\nmax_key_age_days = 90\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p, []string{"MEDCHAIN_RETENTION_AUDIT_LOGS_DAYS=3000"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Retention.PruneInterval.D() != time.Hour || c.Retention.APILogsDays != 30 || c.Retention.AuditLogsDays != 3000 || c.Retention.MedicalDataDays != 2555 || c.Compliance.MaxKeyAgeDays != 90 {
		t.Fatalf("loaded %+v %+v", c.Retention, c.Compliance)
	}
}
