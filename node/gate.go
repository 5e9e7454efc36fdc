package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/node/config"
	"github.com/medchain/medchain/node/rpc"
	"github.com/medchain/medchain/node/zerotrust"
)

// Files of the zero-trust gate inside a data dir.
const (
	sessionsFile    = "zerotrust/sessions.journal"
	oldSessionsFile = "zerotrust/sessions.json" // the store before the journal; removed at start
	accessDeniedEvt = types.EventAccessDenied
)

// gateConfig maps the node config onto zerotrust.Config.
func gateConfig(cfg config.Config, chainID string) (zerotrust.Config, error) {
	zc := zerotrust.DefaultConfig()
	z := cfg.ZeroTrust
	zc.Enabled = z.Enabled
	zc.ChainID = chainID
	// config.DefaultConfig holds zerotrust.DefaultConfig's values, so every
	// field is copied as is: an explicit 0 (in TOML or the environment)
	// means 0, and Validate below refuses the zeros that make no sense,
	// naming the field.
	zc.ReauthInterval = z.ReauthInterval.D()
	zc.IdleTimeout = z.IdleTimeout.D()
	zc.AbsoluteTimeout = z.AbsoluteTimeout.D()
	zc.Lockout.Duration = z.LockoutDuration.D()
	zc.Quarantine.Duration = z.QuarantineDuration.D()
	zc.MaxSessionsPerIdentity = z.MaxSessionsPerIdentity
	zc.MaxRisk = z.MaxRisk
	zc.RateLimit.AdminPerMinute = z.AdminPerMinute
	zc.RateLimit.UserPerMinute = z.UserPerMinute
	zc.RateLimit.Burst = z.Burst
	zc.Request.MaxBatch = z.MaxBatch
	zc.Lockout.MaxFailures = z.LockoutFailures
	zc.Methods = rpc.MethodRules()
	zc.Request.MaxBodyBytes = int64(cfg.RPC.MaxBodyBytes)
	if err := zerotrust.ApplyEnv(&zc, os.LookupEnv); err != nil {
		return zc, err
	}
	return zc, zc.Validate()
}

// clearanceFor is the most sensitive segment an identity's roles reach:
// clinicians and physicians critical; EHR services and admins clinical;
// privacy officers and auditors internal; everyone else public.
func clearanceFor(roles []string) zerotrust.Segment {
	c := zerotrust.SegmentPublic
	for _, r := range roles {
		var s zerotrust.Segment
		switch r {
		case types.RoleClinician, types.RolePhysician:
			s = zerotrust.SegmentCritical
		case types.RoleEHR, types.RoleAdmin:
			s = zerotrust.SegmentClinical
		case types.RolePrivacyOfficer, types.RoleAuditor:
			s = zerotrust.SegmentInternal
		}
		c = max(c, s)
	}
	return c
}

// chainIdentities resolves gate identities from chain state: the registered
// key, current roles, revocation, and the MFA enrolment.
type chainIdentities struct {
	n     *Node
	seeds *chainSeeds
}

// Lookup implements zerotrust.Identities with local store reads.
func (c chainIdentities) Lookup(_ context.Context, id string) (zerotrust.Identity, error) {
	rec, err := state.GetIdentity(c.n.cons.Store(), id)
	if err != nil || rec == nil {
		return zerotrust.Identity{}, zerotrust.ErrUnknownIdentity // not quoted: the id may be a patient's MRN (it is logged)
	}
	return zerotrust.Identity{Roles: rec.Roles, PublicKey: rec.PublicKey, Clearance: clearanceFor(rec.Roles),
		Revoked: rec.Revoked, MFAEnrolled: c.seeds.enrolled(id)}, nil
}

var _ zerotrust.Identities = chainIdentities{}

// ErrMFAUnavailable is wrapped by the error MFA verification and enrolment
// return on a node that does not hold the cluster data key yet (a node just
// admitted, before it applies its grant).
var ErrMFAUnavailable = errors.New("node: MFA unavailable on this node")

// chainSeeds keeps TOTP seeds on chain: auth_mfaEnroll seals a fresh seed
// under the cluster data key (types.MFASeedAAD: chain id + identity) and
// commits an mfa_enroll tx signed by this node; any node holding the cluster
// key opens it. The seed is never stored, logged or returned in clear, except
// once in the enrolment URI. It implements zerotrust.SeedSource and
// rpc.Enroller.
type chainSeeds struct {
	chainID string
	nodeID  string
	key     *crypto.PrivateKey // signs mfa_enroll
	view    func() state.View  // committed state
	keys    ClusterKeyring
	submit  func(context.Context, *types.Tx) (rpc.Receipt, error) // submits and waits for the commit
	// applied waits until the tx with the given hash is applied on this
	// node (its block stored here), whoever proposed it; nil when submit's
	// receipt already means that (a store with no replicas).
	applied func(context.Context, types.Hash) error
	// timeout bounds an enrolment from submission to local apply (the
	// node's rpc.wait_timeout, as for tx_submit with wait).
	timeout time.Duration
	nonce   atomic.Uint64
}

func newChainSeeds(n *Node) *chainSeeds {
	s := &chainSeeds{chainID: n.genesis.ChainID, nodeID: n.cfg.Node.ID, key: n.key, keys: n.keys,
		view: func() state.View { return n.cons.Store() }, submit: n.SubmitAndWait,
		applied: func(ctx context.Context, h types.Hash) error {
			_, err := n.cons.WaitTx(ctx, h)
			return mapErr(err)
		},
		timeout: n.cfg.RPC.WaitTimeout.D()}
	s.nonce.Store(uint64(time.Now().UnixNano()))
	return s
}

func (s *chainSeeds) enrolment(id string) (*state.MFAEnrolment, error) {
	if types.ValidateID("identity", id) != nil {
		return nil, nil
	}
	return state.GetMFAEnrolment(s.view(), id)
}

func (s *chainSeeds) enrolled(id string) bool {
	e, err := s.enrolment(id)
	return err == nil && e != nil
}

// Seed implements zerotrust.SeedSource.
func (s *chainSeeds) Seed(_ context.Context, id string) (string, error) {
	e, err := s.enrolment(id)
	if err != nil {
		return "", fmt.Errorf("node: read the MFA enrolment of %q: %w", id, err)
	}
	if e == nil {
		return "", fmt.Errorf("%w: %q", zerotrust.ErrMFANotEnrolled, id)
	}
	dk, err := s.keys.ClusterKey()
	if err != nil {
		return "", fmt.Errorf("%w: MFA verification needs the cluster data key: %v", ErrMFAUnavailable, err)
	}
	if dk.ID() != e.KeyID {
		return "", fmt.Errorf("%w: the seed of %q is sealed under key %s, this node holds %s", ErrMFAUnavailable, id, e.KeyID, dk.ID())
	}
	pt, err := dk.Open(e.SealedSeed, types.MFASeedAAD(s.chainID, id))
	if err != nil {
		return "", fmt.Errorf("node: the sealed seed of %q does not open: %w", id, err)
	}
	return string(pt), nil
}

// Enroll implements rpc.Enroller: a fresh seed, sealed under the cluster key
// and committed on chain, once per identity. It returns the URI only once
// this node has applied the enrolment and its state holds this very seed,
// so a login with a code of it on this node is verified at once (a code
// refused for want of the seed would count toward the lockout). The wait,
// from submission to local apply, is bounded by s.timeout; past it the
// error (rpc.CodeTimeout) says the enrolment may still commit.
func (s *chainSeeds) Enroll(ctx context.Context, id string) (string, error) {
	if err := types.ValidateID("identity", id); err != nil {
		return "", fmt.Errorf("node: bad identity: %w", err)
	}
	if s.enrolled(id) {
		return "", fmt.Errorf("%w: %q; an administrator must reset it", rpc.ErrAlreadyEnrolled, id)
	}
	dk, err := s.keys.ClusterKey()
	if err != nil {
		return "", fmt.Errorf("%w: MFA enrolment needs the cluster data key: %v", ErrMFAUnavailable, err)
	}
	chainID := s.chainID
	k, err := totp.Generate(totp.GenerateOpts{Issuer: "medchain " + chainID, AccountName: id, Rand: rand.Reader})
	if err != nil {
		return "", fmt.Errorf("node: totp: %w", err)
	}
	sealed, err := dk.Seal([]byte(k.Secret()), types.MFASeedAAD(chainID, id))
	if err != nil {
		return "", err
	}
	tx, err := types.NewTx(chainID, s.nodeID, &types.MFAEnroll{Identity: id, KeyID: dk.ID(), SealedSeed: sealed}, time.Now(), s.nonce.Add(1))
	if err != nil {
		return "", err
	}
	if err := tx.Sign(s.key); err != nil {
		return "", err
	}
	if s.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.timeout)
		defer cancel()
	}
	r, err := s.submit(ctx, tx)
	if err != nil {
		return "", s.enrollErr(ctx, id, "not committed", err)
	}
	if !r.Result.OK() {
		if r.Result.Code == types.CodeConflict && s.enrolled(id) { // another enrolment won the race
			return "", fmt.Errorf("%w: %q (enrolled at the same time elsewhere); an administrator must reset it", rpc.ErrAlreadyEnrolled, id)
		}
		return "", fmt.Errorf("node: MFA enrolment of %q refused: %s: %s", id, r.Result.Code, r.Result.Reason)
	}
	// The receipt may come from another node's commit (a forwarded tx);
	// the login that follows reads this node's state.
	if s.applied != nil {
		if err := s.applied(ctx, r.TxHash); err != nil {
			return "", s.enrollErr(ctx, id, fmt.Sprintf("committed at height %d but not yet applied on this node", r.Height), err)
		}
	}
	e, err := s.enrolment(id)
	if err != nil {
		return "", fmt.Errorf("node: read back the MFA enrolment of %q: %w", id, err)
	}
	if e == nil || e.TxHash != r.TxHash {
		return "", fmt.Errorf("node: MFA enrolment of %q committed at height %d, but this node's state does not hold it after applying that block", id, r.Height)
	}
	return k.URL(), nil
}

// enrollErr explains a failed wait for an enrolment: past the deadline it
// is rpc.CodeTimeout and says the enrolment may still commit (its seed is
// then lost: the URI is never shown for an enrolment this node does not
// hold, so an administrator resets it); other errors keep their kind.
func (s *chainSeeds) enrollErr(ctx context.Context, id, what string, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, rpc.ErrTimeout) {
		return &rpc.Error{Code: rpc.CodeTimeout, Msg: fmt.Sprintf("node: MFA enrolment of %q %s within %s: it may still commit; "+
			"log in again and retry auth_mfaEnroll, and if it answers already enrolled, an administrator must reset it (medchain mfa reset)", id, what, s.timeout)}
	}
	return fmt.Errorf("node: MFA enrolment of %q %s: %w", id, what, err)
}

var (
	_ zerotrust.SeedSource = (*chainSeeds)(nil)
	_ rpc.Enroller         = (*chainSeeds)(nil)
)

// denials records refused accesses on chain as audit_record txs with event
// type access_denied, signed by the node. A bounded queue keeps a flood of
// refusals from becoming a flood of work: past it, refusals are counted and
// logged as dropped.
type denials struct {
	n       *Node
	key     *crypto.PrivateKey
	q       chan rpc.Denial
	nonce   atomic.Uint64
	dropped atomic.Uint64
	quit    chan struct{} // closed by close: stop submitting
	done    chan struct{}
}

const denialQueue = 1024

func newDenials(n *Node, key *crypto.PrivateKey) *denials {
	d := &denials{n: n, key: key, q: make(chan rpc.Denial, denialQueue), quit: make(chan struct{}), done: make(chan struct{})}
	d.nonce.Store(uint64(time.Now().UnixNano()))
	go d.run()
	return d
}

func (d *denials) record(x rpc.Denial) {
	select {
	case d.q <- x:
	default:
		if d.dropped.Add(1)%100 == 1 {
			d.n.log.Warn("zerotrust: access-denied audit queue full; refusals not recorded on chain", "dropped", d.dropped.Load())
		}
	}
}

// idOr returns s if it is a valid identifier on chain (types.ValidateID:
// the rule every id field of a tx follows, so a refusal names the patient
// or identity exactly as a tx about them would), else def.
func idOr(s, def string) string {
	if types.ValidateID("id", s) == nil {
		return s
	}
	return def
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// denialRecord is the audit event recording refusal x at node nodeID. A
// refusal that names no patient (or names one by no valid id) is recorded
// naming none (types.EventAccessDenied allows it): it is stored in clear,
// in no patient's trail, and found through its actor's trail; it then
// carries no resource, since in clear a FHIR reference could name a
// patient, and no client address (types.DenialDetails): the chain keeps no
// request log in clear, never pruned. A refusal naming a patient is
// recorded under that patient, with the address, and stored redacted like
// any event about them.
func denialRecord(x rpc.Denial, nodeID string) *types.AuditRecord {
	p := &types.AuditRecord{EventType: accessDeniedEvt, Patient: idOr(x.Patient, ""), Actor: idOr(x.Identity, types.AnonymousActor),
		Action: idOr(x.Method, "unknown_method"), Outcome: "denied", SessionID: idOr(x.SessionID, ""),
		Details: map[string]string{"reason": clip(x.Reason, 512), "node": nodeID}}
	if x.Policy != "" {
		p.Details["policy"] = clip(x.Policy, 128)
	}
	if p.Patient != "" { // sealed with the patient's key, pruned with the audit logs
		p.Details["address"] = clip(x.Address, 64)
		p.Resource = clip(x.Resource, 256)
		if p.ValidateBasic() != nil {
			p.Resource = ""
		}
	}
	return p
}

func (d *denials) run() {
	defer close(d.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-d.quit:
			cancel()
		case <-ctx.Done():
		}
	}()
	unsent := 0
	defer func() {
		if unsent > 0 {
			d.n.log.Warn("zerotrust: node closing; access denials not recorded on chain", "count", unsent)
		}
	}()
	for x := range d.q {
		if ctx.Err() != nil {
			unsent++
			continue
		}
		x.Identity = d.knownIdentity(x.Identity)
		x.Patient, x.Resource = d.knownPatient(x)
		p := denialRecord(x, d.n.cfg.Node.ID)
		tx, err := types.NewTx(d.n.genesis.ChainID, d.n.cfg.Node.ID, p, time.Now(), d.nonce.Add(1))
		if err == nil {
			err = tx.Sign(d.key)
		}
		if err == nil {
			sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
			_, err = d.n.Submit(sctx, tx)
			scancel()
		}
		if err != nil {
			d.n.log.Warn("zerotrust: could not record an access denial on chain", "method", x.Method, "identity", x.Identity, "err", err)
		}
	}
}

// knownIdentity returns the actor a refusal is recorded under: id when the
// chain registers it (a revoked identity still counts: it is accountable),
// else "" (recorded as types.AnonymousActor). A refused login carries the
// identity the caller claimed, any id-shaped string (a patient's MRN, a
// person's name); recorded as the actor it would be stored in clear, never
// pruned, so only an identity the chain already names is.
func (d *denials) knownIdentity(id string) string {
	if id == "" || types.ValidateID("identity", id) != nil {
		return ""
	}
	rec, err := state.GetIdentity(d.n.cons.Store(), id)
	if err != nil || rec == nil {
		return ""
	}
	return id
}

// knownPatient returns the patient and resource a refusal is recorded under.
// On a chain that pseudonymizes, a request may name any string as a patient,
// with a session or without, and recording the refusal under that id would
// make the leader draw a pseudonym and a key for it (the vault would grow by
// one entry per string a caller invents, without bound, and a session could
// make the chain record that an id it guessed is somebody's): so a refusal
// is recorded under the patient only when the chain already records that
// patient, else naming none. The dropped id is not kept in clear either,
// since it may be a real patient's; the refusal stays in its actor's trail.
// An erased patient is never named (the tx would be refused), nor is a
// pseudonym (a patient is named by id: the gate never learns whose a
// pseudonym is, and admission refuses a tx naming one).
func (d *denials) knownPatient(x rpc.Denial) (patient, resource string) {
	if x.Patient == "" || !d.n.cons.Pseudonymizes() {
		return x.Patient, x.Resource // on a chain without pseudonyms, stored as named
	}
	if types.IsPseudonym(x.Patient) {
		return "", ""
	}
	if _, err := d.n.Pseudonym(x.Patient); err != nil {
		return "", "" // unknown, erased, or the vault unreadable
	}
	return x.Patient, x.Resource
}

// close stops the recorder: a submission in progress is cancelled and the
// refusals still queued are counted in the log, not submitted, so closing a
// node never waits on up to denialQueue submissions of 5 s each (on a
// follower whose leader is gone, each would run to its timeout).
func (d *denials) close() {
	close(d.quit)
	close(d.q)
	<-d.done
}

// openGate builds the gate of a node whose config enables it.
func (n *Node) openGate(key *crypto.PrivateKey, log *slog.Logger) (*rpc.GateConfig, error) {
	zc, err := gateConfig(n.cfg, n.genesis.ChainID)
	if err != nil || !zc.Enabled {
		return nil, err
	}
	seeds := newChainSeeds(n)
	if err := os.MkdirAll(filepath.Dir(n.cfg.Path(sessionsFile)), 0o700); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	store, err := zerotrust.OpenJournalStore(n.cfg.Path(sessionsFile))
	if err != nil {
		return nil, err
	}
	if torn := store.TornTail(); torn > 0 {
		log.Warn("zerotrust: the session journal's last write was torn by a crash and dropped (it was never acknowledged)", "bytes", torn)
	}
	if err := os.Remove(n.cfg.Path(oldSessionsFile)); err == nil {
		log.Info("zerotrust: sessions of the old session file were dropped; their clients log in again")
	}
	var alerter zerotrust.Alerter = zerotrust.SlogAlerter{Logger: log}
	if n.cfg.ZeroTrust.AlertWebhook != "" {
		alerter = zerotrust.MultiAlerter{alerter, &zerotrust.WebhookAlerter{URL: n.cfg.ZeroTrust.AlertWebhook}}
	}
	g, err := zerotrust.NewGate(zc, zerotrust.Options{Identities: chainIdentities{n: n, seeds: seeds},
		MFA: n.mfa(seeds), Store: store, Alerter: alerter, Logger: log})
	if err != nil {
		store.Close()
		return nil, err
	}
	n.gate = g
	n.denials = newDenials(n, key)
	n.sweeper = sweepSessions(g, sweepInterval(zc), log)
	return &rpc.GateConfig{Gate: g, MFA: seeds, OnDenied: n.denials.record}, nil
}

// mfa is the gate's TOTP verifier over seeds; in a cluster an accepted code
// is also claimed at the leader, so it is single use cluster-wide.
func (n *Node) mfa(seeds zerotrust.SeedSource) zerotrust.MFA {
	m := &clusterMFA{local: zerotrust.NewTOTP(seeds)}
	if n.cl != nil {
		m.claim = n.cl.claimCode
	}
	return m
}

// sweepInterval is how often expired sessions are deleted: a tenth of the
// idle timeout, between 1 s and 1 min.
func sweepInterval(zc zerotrust.Config) time.Duration {
	return min(max(zc.IdleTimeout/10, time.Second), time.Minute)
}

// sweepSessions calls g.Sweep every interval until the returned stop
// function is called (it waits for a sweep in progress).
func sweepSessions(g *zerotrust.Gate, every time.Duration, log *slog.Logger) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				if n, err := g.Sweep(); err != nil {
					log.Warn("zerotrust: session sweep", "err", err)
				} else if n > 0 {
					log.Debug("zerotrust: expired sessions deleted", "count", n)
				}
			}
		}
	}()
	return func() { close(quit); <-done }
}
