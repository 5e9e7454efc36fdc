package state

import (
	"errors"
	"fmt"
	"slices"

	"github.com/medchain/medchain/chain/codec"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/contracts"
)

// ErrIO wraps a View failure. Execution stops at once (fail closed): the
// block is not applied and the caller must not skip it.
var ErrIO = errors.New("state: read failed")

// TxError is why a tx is refused: the same code a block would record.
type TxError struct {
	Code   types.ResultCode
	Reason string
}

// Error implements error.
func (e *TxError) Error() string { return fmt.Sprintf("state: %s: %s", e.Code, e.Reason) }

func reject(code types.ResultCode, format string, args ...any) *TxError {
	return &TxError{Code: code, Reason: fmt.Sprintf(format, args...)}
}

// BlockContext is what the executor knows of the block being executed.
type BlockContext struct {
	Height uint64
	Time   int64 // block time, Unix ms: the only clock execution sees
}

// ExecOptions tune one execution.
type ExecOptions struct {
	// VerifySignatures re-checks every tx signature. The leader verifies each
	// tx once at admission (CheckTx); followers and replays may skip it and
	// rely on the proposer's signed header, or turn it on (medchain verify).
	VerifySignatures bool
	// TxHashes, when set, are the hashes of the block's txs in order (one per
	// tx), computed by the caller from the same tx values; execution then does
	// not hash them again. Nil means compute them.
	TxHashes []types.Hash
}

// Outcome is the result of executing a block.
type Outcome struct {
	Results   []types.Result
	Writes    []Write // sorted by key, one per key
	StateHash types.Hash
}

// Executor executes txs deterministically. It holds the genesis and the
// contract VM (whose compile cache never changes a result) and is safe for
// concurrent use.
type Executor struct {
	g     *Genesis
	vm    *contracts.VM
	progs programCache
}

// NewExecutor returns an executor for the chain g defines.
func NewExecutor(g *Genesis) (*Executor, error) {
	if err := g.Validate(); err != nil {
		return nil, err
	}
	vm, err := contracts.New(contracts.DefaultConfig())
	if err != nil {
		return nil, err
	}
	return &Executor{g: g, vm: vm}, nil
}

// Genesis returns the chain definition.
func (e *Executor) Genesis() *Genesis { return e.g }

// GenesisState returns the writes that create the genesis identities and the
// state hash after them (the state hash "before block 1").
func (e *Executor) GenesisState() ([]Write, types.Hash) {
	o := newOverlay(NewMemView())
	for i := range e.g.Identities {
		p := e.g.Identities[i]
		o.put(IdentityKey(p.ID), codec.MustMarshal(identityFrom(&p, 0)))
	}
	e.g.genesisNodes(o)
	e.g.genesisClusterKey(o)
	ws := o.writes()
	return ws, NextStateHash(types.Hash{}, ws)
}

// NextStateHash chains the state hash: SHA-256(tag || prev || SHA-256(CBOR(writes))).
// Any difference in any write at any height changes every later state hash.
func NextStateHash(prev types.Hash, writes []Write) types.Hash {
	if writes == nil {
		writes = []Write{}
	}
	wh := types.HashBytes(codec.MustMarshal(writes))
	b := make([]byte, 0, 18+64)
	b = append(b, "medchain/state/v1\x00"...)
	b = append(b, prev[:]...)
	b = append(b, wh[:]...)
	return types.HashBytes(b)
}

// CheckTx decides whether tx may enter the mempool, against committed state
// at time now (Unix ms): the same checks a block applies, signature included.
// It returns a *TxError for a refusal and an ErrIO-wrapped error for I/O.
func (e *Executor) CheckTx(v View, tx *types.Tx, now int64) error {
	return e.CheckTxHash(v, tx, tx.Hash(), now)
}

// CheckTxHash is CheckTx for a caller that already computed h = tx.Hash().
func (e *Executor) CheckTxHash(v View, tx *types.Tx, h types.Hash, now int64) error {
	return e.AdmitTxHash(nil, v, tx, h, now)
}

// Admission is what one goroutine's run of admission checks (AdmitTxHash)
// shares: the signer identities already read and decoded, so a batch of
// txs from one signer reads its identity once instead of once per tx.
//
// A check in the run may therefore see a signer's identity as it was when
// the run first read it, if a block committed since changed it. Admission
// is advisory: every tx is checked again when a block is built and applied,
// against the state that block builds on, so the worst case is a tx
// admitted and then recorded as rejected in its block, the same outcome as
// a revocation committing just after the tx was admitted. Use an Admission
// for one short run (one submitted batch) on one goroutine, then drop it.
type Admission struct {
	signers     map[string]*Identity
	pseudonymOf PatientResolver
}

// NewAdmission returns an empty admission cache.
func NewAdmission() *Admission { return &Admission{signers: make(map[string]*Identity)} }

// PatientResolver maps a patient id to the pseudonym the chain records the
// patient under: "" for a patient it records none for (never seen, or
// erased).
type PatientResolver func(patient string) (pseudonym string, err error)

// Pseudonyms sets the resolver admission uses on a chain that pseudonymizes:
// a tx is admitted in its signed form, naming the patient id, while the
// identity records of patients and delegates registered since name the
// patient's pseudonym (identity_register of a patient, identity_delegate),
// so the signer's right to act for the patient is checked against both.
// It returns a for chaining.
func (a *Admission) Pseudonyms(r PatientResolver) *Admission {
	a.pseudonymOf = r
	return a
}

// AdmitTxHash is CheckTxHash within the admission run a (nil: no cache).
func (e *Executor) AdmitTxHash(a *Admission, v View, tx *types.Tx, h types.Hash, now int64) error {
	if tx.Redaction != nil {
		return reject(types.CodeInvalidPayload, "a redacted tx is made by the proposer only; submit the signed tx")
	}
	o := newOverlay(v)
	if a != nil {
		o.signers, o.pseudonymOf = a.signers, a.pseudonymOf
	}
	_, _, err := e.check(o, tx, h, BlockContext{Time: now}, true)
	return err
}

// ExecuteBlock runs txs in order on top of v and returns their results, the
// writes and the new state hash. v is not modified. A tx that fails a check
// is recorded as rejected with its code; only a View failure returns an error.
func (e *Executor) ExecuteBlock(v View, prevState types.Hash, bc BlockContext, txs []*types.Tx, opts ExecOptions) (*Outcome, error) {
	if opts.TxHashes != nil && len(opts.TxHashes) != len(txs) {
		return nil, fmt.Errorf("state: %d tx hashes for %d txs", len(opts.TxHashes), len(txs))
	}
	o := newOverlay(v)
	results := make([]types.Result, len(txs))
	for i, tx := range txs {
		var h types.Hash
		if opts.TxHashes != nil {
			h = opts.TxHashes[i]
		} else {
			h = tx.Hash()
		}
		r, err := e.apply(o, tx, h, bc, uint32(i), opts.VerifySignatures)
		if err != nil {
			return nil, err
		}
		results[i] = r
	}
	ws := o.writes()
	return &Outcome{Results: results, Writes: ws, StateHash: NextStateHash(prevState, ws)}, nil
}

func (e *Executor) apply(o *overlay, tx *types.Tx, h types.Hash, bc BlockContext, index uint32, verify bool) (types.Result, error) {
	o.data = nil
	signer, p, err := e.check(o, tx, h, bc, verify)
	if err == nil {
		err = e.execute(o, tx, p, h, signer, bc, index)
	}
	o.seen[h] = true
	var te *TxError
	switch {
	case err == nil:
		return types.Result{Code: types.CodeOK, Data: o.data}, nil
	case errors.As(err, &te):
		return types.Result{Code: te.Code, Reason: te.Reason}, nil
	default:
		return types.Result{}, err
	}
}

// check runs every check that does not change state and returns the signer
// and the decoded payload.
func (e *Executor) check(o *overlay, tx *types.Tx, h types.Hash, bc BlockContext, verify bool) (signer *Identity, p types.Payload, err error) {
	if tx.ChainID != e.g.ChainID {
		return nil, nil, reject(types.CodeWrongChain, "tx is for chain %q, this is %q", tx.ChainID, e.g.ChainID)
	}
	// Never the bytes of a redacted tx's sealed payload, which a node may prune (SizeBound).
	if n, limit := tx.SizeBound(), tx.SizeLimit(e.g.Params.MaxTxBytes); n > limit {
		return nil, nil, reject(types.CodeInvalidPayload, "tx is about %d bytes, limit %d", n, limit)
	}
	p, err = tx.CheckBasic()
	if err != nil {
		return nil, nil, reject(types.CodeInvalidPayload, "%v", err)
	}
	dup, err := o.hasTx(h)
	if err != nil {
		return nil, nil, err
	}
	if dup {
		return nil, nil, reject(types.CodeReplay, "tx %s is already in the chain", h)
	}
	if d := tx.Timestamp - bc.Time; d > e.g.Params.TimestampWindowMs || -d > e.g.Params.TimestampWindowMs {
		return nil, nil, reject(types.CodeStaleTimestamp, "tx timestamp is %d ms from block time, window is ±%d ms", d, e.g.Params.TimestampWindowMs)
	}
	if tx.Type == types.TxNodeJoin { // the signer is not registered yet
		return e.checkJoin(o, tx, p)
	}
	signer, err = o.signer(tx.Signer)
	if err != nil {
		return nil, nil, err
	}
	if signer == nil {
		return nil, nil, reject(types.CodeUnknownSigner, "signer %q is not a registered identity", tx.Signer)
	}
	if signer.Revoked {
		return nil, nil, reject(types.CodeRevokedSigner, "signer %q is revoked", tx.Signer)
	}
	// A redacted tx's signature is checked on its opened original (chain/verify).
	if key, must := e.signingKey(signer, tx, bc); (verify || must) && tx.Redaction == nil {
		if err := tx.VerifySignature(key); err != nil {
			return nil, nil, reject(types.CodeBadSignature, "signature of %q: %v", tx.Signer, err)
		}
	}
	if err := authorize(o, signer, tx, p); err != nil {
		return nil, nil, err
	}
	if rk, ok := p.(*types.IdentityRotateKey); ok {
		if err := e.checkRotation(signer, rk, bc); err != nil {
			return nil, nil, err
		}
	}
	if isContractTx(tx.Type) {
		if err := e.contractTx(o, tx, p, h, signer, bc, 0, true); err != nil {
			return nil, nil, err
		}
	}
	if tx.Type.IsClusterKey() {
		if err := e.clusterKeyTx(o, tx, p, h, signer, bc, true); err != nil {
			return nil, nil, err
		}
	}
	return signer, p, nil
}

// AccessDeniedEvent is the audit event type of an access a node's zero-trust
// gate refused; nodes may record it (and only it).
const AccessDeniedEvent = types.EventAccessDenied

// Roles that may record audit events.
var auditRoles = []string{types.RoleClinician, types.RolePhysician, types.RoleEHR, types.RoleAdmin}

// authorize applies the signing rules: admins manage identities and EHR
// systems; clinicians, EHR services and admins record audit events; a patient
// or a delegate manages that patient's consents.
func authorize(o *overlay, signer *Identity, tx *types.Tx, p types.Payload) error {
	if tx.Type.IsGovernance() {
		return authorizeGovernance(signer, tx)
	}
	if tx.Type.IsClusterKey() {
		return authorizeClusterKey(signer, tx)
	}
	switch tx.Type {
	case types.TxIdentityRegister, types.TxIdentityUpdateRoles, types.TxIdentityRevoke, types.TxEHRRegister:
		if !signer.HasRole(types.RoleAdmin) {
			return reject(types.CodeUnauthorized, "%s requires the admin role; %q has %v", tx.Type, signer.ID, signer.Roles)
		}
	case types.TxAuditRecord:
		// A node records the accesses its zero-trust gate refused; only a
		// node may record one that names no patient (stored in clear).
		ar, ok := p.(*types.AuditRecord)
		if ok && ar.EventType == AccessDeniedEvent && signer.HasRole(types.RoleNode) {
			return nil
		}
		if ok && ar.Patient == "" {
			return reject(types.CodeUnauthorized, "an audit event that names no patient is recorded by a node's gate only; %q is not a node", signer.ID)
		}
		if !slices.ContainsFunc(auditRoles, signer.HasRole) {
			return reject(types.CodeUnauthorized, "audit_record requires one of %v; %q has %v", auditRoles, signer.ID, signer.Roles)
		}
	case types.TxConsentGrant, types.TxConsentRevoke:
		return authorizeConsent(o, signer, tx, p)
	case types.TxIdentityDelegate:
		return authorizeDelegate(o, signer, tx, p)
	case types.TxContractDeploy, types.TxContractExecute, types.TxContractUpgrade, types.TxContractRetire, types.TxReviewRecord:
		return authorizeContract(signer, tx)
	case types.TxIdentityRotateKey:
		return authorizeRotation(signer, p.(*types.IdentityRotateKey))
	case types.TxPatientErase:
		return authorizeErase(o, signer, tx, p)
	default:
		return reject(types.CodeInvalidPayload, "unknown tx type %d", uint8(tx.Type))
	}
	return nil
}

func isContractTx(t types.TxType) bool {
	return t >= types.TxContractDeploy && t <= types.TxReviewRecord
}

// authorizeConsent: only the patient or a delegate acting for them manages
// the patient's consents (actsFor).
func authorizeConsent(o *overlay, signer *Identity, tx *types.Tx, p types.Payload) error {
	patient := types.PatientOf(p)
	ok, err := actsFor(o, signer, tx, patient, true)
	if err != nil || ok {
		return err
	}
	return reject(types.CodeUnauthorized, "%q may not manage consents of patient %q (only the patient or a delegate may)", signer.ID, patient)
}

// actsFor decides whether signer speaks for the patient a tx names: it is
// that patient's identity, or (with delegates) an identity acting for them.
//
// Identity records link to patients by patient id (genesis identities,
// chains without pseudonyms, records made before) or by pseudonym (a
// patient's identity_register and identity_delegate, stored redacted). A tx
// is checked twice: at admission in its signed form, naming the patient id,
// which is compared with the record's links as they are and, through the
// admission's resolver, as the patient's pseudonym; and in its block, where
// a redacted tx names the pseudonym. A link by pseudonym is then compared
// exactly. A link by patient id cannot be compared with a pseudonym inside
// the deterministic executor: for a signer with such a link execution
// accepts the tx, the proposer having checked the link at admission and
// attesting it with its header signature (docs/ARCHITECTURE.md, "Pseudonyms
// and crypto-shredding").
func actsFor(o *overlay, signer *Identity, tx *types.Tx, patient string, delegates bool) (bool, error) {
	if signer.speaksFor(patient, delegates) {
		return true, nil
	}
	if tx.Redaction != nil {
		return signer.linksInClear(delegates), nil
	}
	if o.pseudonymOf == nil {
		return false, nil
	}
	ps, err := o.pseudonymOf(patient)
	if err != nil {
		return false, fmt.Errorf("%w: resolve patient %q: %v", ErrIO, patient, err)
	}
	return ps != "" && signer.speaksFor(ps, delegates), nil
}

// authorizeDelegate: an admin appoints or dismisses any delegate; a patient
// appoints or dismisses their own (a delegate may not appoint others).
func authorizeDelegate(o *overlay, signer *Identity, tx *types.Tx, p types.Payload) error {
	if signer.HasRole(types.RoleAdmin) {
		return nil
	}
	patient := types.PatientOf(p)
	ok, err := actsFor(o, signer, tx, patient, false)
	if err != nil || ok {
		return err
	}
	return reject(types.CodeUnauthorized, "%q may not appoint delegates of patient %q (only an admin or the patient may)", signer.ID, patient)
}

// execute applies a checked tx's effects to the overlay.
func (e *Executor) execute(o *overlay, tx *types.Tx, p types.Payload, h types.Hash, signer *Identity, bc BlockContext, index uint32) error {
	if tx.Type.IsGovernance() {
		return e.executeGovernance(o, p, signer, bc)
	}
	if tx.Type.IsClusterKey() {
		return e.clusterKeyTx(o, tx, p, h, signer, bc, false)
	}
	switch p := p.(type) {
	case *types.IdentityRegister:
		if err := notErasedIfRedacted(o, tx, p.Patient); err != nil {
			return err
		}
		cur, err := o.identity(p.ID)
		if err != nil {
			return err
		}
		if cur != nil {
			return reject(types.CodeConflict, "identity %q already exists", p.ID)
		}
		o.put(IdentityKey(p.ID), codec.MustMarshal(identityFrom(p, bc.Height)))
	case *types.IdentityUpdateRoles:
		cur, err := o.identity(p.ID)
		if err != nil {
			return err
		}
		if cur == nil {
			return reject(types.CodeNotFound, "identity %q does not exist", p.ID)
		}
		if cur.Revoked {
			return reject(types.CodeConflict, "identity %q is revoked", p.ID)
		}
		if p.ID == signer.ID && !slices.Contains(p.Roles, types.RoleAdmin) {
			return reject(types.CodeConflict, "an admin may not remove their own admin role")
		}
		// acts_for replaces the delegations by patient id; those made with
		// identity_delegate (pseudonyms) are kept: only identity_delegate
		// changes them.
		acts := slices.Clone(p.ActsFor)
		for _, a := range cur.ActsFor {
			if types.IsPseudonym(a) {
				acts = append(acts, a)
			}
		}
		if len(acts) > types.MaxListLen {
			return reject(types.CodeConflict, "identity %q would act for %d patients, the limit is %d", p.ID, len(acts), types.MaxListLen)
		}
		if len(acts) == 0 {
			acts = nil
		}
		cur.Roles, cur.ActsFor, cur.Updated = p.Roles, acts, bc.Height
		o.put(IdentityKey(p.ID), codec.MustMarshal(cur))
	case *types.IdentityDelegate:
		return executeDelegate(o, tx, p, bc)
	case *types.IdentityRevoke:
		if p.ID == signer.ID {
			return reject(types.CodeConflict, "an identity may not revoke itself")
		}
		cur, err := o.identity(p.ID)
		if err != nil {
			return err
		}
		if cur == nil {
			return reject(types.CodeNotFound, "identity %q does not exist", p.ID)
		}
		if cur.Revoked {
			return reject(types.CodeConflict, "identity %q is already revoked", p.ID)
		}
		cur.Revoked, cur.RevokeReason, cur.Updated = true, p.Reason, bc.Height
		o.put(IdentityKey(p.ID), codec.MustMarshal(cur))
	case *types.AuditRecord:
		if err := notErasedIfRedacted(o, tx, p.Patient); err != nil {
			return err
		}
		entry := AuditEntry{TxHash: h, Height: bc.Height, Index: index, Time: bc.Time, TxTime: tx.Timestamp, Signer: tx.Signer, Record: *p}
		entry.Redacted = tx.Redaction != nil // the sealed payload stays in the block: a node may prune it
		// An event that names no patient (an access denial: see
		// types.AuditRecord.ValidateBasic) is kept under the empty patient,
		// 'p' 0x00: no patient id is empty, so no patient's trail holds it
		// and Trail refuses to list it as one; it is found through the
		// actor index below, and ScanAuditEntries still counts it.
		pk := trailKey(TrailPrefix(p.Patient, false), bc.Time, bc.Height, index)
		o.put(pk, codec.MustMarshal(&entry))
		o.put(trailKey(TrailPrefix(p.Actor, true), bc.Time, bc.Height, index), pk)
	case *types.ConsentGrant:
		if err := notErasedIfRedacted(o, tx, p.Patient); err != nil {
			return err
		}
		c := Consent{Patient: p.Patient, ConsentType: p.ConsentType, Granted: p.Granted, Scope: p.Scope,
			Status: ConsentActive, Signer: tx.Signer, TxHash: h, Height: bc.Height, Time: bc.Time}
		e.putConsent(o, &c, index)
	case *types.ConsentRevoke:
		if err := notErasedIfRedacted(o, tx, p.Patient); err != nil {
			return err
		}
		cur, err := o.consent(p.Patient, p.ConsentType)
		if err != nil {
			return err
		}
		if cur == nil {
			return reject(types.CodeNotFound, "patient %q has no %q consent", p.Patient, p.ConsentType)
		}
		if cur.Status == ConsentRevoked {
			return reject(types.CodeConflict, "the %q consent of patient %q is already revoked", p.ConsentType, p.Patient)
		}
		c := *cur
		c.Status, c.Reason, c.Signer, c.TxHash, c.Height, c.Time = ConsentRevoked, p.Reason, tx.Signer, h, bc.Height, bc.Time
		e.putConsent(o, &c, index)
	case *types.EHRRegister:
		if p.Service != "" {
			svc, err := o.identity(p.Service)
			if err != nil {
				return err
			}
			if svc == nil || svc.Revoked {
				return reject(types.CodeNotFound, "service identity %q is not registered", p.Service)
			}
		}
		o.put(EHRKey(p.SystemID), codec.MustMarshal(&EHRSystem{EHRRegister: *p, RegisteredBy: tx.Signer, TxHash: h, Height: bc.Height, Time: bc.Time}))
	case *types.ContractDeploy, *types.ContractExecute, *types.ContractUpgrade, *types.ContractRetire, *types.ReviewRecord:
		return e.contractTx(o, tx, p, h, signer, bc, index, false)
	case *types.IdentityRotateKey:
		return rotateKey(o, signer, p, h, bc)
	case *types.PatientErase:
		return executeErase(o, tx, p, h, bc)
	default:
		return reject(types.CodeInvalidPayload, "unknown tx type %d", uint8(tx.Type))
	}
	return nil
}

func (e *Executor) putConsent(o *overlay, c *Consent, index uint32) {
	b := codec.MustMarshal(c)
	o.put(ConsentKey(c.Patient, c.ConsentType), b)
	o.put(consentHistoryKey(c.Patient, c.ConsentType, c.Height, index), b)
}

func identityFrom(p *types.IdentityRegister, height uint64) *Identity {
	return &Identity{ID: p.ID, Kind: p.Kind, Name: p.Name, Roles: p.Roles, PublicKey: p.PublicKey,
		Patient: p.Patient, ActsFor: p.ActsFor, Height: height, Updated: height}
}

// Rejection returns the result code and reason, for callers that map
// refusals to their own errors without importing this package.
func (e *TxError) Rejection() (types.ResultCode, string) { return e.Code, e.Reason }
