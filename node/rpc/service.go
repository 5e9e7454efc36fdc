package rpc

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/store"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/chain/verify"
)

// Limits on query params.
const maxConsistencySpan = 1 << 40

// Options configure the services.
type Options struct {
	MaxTxBytes  int           // limit on a submitted tx's encoding
	WaitTimeout time.Duration // bound on tx_submit with wait
}

// TxAPI is the tx_ namespace.
type TxAPI struct {
	l    Ledger
	opts Options
	// gated refuses contract_execute txs: with the gate on they must go
	// through contract_execute, which holds the call to the caller's
	// session (tx_submit is public and would skip that check).
	gated bool
}

// SubmitParams are tx_submit's params.
type SubmitParams struct {
	Tx   string `json:"tx"`   // base64 (standard) of the tx's canonical CBOR
	Wait bool   `json:"wait"` // return after commit with the receipt

	// raw holds the tx bytes when the params came over CBOR (Tx is then
	// empty); nil otherwise.
	raw *rawTx
}

// SubmitResult is tx_submit's result.
type SubmitResult struct {
	TxHash  types.Hash `json:"tx_hash"`
	Status  string     `json:"status"` // "pending" or "committed"
	Receipt *Receipt   `json:"receipt,omitempty"`
}

// Submit decodes, admits and optionally waits for a signed tx.
func (a *TxAPI) Submit(ctx context.Context, p SubmitParams) (*SubmitResult, error) {
	var tx *types.Tx
	var err error
	if p.raw != nil {
		tx, err = a.decodeRaw(*p.raw)
	} else {
		tx, err = a.decode(p.Tx)
	}
	if err != nil {
		return nil, err
	}
	if !p.Wait {
		h, err := a.l.Submit(ctx, tx)
		if err != nil {
			return nil, toRPC(err)
		}
		return &SubmitResult{TxHash: h, Status: "pending"}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, a.opts.WaitTimeout)
	defer cancel()
	r, err := a.l.SubmitAndWait(ctx, tx)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = ErrTimeout
		}
		return nil, toRPC(err)
	}
	return &SubmitResult{TxHash: r.TxHash, Status: "committed", Receipt: &r}, nil
}

// MaxSubmitBatch bounds the txs of one tx_submitBatch call.
const MaxSubmitBatch = 5000

// SubmitBatchParams are tx_submitBatch's params.
type SubmitBatchParams struct {
	Txs  []string `json:"txs"`  // base64 (standard) of each signed tx's CBOR
	Wait bool     `json:"wait"` // return after every admitted tx commits

	// raw holds the txs already base64-decoded when UnmarshalJSON took its
	// fast path, or the tx bytes of CBOR params (Txs is then empty); nil
	// otherwise.
	raw []rawTx
}

// count returns the number of txs in the params.
func (p *SubmitBatchParams) count() int {
	if p.raw != nil {
		return len(p.raw)
	}
	return len(p.Txs)
}

// checkSubmitCount checks the number of txs of one tx_submitBatch call.
func checkSubmitCount(count int) error {
	if count == 0 {
		return invalidParams("txs: at least one tx required")
	}
	if count > MaxSubmitBatch {
		return invalidParams("txs: %d txs, limit %d per call", count, MaxSubmitBatch)
	}
	return nil
}

// BatchItem is one tx's outcome in tx_submitBatch: a hash, status and (with
// wait) receipt, or the error a single tx_submit would have returned.
type BatchItem struct {
	TxHash  *types.Hash `json:"tx_hash,omitempty"`
	Status  string      `json:"status,omitempty"` // "pending" or "committed"
	Receipt *Receipt    `json:"receipt,omitempty"`
	Error   *BatchError `json:"error,omitempty"`
}

// BatchError is a per-tx error in tx_submitBatch, with the code a single
// tx_submit would have returned.
type BatchError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data,omitempty"`
}

// SubmitBatch admits many txs at once and, with wait, returns after all the
// admitted ones commit: bulk feeds pay one round trip, and their txs share
// blocks. Each tx gets its own result or error; one bad tx does not fail
// the others.
func (a *TxAPI) SubmitBatch(ctx context.Context, p SubmitBatchParams) ([]BatchItem, error) {
	count := p.count()
	if err := checkSubmitCount(count); err != nil {
		return nil, err
	}
	out := make([]BatchItem, count)
	fail := func(i int, err error) {
		var e *Error
		if !errors.As(toRPC(err), &e) {
			e = &Error{Code: CodeInternal, Msg: err.Error()}
		}
		out[i] = BatchItem{Error: &BatchError{Code: e.Code, Message: e.Msg, Data: e.Data}}
	}
	txs := make([]*types.Tx, count)
	for i := range count {
		var tx *types.Tx
		var err error
		if p.raw != nil {
			tx, err = a.decodeRaw(p.raw[i])
		} else {
			tx, err = a.decode(p.Txs[i])
		}
		if err != nil {
			fail(i, err)
			continue
		}
		txs[i] = tx
	}
	if bl, ok := a.l.(BatchLedger); ok {
		return a.submitBatch(ctx, bl, txs, p.Wait, out, fail), nil
	}
	if !p.Wait {
		for i, tx := range txs {
			if tx == nil {
				continue
			}
			h, err := a.l.Submit(ctx, tx)
			if err != nil {
				fail(i, err)
				continue
			}
			out[i].TxHash, out[i].Status = &h, "pending"
		}
		return out, nil
	}
	// With wait, each tx is submitted by SubmitAndWait, which registers its
	// waiter before admission: the receipt then comes from the commit itself,
	// never from reading the block back. Admission (signature checks) runs
	// on every core.
	ctx, cancel := context.WithTimeout(ctx, a.opts.WaitTimeout)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i, tx := range txs {
		if tx == nil {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			r, err := a.l.SubmitAndWait(ctx, tx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if errors.Is(err, context.DeadlineExceeded) {
					err = ErrTimeout
				}
				fail(i, err)
				return
			}
			out[i].TxHash, out[i].Status, out[i].Receipt = &r.TxHash, "committed", &r
		}()
	}
	wg.Wait()
	return out, nil
}

// submitBatch is SubmitBatch through a BatchLedger: the decoded txs (nil
// where decoding failed and out already holds the error) go in one call.
func (a *TxAPI) submitBatch(ctx context.Context, bl BatchLedger, txs []*types.Tx, wait bool, out []BatchItem, fail func(int, error)) []BatchItem {
	live := make([]*types.Tx, 0, len(txs))
	at := make([]int, 0, len(txs))
	for i, tx := range txs {
		if tx != nil {
			live, at = append(live, tx), append(at, i)
		}
	}
	if len(live) == 0 {
		return out
	}
	if wait {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, a.opts.WaitTimeout)
		defer cancel()
	}
	for j, r := range bl.SubmitBatch(ctx, live, wait) {
		i := at[j]
		switch {
		case r.Err != nil:
			err := r.Err
			if errors.Is(err, context.DeadlineExceeded) {
				err = ErrTimeout
			}
			fail(i, err)
		case wait:
			rc := r.Receipt
			out[i].TxHash, out[i].Status, out[i].Receipt = &rc.TxHash, "committed", &rc
		default:
			h := r.Hash
			out[i].TxHash, out[i].Status = &h, "pending"
		}
	}
	return out
}

// decode turns a base64 tx param into a validated tx.
func (a *TxAPI) decode(enc string) (*types.Tx, error) {
	if enc == "" {
		return nil, invalidParams("tx: required (base64 of the signed tx's CBOR)")
	}
	if base64.StdEncoding.DecodedLen(len(enc)) > a.opts.MaxTxBytes+3 {
		return nil, invalidParams("tx: larger than the %d byte limit", a.opts.MaxTxBytes)
	}
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return nil, invalidParams("tx: not base64: %v", err)
	}
	return a.decodeTx(raw)
}

// decodeRaw is decode for a tx the params decoder already base64-decoded.
func (a *TxAPI) decodeRaw(r rawTx) (*types.Tx, error) {
	switch {
	case r.err != nil:
		return nil, invalidParams("tx: not base64: %v", r.err)
	case len(r.b) == 0:
		return nil, invalidParams("tx: required (base64 of the signed tx's CBOR)")
	case len(r.b) > a.opts.MaxTxBytes:
		return nil, invalidParams("tx: larger than the %d byte limit", a.opts.MaxTxBytes)
	}
	return a.decodeTx(r.b)
}

func (a *TxAPI) decodeTx(raw []byte) (*types.Tx, error) {
	tx, err := types.DecodeTx(raw, a.opts.MaxTxBytes)
	if err != nil {
		return nil, invalidParams("tx: %v", err)
	}
	if err := tx.ValidateBasic(); err != nil {
		return nil, invalidParams("tx: %v", err)
	}
	if a.gated && tx.Type == types.TxContractExecute {
		return nil, invalidParams("tx: a contract call goes through contract_execute, from the signer's session in the segment it states (the zero-trust gate is on)")
	}
	return tx, nil
}

// TxResult is tx_get's result.
type TxResult struct {
	Status  string        `json:"status"` // committed, pending or unknown
	TxHash  types.Hash    `json:"tx_hash"`
	Tx      *TxView       `json:"tx,omitempty"`     // committed only, like the fields below
	Height  *uint64       `json:"height,omitempty"` //
	Index   *uint32       `json:"index,omitempty"`
	Result  *types.Result `json:"result,omitempty"`
	LeafIdx *uint64       `json:"log_index,omitempty"`
}

// GetParams are tx_get's params.
type GetParams struct {
	Hash string `json:"hash"`
	Raw  bool   `json:"raw,omitempty"` // include the tx's CBOR (base64)
}

// Get answers whether a tx committed, and with what result.
func (a *TxAPI) Get(p GetParams) (*TxResult, error) {
	h, err := types.ParseHash(p.Hash)
	if err != nil {
		return nil, invalidParams("hash: %v", err)
	}
	r := a.l.Reader()
	tx, res, height, idx, err := r.Tx(h)
	switch {
	case err == nil:
		v := txView(a.l, tx, p.Raw)
		out := &TxResult{Status: "committed", Tx: &v, Height: &height, Index: &idx, Result: &res, TxHash: h}
		if li, err := r.LeafIndex(h); err == nil {
			out.LeafIdx = &li
		}
		return out, nil
	case isNotFound(err):
		if a.l.Pending(h) {
			return &TxResult{Status: "pending", TxHash: h}, nil
		}
		return &TxResult{Status: "unknown", TxHash: h}, nil
	}
	return nil, toRPC(err)
}

// AuditAPI is the audit_ namespace.
type AuditAPI struct{ l Ledger }

// TrailParams are audit_trail's params: exactly one of Patient and Actor.
type TrailParams struct {
	Patient string `json:"patient,omitempty"`
	Actor   string `json:"actor,omitempty"`
	From    Time   `json:"from,omitempty"` // inclusive; RFC 3339 or Unix ms
	To      Time   `json:"to,omitempty"`   // exclusive
	Cursor  string `json:"cursor,omitempty"`
	Limit   int    `json:"limit,omitempty"` // default 100, at most 1000
	Newest  bool   `json:"newest_first,omitempty"`
	// Consistency is "local" (default) or "linearizable" (see ReadBarrier).
	Consistency string `json:"consistency,omitempty"`
}

// Trail returns a page of a patient's or an actor's audit trail.
func (a *AuditAPI) Trail(ctx context.Context, p TrailParams) (*state.TrailPage, error) {
	if err := barrier(ctx, a.l, p.Consistency); err != nil {
		return nil, err
	}
	q := state.TrailQuery{From: int64(p.From), To: int64(p.To), Cursor: p.Cursor, Limit: p.Limit, Newest: p.Newest}
	switch {
	case p.Patient != "" && p.Actor == "":
		if err := types.ValidateID("patient", p.Patient); err != nil {
			return nil, invalidParams("%v", err)
		}
		id, err := patientID(a.l, p.Patient)
		if err != nil {
			return nil, err
		}
		q.ID = id
	case p.Actor != "" && p.Patient == "":
		q.ID, q.ByActor = p.Actor, true
	default:
		return nil, invalidParams("give exactly one of patient and actor")
	}
	r := a.l.Reader()
	page, err := state.Trail(r, r, q)
	if errors.Is(err, state.ErrBadQuery) {
		return nil, invalidParams("%v", err)
	}
	if err != nil {
		return nil, toRPC(err)
	}
	if page.Entries == nil {
		page.Entries = []state.AuditEntry{}
	}
	if err := openEntries(a.l, page.Entries); err != nil {
		return nil, err
	}
	if !q.ByActor {
		nameAsAsked(page.Entries, p.Patient)
	}
	return page, nil
}

// ConsentAPI is the consent_ namespace.
type ConsentAPI struct{ l Ledger }

// ConsentParams name one consent.
type ConsentParams struct {
	Patient     string `json:"patient"`
	ConsentType string `json:"consent_type"`
}

func (p ConsentParams) validate() error {
	if err := types.ValidateID("patient", p.Patient); err != nil {
		return invalidParams("%v", err)
	}
	if err := types.ValidateID("consent_type", p.ConsentType); err != nil {
		return invalidParams("%v", err)
	}
	return nil
}

// VerifyParams are consent_verify's params.
type VerifyParams struct {
	Patient      string `json:"patient"`
	ConsentType  string `json:"consent_type"`
	Purpose      string `json:"purpose"`
	Requester    string `json:"requester_id"`
	Action       string `json:"action,omitempty"`
	DataCategory string `json:"data_category,omitempty"`
	// Consistency is "local" (default) or "linearizable" (see ReadBarrier).
	Consistency string `json:"consistency,omitempty"`
}

// VerifyResult is consent_verify's result, decided at the head block's time.
type VerifyResult struct {
	state.ConsentDecision
	Height uint64 `json:"height"`
	At     int64  `json:"at"`
}

// Verify decides whether the patient's consent allows the request, at head.
func (a *ConsentAPI) Verify(ctx context.Context, p VerifyParams) (*VerifyResult, error) {
	if err := (ConsentParams{Patient: p.Patient, ConsentType: p.ConsentType}).validate(); err != nil {
		return nil, err
	}
	if err := barrier(ctx, a.l, p.Consistency); err != nil {
		return nil, err
	}
	if err := types.ValidateID("purpose", p.Purpose); err != nil {
		return nil, invalidParams("%v", err)
	}
	if err := types.ValidateID("requester_id", p.Requester); err != nil {
		return nil, invalidParams("%v", err)
	}
	r := a.l.Reader()
	head, _ := r.Head()
	c, err := patientConsent(a.l, r, p.Patient, p.ConsentType)
	if err != nil {
		return nil, err
	}
	req := state.ConsentRequest{Purpose: p.Purpose, Requester: p.Requester, Action: p.Action, DataCategory: p.DataCategory, At: head.Time}
	if head.Height == 0 {
		req.At = a.l.Genesis().Time
	}
	return &VerifyResult{ConsentDecision: state.VerifyConsent(c, req), Height: head.Height, At: req.At}, nil
}

// Get returns the current consent.
func (a *ConsentAPI) Get(p ConsentParams) (*state.Consent, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	c, err := patientConsent(a.l, a.l.Reader(), p.Patient, p.ConsentType)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, &Error{Code: CodeNotFound, Msg: fmt.Sprintf("patient %q has no %q consent", p.Patient, p.ConsentType)}
	}
	return c, nil
}

// History returns every version of a consent, oldest first.
func (a *ConsentAPI) History(p ConsentParams) ([]state.Consent, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	pid, err := patientID(a.l, p.Patient)
	if err != nil {
		return nil, err
	}
	r := a.l.Reader()
	h, err := state.ConsentHistory(r, pid, p.ConsentType)
	if err != nil {
		return nil, toRPC(err)
	}
	if err := openConsents(a.l, r, p.Patient, pid, h); err != nil {
		return nil, err
	}
	if h == nil {
		h = []state.Consent{}
	}
	return h, nil
}

// ChainAPI is the chain_ namespace.
type ChainAPI struct {
	l    Ledger
	jobs *verifyJobs
}

// HeadResult is chain_head's result: the signed head header.
type HeadResult struct {
	Height    uint64        `json:"height"`
	Hash      types.Hash    `json:"hash"`
	Header    *types.Header `json:"header,omitempty"`
	Signature SignatureView `json:"signature"`
}

// Head returns the newest committed header with its signature.
func (a *ChainAPI) Head() (*HeadResult, error) {
	r := a.l.Reader()
	h, ok := r.Head()
	if !ok {
		return &HeadResult{Hash: a.l.Genesis().Hash()}, nil
	}
	b, err := r.Block(h.Height)
	if err != nil {
		return nil, toRPC(err)
	}
	return &HeadResult{Height: h.Height, Hash: h.Hash(), Header: &b.Header,
		Signature: SignatureView{Algorithm: b.Signature.Algorithm.String(), Bytes: b.Signature.Sig}}, nil
}

// BlockParams are chain_block's params: a height or a hash.
type BlockParams struct {
	Height uint64 `json:"height,omitempty"`
	Hash   string `json:"hash,omitempty"`
	Full   bool   `json:"full,omitempty"` // include txs and results
}

// Block returns one block.
func (a *ChainAPI) Block(p BlockParams) (*BlockView, error) {
	r := a.l.Reader()
	var b *types.Block
	var err error
	switch {
	case p.Hash != "" && p.Height == 0:
		h, perr := types.ParseHash(p.Hash)
		if perr != nil {
			return nil, invalidParams("hash: %v", perr)
		}
		b, err = r.BlockByHash(h)
	case p.Hash == "" && p.Height > 0:
		b, err = r.Block(p.Height)
	default:
		return nil, invalidParams("give exactly one of height (from 1) and hash")
	}
	if err != nil {
		if isNotFound(err) {
			return nil, &Error{Code: CodeNotFound, Msg: "block not found"}
		}
		return nil, toRPC(err)
	}
	v := blockView(a.l, b, p.Full)
	return &v, nil
}

// ProofParams are chain_proof's params.
type ProofParams struct {
	TxHash string `json:"tx_hash"`
	Height uint64 `json:"height,omitempty"` // prove against this height's header; 0: head
}

// ProofResult is an RFC 6962 inclusion proof of a tx in the global log,
// against a signed header: check the proof against header.log_root and the
// header signature against the proposer's key.
type ProofResult struct {
	TxHash    types.Hash    `json:"tx_hash"`
	LeafIndex uint64        `json:"leaf_index"`
	LogSize   uint64        `json:"log_size"`
	Proof     []types.Hash  `json:"proof"`
	Header    types.Header  `json:"header"`
	Signature SignatureView `json:"signature"`
}

// Proof returns an inclusion proof for a committed tx.
func (a *ChainAPI) Proof(p ProofParams) (*ProofResult, error) {
	h, err := types.ParseHash(p.TxHash)
	if err != nil {
		return nil, invalidParams("tx_hash: %v", err)
	}
	r := a.l.Reader()
	b, err := a.headerBlock(r, p.Height)
	if err != nil {
		return nil, err
	}
	idx, err := r.LeafIndex(h)
	if isNotFound(err) {
		return nil, &Error{Code: CodeNotFound, Msg: fmt.Sprintf("tx %s is not in the chain", h)}
	}
	if err != nil {
		return nil, toRPC(err)
	}
	if idx >= b.Header.LogSize {
		return nil, invalidParams("tx %s entered the log after height %d", h, b.Header.Height)
	}
	proof, err := r.InclusionProof(idx, b.Header.LogSize)
	if err != nil {
		return nil, toRPC(err)
	}
	return &ProofResult{TxHash: h, LeafIndex: idx, LogSize: b.Header.LogSize, Proof: nonNil(proof), Header: b.Header,
		Signature: SignatureView{Algorithm: b.Signature.Algorithm.String(), Bytes: b.Signature.Sig}}, nil
}

// ConsistencyParams are chain_consistency's params: two heights.
type ConsistencyParams struct {
	From uint64 `json:"from_height"`
	To   uint64 `json:"to_height,omitempty"` // 0: head
}

// ConsistencyResult proves the log at To extends the log at From.
type ConsistencyResult struct {
	From     types.Header  `json:"from"`
	To       types.Header  `json:"to"`
	FromSig  SignatureView `json:"from_signature"`
	ToSig    SignatureView `json:"to_signature"`
	Proof    []types.Hash  `json:"proof"`
	FromSize uint64        `json:"from_size"`
	ToSize   uint64        `json:"to_size"`
}

// Consistency returns an RFC 6962 consistency proof between two signed heads.
func (a *ChainAPI) Consistency(p ConsistencyParams) (*ConsistencyResult, error) {
	if p.From == 0 {
		return nil, invalidParams("from_height: required, from 1")
	}
	r := a.l.Reader()
	to, err := a.headerBlock(r, p.To)
	if err != nil {
		return nil, err
	}
	if p.From > to.Header.Height {
		return nil, invalidParams("from_height %d is above to_height %d", p.From, to.Header.Height)
	}
	from, err := a.headerBlock(r, p.From)
	if err != nil {
		return nil, err
	}
	proof, err := r.ConsistencyProof(from.Header.LogSize, to.Header.LogSize)
	if err != nil {
		return nil, toRPC(err)
	}
	return &ConsistencyResult{From: from.Header, To: to.Header, Proof: nonNil(proof), FromSize: from.Header.LogSize, ToSize: to.Header.LogSize,
		FromSig: SignatureView{Algorithm: from.Signature.Algorithm.String(), Bytes: from.Signature.Sig},
		ToSig:   SignatureView{Algorithm: to.Signature.Algorithm.String(), Bytes: to.Signature.Sig}}, nil
}

func (a *ChainAPI) headerBlock(r Reader, height uint64) (*types.Block, error) {
	head, ok := r.Head()
	if !ok {
		return nil, &Error{Code: CodeNotFound, Msg: "the chain has no blocks yet"}
	}
	if height == 0 {
		height = head.Height
	}
	if height > head.Height {
		return nil, &Error{Code: CodeNotFound, Msg: fmt.Sprintf("height %d is above the head (%d)", height, head.Height)}
	}
	b, err := r.Block(height)
	if err != nil {
		return nil, toRPC(err)
	}
	return b, nil
}

// Verify starts a verification of the stored chain and returns its job; poll
// chain_verifyStatus for progress and the report.
func (a *ChainAPI) Verify(opts *verify.Options) (*VerifyJob, error) {
	var p verify.Options
	if opts != nil {
		p = *opts
	}
	if p.To != 0 && p.From > p.To {
		return nil, invalidParams("from %d is above to %d", p.From, p.To)
	}
	return a.jobs.start(a.l, p)
}

// VerifyStatus returns a verification job's progress and, when done, its report.
func (a *ChainAPI) VerifyStatus(id string) (*VerifyJob, error) {
	j := a.jobs.get(id)
	if j == nil {
		return nil, &Error{Code: CodeNotFound, Msg: fmt.Sprintf("no verification job %q", id)}
	}
	return j, nil
}

// EHRAPI is the ehr_ namespace.
type EHRAPI struct{ l Ledger }

// List returns every registered EHR system.
func (a *EHRAPI) List() ([]state.EHRSystem, error) {
	l, err := state.EHRSystems(a.l.Reader())
	if err != nil {
		return nil, toRPC(err)
	}
	if l == nil {
		l = []state.EHRSystem{}
	}
	return l, nil
}

// IdentityAPI is the identity_ namespace.
type IdentityAPI struct{ l Ledger }

// Get returns a registered identity.
func (a *IdentityAPI) Get(id string) (*state.Identity, error) {
	if err := types.ValidateID("id", id); err != nil {
		return nil, invalidParams("%v", err)
	}
	v, err := state.GetIdentity(a.l.Reader(), id)
	if err != nil {
		return nil, toRPC(err)
	}
	if v == nil {
		return nil, &Error{Code: CodeNotFound, Msg: fmt.Sprintf("identity %q is not registered", id)}
	}
	return v, nil
}

// NodeAPI is the node_ namespace.
type NodeAPI struct{ l Ledger }

// Status describes this node.
func (a *NodeAPI) Status() NodeStatus { return a.l.Status() }

// VerifyJob is a running or finished chain verification.
type VerifyJob struct {
	ID     string         `json:"id"`
	Done   uint64         `json:"done"`
	Total  uint64         `json:"total"`
	State  string         `json:"state"` // running, finished, failed
	Error  string         `json:"error,omitempty"`
	Report *verify.Report `json:"report,omitempty"`
}

// verifyJobs runs at most one verification at a time and keeps the last few.
type verifyJobs struct {
	mu sync.Mutex
	// guards the following
	seq  int
	jobs map[string]*VerifyJob
	busy bool
}

func (v *verifyJobs) start(l Ledger, opts verify.Options) (*VerifyJob, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.busy {
		return nil, &Error{Code: CodeBusy, Msg: "a verification is already running; poll chain_verifyStatus"}
	}
	v.seq++
	j := &VerifyJob{ID: fmt.Sprintf("verify-%d", v.seq), State: "running"}
	if v.jobs == nil {
		v.jobs = map[string]*VerifyJob{}
	}
	delete(v.jobs, fmt.Sprintf("verify-%d", v.seq-8)) // keep the last 8
	v.jobs[j.ID] = j
	v.busy = true
	go func() {
		rep, err := l.Verify(context.Background(), opts, func(done, total uint64) {
			v.mu.Lock()
			j.Done, j.Total = done, total
			v.mu.Unlock()
		})
		v.mu.Lock()
		defer v.mu.Unlock()
		v.busy = false
		if err != nil {
			j.State, j.Error = "failed", err.Error()
			return
		}
		j.State, j.Report = "finished", rep
	}()
	c := *j
	return &c, nil
}

func (v *verifyJobs) get(id string) *VerifyJob {
	v.mu.Lock()
	defer v.mu.Unlock()
	j, ok := v.jobs[id]
	if !ok {
		return nil
	}
	c := *j
	return &c
}

func isNotFound(err error) bool {
	return errors.Is(err, ErrNotFound) || errors.Is(err, store.ErrNotFound)
}

func nonNil(h []types.Hash) []types.Hash {
	if h == nil {
		return []types.Hash{}
	}
	return h
}
