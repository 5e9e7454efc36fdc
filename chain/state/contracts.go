package state

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/medchain/medchain/chain/codec"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/contracts"
)

// Contract state keys (identifiers never contain 0x00; numbers are
// big-endian so keys sort by them):
//
//	'k' id                                -> ContractRecord
//	'v' id 0 version(8)                   -> ContractVersion (every version, kept for audit)
//	'd' id                                -> the contract's own state: CBOR map, the VM's effects applied
//	'x' id 0 time(8) height(8) index(4)   -> Execution (time-ordered per contract)
//	'r' 1 tx hash(32)                     -> Review of a flagged execution (open or closed)
//	'r' 2 time(8) height(8) index(4)      -> tx hash of an open review (deleted when closed)
const (
	prefixContract        = 'k'
	prefixContractVersion = 'v'
	prefixContractState   = 'd'
	prefixExecution       = 'x'
	prefixReview          = 'r'
	reviewByHash          = 1
	reviewOpen            = 2
)

// ContractRecord is a deployed contract: its current version and lifecycle.
type ContractRecord struct {
	ID           string     `cbor:"1,keyasint" json:"id"`
	Owner        string     `cbor:"2,keyasint" json:"owner"`
	Template     string     `cbor:"3,keyasint,omitempty" json:"template,omitempty"`
	Version      uint64     `cbor:"4,keyasint" json:"version"` // current version, from 1
	VersionHash  types.Hash `cbor:"5,keyasint" json:"version_hash"`
	CostEstimate uint64     `cbor:"6,keyasint" json:"cost_estimate"` // static worst case of the current version, CEL cost units
	Retired      bool       `cbor:"7,keyasint,omitempty" json:"retired,omitempty"`
	RetireReason string     `cbor:"8,keyasint,omitempty" json:"retire_reason,omitempty"`
	Deployer     string     `cbor:"9,keyasint" json:"deployer"`
	Height       uint64     `cbor:"10,keyasint" json:"height"` // deployed at
	Time         int64      `cbor:"11,keyasint" json:"time"`   // block time of the deploy, Unix ms
	Updated      uint64     `cbor:"12,keyasint" json:"updated"`
	Executions   uint64     `cbor:"13,keyasint" json:"executions"` // executions recorded
}

// ContractVersion is one deployed version of a contract.
type ContractVersion struct {
	Version      uint64     `cbor:"1,keyasint" json:"version"`
	Hash         types.Hash `cbor:"2,keyasint" json:"hash"`     // SHA-256 of Contract
	Contract     []byte     `cbor:"3,keyasint" json:"contract"` // canonical contracts.Contract encoding
	CostEstimate uint64     `cbor:"4,keyasint" json:"cost_estimate"`
	Signer       string     `cbor:"5,keyasint" json:"signer"`
	TxHash       types.Hash `cbor:"6,keyasint" json:"tx_hash"`
	Height       uint64     `cbor:"7,keyasint" json:"height"`
	Time         int64      `cbor:"8,keyasint" json:"time"`
	Reason       string     `cbor:"9,keyasint,omitempty" json:"reason,omitempty"`
}

// Decode returns the version's contract.
func (v *ContractVersion) Decode(cfg contracts.Config) (*contracts.Contract, error) {
	return contracts.DecodeContract(v.Contract, cfg)
}

// Execution is one recorded contract execution. Result is the encoded
// contracts.Result, the same bytes as the tx result's Data.
type Execution struct {
	TxHash     types.Hash     `cbor:"1,keyasint" json:"tx_hash"`
	Height     uint64         `cbor:"2,keyasint" json:"height"`
	Index      uint32         `cbor:"3,keyasint" json:"index"`
	Time       int64          `cbor:"4,keyasint" json:"time"`
	ContractID string         `cbor:"5,keyasint" json:"contract_id"`
	Version    uint64         `cbor:"6,keyasint" json:"version"`
	Call       contracts.Call `cbor:"7,keyasint" json:"call"`
	Result     []byte         `cbor:"8,keyasint" json:"-"`
}

// Review statuses.
const (
	ReviewOpen   = "open"
	ReviewClosed = "closed"
)

// Review is the after-the-fact review a flagged execution (break-glass)
// requires. It is open until a privacy officer records its outcome.
type Review struct {
	ExecutionTx  types.Hash `cbor:"1,keyasint" json:"execution_tx"`
	ContractID   string     `cbor:"2,keyasint" json:"contract_id"`
	Requester    string     `cbor:"3,keyasint" json:"requester"`
	Patient      string     `cbor:"4,keyasint,omitempty" json:"patient,omitempty"`
	Action       string     `cbor:"5,keyasint" json:"action"`
	Purpose      string     `cbor:"6,keyasint,omitempty" json:"purpose,omitempty"`
	Rule         string     `cbor:"7,keyasint,omitempty" json:"rule,omitempty"`
	Decision     string     `cbor:"8,keyasint" json:"decision"`
	Height       uint64     `cbor:"9,keyasint" json:"height"`
	Index        uint32     `cbor:"10,keyasint" json:"index"`
	Time         int64      `cbor:"11,keyasint" json:"time"`
	Status       string     `cbor:"12,keyasint" json:"status"`
	Outcome      string     `cbor:"13,keyasint,omitempty" json:"outcome,omitempty"`
	Notes        string     `cbor:"14,keyasint,omitempty" json:"notes,omitempty"`
	Reviewer     string     `cbor:"15,keyasint,omitempty" json:"reviewer,omitempty"`
	ReviewTx     types.Hash `cbor:"16,keyasint,omitempty" json:"review_tx,omitzero"`
	ReviewHeight uint64     `cbor:"17,keyasint,omitempty" json:"review_height,omitempty"`
	ReviewTime   int64      `cbor:"18,keyasint,omitempty" json:"review_time,omitempty"`
}

// ContractKey is the state key of a contract record.
func ContractKey(id string) []byte { return append([]byte{prefixContract}, id...) }

// ContractVersionPrefix is the key prefix of a contract's versions.
func ContractVersionPrefix(id string) []byte {
	return append(append([]byte{prefixContractVersion}, id...), 0)
}

func contractVersionKey(id string, version uint64) []byte {
	return binary.BigEndian.AppendUint64(ContractVersionPrefix(id), version)
}

// ContractStateKey is the state key of a contract's own state.
func ContractStateKey(id string) []byte { return append([]byte{prefixContractState}, id...) }

// ExecutionPrefix is the key prefix of a contract's executions.
func ExecutionPrefix(id string) []byte { return append(append([]byte{prefixExecution}, id...), 0) }

// ReviewKey is the state key of the review of execution tx h.
func ReviewKey(h types.Hash) []byte { return append([]byte{prefixReview, reviewByHash}, h[:]...) }

// OpenReviewPrefix is the key prefix of the open-review index.
func OpenReviewPrefix() []byte { return []byte{prefixReview, reviewOpen} }

func openReviewKey(time int64, height uint64, index uint32) []byte {
	return trailKey(OpenReviewPrefix(), time, height, index)
}

// Roles that may deploy contracts, and upgrade or retire any contract.
var contractAdminRoles = []string{types.RoleAdmin, types.RolePrivacyOfficer}

// authorizeContract is authorize for contract txs: deploy needs an admin
// or privacy officer; review records need a privacy officer; execute is
// open to every registered identity (the requester); upgrade and retire
// are also open to the contract's owner, which checkContract decides.
func authorizeContract(signer *Identity, tx *types.Tx) error {
	switch tx.Type {
	case types.TxContractDeploy:
		if !slices.ContainsFunc(contractAdminRoles, signer.HasRole) {
			return reject(types.CodeUnauthorized, "contract_deploy requires one of %v; %q has %v", contractAdminRoles, signer.ID, signer.Roles)
		}
	case types.TxReviewRecord:
		if !signer.HasRole(types.RolePrivacyOfficer) {
			return reject(types.CodeUnauthorized, "review_record requires the privacy_officer role; %q has %v", signer.ID, signer.Roles)
		}
	}
	return nil
}

// VM returns the executor's contract VM (one per executor: its compile
// cache is shared by admission, blocks and simulations).
func (e *Executor) VM() *contracts.VM { return e.vm }

// contractTx checks a contract tx against state and, unless dry, applies
// it. The dry run (from check, so also in CheckTx) compiles deploys and
// upgrades, so a contract that does not compile is refused at admission
// with the compiler's message; it never runs the VM on a call.
func (e *Executor) contractTx(o *overlay, tx *types.Tx, p types.Payload, h types.Hash, signer *Identity, bc BlockContext, index uint32, dry bool) error {
	switch p := p.(type) {
	case *types.ContractDeploy:
		return e.deployContract(o, tx, p, h, bc, dry)
	case *types.ContractUpgrade:
		return e.upgradeContract(o, tx, p, h, signer, bc, dry)
	case *types.ContractRetire:
		rec, err := e.ownedContract(o, p.ContractID, signer, "retire")
		if err != nil || dry {
			return err
		}
		rec.Retired, rec.RetireReason, rec.Updated = true, p.Reason, bc.Height
		o.put(ContractKey(rec.ID), codec.MustMarshal(rec))
		return nil
	case *types.ContractExecute:
		rec, err := e.liveContract(o, p.ContractID)
		if err != nil || dry {
			return err
		}
		if err := notErasedIfRedacted(o, tx, p.Patient); err != nil {
			return err
		}
		return e.executeContract(o, rec, tx, p, h, signer, bc, index)
	case *types.ReviewRecord:
		return e.recordReview(o, tx, p, h, bc, dry)
	}
	return reject(types.CodeInvalidPayload, "unknown tx type %d", uint8(tx.Type))
}

// CompileContract builds and compiles a contract version (the VM caches it
// by version hash). Every failure is a deterministic property of the input:
// a *TxError with CodeInvalidPayload and the compiler's (or the template's)
// message.
func (e *Executor) CompileContract(id, owner string, version uint64, src *types.ContractSource) (*contracts.Program, error) {
	var c *contracts.Contract
	if src.Template != "" {
		var err error
		if c, err = contracts.FromTemplate(src.Template, map[string]any(src.Params)); err != nil {
			return nil, reject(types.CodeInvalidPayload, "%v", err)
		}
	} else {
		c = &contracts.Contract{Params: map[string]any(src.Params)}
		for _, r := range src.Rules {
			d := contracts.Allow
			if r.Effect == types.EffectDeny {
				d = contracts.Deny
			}
			c.Rules = append(c.Rules, contracts.Rule{Name: r.Name, Effect: d, Condition: r.Condition, Flags: r.Flags})
		}
		for _, ef := range src.Effects {
			c.Effects = append(c.Effects, contracts.Effect{Key: ef.Key, Expression: ef.Expression})
		}
	}
	c.ID, c.Owner, c.Version = id, owner, version
	prog, err := e.vm.Compile(c)
	if err != nil {
		return nil, reject(types.CodeInvalidPayload, "%v", err)
	}
	return prog, nil
}

func versionRecord(prog *contracts.Program, tx *types.Tx, h types.Hash, bc BlockContext, reason string) (*ContractVersion, error) {
	c := prog.Contract()
	b, err := c.Encode()
	if err != nil {
		return nil, reject(types.CodeInvalidPayload, "contract does not encode: %v", err)
	}
	return &ContractVersion{Version: c.Version, Hash: prog.Version(), Contract: b, CostEstimate: prog.EstimatedCost(),
		Signer: tx.Signer, TxHash: h, Height: bc.Height, Time: bc.Time, Reason: reason}, nil
}

func (e *Executor) deployContract(o *overlay, tx *types.Tx, p *types.ContractDeploy, h types.Hash, bc BlockContext, dry bool) error {
	cur, err := decode[ContractRecord](o, ContractKey(p.ID))
	if err != nil {
		return err
	}
	if cur != nil {
		return reject(types.CodeConflict, "contract %q already exists (version %d); upgrade it instead", p.ID, cur.Version)
	}
	owner := p.Owner
	if owner == "" {
		owner = tx.Signer
	}
	id, err := o.identity(owner)
	if err != nil {
		return err
	}
	if id == nil || id.Revoked {
		return reject(types.CodeNotFound, "owner %q is not a registered identity", owner)
	}
	prog, err := e.CompileContract(p.ID, owner, 1, &p.Source)
	if err != nil || dry {
		return err
	}
	v, err := versionRecord(prog, tx, h, bc, "")
	if err != nil {
		return err
	}
	rec := &ContractRecord{ID: p.ID, Owner: owner, Template: p.Source.Template, Version: 1, VersionHash: v.Hash,
		CostEstimate: v.CostEstimate, Deployer: tx.Signer, Height: bc.Height, Time: bc.Time, Updated: bc.Height}
	o.put(ContractKey(p.ID), codec.MustMarshal(rec))
	o.put(contractVersionKey(p.ID, 1), codec.MustMarshal(v))
	return nil
}

func (e *Executor) upgradeContract(o *overlay, tx *types.Tx, p *types.ContractUpgrade, h types.Hash, signer *Identity, bc BlockContext, dry bool) error {
	rec, err := e.ownedContract(o, p.ContractID, signer, "upgrade")
	if err != nil {
		return err
	}
	if p.Version != rec.Version+1 {
		return reject(types.CodeConflict, "contract %q is at version %d: the upgrade must be version %d, not %d", rec.ID, rec.Version, rec.Version+1, p.Version)
	}
	prog, err := e.CompileContract(rec.ID, rec.Owner, p.Version, &p.Source)
	if err != nil || dry {
		return err
	}
	v, err := versionRecord(prog, tx, h, bc, p.Reason)
	if err != nil {
		return err
	}
	rec.Version, rec.VersionHash, rec.CostEstimate, rec.Template, rec.Updated = p.Version, v.Hash, v.CostEstimate, p.Source.Template, bc.Height
	o.put(ContractKey(rec.ID), codec.MustMarshal(rec))
	o.put(contractVersionKey(rec.ID, p.Version), codec.MustMarshal(v))
	return nil
}

// liveContract returns a contract that exists and is not retired.
func (e *Executor) liveContract(o *overlay, id string) (*ContractRecord, error) {
	rec, err := decode[ContractRecord](o, ContractKey(id))
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, reject(types.CodeNotFound, "contract %q does not exist", id)
	}
	if rec.Retired {
		return nil, reject(types.CodeConflict, "contract %q is retired", id)
	}
	return rec, nil
}

// ownedContract is liveContract for a change: the signer must own the
// contract or hold an admin or privacy officer role.
func (e *Executor) ownedContract(o *overlay, id string, signer *Identity, what string) (*ContractRecord, error) {
	rec, err := e.liveContract(o, id)
	if err != nil {
		return nil, err
	}
	if rec.Owner != signer.ID && !slices.ContainsFunc(contractAdminRoles, signer.HasRole) {
		return nil, reject(types.CodeUnauthorized, "only the owner %q, an admin or a privacy officer may %s contract %q; %q has %v",
			rec.Owner, what, id, signer.ID, signer.Roles)
	}
	return rec, nil
}

// programCache maps a version hash to its compiled program, so an
// execution neither decodes nor re-hashes the stored contract. The hash
// names the bytes the program was compiled from (checked on the first
// load), so the cache never changes a result.
type programCache struct {
	mu sync.Mutex
	// guards the following
	m map[types.Hash]*contracts.Program
}

const maxCachedPrograms = 1024

func (c *programCache) get(h types.Hash) *contracts.Program {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[h]
}

func (c *programCache) put(p *contracts.Program) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedPrograms {
		c.m = make(map[types.Hash]*contracts.Program) // crude but bounded; the VM's LRU still holds the programs
	}
	c.m[p.Version()] = p
}

// program returns the compiled current version of rec.
func (e *Executor) program(o *overlay, rec *ContractRecord) (*contracts.Program, error) {
	if p := e.progs.get(rec.VersionHash); p != nil {
		return p, nil
	}
	v, err := decode[ContractVersion](o, contractVersionKey(rec.ID, rec.Version))
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, fmt.Errorf("%w: contract %q version %d is missing", ErrIO, rec.ID, rec.Version)
	}
	c, err := v.Decode(e.vm.Config())
	if err != nil {
		return nil, fmt.Errorf("%w: contract %q version %d does not decode: %v", ErrIO, rec.ID, rec.Version, err)
	}
	prog, err := e.vm.Compile(c)
	if err != nil { // it compiled at deploy under the same Config: deterministic, but refuse the call
		return nil, reject(types.CodeInvalidPayload, "contract %q version %d: %v", rec.ID, rec.Version, err)
	}
	if prog.Version() != v.Hash {
		return nil, fmt.Errorf("%w: contract %q version %d hashes to %s, recorded %s", ErrIO, rec.ID, rec.Version, prog.Version(), v.Hash)
	}
	if prog.Version() != rec.VersionHash {
		return nil, fmt.Errorf("%w: contract %q version %d is %s, its record says %s", ErrIO, rec.ID, rec.Version, prog.Version(), rec.VersionHash)
	}
	e.progs.put(prog)
	return prog, nil
}

// contractState reads a contract's own state (nil when it has none).
func contractState(o *overlay, id string) (map[string]any, error) {
	b, found, err := o.get(ContractStateKey(id))
	if err != nil || !found {
		return nil, err
	}
	var m map[string]any
	if err := codec.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: corrupt contract state of %q: %v", ErrIO, id, err)
	}
	return m, nil
}

// run executes the current version of rec for p on behalf of requester at
// bc. It writes nothing. The contract's state after the call is returned
// when the call is allowed and has effects.
func (e *Executor) run(o *overlay, rec *ContractRecord, requester *Identity, p *types.ContractExecute, bc BlockContext) (*contracts.Call, *contracts.Result, map[string]any, error) {
	prog, err := e.program(o, rec)
	if err != nil {
		return nil, nil, nil, err
	}
	st, err := contractState(o, rec.ID)
	if err != nil {
		return nil, nil, nil, err
	}
	call := &contracts.Call{Requester: requester.ID, Roles: requester.Roles, Action: p.Action, Purpose: p.Purpose,
		Patient: p.Patient, Resource: p.Resource, Segment: p.Segment, Risk: p.Risk, BlockTime: bc.Time, Height: bc.Height, Attrs: p.Attrs}
	res, err := prog.Execute(contractView{o}, st, call)
	switch {
	case errors.Is(err, contracts.ErrView):
		return nil, nil, nil, fmt.Errorf("%w: contract %q: %v", ErrIO, rec.ID, err) // fail closed
	case err != nil:
		return nil, nil, nil, reject(types.CodeInvalidPayload, "%v", err)
	}
	if !res.Allowed() || len(res.Effects) == 0 {
		return call, res, nil, nil
	}
	next := make(map[string]any, len(st)+len(res.Effects))
	maps.Copy(next, st)
	maps.Copy(next, res.Effects)
	b, err := codec.Marshal(next)
	if err == nil && len(b) > e.vm.Config().MaxStateBytes {
		err = fmt.Errorf("%d bytes encoded, limit %d", len(b), e.vm.Config().MaxStateBytes)
	}
	if err != nil { // a deterministic deny: the state would become unusable
		res.Decision, res.Reason, res.Effects, res.Flags = contracts.Deny, "contract state would be too large: "+err.Error(), nil, nil
		return call, res, nil, nil
	}
	return call, res, next, nil
}

func (e *Executor) executeContract(o *overlay, rec *ContractRecord, tx *types.Tx, p *types.ContractExecute, h types.Hash, signer *Identity, bc BlockContext, index uint32) error {
	call, res, next, err := e.run(o, rec, signer, p, bc)
	if err != nil {
		return err
	}
	data, err := res.Encode()
	if err != nil {
		return reject(types.CodeInvalidPayload, "contract result does not encode: %v", err)
	}
	if next != nil {
		o.put(ContractStateKey(rec.ID), codec.MustMarshal(next))
	}
	ex := Execution{TxHash: h, Height: bc.Height, Index: index, Time: bc.Time, ContractID: rec.ID, Version: rec.Version, Call: *call, Result: data}
	o.put(trailKey(ExecutionPrefix(rec.ID), bc.Time, bc.Height, index), codec.MustMarshal(&ex))
	rec.Executions++
	o.put(ContractKey(rec.ID), codec.MustMarshal(rec))
	if res.ReviewRequired() {
		r := Review{ExecutionTx: h, ContractID: rec.ID, Requester: signer.ID, Patient: p.Patient, Action: p.Action, Purpose: p.Purpose,
			Rule: res.Rule, Decision: res.Decision.String(), Height: bc.Height, Index: index, Time: bc.Time, Status: ReviewOpen}
		o.put(ReviewKey(h), codec.MustMarshal(&r))
		o.put(openReviewKey(bc.Time, bc.Height, index), h[:])
	}
	o.data = data
	return nil
}

func (e *Executor) recordReview(o *overlay, tx *types.Tx, p *types.ReviewRecord, h types.Hash, bc BlockContext, dry bool) error {
	r, err := decode[Review](o, ReviewKey(p.ExecutionTx))
	if err != nil {
		return err
	}
	if r == nil {
		return reject(types.CodeNotFound, "no review exists for execution %s (only flagged executions are reviewed)", p.ExecutionTx)
	}
	if r.Status != ReviewOpen {
		return reject(types.CodeConflict, "the review of execution %s is already closed (%s by %s)", p.ExecutionTx, r.Outcome, r.Reviewer)
	}
	if dry {
		return nil
	}
	r.Status, r.Outcome, r.Notes, r.Reviewer, r.ReviewTx, r.ReviewHeight, r.ReviewTime = ReviewClosed, p.Outcome, p.Notes, tx.Signer, h, bc.Height, bc.Time
	o.put(ReviewKey(p.ExecutionTx), codec.MustMarshal(r))
	o.del(openReviewKey(r.Time, r.Height, r.Index))
	return nil
}

// SimulateContract runs contract execution p for requester as if in a
// block with bc on top of v, and records nothing: the dry run behind
// contract_simulate. Refusals are *TxError (the code the tx would get); a
// read failure wraps ErrIO.
func (e *Executor) SimulateContract(v View, bc BlockContext, requester string, p *types.ContractExecute) (*contracts.Result, error) {
	if err := p.ValidateBasic(); err != nil {
		return nil, reject(types.CodeInvalidPayload, "%v", err)
	}
	o := newOverlay(v)
	id, err := o.identity(requester)
	if err != nil {
		return nil, err
	}
	if id == nil {
		return nil, reject(types.CodeUnknownSigner, "requester %q is not a registered identity", requester)
	}
	if id.Revoked {
		return nil, reject(types.CodeRevokedSigner, "requester %q is revoked", requester)
	}
	rec, err := e.liveContract(o, p.ContractID)
	if err != nil {
		return nil, err
	}
	_, res, _, err := e.run(o, rec, id, p, bc)
	return res, err
}

// contractView is the contracts.StateView over the block's overlay: the
// VM reads consents and roles as the tx sees them, this block's earlier
// txs included.
type contractView struct{ o *overlay }

var _ contracts.StateView = contractView{}

// Consent implements contracts.StateView. A revoked or refused consent is
// found but not granted.
func (v contractView) Consent(patient, consentType string) (contracts.ConsentInfo, bool, error) {
	c, err := v.o.consent(patient, consentType)
	if err != nil || c == nil {
		return contracts.ConsentInfo{}, false, err
	}
	return contracts.ConsentInfo{Granted: c.Granted && c.Status == ConsentActive, Purposes: c.Scope.Purposes, Parties: c.Scope.Parties,
		Actions: c.Scope.Actions, Categories: c.Scope.DataCategories, Expiration: c.Scope.Expiration}, true, nil
}

// Roles implements contracts.StateView: a revoked or unknown identity has none.
func (v contractView) Roles(identity string) ([]string, error) {
	id, err := v.o.identity(identity)
	if err != nil || id == nil || id.Revoked {
		return nil, err
	}
	return id.Roles, nil
}

// GetContract returns a contract record, or nil.
func GetContract(v View, id string) (*ContractRecord, error) {
	return decode[ContractRecord](newOverlay(v), ContractKey(id))
}

// GetContractVersion returns one version of a contract, or nil.
func GetContractVersion(v View, id string, version uint64) (*ContractVersion, error) {
	return decode[ContractVersion](newOverlay(v), contractVersionKey(id, version))
}

// ContractVersions returns every version of a contract, oldest first.
func ContractVersions(s Scanner, id string) ([]ContractVersion, error) {
	prefix := ContractVersionPrefix(id)
	var out []ContractVersion
	var derr error
	err := s.Scan(prefix, prefixEnd(prefix), false, func(k, v []byte) bool {
		var cv ContractVersion
		if derr = codec.Unmarshal(v, &cv); derr != nil {
			derr = fmt.Errorf("%w: corrupt contract version at %q: %v", ErrIO, k, derr)
			return false
		}
		out = append(out, cv)
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrIO, err)
	}
	return out, derr
}

// GetContractState returns a contract's own state in normal form (nil if
// it has none).
func GetContractState(v View, id string) (map[string]any, error) {
	m, err := contractState(newOverlay(v), id)
	if err != nil || m == nil {
		return nil, err
	}
	n, err := types.NormalizeParams(m)
	if err != nil {
		return nil, fmt.Errorf("%w: contract state of %q: %v", ErrIO, id, err)
	}
	return n, nil
}

// GetReview returns the review of an execution, or nil.
func GetReview(v View, executionTx types.Hash) (*Review, error) {
	return decode[Review](newOverlay(v), ReviewKey(executionTx))
}

// PageQuery selects a page of an index.
type PageQuery struct {
	Cursor string // from a previous page's Next
	Limit  int    // 0: DefaultTrailLimit; at most MaxTrailLimit
	Newest bool   // newest first
}

// ExecutionPage is one page of a contract's executions.
type ExecutionPage struct {
	Entries []Execution `json:"entries"`
	Next    string      `json:"next,omitempty"`
}

// Executions returns a page of a contract's executions in block order
// (or newest first).
func Executions(s Scanner, contractID string, q PageQuery) (*ExecutionPage, error) {
	if err := types.ValidateID("contract_id", contractID); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadQuery, err)
	}
	page := &ExecutionPage{Entries: []Execution{}}
	next, err := scanPage(s, ExecutionPrefix(contractID), q, func(k, v []byte) (bool, error) {
		var e Execution
		if err := codec.Unmarshal(v, &e); err != nil {
			return false, fmt.Errorf("%w: corrupt execution at %q: %v", ErrIO, k, err)
		}
		page.Entries = append(page.Entries, e)
		return true, nil
	})
	page.Next = next
	return page, err
}

// ReviewPage is one page of open reviews.
type ReviewPage struct {
	Entries []Review `json:"entries"`
	Next    string   `json:"next,omitempty"`
}

// OpenReviews returns a page of open reviews, oldest first (or newest
// first), of every contract or only of contractID.
func OpenReviews(v View, s Scanner, contractID string, q PageQuery) (*ReviewPage, error) {
	if contractID != "" {
		if err := types.ValidateID("contract_id", contractID); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadQuery, err)
		}
	}
	page := &ReviewPage{Entries: []Review{}}
	o := newOverlay(v)
	next, err := scanPage(s, OpenReviewPrefix(), q, func(k, val []byte) (bool, error) {
		if len(val) != len(types.Hash{}) {
			return false, fmt.Errorf("%w: open review index at %q holds %d bytes", ErrIO, k, len(val))
		}
		r, err := decode[Review](o, ReviewKey(types.Hash(val)))
		if err != nil {
			return false, err
		}
		if r == nil {
			return false, fmt.Errorf("%w: open review index at %q points to a missing review", ErrIO, k)
		}
		if contractID != "" && r.ContractID != contractID {
			return false, nil
		}
		page.Entries = append(page.Entries, *r)
		return true, nil
	})
	page.Next = next
	return page, err
}

// scanPage walks the keys under prefix from q's cursor, calling fn until
// it has accepted q.Limit entries (fn reports whether it took one), and
// returns the cursor of the next page ("" at the end).
func scanPage(s Scanner, prefix []byte, q PageQuery, fn func(k, v []byte) (bool, error)) (string, error) {
	if q.Limit == 0 {
		q.Limit = DefaultTrailLimit
	}
	if q.Limit < 0 || q.Limit > MaxTrailLimit {
		return "", fmt.Errorf("%w: limit must be between 1 and %d", ErrBadQuery, MaxTrailLimit)
	}
	start, end := slices.Clone(prefix), prefixEnd(prefix)
	if q.Cursor != "" {
		c, err := base64.RawURLEncoding.DecodeString(q.Cursor)
		if err != nil || !bytes.HasPrefix(c, prefix) || len(c) == len(prefix) {
			return "", fmt.Errorf("%w: cursor does not belong to this index", ErrBadQuery)
		}
		if q.Newest {
			end = c // exclusive: resume below the last key returned
		} else {
			start = append(c, 0) // just after the last key returned
		}
	}
	var next string
	var last []byte
	taken := 0
	var ferr error
	err := s.Scan(start, end, q.Newest, func(k, v []byte) bool {
		if taken == q.Limit {
			next = base64.RawURLEncoding.EncodeToString(last)
			return false
		}
		ok, err := fn(k, v)
		if err != nil {
			ferr = err
			return false
		}
		if ok {
			taken++
		}
		last = append(last[:0], k...)
		return true
	})
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrIO, err)
	}
	return next, ferr
}
