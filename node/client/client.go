package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	gethrpc "github.com/ethereum/go-ethereum/rpc"

	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/chain/verify"
	"github.com/medchain/medchain/node/rpc"
)

// Client calls one node.
type Client struct {
	c       *gethrpc.Client
	chainID string
	sess    *session // nil without WithLogin
	// hc and url post CBOR submissions (nil hc: a ws:// client, JSON only).
	hc  *http.Client
	url string
	// enc is the encoding of submissions; noCBOR is set once the node
	// refused application/cbor (an older node): submissions then use JSON.
	enc    Encoding
	noCBOR atomic.Bool
}

// Option configures Dial.
type Option func(*dialOptions) error

type dialOptions struct {
	tls   *tls.Config
	login *Login
	enc   Encoding
}

// WithCAFile trusts the PEM CA certificates in path for https:// URLs (the
// dev CA medchain certs writes to <data dir>/tls/ca.crt), in addition to
// nothing else: the system roots are not consulted.
func WithCAFile(path string) Option {
	return func(o *dialOptions) error {
		pem, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("client: CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("client: CA: %s holds no PEM certificate", path)
		}
		o.tls = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}
		return nil
	}
}

// WithTLS uses cfg for https:// URLs.
func WithTLS(cfg *tls.Config) Option {
	return func(o *dialOptions) error { o.tls = cfg; return nil }
}

// HTTPClient returns an HTTP client for url's scheme that trusts what opts
// say (for raw JSON-RPC calls and tests).
func HTTPClient(opts ...Option) (*http.Client, error) {
	var o dialOptions
	for _, f := range opts {
		if err := f(&o); err != nil {
			return nil, err
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64 // concurrent callers keep their connections
	if o.tls != nil {
		tr.TLSClientConfig = o.tls.Clone()
	}
	return &http.Client{Transport: tr}, nil
}

// Dial connects to url (http://, https:// or ws://) and learns the chain id.
func Dial(ctx context.Context, url string, opts ...Option) (*Client, error) {
	var o dialOptions
	for _, f := range opts {
		if err := f(&o); err != nil {
			return nil, err
		}
	}
	hc, err := HTTPClient(opts...)
	if err != nil {
		return nil, err
	}
	var sess *session
	if o.login != nil {
		sess = &session{base: hc.Transport, url: url, l: *o.login, token: o.login.Token}
		hc.Transport = sess
	}
	c, err := gethrpc.DialOptions(ctx, url, gethrpc.WithHTTPClient(hc))
	if err != nil {
		return nil, fmt.Errorf("client: dial %s: %w", url, err)
	}
	cl := &Client{c: c, sess: sess, enc: EncodingCBOR}
	if o.enc != 0 {
		cl.enc = o.enc
	}
	if strings.HasPrefix(url, "http://") || strings.HasPrefix(url, "https://") {
		cl.hc, cl.url = hc, url
	}
	st, err := cl.Status(ctx)
	if code, _, ok := RPCError(err); ok && code == rpc.CodeUnauthenticated {
		return cl, nil // a gated node: the chain id comes with the login challenge
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("client: %s does not answer node_status: %w", url, err)
	}
	cl.chainID = st.ChainID
	return cl, nil
}

// Close closes the connection.
func (c *Client) Close() { c.c.Close() }

// ChainID returns the node's chain id.
func (c *Client) ChainID() string { return c.chainID }

// Raw returns the underlying JSON-RPC client for calls this package lacks.
func (c *Client) Raw() *gethrpc.Client { return c.c }

// RPCError returns the JSON-RPC code and data of err, if it is one.
func RPCError(err error) (code int, data any, ok bool) {
	var e gethrpc.Error
	if !errors.As(err, &e) {
		return 0, nil, false
	}
	var de gethrpc.DataError
	if errors.As(err, &de) {
		data = de.ErrorData()
	}
	return e.ErrorCode(), data, true
}

// Submit sends a signed tx; with wait it returns after the tx commits.
// It posts CBOR unless the client's encoding is EncodingJSON.
func (c *Client) Submit(ctx context.Context, tx *types.Tx, wait bool) (*rpc.SubmitResult, error) {
	if c.useCBOR() {
		r, err := c.submitCBOR(ctx, tx, wait)
		if !errors.Is(err, errNoCBOR) {
			return r, err
		}
	}
	var r rpc.SubmitResult
	err := c.c.CallContext(ctx, &r, "tx_submit", rpc.SubmitParams{Tx: base64.StdEncoding.EncodeToString(tx.Encode()), Wait: wait})
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// SubmitBatch sends txs in one JSON-RPC batch of tx_submit calls (CBOR
// unless the client's encoding is EncodingJSON); errs[i] is tx i's error.
func (c *Client) SubmitBatch(ctx context.Context, txs []*types.Tx, wait bool) ([]rpc.SubmitResult, []error, error) {
	if len(txs) == 0 {
		return nil, nil, nil // nothing to send (a JSON-RPC batch may not be empty)
	}
	if c.useCBOR() {
		res, errs, err := c.submitBatchCBOR(ctx, txs, wait)
		if !errors.Is(err, errNoCBOR) {
			return res, errs, err
		}
	}
	res := make([]rpc.SubmitResult, len(txs))
	elems := make([]gethrpc.BatchElem, len(txs))
	for i, tx := range txs {
		elems[i] = gethrpc.BatchElem{Method: "tx_submit", Args: []any{rpc.SubmitParams{Tx: base64.StdEncoding.EncodeToString(tx.Encode()), Wait: wait}}, Result: &res[i]}
	}
	if err := c.c.BatchCallContext(ctx, elems); err != nil {
		return nil, nil, err
	}
	errs := make([]error, len(txs))
	for i := range elems {
		errs[i] = elems[i].Error
	}
	return res, errs, nil
}

// Tx returns what the node knows of a tx.
func (c *Client) Tx(ctx context.Context, h types.Hash) (*rpc.TxResult, error) {
	var r rpc.TxResult
	return &r, c.c.CallContext(ctx, &r, "tx_get", rpc.GetParams{Hash: h.String()})
}

// Trail returns a page of an audit trail.
func (c *Client) Trail(ctx context.Context, p rpc.TrailParams) (*state.TrailPage, error) {
	var r state.TrailPage
	return &r, c.c.CallContext(ctx, &r, "audit_trail", p)
}

// VerifyConsent asks whether a consent allows a request, at head.
func (c *Client) VerifyConsent(ctx context.Context, p rpc.VerifyParams) (*rpc.VerifyResult, error) {
	var r rpc.VerifyResult
	return &r, c.c.CallContext(ctx, &r, "consent_verify", p)
}

// Consent returns a patient's current consent of one type.
func (c *Client) Consent(ctx context.Context, patient, consentType string) (*state.Consent, error) {
	var r state.Consent
	return &r, c.c.CallContext(ctx, &r, "consent_get", rpc.ConsentParams{Patient: patient, ConsentType: consentType})
}

// ConsentHistory returns every version of a consent.
func (c *Client) ConsentHistory(ctx context.Context, patient, consentType string) ([]state.Consent, error) {
	var r []state.Consent
	return r, c.c.CallContext(ctx, &r, "consent_history", rpc.ConsentParams{Patient: patient, ConsentType: consentType})
}

// Head returns the signed head.
func (c *Client) Head(ctx context.Context) (*rpc.HeadResult, error) {
	var r rpc.HeadResult
	return &r, c.c.CallContext(ctx, &r, "chain_head")
}

// Block returns a block by height.
func (c *Client) Block(ctx context.Context, height uint64, full bool) (*rpc.BlockView, error) {
	var r rpc.BlockView
	return &r, c.c.CallContext(ctx, &r, "chain_block", rpc.BlockParams{Height: height, Full: full})
}

// Proof returns an inclusion proof of a tx against a signed header.
func (c *Client) Proof(ctx context.Context, h types.Hash, height uint64) (*rpc.ProofResult, error) {
	var r rpc.ProofResult
	return &r, c.c.CallContext(ctx, &r, "chain_proof", rpc.ProofParams{TxHash: h.String(), Height: height})
}

// Consistency returns a consistency proof between two heights.
func (c *Client) Consistency(ctx context.Context, from, to uint64) (*rpc.ConsistencyResult, error) {
	var r rpc.ConsistencyResult
	return &r, c.c.CallContext(ctx, &r, "chain_consistency", rpc.ConsistencyParams{From: from, To: to})
}

// Identity returns a registered identity.
func (c *Client) Identity(ctx context.Context, id string) (*state.Identity, error) {
	var r state.Identity
	return &r, c.c.CallContext(ctx, &r, "identity_get", id)
}

// EHRSystems lists registered EHR systems.
func (c *Client) EHRSystems(ctx context.Context) ([]state.EHRSystem, error) {
	var r []state.EHRSystem
	return r, c.c.CallContext(ctx, &r, "ehr_list")
}

// Status describes the node.
func (c *Client) Status(ctx context.Context) (*rpc.NodeStatus, error) {
	var r rpc.NodeStatus
	return &r, c.c.CallContext(ctx, &r, "node_status")
}

// Verify runs chain_verify and polls until it finishes, calling progress.
func (c *Client) Verify(ctx context.Context, opts verify.Options, progress func(done, total uint64)) (*verify.Report, error) {
	var job rpc.VerifyJob
	if err := c.c.CallContext(ctx, &job, "chain_verify", opts); err != nil {
		return nil, err
	}
	for {
		if err := c.c.CallContext(ctx, &job, "chain_verifyStatus", job.ID); err != nil {
			return nil, err
		}
		if progress != nil && job.Total > 0 {
			progress(job.Done, job.Total)
		}
		switch job.State {
		case "finished":
			return job.Report, nil
		case "failed":
			return nil, fmt.Errorf("client: verification failed: %s", job.Error)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Signer signs txs as one identity for one client.
type Signer struct {
	c     *Client
	id    string
	key   *crypto.PrivateKey
	nonce atomic.Uint64
}

// Signer returns a signer for identity id holding key.
func (c *Client) Signer(id string, key *crypto.PrivateKey) *Signer {
	s := &Signer{c: c, id: id, key: key}
	s.nonce.Store(uint64(time.Now().UnixMicro())) // distinct per signer session, and below 2^53 for JSON readers
	return s
}

// Build returns a signed tx carrying p, stamped now.
func (s *Signer) Build(p types.Payload) (*types.Tx, error) {
	tx, err := types.NewTx(s.c.chainID, s.id, p, time.Now(), s.nonce.Add(1))
	if err != nil {
		return nil, err
	}
	if err := tx.Sign(s.key); err != nil {
		return nil, err
	}
	return tx, nil
}

// Send signs p, submits it and waits for the commit receipt. A tx recorded
// as rejected in its block is returned as an error naming the result.
func (s *Signer) Send(ctx context.Context, p types.Payload) (*rpc.Receipt, error) {
	tx, err := s.Build(p)
	if err != nil {
		return nil, err
	}
	r, err := s.c.Submit(ctx, tx, true)
	if err != nil {
		return nil, err
	}
	if r.Receipt == nil {
		return nil, fmt.Errorf("client: tx %s submitted but no receipt returned", r.TxHash)
	}
	if !r.Receipt.Result.OK() {
		return r.Receipt, fmt.Errorf("tx %s was recorded as rejected: %s: %s", r.TxHash, r.Receipt.Result.Code, r.Receipt.Result.Reason)
	}
	return r.Receipt, nil
}

// SubmitMany sends txs in one tx_submitBatch call (CBOR unless the
// client's encoding is EncodingJSON); with wait it returns after every
// admitted tx commits. Per-tx failures are in the items.
func (c *Client) SubmitMany(ctx context.Context, txs []*types.Tx, wait bool) ([]rpc.BatchItem, error) {
	if len(txs) == 0 {
		return nil, nil
	}
	if c.useCBOR() {
		items, err := c.submitManyCBOR(ctx, txs, wait)
		if !errors.Is(err, errNoCBOR) {
			return items, err
		}
	}
	p := rpc.SubmitBatchParams{Txs: make([]string, len(txs)), Wait: wait}
	for i, tx := range txs {
		p.Txs[i] = base64.StdEncoding.EncodeToString(tx.Encode())
	}
	var out []rpc.BatchItem
	return out, c.c.CallContext(ctx, &out, "tx_submitBatch", p)
}

// ClusterStatus calls cluster_status.
func (c *Client) ClusterStatus(ctx context.Context) (*rpc.ClusterStatus, error) {
	var r rpc.ClusterStatus
	return &r, c.c.CallContext(ctx, &r, "cluster_status")
}

// TransferLeader calls cluster_transferLeader; to "" lets the leader choose.
func (c *Client) TransferLeader(ctx context.Context, to string) error {
	var r map[string]string
	return c.c.CallContext(ctx, &r, "cluster_transferLeader", rpc.TransferLeaderParams{To: to})
}

// Nodes calls cluster_nodes.
func (c *Client) Nodes(ctx context.Context) ([]state.NodeRecord, error) {
	var r []state.NodeRecord
	return r, c.c.CallContext(ctx, &r, "cluster_nodes")
}

// Genesis calls cluster_genesis.
func (c *Client) Genesis(ctx context.Context) (*state.Genesis, error) {
	var g state.Genesis
	return &g, c.c.CallContext(ctx, &g, "cluster_genesis")
}

// CreateContract builds a contract from a template and terms (or rules)
// without recording anything; sign the returned Deploy payload and send it
// with DeployContract.
func (c *Client) CreateContract(ctx context.Context, p rpc.CreateParams) (*rpc.CreateResult, error) {
	var r rpc.CreateResult
	return &r, c.c.CallContext(ctx, &r, "contract_create", p)
}

// DeployContract sends a signed contract_deploy, contract_upgrade or
// contract_retire tx and waits for its block.
func (c *Client) DeployContract(ctx context.Context, tx *types.Tx) (*rpc.ContractTxResult, error) {
	var r rpc.ContractTxResult
	return &r, c.c.CallContext(ctx, &r, "contract_deploy", rpc.ContractTxParams{Tx: base64.StdEncoding.EncodeToString(tx.Encode())})
}

// ExecuteContract sends a signed contract_execute tx and returns the
// recorded decision.
func (c *Client) ExecuteContract(ctx context.Context, tx *types.Tx) (*rpc.ExecuteResult, error) {
	var r rpc.ExecuteResult
	return &r, c.c.CallContext(ctx, &r, "contract_execute", rpc.ContractTxParams{Tx: base64.StdEncoding.EncodeToString(tx.Encode())})
}

// SimulateContract runs a contract at head without recording anything.
func (c *Client) SimulateContract(ctx context.Context, p rpc.SimulateParams) (*rpc.ExecuteResult, error) {
	var r rpc.ExecuteResult
	return &r, c.c.CallContext(ctx, &r, "contract_simulate", p)
}

// Contract returns a contract (version 0: the current one).
func (c *Client) Contract(ctx context.Context, id string, version uint64) (*rpc.ContractView, error) {
	var r rpc.ContractView
	return &r, c.c.CallContext(ctx, &r, "contract_get", rpc.ContractGetParams{ID: id, Version: version})
}

// ContractExecutions returns a page of a contract's executions.
func (c *Client) ContractExecutions(ctx context.Context, p rpc.PageParams) (*rpc.ExecutionsPage, error) {
	var r rpc.ExecutionsPage
	return &r, c.c.CallContext(ctx, &r, "contract_executions", p)
}

// ContractReviews returns a page of open reviews.
func (c *Client) ContractReviews(ctx context.Context, p rpc.PageParams) (*state.ReviewPage, error) {
	var r state.ReviewPage
	return &r, c.c.CallContext(ctx, &r, "contract_reviews", p)
}

// ContractReview returns the review of one flagged execution.
func (c *Client) ContractReview(ctx context.Context, executionTx types.Hash) (*state.Review, error) {
	var r state.Review
	return &r, c.c.CallContext(ctx, &r, "contract_getReview", executionTx.String())
}
