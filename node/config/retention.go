package config

// Retention holds how long each kind of data is kept before it may be
// pruned, in days (the seed's data_retention_policy). It applies only to
// what a node may prune: off-chain API logs and caches, and (once crypto-
// shredding lands) the off-chain patient keys after erasure. It never
// applies to the hash chain: blocks, audit events and consents on chain are
// kept for the life of the consortium, or every proof and verification
// would break. medchain compliance reports these settings (GDPR Art.
// 5(1)(e), storage limitation).
type Retention struct {
	// MedicalDataDays: medical data referenced by the node. Default 2555 (7 years).
	MedicalDataDays int `toml:"medical_data_days"`
	// AuditLogsDays: audit logs kept off chain (exports, copies). Default 2555
	// (7 years; HIPAA asks for at least 6).
	AuditLogsDays int `toml:"audit_logs_days"`
	// ResearchDataDays: research extracts (audit_stats results). Default 3650 (10 years).
	ResearchDataDays int `toml:"research_data_days"`
	// APILogsDays: the node's off-chain API request logs. Default 90.
	APILogsDays int `toml:"api_logs_days"`
}

// MaxRetentionDays bounds every retention period (100 years).
const MaxRetentionDays = 36500

// DefaultRetention returns the seed's retention periods.
func DefaultRetention() Retention {
	return Retention{MedicalDataDays: 2555, AuditLogsDays: 2555, ResearchDataDays: 3650, APILogsDays: 90}
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
