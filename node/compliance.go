package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/chain/verify"
	"github.com/medchain/medchain/consensus"
	"github.com/medchain/medchain/node/compliance"
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
// Failures to read one piece become that piece's error (and its line fails);
// only a cancelled ctx fails the whole call.
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
	r := n.cons.Store()
	head, ok := r.Head()
	if ok {
		ev.Height = head.Height
	}
	times := &blockTimes{r: r, genesis: n.genesis.Time, m: map[uint64]int64{}}
	ev.Audit = n.auditEvidence(head.Height, times, now)
	ev.Keys = keyEvidence(r, times, now, n.cfg.Compliance.MaxKeyAgeDays)
	ev.Consents = consentEvidence(r, now)
	ev.Export = n.exportEvidence()
	ev.Erasure = n.erasureEvidence()
	ev.Pruner = n.pruner.Status(now)

	opts := verify.Options{From: 1}
	if max := n.cfg.Compliance.VerifyMaxBlocks; head.Height > max {
		opts.From = head.Height - max + 1
	}
	opts.To = head.Height
	ev.Verify.Full = opts.From <= 1
	if head.Height > 0 {
		ev.Verify.Report, ev.Verify.Err = n.Verify(ctx, opts, nil)
	}
	if err := ctx.Err(); err != nil {
		return ev, err
	}
	return ev, nil
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

// auditEvidence scans the newest blocks backwards, at most
// compliance.verify_max_blocks of them and none older than
// compliance.audit_recent_days, for committed audit events.
func (n *Node) auditEvidence(head uint64, times *blockTimes, now time.Time) compliance.AuditEvidence {
	var a compliance.AuditEvidence
	cutoff := now.Add(-time.Duration(n.cfg.Compliance.AuditRecentDays) * 24 * time.Hour)
	r := n.cons.Store()
	for h := head; h >= 1 && a.BlocksScanned < n.cfg.Compliance.VerifyMaxBlocks; h-- {
		b, err := r.Block(h)
		if err != nil {
			a.Err = fmt.Errorf("block %d: %w", h, err)
			return a
		}
		bt := time.UnixMilli(b.Header.Time)
		if bt.Before(cutoff) {
			break
		}
		a.BlocksScanned++
		for i, tx := range b.Txs {
			if tx.Type != types.TxAuditRecord || i >= len(b.Results) || !b.Results[i].OK() {
				continue
			}
			a.Events++
			if a.Latest.IsZero() {
				a.Latest = bt
			}
			if p, err := tx.DecodePayload(); err == nil {
				if ar, ok := p.(*types.AuditRecord); ok && ar.EventType == accessDeniedEvt {
					a.Denied++
				}
			}
		}
	}
	return a
}

// keyEvidence ages every active identity's current key from the block time
// of the identity_rotate_key that set it, or of its registration if it never
// rotated (a role change does not renew a key).
func keyEvidence(r state.Scanner, times *blockTimes, now time.Time, maxDays int) compliance.KeyEvidence {
	var k compliance.KeyEvidence
	limit := time.Duration(maxDays) * 24 * time.Hour
	var terr error
	err := state.ScanIdentities(r, func(id *state.Identity) bool {
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
// whose scope expired before now.
func consentEvidence(r state.Scanner, now time.Time) compliance.ConsentEvidence {
	var c compliance.ConsentEvidence
	types := map[string]bool{}
	c.Err = state.ScanConsents(r, func(s *state.Consent) bool {
		c.Total++
		switch s.Status {
		case state.ConsentRevoked:
			c.Revoked++
		case state.ConsentActive:
			c.Active++
			if s.Granted && s.Scope.Expiration != 0 && s.Scope.Expiration <= now.UnixMilli() {
				c.ExpiredActive++
				if !types[s.ConsentType] && len(types) < 10 {
					types[s.ConsentType] = true
					c.ExpiredActiveTypes = append(c.ExpiredActiveTypes, s.ConsentType)
				}
			}
		}
		return true
	})
	return c
}

// exportEvidence checks that patient_export can be verified by its holder:
// the node's identity is on chain, not revoked, with the key the node signs
// with, and a probe signed now verifies against that record.
func (n *Node) erasureEvidence() compliance.ErasureEvidence {
	sum, err := n.cons.ErasureSummary()
	switch {
	case errors.Is(err, consensus.ErrNoClusterKey):
		return compliance.ErasureEvidence{Unsupported: "this node runs without pseudonyms (no cluster data key): patient ids are stored in clear and cannot be erased"}
	case err != nil:
		return compliance.ErasureEvidence{Err: err}
	}
	return compliance.ErasureEvidence{Recorded: sum.Recorded, Complete: sum.Complete, Pending: sum.Pending}
}

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
