package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/contracts"
)

// ContractAPI is the contract_ namespace: access contracts run by the
// deterministic contract VM (docs/CONTRACTS.md).
//
// Writes are signed txs. A client builds a contract with contract_create
// (template + terms, or rules: nothing is recorded; it returns the contract,
// its version hash, its cost estimate and the deploy payload), signs that
// payload as a contract_deploy tx and sends it with contract_deploy, which
// waits for the block. contract_execute sends a signed contract_execute tx
// and returns the recorded decision. Reads and contract_simulate (a dry run
// at head) need no signature.
type ContractAPI struct {
	l    Ledger
	opts Options
	gate *GateConfig     // nil with the gate off
	ex   *state.Executor // its own VM and compile cache: simulations never touch consensus
	err  error
}

func newContractAPI(l Ledger, opts Options, gate *GateConfig) *ContractAPI {
	a := &ContractAPI{l: l, opts: opts, gate: gate}
	a.ex, a.err = state.NewExecutor(l.Genesis())
	return a
}

// CreateParams are contract_create's params: a template and its terms, or
// rules and effects in CEL (with optional terms the rules read as params).
type CreateParams struct {
	ID       string                 `json:"id"`
	Owner    string                 `json:"owner"` // the identity that will own it (the deploy's signer, usually)
	Template string                 `json:"template,omitempty"`
	Terms    json.RawMessage        `json:"terms,omitempty"` // JSON object; integers only
	Rules    []types.ContractRule   `json:"rules,omitempty"`
	Effects  []types.ContractEffect `json:"effects,omitempty"`
}

// CreateResult is the contract a deploy of Deploy would create.
type CreateResult struct {
	Contract     contracts.Contract   `json:"contract"`
	VersionHash  types.Hash           `json:"version_hash"`
	CostEstimate uint64               `json:"cost_estimate"` // static worst case, CEL cost units
	Deploy       types.ContractDeploy `json:"deploy"`        // sign this payload as a contract_deploy tx
}

// Create builds and compiles a contract without recording anything: the
// seed's create_smart_contract, minus the signature. Compiler errors come
// back as invalid params with the compiler's message.
func (a *ContractAPI) Create(p CreateParams) (*CreateResult, error) {
	if a.err != nil {
		return nil, toRPC(a.err)
	}
	if err := types.ValidateID("owner", p.Owner); err != nil {
		return nil, invalidParams("%v (the identity that will own the contract)", err)
	}
	params, err := types.ParamsFromJSON(p.Terms)
	if err != nil {
		return nil, invalidParams("terms: %v", err)
	}
	d := types.ContractDeploy{ID: p.ID, Owner: p.Owner, Source: types.ContractSource{Template: p.Template, Params: params, Rules: p.Rules, Effects: p.Effects}}
	if err := d.ValidateBasic(); err != nil {
		return nil, invalidParams("%v", err)
	}
	prog, err := a.ex.CompileContract(d.ID, d.Owner, 1, &d.Source)
	if err != nil {
		return nil, compileError(err)
	}
	return &CreateResult{Contract: prog.Contract(), VersionHash: prog.Version(), CostEstimate: prog.EstimatedCost(), Deploy: d}, nil
}

func compileError(err error) error {
	var te *state.TxError
	if errors.As(err, &te) {
		return invalidParams("%s", te.Reason)
	}
	return toRPC(err)
}

// ContractTxParams carry one signed contract tx.
type ContractTxParams struct {
	Tx string `json:"tx"` // base64 (standard) of the signed tx's canonical CBOR
}

// ContractTxResult is contract_deploy's result.
type ContractTxResult struct {
	Receipt  Receipt               `json:"receipt"`
	Contract *state.ContractRecord `json:"contract,omitempty"`
}

// Deploy submits a signed contract_deploy, contract_upgrade or
// contract_retire tx and waits for its block. A tx the block records as
// rejected (e.g. rules that do not compile) is a -32001 error with the
// compiler's message; most are refused before they reach a block.
func (a *ContractAPI) Deploy(ctx context.Context, p ContractTxParams) (*ContractTxResult, error) {
	tx, err := a.decode(p.Tx, types.TxContractDeploy, types.TxContractUpgrade, types.TxContractRetire)
	if err != nil {
		return nil, err
	}
	r, err := a.submit(ctx, tx)
	if err != nil {
		return nil, err
	}
	payload, _ := tx.DecodePayload()
	var id string
	switch pl := payload.(type) {
	case *types.ContractDeploy:
		id = pl.ID
	case *types.ContractUpgrade:
		id = pl.ContractID
	case *types.ContractRetire:
		id = pl.ContractID
	}
	rec, err := state.GetContract(a.l.Reader(), id)
	if err != nil {
		return nil, toRPC(err)
	}
	return &ContractTxResult{Receipt: r, Contract: rec}, nil
}

// ExecuteResult is a recorded (or simulated) contract decision.
type ExecuteResult struct {
	*contracts.Result
	ReviewRequired bool       `json:"review_required"`
	TxHash         types.Hash `json:"tx_hash,omitzero"` // zero for a simulation
	Height         uint64     `json:"height"`           // the block that recorded it (simulation: the next height)
	Index          uint32     `json:"index"`
	At             int64      `json:"at"` // block time the contract saw, Unix ms
}

// Execute submits a signed contract_execute tx, waits for its block and
// returns the recorded decision, reason, cost and effects. A deny is a
// result, not an error.
func (a *ContractAPI) Execute(ctx context.Context, p ContractTxParams) (*ExecuteResult, error) {
	tx, err := a.decode(p.Tx, types.TxContractExecute)
	if err != nil {
		return nil, err
	}
	if err := a.checkSession(ctx, tx); err != nil {
		return nil, err
	}
	r, err := a.submit(ctx, tx)
	if err != nil {
		return nil, err
	}
	res, err := contracts.DecodeResult(r.Result.Data, a.ex.VM().Config())
	if err != nil {
		return nil, toRPC(fmt.Errorf("decoding the recorded result of %s: %w", r.TxHash, err))
	}
	out := &ExecuteResult{Result: res, ReviewRequired: res.ReviewRequired(), TxHash: r.TxHash, Height: r.Height, Index: r.Index}
	if b, err := a.l.Reader().Block(r.Height); err == nil {
		out.At = b.Header.Time
	}
	return out, nil
}

// checkSession holds a contract call to the caller's session when the gate
// is on: the segment and risk a contract sees are stated in the signed tx,
// so the caller must be that signer, in that segment, at no lower risk than
// the gate measures now. Without it a physician could state "critical" for
// break-glass from any session.
func (a *ContractAPI) checkSession(ctx context.Context, tx *types.Tx) error {
	if a.gate == nil {
		return nil
	}
	ri := infoFrom(ctx)
	sess, risk, err := a.gate.Gate.Status(ctx, ri.token, ri.remote)
	if err != nil {
		code, data := classify(err)
		return &Error{Code: code, Msg: err.Error(), Data: data}
	}
	p, err := tx.DecodePayload()
	if err != nil {
		return invalidParams("tx: %v", err)
	}
	call, ok := p.(*types.ContractExecute)
	if !ok {
		return invalidParams("tx: not a contract_execute")
	}
	switch {
	case tx.Signer != sess.Identity:
		return invalidParams("tx is signed by %q but the session is %q's", tx.Signer, sess.Identity)
	case call.Segment != sess.Segment.String():
		return invalidParams("tx states segment %q but the session is in %q", call.Segment, sess.Segment)
	case call.Risk < int64(risk.Score):
		return invalidParams("tx states risk %d but the session's risk is %d", call.Risk, risk.Score)
	}
	return nil
}

// SimulateParams are contract_simulate's params: the call a requester would
// sign, and optionally the block time to assume.
type SimulateParams struct {
	types.ContractExecute
	Requester string `json:"requester"`
	At        Time   `json:"at,omitempty"` // default: the next block's time, max(now, head time)
}

// Simulate runs a contract at head as the next block would, for a
// registered requester, and records nothing.
func (a *ContractAPI) Simulate(p SimulateParams) (*ExecuteResult, error) {
	if a.err != nil {
		return nil, toRPC(a.err)
	}
	if err := types.ValidateID("requester", p.Requester); err != nil {
		return nil, invalidParams("%v", err)
	}
	if err := p.ContractExecute.ValidateBasic(); err != nil {
		return nil, invalidParams("%v", err)
	}
	r := a.l.Reader()
	head, ok := r.Head()
	bc := state.BlockContext{Height: head.Height + 1, Time: max(time.Now().UnixMilli(), head.Time)}
	if !ok {
		bc.Time = max(bc.Time, a.l.Genesis().Time)
	}
	if p.At != 0 {
		if p.At < 0 {
			return nil, invalidParams("at: negative time")
		}
		bc.Time = int64(p.At)
	}
	call, err := asRecorded(a.l, &p.ContractExecute)
	if err != nil {
		return nil, err
	}
	res, err := a.ex.SimulateContract(r, bc, p.Requester, call)
	if err != nil {
		var te *state.TxError
		if errors.As(err, &te) && te.Code == types.CodeNotFound {
			return nil, &Error{Code: CodeNotFound, Msg: te.Reason}
		}
		return nil, toRPC(err)
	}
	return &ExecuteResult{Result: res, ReviewRequired: res.ReviewRequired(), Height: bc.Height, At: bc.Time}, nil
}

// ContractGetParams are contract_get's params.
type ContractGetParams struct {
	ID      string `json:"id"`
	Version uint64 `json:"version,omitempty"` // 0: the current version
}

// VersionView is one version of a contract, decoded.
type VersionView struct {
	Version      uint64             `json:"version"`
	Hash         types.Hash         `json:"hash"`
	CostEstimate uint64             `json:"cost_estimate"`
	Signer       string             `json:"signer"`
	TxHash       types.Hash         `json:"tx_hash"`
	Height       uint64             `json:"height"`
	Time         int64              `json:"time"`
	Reason       string             `json:"reason,omitempty"`
	Contract     contracts.Contract `json:"contract"`
}

// ContractView is contract_get's result: the record, the requested version
// with its rules, the summary of every version, and the contract's state.
type ContractView struct {
	Record   state.ContractRecord `json:"record"`
	Current  VersionView          `json:"current"`
	Versions []VersionSummary     `json:"versions"`
	State    map[string]any       `json:"state,omitempty"`
}

// VersionSummary names one version without its rules.
type VersionSummary struct {
	Version uint64     `json:"version"`
	Hash    types.Hash `json:"hash"`
	Height  uint64     `json:"height"`
	Signer  string     `json:"signer"`
	Reason  string     `json:"reason,omitempty"`
}

// Get returns a contract: its record, rules (current or the given
// version), every version and its state.
func (a *ContractAPI) Get(p ContractGetParams) (*ContractView, error) {
	if err := types.ValidateID("id", p.ID); err != nil {
		return nil, invalidParams("%v", err)
	}
	r := a.l.Reader()
	rec, err := state.GetContract(r, p.ID)
	if err != nil {
		return nil, toRPC(err)
	}
	if rec == nil {
		return nil, &Error{Code: CodeNotFound, Msg: fmt.Sprintf("contract %q does not exist", p.ID)}
	}
	vs, err := state.ContractVersions(r, p.ID)
	if err != nil {
		return nil, toRPC(err)
	}
	want := rec.Version
	if p.Version != 0 {
		want = p.Version
	}
	out := &ContractView{Record: *rec, Versions: []VersionSummary{}}
	found := false
	for _, v := range vs {
		out.Versions = append(out.Versions, VersionSummary{Version: v.Version, Hash: v.Hash, Height: v.Height, Signer: v.Signer, Reason: v.Reason})
		if v.Version != want {
			continue
		}
		c, err := v.Decode(contracts.DefaultConfig())
		if err != nil {
			return nil, toRPC(fmt.Errorf("contract %q version %d: %w", p.ID, v.Version, err))
		}
		out.Current = VersionView{Version: v.Version, Hash: v.Hash, CostEstimate: v.CostEstimate, Signer: v.Signer, TxHash: v.TxHash,
			Height: v.Height, Time: v.Time, Reason: v.Reason, Contract: *c}
		found = true
	}
	if !found {
		return nil, &Error{Code: CodeNotFound, Msg: fmt.Sprintf("contract %q has no version %d (current %d)", p.ID, want, rec.Version)}
	}
	if out.State, err = state.GetContractState(r, p.ID); err != nil {
		return nil, toRPC(err)
	}
	return out, nil
}

// PageParams select a page of an index.
type PageParams struct {
	ContractID string `json:"contract_id,omitempty"`
	Cursor     string `json:"cursor,omitempty"`
	Limit      int    `json:"limit,omitempty"` // default 100, at most 1000
	Newest     bool   `json:"newest_first,omitempty"`
}

func (p PageParams) query() state.PageQuery {
	return state.PageQuery{Cursor: p.Cursor, Limit: p.Limit, Newest: p.Newest}
}

// ExecutionView is one recorded execution with its decoded result.
type ExecutionView struct {
	state.Execution
	Result *contracts.Result `json:"result"`
}

// ExecutionsPage is contract_executions' result.
type ExecutionsPage struct {
	Entries []ExecutionView `json:"entries"`
	Next    string          `json:"next,omitempty"`
}

// Executions returns a page of a contract's recorded executions, in block
// order (or newest first).
func (a *ContractAPI) Executions(p PageParams) (*ExecutionsPage, error) {
	r := a.l.Reader()
	page, err := state.Executions(r, p.ContractID, p.query())
	if errors.Is(err, state.ErrBadQuery) {
		return nil, invalidParams("%v", err)
	}
	if err != nil {
		return nil, toRPC(err)
	}
	out := &ExecutionsPage{Entries: make([]ExecutionView, len(page.Entries)), Next: page.Next}
	for i, e := range page.Entries {
		res, err := contracts.DecodeResult(e.Result, contracts.DefaultConfig())
		if err != nil {
			return nil, toRPC(fmt.Errorf("execution %s: %w", e.TxHash, err))
		}
		if err := openCall(a.l, r, e.TxHash, &e.Call.Patient, &e.Call.Resource); err != nil {
			return nil, err
		}
		out.Entries[i] = ExecutionView{Execution: e, Result: res}
	}
	return out, nil
}

// Reviews returns a page of open reviews (flagged executions awaiting a
// privacy officer), of every contract or of contract_id.
func (a *ContractAPI) Reviews(p PageParams) (*state.ReviewPage, error) {
	r := a.l.Reader()
	page, err := state.OpenReviews(r, r, p.ContractID, p.query())
	if errors.Is(err, state.ErrBadQuery) {
		return nil, invalidParams("%v", err)
	}
	if err != nil {
		return nil, toRPC(err)
	}
	for i := range page.Entries {
		if err := openCall(a.l, r, page.Entries[i].ExecutionTx, &page.Entries[i].Patient, nil); err != nil {
			return nil, err
		}
	}
	return page, nil
}

// GetReview returns the review (open or closed) of one execution.
func (a *ContractAPI) GetReview(executionTx string) (*state.Review, error) {
	h, err := types.ParseHash(executionTx)
	if err != nil {
		return nil, invalidParams("execution_tx: %v", err)
	}
	r := a.l.Reader()
	rv, err := state.GetReview(r, h)
	if err != nil {
		return nil, toRPC(err)
	}
	if rv == nil {
		return nil, &Error{Code: CodeNotFound, Msg: fmt.Sprintf("no review for execution %s", h)}
	}
	if err := openCall(a.l, r, h, &rv.Patient, nil); err != nil {
		return nil, err
	}
	return rv, nil
}

func (a *ContractAPI) decode(enc string, allowed ...types.TxType) (*types.Tx, error) {
	if a.err != nil {
		return nil, toRPC(a.err)
	}
	tx, err := (&TxAPI{opts: a.opts}).decode(enc)
	if err != nil {
		return nil, err
	}
	for _, t := range allowed {
		if tx.Type == t {
			return tx, nil
		}
	}
	return nil, invalidParams("tx: a %s tx does not belong here (want %v)", tx.Type, allowed)
}

// submit sends tx and waits for its block; a tx recorded as rejected is an error.
func (a *ContractAPI) submit(ctx context.Context, tx *types.Tx) (Receipt, error) {
	ctx, cancel := context.WithTimeout(ctx, a.opts.WaitTimeout)
	defer cancel()
	r, err := a.l.SubmitAndWait(ctx, tx)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = ErrTimeout
		}
		return Receipt{}, toRPC(err)
	}
	if !r.Result.OK() {
		return Receipt{}, rejected(r.Result.Code, r.Result.Reason)
	}
	return r, nil
}
