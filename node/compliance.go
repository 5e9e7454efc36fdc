package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/medchain/medchain/chain/codec"
	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/store"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/chain/verify"
	"github.com/medchain/medchain/consensus"
	"github.com/medchain/medchain/node/compliance"
	"github.com/medchain/medchain/node/config"
	"github.com/medchain/medchain/node/rpc"
)

var _ rpc.ComplianceReporter = (*Node)(nil)

// ComplianceReport implements rpc.ComplianceReporter: it gathers evidence
// from this running node (the RPC listener's TLS config, the gate, the
// newest blocks, a chain verification on a snapshot, identities and
// consents in state, the node key against its chain record, the retention
// settings and the pruner's state) and evaluates it (compliance.Evaluate).
func (n *Node) ComplianceReport(ctx context.Context) (*compliance.Report, error) {
	ev, err := n.ComplianceEvidence(ctx)
	if err != nil {
		return nil, err
	}
	return compliance.Evaluate(ev), nil
}

// ComplianceEvidence reads the evidence the compliance report is built on.
// The state evidence (audit events, identities and keys, consents, and the
// records that name a patient) comes from one store snapshot, each kind of
// record read in one pass. Failures to read one piece become that piece's
// error (and its line fails); only a cancelled ctx fails the whole call.
func (n *Node) ComplianceEvidence(ctx context.Context) (compliance.Evidence, error) {
	now := time.Now()
	ev := compliance.Evidence{Now: now, NodeID: n.cfg.Node.ID, ChainID: n.genesis.ChainID,
		TLS: n.rpc.TLSConfig(), GODEBUG: os.Getenv("GODEBUG"),
		Retention: n.cfg.Retention, Policy: n.cfg.Compliance}
	if n.gate != nil {
		gc := n.gate.Config()
		ev.Gate = &gc
	}
	if n.denials != nil {
		ev.DenialsRecorded, ev.DenialsDropped = true, n.denials.dropped.Load()
	}
	ev.Export = n.exportEvidence()
	ev.Erasure, ev.Pseudonyms.On = n.erasureEvidence()
	if !ev.Pseudonyms.On {
		ev.Pseudonyms.Off = noPseudonyms
	}
	ev.Pruner = n.pruner.Status(now)

	var head uint64
	err := n.cons.WithStore(func(st *store.Store) error {
		snap, err := st.Snapshot()
		if err != nil {
			return err
		}
		defer snap.Close()
		if h, ok := snap.Head(); ok {
			head = h.Height
		}
		n.stateEvidence(snap, head, now, &ev)
		return nil
	})
	if err != nil {
		err = n.unreadable("the store snapshot", err)
		ev.Audit.Err, ev.Keys.Err, ev.Consents.Err, ev.Pseudonyms.Err = err, err, err, err
	}
	ev.Height = head

	opts := verify.Options{From: 1}
	if max := n.cfg.Compliance.VerifyMaxBlocks; head > max {
		opts.From = head - max + 1
	}
	opts.To = head
	ev.Verify.Full = opts.From <= 1
	if head > 0 {
		ev.Verify.Report, ev.Verify.Err = n.Verify(ctx, opts, nil)
	}
	if err := ctx.Err(); err != nil {
		return ev, err
	}
	return ev, nil
}

// noPseudonyms is the pseudonymisation evidence of a node without a cluster
// data key.
const noPseudonyms = "this node runs without pseudonyms (no cluster data key): patient ids are stored in clear"

// stateEvidence reads the state evidence from snapshot r at height head:
// each kind of record once, feeding every line that needs it (the audit
// events feed the audit controls and pseudonymisation; the identities, key
// rotation and pseudonymisation; the consents, consent records and
// pseudonymisation).
func (n *Node) stateEvidence(r *store.Store, head uint64, now time.Time, ev *compliance.Evidence) {
	ps := &ev.Pseudonyms
	times := &blockTimes{r: r, genesis: n.genesis.Time, m: map[uint64]int64{}}
	var errs []error
	var err error
	ev.Audit, err = auditEvidence(r, head, n.cfg.Compliance, now, &ps.AuditEvents)
	if err != nil {
		ev.Audit.Err = n.unreadable("the audit events", err)
		errs = append(errs, ev.Audit.Err)
	}
	ev.Keys = keyEvidence(r, times, now, n.cfg.Compliance.MaxKeyAgeDays, ps)
	if ev.Keys.Err != nil {
		ev.Keys.Err = n.unreadable("the identities", ev.Keys.Err)
		errs = append(errs, ev.Keys.Err)
	}
	ev.Consents = consentEvidence(r, now, &ps.Consents)
	if ev.Consents.Err != nil {
		ev.Consents.Err = n.unreadable("the consents", ev.Consents.Err)
		errs = append(errs, ev.Consents.Err)
	}
	for _, s := range []struct {
		what string
		scan func(state.Scanner, *compliance.PseudonymEvidence) error
	}{{"the contract executions", countExecutions}, {"the break-glass reviews", countReviews}, {"the erasures", countErasures}} {
		if err := s.scan(r, ps); err != nil {
			errs = append(errs, n.unreadable(s.what, err))
		}
	}
	ps.Err = errors.Join(errs...)
}

// unreadable logs why what could not be read and returns an error that says
// only what: read errors may quote state keys, which hold patient ids or
// pseudonyms, and the report must name neither.
func (n *Node) unreadable(what string, err error) error {
	n.log.Warn("compliance: could not read "+what, "err", err)
	return fmt.Errorf("%s could not be read (the node log has the error)", what)
}

// blockTimes caches block times by height (0: the genesis time).
type blockTimes struct {
	r interface {
		Block(uint64) (*types.Block, error)
	}
	genesis int64
	m       map[uint64]int64
}

func (b *blockTimes) at(h uint64) (time.Time, error) {
	if h == 0 {
		return time.UnixMilli(b.genesis), nil
	}
	if t, ok := b.m[h]; ok {
		return time.UnixMilli(t), nil
	}
	blk, err := b.r.Block(h)
	if err != nil {
		return time.Time{}, fmt.Errorf("block %d: %w", h, err)
	}
	b.m[h] = blk.Header.Time
	return time.UnixMilli(blk.Header.Time), nil
}

// auditEvidence makes one pass over the audit events recorded in state
// (the patient trail index, which holds those naming no patient too). For
// the audit controls it counts the events in the window: the newest
// compliance.verify_max_blocks blocks up to head, none older than
// compliance.audit_recent_days (block times never decrease, so this is the
// newest blocks scanned back to the cutoff). For pseudonymisation it counts
// in ps the events that name a patient and those stored redacted under a
// pseudonym.
func auditEvidence(r state.Scanner, head uint64, cfg config.Compliance, now time.Time, ps *compliance.PseudonymCount) (compliance.AuditEvidence, error) {
	var a compliance.AuditEvidence
	if head == 0 {
		return a, nil
	}
	from := uint64(1)
	if head > cfg.VerifyMaxBlocks {
		from = head - cfg.VerifyMaxBlocks + 1
	}
	a.Blocks = head - from + 1
	cutoff := now.Add(-time.Duration(cfg.AuditRecentDays) * 24 * time.Hour).UnixMilli()
	var latest int64
	err := state.ScanAuditEntries(r, func(e *state.AuditEntry) bool {
		if e.Height > head { // not in a snapshot; kept for any other view
			return true
		}
		a.Total++
		switch p := e.Record.Patient; {
		case p == "":
			ps.NoPatient++
		case e.Redacted && types.IsPseudonym(p):
			ps.Named++
			ps.Pseudonymous++
		default:
			ps.Named++
		}
		if e.Height < from || e.Time < cutoff {
			return true
		}
		a.Events++
		if e.Record.EventType == accessDeniedEvt {
			a.Denied++
		}
		latest = max(latest, e.Time)
		return true
	})
	if a.Events > 0 {
		a.Latest = time.UnixMilli(latest)
	}
	return a, err
}

// keyEvidence ages every active identity's current key from the block time
// of the identity_rotate_key that set it, or of its registration if it never
// rotated (a role change does not renew a key).
// It also counts in ps the identities' links to patients (revoked ones too:
// their records still name the patient).
func keyEvidence(r state.Scanner, times *blockTimes, now time.Time, maxDays int, ps *compliance.PseudonymEvidence) compliance.KeyEvidence {
	var k compliance.KeyEvidence
	limit := time.Duration(maxDays) * 24 * time.Hour
	var terr error
	err := state.ScanIdentities(r, func(id *state.Identity) bool {
		countIdentity(ps, id)
		if id.Revoked {
			return true
		}
		t := time.UnixMilli(id.KeyTime)
		if id.KeyTime == 0 {
			var err error
			if t, err = times.at(id.Height); err != nil {
				terr = err
				return false
			}
		}
		k.Checked++
		age := now.Sub(t)
		if age > k.Oldest || k.OldID == "" {
			k.Oldest, k.OldID = age, id.ID
		}
		if age > limit {
			k.NOver++
			if len(k.Over) < 10 {
				k.Over = append(k.Over, fmt.Sprintf("%s (%d days)", id.ID, int(age.Hours()/24)))
			}
		}
		return true
	})
	k.Err = errors.Join(err, terr)
	return k
}

// consentEvidence counts current consents, and the active granted ones
// whose scope expired before now; in ps, those that name a pseudonym (a
// consent's history is kept under the same patient as the consent, so the
// current ones stand for it).
func consentEvidence(r state.Scanner, now time.Time, ps *compliance.PseudonymCount) compliance.ConsentEvidence {
	var c compliance.ConsentEvidence
	expiredTypes := map[string]bool{}
	c.Err = state.ScanConsents(r, func(s *state.Consent) bool {
		c.Total++
		countPatient(ps, s.Patient)
		switch s.Status {
		case state.ConsentRevoked:
			c.Revoked++
		case state.ConsentActive:
			c.Active++
			if s.Granted && s.Scope.Expiration != 0 && s.Scope.Expiration <= now.UnixMilli() {
				c.ExpiredActive++
				if !expiredTypes[s.ConsentType] && len(expiredTypes) < 10 {
					expiredTypes[s.ConsentType] = true
					c.ExpiredActiveTypes = append(c.ExpiredActiveTypes, s.ConsentType)
				}
			}
		}
		return true
	})
	return c
}

// countPatient counts one record naming patient ("" : none) in c.
func countPatient(c *compliance.PseudonymCount, patient string) {
	switch {
	case patient == "":
		c.NoPatient++
	case types.IsPseudonym(patient):
		c.Named++
		c.Pseudonymous++
	default:
		c.Named++
	}
}

// countIdentity counts an identity's links to patients: a patient
// identity's patient and each acts_for entry. A genesis identity's links in
// clear are counted apart: the genesis is written before any vault exists.
func countIdentity(ps *compliance.PseudonymEvidence, id *state.Identity) {
	genesis := id.Height == 0
	if id.Kind == types.KindPatient {
		if genesis && id.Patient != "" && !types.IsPseudonym(id.Patient) {
			ps.GenesisPatients++
		} else {
			countPatient(&ps.Identities, id.Patient)
		}
	}
	for _, p := range id.ActsFor {
		if genesis && !types.IsPseudonym(p) {
			ps.GenesisDelegations++
		} else {
			countPatient(&ps.Delegations, p)
		}
	}
}

// countExecutions counts the contract executions in state (every
// contract's) that name a patient.
func countExecutions(r state.Scanner, ps *compliance.PseudonymEvidence) error {
	prefix := state.ExecutionPrefix("")[:1]
	return scanDecoded(r, prefix, func(v []byte) error {
		var e state.Execution
		if err := codec.Unmarshal(v, &e); err != nil {
			return err
		}
		countPatient(&ps.Executions, e.Call.Patient)
		return nil
	})
}

// countReviews counts the reviews of flagged executions that name a patient.
func countReviews(r state.Scanner, ps *compliance.PseudonymEvidence) error {
	prefix := state.ReviewKey(types.Hash{})[:2] // the reviews by execution tx hash
	return scanDecoded(r, prefix, func(v []byte) error {
		var rv state.Review
		if err := codec.Unmarshal(v, &rv); err != nil {
			return err
		}
		countPatient(&ps.Reviews, rv.Patient)
		return nil
	})
}

// countErasures counts the erasure records.
func countErasures(r state.Scanner, ps *compliance.PseudonymEvidence) error {
	return state.ScanErasures(r, func(e *state.Erasure) bool {
		countPatient(&ps.Erasures, e.Patient)
		return true
	})
}

// scanDecoded calls fn on the value of every state key with prefix (a
// non-empty prefix whose last byte is not 0xff), stopping at its first
// error. Errors do not quote keys.
func scanDecoded(r state.Scanner, prefix []byte, fn func(v []byte) error) error {
	end := bytes.Clone(prefix)
	end[len(end)-1]++
	var derr error
	err := r.Scan(prefix, end, false, func(_, v []byte) bool {
		derr = fn(v)
		return derr == nil
	})
	if derr != nil {
		return fmt.Errorf("%w: corrupt record under prefix %q: %v", state.ErrIO, prefix, derr)
	}
	return err
}

// erasureEvidence reads this node's erasures; on reports whether the node
// runs with pseudonyms (a cluster data key), without which it cannot erase.
func (n *Node) erasureEvidence() (ev compliance.ErasureEvidence, on bool) {
	sum, err := n.cons.ErasureSummary()
	switch {
	case errors.Is(err, consensus.ErrNoClusterKey):
		return compliance.ErasureEvidence{Unsupported: noPseudonyms + " and cannot be erased"}, false
	case err != nil:
		return compliance.ErasureEvidence{Err: err}, true
	}
	return compliance.ErasureEvidence{Recorded: sum.Recorded, Complete: sum.Complete, Pending: sum.Pending}, true
}

// exportEvidence checks that patient_export can be verified by its holder:
// the node's identity is on chain, not revoked, with the key the node signs
// with, and a probe signed now verifies against that record.
func (n *Node) exportEvidence() compliance.ExportEvidence {
	id, pub := n.ExportIdentity()
	rec, err := state.GetIdentity(n.cons.Store(), id)
	switch {
	case err != nil:
		return compliance.ExportEvidence{Err: err}
	case rec == nil:
		return compliance.ExportEvidence{Detail: fmt.Sprintf("node identity %q is not registered on chain: holders cannot verify its exports", id)}
	case rec.Revoked:
		return compliance.ExportEvidence{Detail: fmt.Sprintf("node identity %q is revoked", id)}
	case !rec.PublicKey.Equal(pub):
		return compliance.ExportEvidence{Detail: fmt.Sprintf("the node signs with key %s but its chain record holds %s", pub.Fingerprint(), rec.PublicKey.Fingerprint())}
	}
	probe := make([]byte, 32)
	rand.Read(probe)
	probe = append([]byte("medchain/compliance-probe/v1\x00"), probe...)
	sig, err := n.SignExport(probe)
	if err == nil {
		err = crypto.Verify(rec.PublicKey, probe, sig)
	}
	if err != nil {
		return compliance.ExportEvidence{Detail: fmt.Sprintf("a probe signed by the node key does not verify against its chain record: %v", err)}
	}
	return compliance.ExportEvidence{Available: true, Detail: fmt.Sprintf(
		"patient_export serves the audit trail, consents and contract decisions as JSON and FHIR, signed by %s (%s, %s, matching its chain record; a probe signature verified) with inclusion proofs",
		id, pub.Algorithm, pub.Fingerprint())}
}
