package config

import "time"

// Retention holds how long each kind of data is kept before a node may
// prune it, in days (the seed's data_retention_policy), and how the node's
// pruner runs (node/retention.go). It never applies to the hash chain:
// headers, tx hashes, the Merkle log, the redacted payloads in clear and
// every proof are kept for the life of the consortium. What each period
// governs on a node (docs/ARCHITECTURE.md, "Retention"):
//
//   - audit_logs_days: the sealed payload (the signed event with its
//     personal fields: resource reference, details) of each audit event the
//     leader stored redacted, except research events;
//   - research_data_days: the same for audit events whose purpose is
//     "research" (the redacted event keeps its purpose in clear);
//   - medical_data_days: the node stores no medical data (clinical records
//     stay in the EHR; the chain holds FHIR references inside sealed
//     payloads, which follow the audit event's period), so it prunes
//     nothing by this period: it is reported for the operator's EHR policy;
//   - api_logs_days: the node keeps no API or RPC request log of its own
//     (requests are logged through slog to the operator's log pipeline, and
//     sessions expire from the gate's journal), so it prunes nothing by this
//     period: it is reported for that pipeline.
//
// patient_erase txs are never pruned: they are the compliance record of an
// erasure; an erased patient's events lose their (unreadable) sealed
// payloads at the next run, whatever their age. medchain compliance reports the periods and the pruner's state
// (GDPR Art. 5(1)(e), storage limitation).
type Retention struct {
	// MedicalDataDays: medical data referenced by the node. Default 2555 (7 years).
	MedicalDataDays int `toml:"medical_data_days"`
	// AuditLogsDays: sealed payloads of audit events (their personal
	// fields). Default 2555 (7 years; HIPAA asks for at least 6).
	AuditLogsDays int `toml:"audit_logs_days"`
	// ResearchDataDays: sealed payloads of research audit events. Default 3650 (10 years).
	ResearchDataDays int `toml:"research_data_days"`
	// APILogsDays: the node's off-chain API request logs. Default 90.
	APILogsDays int `toml:"api_logs_days"`
	// PruneInterval is how often the pruner runs (it also runs at start);
	// 0 turns it off, and then data past its period stays and the
	// compliance report's retention line fails. Default 6h; at least 1m.
	PruneInterval Duration `toml:"prune_interval"`
	// PruneBatchBlocks bounds the blocks one pruning step visits and
	// rewrites in one batch, and so how long block apply may wait for the
	// store's write lock. Default 64; 1..4096.
	PruneBatchBlocks int `toml:"prune_batch_blocks"`
}

// DefaultPruneInterval is Retention.PruneInterval's default.
const DefaultPruneInterval = 6 * time.Hour

// MaxRetentionDays bounds every retention period (100 years).
const MaxRetentionDays = 36500

// DefaultRetention returns the seed's retention periods.
func DefaultRetention() Retention {
	return Retention{MedicalDataDays: 2555, AuditLogsDays: 2555, ResearchDataDays: 3650, APILogsDays: 90,
		PruneInterval: Duration(DefaultPruneInterval), PruneBatchBlocks: 64}
}

// Compliance tunes the checks of the compliance report (compliance_report,
// medchain compliance).
type Compliance struct {
	// MaxKeyAgeDays is the key rotation policy: an identity whose key was
	// registered or last changed longer ago (by block time) fails the key
	// age check. Default 365.
	MaxKeyAgeDays int `toml:"max_key_age_days"`
	// AuditRecentDays: the audit controls check wants an audit event
	// recorded on chain within this many days. Default 30.
	AuditRecentDays int `toml:"audit_recent_days"`
	// VerifyMaxBlocks bounds the chain verification the report runs: a
	// chain up to this height is verified in full (with state
	// re-execution), a longer one from head-VerifyMaxBlocks+1. Default 10000.
	VerifyMaxBlocks uint64 `toml:"verify_max_blocks"`
}

func (c *Config) validateRetention(bad func(field, format string, args ...any)) {
	for _, f := range []struct {
		name string
		v    int
	}{{"retention.medical_data_days", c.Retention.MedicalDataDays}, {"retention.audit_logs_days", c.Retention.AuditLogsDays},
		{"retention.research_data_days", c.Retention.ResearchDataDays}, {"retention.api_logs_days", c.Retention.APILogsDays}} {
		if f.v < 1 || f.v > MaxRetentionDays {
			bad(f.name, "%d is outside [1, %d] days", f.v, MaxRetentionDays)
		}
	}
	if d := c.Retention.PruneInterval.D(); d != 0 && (d < time.Minute || d > 30*24*time.Hour) {
		bad("retention.prune_interval", "%v is outside [1m, 720h] (0 turns the pruner off)", d)
	}
	if b := c.Retention.PruneBatchBlocks; b < 1 || b > 4096 {
		bad("retention.prune_batch_blocks", "%d is outside [1, 4096]", b)
	}
	if c.Compliance.MaxKeyAgeDays < 1 || c.Compliance.MaxKeyAgeDays > MaxRetentionDays {
		bad("compliance.max_key_age_days", "%d is outside [1, %d]", c.Compliance.MaxKeyAgeDays, MaxRetentionDays)
	}
	if c.Compliance.AuditRecentDays < 1 || c.Compliance.AuditRecentDays > MaxRetentionDays {
		bad("compliance.audit_recent_days", "%d is outside [1, %d]", c.Compliance.AuditRecentDays, MaxRetentionDays)
	}
	if c.Compliance.VerifyMaxBlocks < 1 {
		bad("compliance.verify_max_blocks", "must be at least 1")
	}
}
