package compliance

import (
	"crypto/tls"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/medchain/medchain/chain/verify"
	"github.com/medchain/medchain/node/config"
	"github.com/medchain/medchain/node/zerotrust"
)

// Status is a check's outcome.
type Status string

// Statuses.
const (
	Pass         Status = "pass"
	Fail         Status = "fail"
	NotCheckable Status = "not_checkable" // outside what a node can observe
)

// Check is one line of the report.
type Check struct {
	ID        string `json:"id"`
	Standard  string `json:"standard"` // e.g. "HIPAA §164.312(b)"
	Title     string `json:"title"`
	Status    Status `json:"status"`
	Evidence  string `json:"evidence"`
	Framework string `json:"framework"` // HIPAA or GDPR
}

// Summary counts the checks by status.
type Summary struct {
	Pass         int `json:"pass"`
	Fail         int `json:"fail"`
	NotCheckable int `json:"not_checkable"`
}

// Report is the compliance report.
type Report struct {
	GeneratedAt time.Time `json:"generated_at"`
	NodeID      string    `json:"node_id"`
	ChainID     string    `json:"chain_id"`
	Height      uint64    `json:"height"`
	Summary     Summary   `json:"summary"`
	Checks      []Check   `json:"checks"`
	// Retention is the retention pruner's state the storage limitation
	// check was judged on (periods, cutoff and progress of each pass).
	Retention *RetentionEvidence `json:"retention,omitempty"`
}

// Check returns the check with id, or nil.
func (r *Report) Check(id string) *Check {
	for i := range r.Checks {
		if r.Checks[i].ID == id {
			return &r.Checks[i]
		}
	}
	return nil
}

// Evidence is what the node observed. Every field is read live by the node;
// zero values mean "nothing observed", which never passes.
type Evidence struct {
	Now     time.Time
	NodeID  string
	ChainID string
	Height  uint64

	// TLS is the JSON-RPC listener's tls.Config in force; nil means plain HTTP.
	TLS *tls.Config
	// GODEBUG is the process's GODEBUG setting (it can disable the hybrid
	// post-quantum key exchange).
	GODEBUG string

	// Gate is the zero-trust gate's config in force; nil means the gate is off.
	Gate *zerotrust.Config
	// DenialsRecorded: refused requests are written on chain (access_denied
	// audit events); DenialsDropped of them were lost to a full queue.
	DenialsRecorded bool
	DenialsDropped  uint64

	Audit    AuditEvidence
	Verify   VerifyEvidence
	Keys     KeyEvidence
	Consents ConsentEvidence
	Export   ExportEvidence
	Erasure  ErasureEvidence
	// Pseudonyms counts the state records that name a patient.
	Pseudonyms PseudonymEvidence
	Retention  config.Retention
	Pruner     RetentionEvidence
	Policy     config.Compliance
}

// RetentionEvidence is the state of the node's retention pruner
// (node/retention.go): each pass prunes, from every block older than its
// period, the sealed payloads of its kind of tx.
type RetentionEvidence struct {
	// Enabled: the pruner runs every IntervalSeconds (and at start).
	Enabled         bool  `json:"enabled"`
	IntervalSeconds int64 `json:"interval_seconds"`
	// LastRun is when the last run ended (zero: none since start), and
	// LastError its error, if it failed.
	LastRun   time.Time       `json:"last_run,omitzero"`
	LastError string          `json:"last_error,omitempty"`
	Passes    []RetentionPass `json:"passes"`
	// NotStored are the periods that govern nothing the node stores, and why.
	NotStored []RetentionNote `json:"not_stored,omitempty"`
	// Err: the state could not be read.
	Err error `json:"-"`
	// Skipped says why the last run skipped the passes by period (audit,
	// research): the node's clock was further ahead of the head block's
	// time than the pruner trusts, so cutoffs from it could not be
	// trusted either. Empty when it did not skip them.
	Skipped string `json:"skipped,omitempty"`
}

// RetentionPass is one pass of the pruner.
type RetentionPass struct {
	Pass    string `json:"pass"`
	Field   string `json:"field,omitempty"` // the [retention] setting of its period
	Governs string `json:"governs"`
	// Days is the period; 0 for the pass that prunes erased patients'
	// payloads at once (PrunedUpTo is then the height up to which every
	// erasure was handled).
	Days int `json:"days"`
	// Cutoff is now minus the period: blocks older than it are pruned.
	Cutoff time.Time `json:"cutoff,omitzero"`
	// PrunedUpTo: every block up to this height was visited; PrunedTxs
	// sealed payloads (PrunedBytes bytes) were pruned in all.
	PrunedUpTo  uint64 `json:"pruned_up_to"`
	PrunedTxs   uint64 `json:"pruned_txs"`
	PrunedBytes uint64 `json:"pruned_bytes"`
	// NextHeight and NextTime are the oldest block the pass has not
	// visited: its sealed payloads of this kind are still stored. Zero
	// when the pass reached the head.
	NextHeight uint64    `json:"next_height,omitempty"`
	NextTime   time.Time `json:"next_time,omitzero"`
}

// RetentionNote says why a period governs nothing the node stores.
type RetentionNote struct {
	Field string `json:"field"`
	Note  string `json:"note"`
}

// AuditEvidence comes from one pass over the audit events recorded in state.
// The window the audit controls are judged on is the Blocks newest blocks
// (at most compliance.verify_max_blocks), none older than
// compliance.audit_recent_days.
type AuditEvidence struct {
	Blocks uint64    // newest blocks in the window
	Total  int       // audit events recorded on chain in all
	Events int       // of which committed in the window
	Denied int       // of those, access_denied
	Latest time.Time // block time of the newest audit event in the window; zero: none
	Err    error
}

// VerifyEvidence is a chain verification run on a store snapshot.
type VerifyEvidence struct {
	Report *verify.Report
	Full   bool // from genesis with state re-execution
	Err    error
}

// KeyEvidence is the age of every active identity's key, from the block
// time of its registration or last update.
type KeyEvidence struct {
	Checked int
	Oldest  time.Duration
	OldID   string
	Over    []string // identities over the rotation policy (up to 10)
	NOver   int
	Err     error
}

// ConsentEvidence counts the current consents in state.
type ConsentEvidence struct {
	Total, Active, Revoked int
	// ExpiredActive are active, granted consents whose scope expired
	// before the head block's time: still on record as active.
	ExpiredActive      int
	ExpiredActiveTypes []string
	Err                error
}

// ExportEvidence: patient_export needs the node to sign with the key its
// on-chain identity record holds, or holders cannot verify exports.
type ExportEvidence struct {
	Available bool
	Detail    string
	Err       error
}

// ErasureEvidence is every patient_erase the chain applied, as this node's
// clean-up stands (consensus.Node.ErasureSummary).
type ErasureEvidence struct {
	// Unsupported says why the node cannot erase (no pseudonyms); "" if it can.
	Unsupported string
	// Recorded erasures, Complete of them on this node (no copy of the
	// patient's key left in the store, the Raft log or a snapshot); Pending
	// describes each of the others.
	Recorded, Complete int
	Pending            []string
	Err                error
}

// PseudonymEvidence counts, by kind, the records in state (read from one
// store snapshot) that name a patient and how many of them name a
// pseudonym (types.IsPseudonym; an audit event must also be stored
// redacted). It holds counts only, never a patient id or a pseudonym, and
// Err never quotes one either: the report is shown to operators and
// auditors.
type PseudonymEvidence struct {
	// On: the node stores patients under pseudonyms (it runs with a cluster
	// data key). Off says why not, when On is false.
	On  bool
	Off string

	AuditEvents PseudonymCount // audit events (NoPatient: access denials naming none)
	Consents    PseudonymCount // current consents (their history is kept under the same patient)
	Executions  PseudonymCount // contract executions (NoPatient: calls naming none)
	Reviews     PseudonymCount // reviews of flagged (break-glass) executions
	Identities  PseudonymCount // patient identities' patient, genesis ones in clear aside
	Delegations PseudonymCount // acts_for entries, genesis ones in clear aside
	Erasures    PseudonymCount // patient_erase records

	// GenesisPatients and GenesisDelegations are links by patient id in
	// clear of genesis identities (height 0): a patient identity's patient
	// and acts_for entries. The genesis is written before any vault exists,
	// so they cannot name pseudonyms; they are reported, not failed.
	GenesisPatients, GenesisDelegations int

	Err error
}

// PseudonymCount counts one kind of record.
type PseudonymCount struct {
	Named        int // records that name a patient
	Pseudonymous int // of which name a pseudonym
	NoPatient    int // records that name no patient (not counted in Named)
}

// InClear is the number of records that name a patient by patient id.
func (c PseudonymCount) InClear() int { return c.Named - c.Pseudonymous }

// pseudonymKind is a kind of record with its name in the evidence text.
type pseudonymKind struct {
	name string
	c    PseudonymCount
}

func (p *PseudonymEvidence) kinds() []pseudonymKind {
	return []pseudonymKind{{"audit events", p.AuditEvents}, {"consents", p.Consents}, {"contract executions", p.Executions},
		{"break-glass reviews", p.Reviews}, {"patient identities", p.Identities}, {"delegations", p.Delegations}, {"erasures", p.Erasures}}
}

// Minimums the checks apply.
const (
	// MaxIdleTimeout is the longest idle timeout counted as automatic logoff.
	MaxIdleTimeout = 30 * time.Minute
	// MinAuditRetentionDays is HIPAA's six-year documentation retention.
	MinAuditRetentionDays = 6 * 365
	// MaxAPILogDays: API logs hold addresses and identifiers; keep them short.
	MaxAPILogDays = 365
)

// Evaluate turns evidence into the report.
func Evaluate(ev Evidence) *Report {
	r := &Report{GeneratedAt: ev.Now.UTC(), NodeID: ev.NodeID, ChainID: ev.ChainID, Height: ev.Height}
	add := func(fw, id, std, title string, st Status, format string, args ...any) {
		r.Checks = append(r.Checks, Check{ID: id, Framework: fw, Standard: std, Title: title, Status: st, Evidence: fmt.Sprintf(format, args...)})
	}
	hipaa := func(id, std, title string, st Status, format string, args ...any) {
		add("HIPAA", id, std, title, st, format, args...)
	}
	gdpr := func(id, std, title string, st Status, format string, args ...any) {
		add("GDPR", id, std, title, st, format, args...)
	}

	// Access control.
	if g := ev.Gate; g != nil {
		hipaa("hipaa.access_control", "HIPAA §164.312(a)(1)", "Access control", Pass,
			"zero-trust gate on: %d method rules, %d policies (%s); unlisted methods refused; requests above risk %d refused",
			len(g.Methods), len(g.Policies), policyNames(g), g.MaxRisk)
		st := Fail
		if g.IdleTimeout > 0 && g.IdleTimeout <= MaxIdleTimeout && g.AbsoluteTimeout > 0 {
			st = Pass
		}
		hipaa("hipaa.automatic_logoff", "HIPAA §164.312(a)(2)(iii)", "Automatic logoff", st,
			"sessions end after %v idle (at most %v wanted) and %v in all", g.IdleTimeout, MaxIdleTimeout, g.AbsoluteTimeout)
	} else {
		hipaa("hipaa.access_control", "HIPAA §164.312(a)(1)", "Access control", Fail,
			"zero-trust gate off: every JSON-RPC method is served without a session (set [zerotrust] enabled = true)")
		hipaa("hipaa.automatic_logoff", "HIPAA §164.312(a)(2)(iii)", "Automatic logoff", Fail,
			"zero-trust gate off: there are no sessions to end")
	}
	hipaa("hipaa.encryption_at_rest", "HIPAA §164.312(a)(2)(iv)", "Encryption at rest", NotCheckable,
		"the chain holds FHIR references, hashes and metadata, not clinical data; TOTP seeds and data keys are sealed; disk encryption of the data dir is the operator's")

	// Audit controls.
	window := time.Duration(ev.Policy.AuditRecentDays) * 24 * time.Hour
	a := ev.Audit
	switch {
	case a.Err != nil:
		hipaa("hipaa.audit_events", "HIPAA §164.312(b)", "Audit controls: events recorded", Fail, "could not read the audit events: %v", a.Err)
	case a.Latest.IsZero():
		hipaa("hipaa.audit_events", "HIPAA §164.312(b)", "Audit controls: events recorded", Fail,
			"no audit event on chain in the last %d days (within the %d newest blocks; %d events on chain in all)", ev.Policy.AuditRecentDays, a.Blocks, a.Total)
	case ev.Now.Sub(a.Latest) > window:
		hipaa("hipaa.audit_events", "HIPAA §164.312(b)", "Audit controls: events recorded", Fail,
			"newest audit event at %s, more than %d days ago", a.Latest.UTC().Format(time.RFC3339), ev.Policy.AuditRecentDays)
	default:
		hipaa("hipaa.audit_events", "HIPAA §164.312(b)", "Audit controls: events recorded", Pass,
			"%d audit events in the last %d days within the %d newest blocks (%d on chain in all); newest at %s",
			a.Events, ev.Policy.AuditRecentDays, a.Blocks, a.Total, a.Latest.UTC().Format(time.RFC3339))
	}
	switch {
	case !ev.DenialsRecorded:
		hipaa("hipaa.audit_refusals", "HIPAA §164.312(b)", "Audit controls: refusals recorded", Fail,
			"refused requests are not recorded on chain (the zero-trust gate, which records them, is off)")
	case ev.DenialsDropped > 0:
		hipaa("hipaa.audit_refusals", "HIPAA §164.312(b)", "Audit controls: refusals recorded", Fail,
			"%d refusals were dropped by a full queue and not recorded; %d access_denied events recorded in the last %d days", ev.DenialsDropped, a.Denied, ev.Policy.AuditRecentDays)
	default:
		hipaa("hipaa.audit_refusals", "HIPAA §164.312(b)", "Audit controls: refusals recorded", Pass,
			"every refused request is recorded on chain as an access_denied audit event signed by the node; %d in the last %d days, none dropped", a.Denied, ev.Policy.AuditRecentDays)
	}

	// Integrity.
	v := ev.Verify
	integrity := Fail
	switch {
	case v.Err != nil:
		hipaa("hipaa.integrity", "HIPAA §164.312(c)(1), (c)(2)", "Integrity", Fail, "chain verification could not run: %v", v.Err)
	case v.Report == nil:
		hipaa("hipaa.integrity", "HIPAA §164.312(c)(1), (c)(2)", "Integrity", Fail, "the chain has no blocks yet: nothing was verified")
	case !v.Report.OK:
		var fs []string
		for i, f := range v.Report.Faults {
			if i == 3 {
				fs = append(fs, fmt.Sprintf("and %d more", len(v.Report.Faults)-3))
				break
			}
			fs = append(fs, fmt.Sprintf("height %d: %s", f.Height, f.What))
		}
		hipaa("hipaa.integrity", "HIPAA §164.312(c)(1), (c)(2)", "Integrity", Fail,
			"chain verification FAILED on %s [%d, %d]: %d faults: %s", scope(v.Full), v.Report.From, v.Report.To, len(v.Report.Faults), strings.Join(fs, "; "))
	case v.Report.Blocks == 0:
		hipaa("hipaa.integrity", "HIPAA §164.312(c)(1), (c)(2)", "Integrity", Fail, "the chain has no blocks to verify yet")
	default:
		integrity = Pass
		hipaa("hipaa.integrity", "HIPAA §164.312(c)(1), (c)(2)", "Integrity", Pass,
			"chain verified on %s [%d, %d]: %d blocks, %d txs; hash links, header signatures, Merkle log and stored indexes checked",
			scope(v.Full), v.Report.From, v.Report.To, v.Report.Blocks, v.Report.Txs)
	}

	// Person or entity authentication.
	authn := Fail
	if g := ev.Gate; g == nil {
		hipaa("hipaa.authentication", "HIPAA §164.312(d)", "Person or entity authentication", Fail,
			"zero-trust gate off: callers are not authenticated (every write is still a signed tx)")
	} else {
		with, without := mfaPolicies(g)
		if len(without) == 0 {
			authn = Pass
			hipaa("hipaa.authentication", "HIPAA §164.312(d)", "Person or entity authentication", Pass,
				"ML-DSA challenge-response login; MFA (TOTP) required for every clinical and critical method by policy or segment (%s)", strings.Join(with, ", "))
		} else {
			hipaa("hipaa.authentication", "HIPAA §164.312(d)", "Person or entity authentication", Fail,
				"clinical or critical methods reachable without MFA: %s (MFA required by: %s)", strings.Join(without, ", "), orNone(with))
		}
	}
	k := ev.Keys
	switch {
	case k.Err != nil:
		hipaa("hipaa.key_rotation", "HIPAA §164.312(d); GDPR Art. 32", "Key age against the rotation policy", Fail, "could not read identities: %v", k.Err)
	case k.Checked == 0:
		hipaa("hipaa.key_rotation", "HIPAA §164.312(d); GDPR Art. 32", "Key age against the rotation policy", Fail, "no active identity found")
	case k.NOver > 0:
		hipaa("hipaa.key_rotation", "HIPAA §164.312(d); GDPR Art. 32", "Key age against the rotation policy", Fail,
			"%d of %d active identities have keys older than %d days: %s", k.NOver, k.Checked, ev.Policy.MaxKeyAgeDays, strings.Join(k.Over, ", "))
	default:
		hipaa("hipaa.key_rotation", "HIPAA §164.312(d); GDPR Art. 32", "Key age against the rotation policy", Pass,
			"%d active identities, every key younger than %d days (oldest: %s, %s, by block time of registration or last update)",
			k.Checked, ev.Policy.MaxKeyAgeDays, k.OldID, days(k.Oldest))
	}

	// Transmission security.
	transmission := Fail
	if t := ev.TLS; t == nil {
		hipaa("hipaa.transmission_security", "HIPAA §164.312(e)(1)", "Transmission security", Fail,
			"JSON-RPC is served over plain HTTP (rpc.insecure_http, a dev setting)")
		hipaa("hipaa.transmission_encryption", "HIPAA §164.312(e)(2)(ii)", "Encryption in transit (post-quantum key exchange)", Fail,
			"no TLS: nothing is encrypted in transit")
	} else {
		expiry, expired := certExpiry(t, ev.Now)
		switch {
		case t.MinVersion < tls.VersionTLS13:
			hipaa("hipaa.transmission_security", "HIPAA §164.312(e)(1)", "Transmission security", Fail,
				"TLS minimum version is %s; TLS 1.3 only is required", versionName(t.MinVersion))
		case expired:
			hipaa("hipaa.transmission_security", "HIPAA §164.312(e)(1)", "Transmission security", Fail,
				"the TLS certificate expired at %s", expiry)
		default:
			transmission = Pass
			hipaa("hipaa.transmission_security", "HIPAA §164.312(e)(1)", "Transmission security", Pass,
				"HTTPS, minimum version %s; certificate valid until %s", versionName(t.MinVersion), expiry)
		}
		curves, pq := curveInfo(t, ev.GODEBUG)
		st := Fail
		if pq {
			st = Pass
		}
		hipaa("hipaa.transmission_encryption", "HIPAA §164.312(e)(2)(ii)", "Encryption in transit (post-quantum key exchange)", st,
			"key exchange preferences: %s", curves)
	}

	hipaa("hipaa.administrative", "HIPAA §164.308", "Administrative safeguards", NotCheckable,
		"not checkable by the node: risk analysis, workforce training, contingency plans, business associate agreements")
	hipaa("hipaa.physical", "HIPAA §164.310", "Physical safeguards", NotCheckable,
		"not checkable by the node: facility access, workstation use and security, device and media controls")

	// GDPR.
	ret := ev.Retention
	var retBad []string
	if ret.AuditLogsDays < MinAuditRetentionDays {
		retBad = append(retBad, fmt.Sprintf("audit_logs_days %d is below HIPAA's six years (%d days)", ret.AuditLogsDays, MinAuditRetentionDays))
	}
	if ret.APILogsDays < 1 || ret.APILogsDays > MaxAPILogDays {
		retBad = append(retBad, fmt.Sprintf("api_logs_days %d is outside [1, %d]", ret.APILogsDays, MaxAPILogDays))
	}
	for _, f := range []struct {
		n string
		v int
	}{{"medical_data_days", ret.MedicalDataDays}, {"research_data_days", ret.ResearchDataDays}} {
		if f.v < 1 || f.v > config.MaxRetentionDays {
			retBad = append(retBad, fmt.Sprintf("%s %d is not a finite period", f.n, f.v))
		}
	}
	pruneText, pruneBad := retentionEvidence(ev)
	retBad = append(retBad, pruneBad...)
	if ev.Pruner.Skipped != "" {
		retBad = append(retBad, "the pruner's last run applied no period: "+ev.Pruner.Skipped)
	}
	retText := fmt.Sprintf("medical data %d days, audit logs %d, research data %d, API logs %d; applied to sealed payloads only, never to the hash chain; %s",
		ret.MedicalDataDays, ret.AuditLogsDays, ret.ResearchDataDays, ret.APILogsDays, pruneText)
	pr := ev.Pruner
	r.Retention = &pr
	if len(retBad) == 0 {
		gdpr("gdpr.storage_limitation", "GDPR Art. 5(1)(e)", "Storage limitation (retention)", Pass, "%s", retText)
	} else {
		gdpr("gdpr.storage_limitation", "GDPR Art. 5(1)(e)", "Storage limitation (retention)", Fail, "%s: %s", strings.Join(retBad, "; "), retText)
	}

	c := ev.Consents
	switch {
	case c.Err != nil:
		gdpr("gdpr.consent_records", "GDPR Art. 7", "Consent records", Fail, "could not read consents: %v", c.Err)
	case c.ExpiredActive > 0:
		gdpr("gdpr.consent_records", "GDPR Art. 7", "Consent records", Fail,
			"%d consents past their expiry are still recorded as active (types: %s); %d consents, %d active, %d revoked",
			c.ExpiredActive, strings.Join(c.ExpiredActiveTypes, ", "), c.Total, c.Active, c.Revoked)
	default:
		gdpr("gdpr.consent_records", "GDPR Art. 7", "Consent records", Pass,
			"%d consents on chain with signer, time and history (%d active, %d revoked); none past expiry still active", c.Total, c.Active, c.Revoked)
	}

	x := ev.Export
	switch {
	case x.Err != nil:
		gdpr("gdpr.access_portability", "GDPR Art. 15, 20", "Right of access and portability (patient_export)", Fail, "%v", x.Err)
	case !x.Available:
		gdpr("gdpr.access_portability", "GDPR Art. 15, 20", "Right of access and portability (patient_export)", Fail, "patient_export is unavailable: %s", x.Detail)
	default:
		gdpr("gdpr.access_portability", "GDPR Art. 15, 20", "Right of access and portability (patient_export)", Pass, "%s", x.Detail)
	}

	e := ev.Erasure
	const erasureHow = "patient_erase destroys the patient's key and pseudonym mapping on every node (crypto-shredding)"
	switch {
	case e.Err != nil:
		gdpr("gdpr.erasure", "GDPR Art. 17", "Right to erasure", Fail, "cannot read the erasures: %v", e.Err)
	case e.Unsupported != "":
		gdpr("gdpr.erasure", "GDPR Art. 17", "Right to erasure", Fail, "%s", e.Unsupported)
	case len(e.Pending) > 0:
		gdpr("gdpr.erasure", "GDPR Art. 17", "Right to erasure", Fail,
			"%d of %d recorded erasures are not complete on this node yet (a copy of the key may remain): %s",
			len(e.Pending), e.Recorded, strings.Join(e.Pending, "; "))
	case e.Recorded == 0:
		gdpr("gdpr.erasure", "GDPR Art. 17", "Right to erasure", Pass, "%s; no erasure requested yet", erasureHow)
	default:
		gdpr("gdpr.erasure", "GDPR Art. 17", "Right to erasure", Pass,
			"%s; %d erasure(s) recorded, all complete on this node: mapping deleted, vault compacted, Raft log compacted past the erasure, older snapshots deleted",
			erasureHow, e.Recorded)
	}

	pseudonymisation(ev.Pseudonyms, gdpr)

	var weak []string
	for _, w := range []struct {
		n  string
		st Status
	}{{"transmission security", transmission}, {"access control", r.Check("hipaa.access_control").Status}, {"authentication", authn}, {"integrity", integrity}} {
		if w.st != Pass {
			weak = append(weak, w.n)
		}
	}
	if len(weak) == 0 {
		gdpr("gdpr.security_of_processing", "GDPR Art. 25, 32", "Security of processing, by design and by default", Pass,
			"transmission security, access control, authentication and integrity checks pass; signatures are post-quantum (ML-DSA)")
	} else {
		gdpr("gdpr.security_of_processing", "GDPR Art. 25, 32", "Security of processing, by design and by default", Fail,
			"failing: %s", strings.Join(weak, ", "))
	}
	gdpr("gdpr.organisational", "GDPR Art. 30, 33, 35", "Records of processing, breach notification, impact assessment", NotCheckable,
		"not checkable by the node: the controller's organisational measures")

	for _, ch := range r.Checks {
		switch ch.Status {
		case Pass:
			r.Summary.Pass++
		case Fail:
			r.Summary.Fail++
		default:
			r.Summary.NotCheckable++
		}
	}
	return r
}

// pseudonymisation adds the gdpr.pseudonymisation line: it passes when
// pseudonyms are on and every record that names a patient names a
// pseudonym, genesis identities aside (reported with their count). Its
// evidence is counts and kinds only.
func pseudonymisation(p PseudonymEvidence, gdpr func(id, std, title string, st Status, format string, args ...any)) {
	const id, std, title = "gdpr.pseudonymisation", "GDPR Art. 25(1), 32(1)(a)", "Pseudonymisation of patient data"
	var named, clear int
	var inClear, under []string
	for _, k := range p.kinds() {
		named += k.c.Named
		clear += k.c.InClear()
		if k.c.InClear() > 0 {
			inClear = append(inClear, fmt.Sprintf("%d of %d %s", k.c.InClear(), k.c.Named, k.name))
		}
		under = append(under, fmt.Sprintf("%d of %d %s", k.c.Pseudonymous, k.c.Named, k.name))
	}
	counts := "under a pseudonym: " + strings.Join(under, ", ")
	var notes []string
	if n := p.AuditEvents.NoPatient + p.Executions.NoPatient; n > 0 {
		notes = append(notes, fmt.Sprintf("records that name no patient are stored in clear by design (access denials: %d, contract executions: %d)",
			p.AuditEvents.NoPatient, p.Executions.NoPatient))
	}
	if n := p.GenesisPatients + p.GenesisDelegations; n > 0 {
		notes = append(notes, fmt.Sprintf("genesis identities name patient ids in clear by design, as the genesis is written before any pseudonym exists (links: %d; patient identities: %d, delegations: %d)",
			n, p.GenesisPatients, p.GenesisDelegations))
	}
	note := ""
	if len(notes) > 0 {
		note = "; " + strings.Join(notes, "; ")
	}
	switch {
	case p.Err != nil:
		gdpr(id, std, title, Fail, "could not read every record that names a patient: %v", p.Err)
	case !p.On:
		off := p.Off
		if off == "" {
			off = "this node runs without pseudonyms"
		}
		gdpr(id, std, title, Fail, "%s; records that name a patient: %d, in clear: %d (%s)%s", off, named, clear, counts, note)
	case clear > 0:
		gdpr(id, std, title, Fail, "records that name a patient in clear: %d of %d (%s); %s%s",
			clear, named, strings.Join(inClear, ", "), counts, note)
	case named == 0:
		gdpr(id, std, title, Pass, "pseudonyms are on (cluster data key): no record names a patient yet%s", note)
	default:
		gdpr(id, std, title, Pass, "every record that names a patient names a pseudonym (audit events stored redacted, their personal fields sealed): %s%s", counts, note)
	}
}

// retentionEvidence describes the pruner's state and lists what fails: a
// state that cannot be read, a failed last run, and any pass whose oldest
// unvisited block is older than its period, beyond two pruning intervals of
// grace (none when the pruner is off).
func retentionEvidence(ev Evidence) (string, []string) {
	p := ev.Pruner
	var bad, parts []string
	switch {
	case p.Err != nil:
		bad = append(bad, fmt.Sprintf("the pruner's state could not be read: %v", p.Err))
	case len(p.Passes) == 0:
		bad = append(bad, "no retention pruner state observed")
	}
	if p.LastError != "" {
		bad = append(bad, "the last pruning run failed: "+p.LastError)
	}
	grace := time.Duration(0)
	switch {
	case !p.Enabled:
		parts = append(parts, "pruner off (retention.prune_interval = 0)")
	case p.LastRun.IsZero():
		grace = 2 * time.Duration(p.IntervalSeconds) * time.Second
		parts = append(parts, fmt.Sprintf("pruner every %v, no run finished since start", time.Duration(p.IntervalSeconds)*time.Second))
	default:
		grace = 2 * time.Duration(p.IntervalSeconds) * time.Second
		parts = append(parts, fmt.Sprintf("pruner every %v, last run %s", time.Duration(p.IntervalSeconds)*time.Second, p.LastRun.UTC().Format(time.RFC3339)))
	}
	for _, ps := range p.Passes {
		if ps.Days == 0 { // not a period: erased patients' payloads, at once
			parts = append(parts, fmt.Sprintf("%s pass (at erasure): erasures up to height %d handled, %d sealed payloads", ps.Pass, ps.PrunedUpTo, ps.PrunedTxs))
			continue
		}
		line := fmt.Sprintf("%s pass (%s %d): pruned up to height %d, %d sealed payloads", ps.Pass, ps.Field, ps.Days, ps.PrunedUpTo, ps.PrunedTxs)
		if ps.NextHeight != 0 {
			age := ev.Now.Sub(ps.NextTime)
			line += fmt.Sprintf(", oldest unpruned block %d is %s old", ps.NextHeight, days(age))
			if limit := time.Duration(ps.Days)*24*time.Hour + grace; age > limit {
				bad = append(bad, fmt.Sprintf("%s pass: block %d (%s old) is past its %d-day period and still holds its sealed payloads", ps.Pass, ps.NextHeight, days(age), ps.Days))
			}
		} else {
			line += ", every block visited"
		}
		parts = append(parts, line)
	}
	for _, n := range p.NotStored {
		parts = append(parts, n.Field+": "+n.Note)
	}
	parts = append(parts, "patient_erase txs are never pruned (the record of an erasure)")
	return strings.Join(parts, "; "), bad
}

func scope(full bool) string {
	if full {
		return "the whole chain with state re-execution"
	}
	return "the newest blocks"
}

func policyNames(g *zerotrust.Config) string {
	var n []string
	for _, p := range g.Policies {
		n = append(n, p.Name)
	}
	return orNone(n)
}

func orNone(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ", ")
}

// policyRequiresMFA reports whether a policy has a rule that is exactly the
// session.mfa test (SeedPolicy's), so it refuses sessions without MFA.
func policyRequiresMFA(p zerotrust.Policy) bool {
	for _, r := range p.Rules {
		if strings.TrimSpace(r.Expr) == "session.mfa" {
			return true
		}
	}
	return false
}

// mfaPolicies lists the method rules of the clinical and critical segments:
// with, those that require MFA (by policy, segment or login), and without,
// those that do not.
func mfaPolicies(g *zerotrust.Config) (with, without []string) {
	byName := map[string]zerotrust.Policy{}
	for _, p := range g.Policies {
		byName[p.Name] = p
	}
	keys := make([]string, 0, len(g.Methods))
	for k := range g.Methods {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		m := g.Methods[k]
		if m.Segment != zerotrust.SegmentClinical && m.Segment != zerotrust.SegmentCritical {
			continue
		}
		switch {
		case g.RequireMFAAtLogin:
			with = append(with, k+" (login)")
		case m.Policy != "" && policyRequiresMFA(byName[m.Policy]):
			with = append(with, k+" (policy "+m.Policy+")")
		case g.Segments[m.Segment].RequireMFA:
			with = append(with, k+" (segment "+m.Segment.String()+")")
		default:
			without = append(without, k)
		}
	}
	return with, without
}

func days(d time.Duration) string { return fmt.Sprintf("%d days", int(d.Hours()/24)) }

func versionName(v uint16) string {
	switch v {
	case 0:
		return "Go's default (TLS 1.2)"
	case tls.VersionTLS10, tls.VersionTLS11, tls.VersionTLS12, tls.VersionTLS13:
		return tls.VersionName(v)
	}
	return fmt.Sprintf("0x%04x", v)
}

func certExpiry(t *tls.Config, now time.Time) (string, bool) {
	if len(t.Certificates) == 0 || t.Certificates[0].Leaf == nil {
		return "unknown (no parsed certificate)", false
	}
	na := t.Certificates[0].Leaf.NotAfter
	return na.UTC().Format(time.RFC3339), now.After(na)
}

// curveInfo names the key exchange preferences and whether the hybrid
// post-quantum X25519MLKEM768 is among them.
func curveInfo(t *tls.Config, godebug string) (string, bool) {
	if len(t.CurvePreferences) == 0 {
		if strings.Contains(godebug, "tlsmlkem=0") {
			return "Go's defaults with GODEBUG tlsmlkem=0: no post-quantum key exchange", false
		}
		return "Go's defaults (X25519MLKEM768 first)", true
	}
	var n []string
	pq := false
	for _, c := range t.CurvePreferences {
		n = append(n, c.String())
		if c == tls.X25519MLKEM768 {
			pq = !strings.Contains(godebug, "tlsmlkem=0")
		}
	}
	s := strings.Join(n, ", ")
	if !pq {
		s += "; no hybrid post-quantum key exchange (X25519MLKEM768) in force"
	}
	return s, pq
}
