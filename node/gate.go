package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sync/atomic"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/chain/crypto/seal"
	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/node/config"
	"github.com/medchain/medchain/node/rpc"
	"github.com/medchain/medchain/node/zerotrust"
)

// Files of the zero-trust gate inside a data dir.
const (
	sealKeyFile     = "keys/seal.key"         // the node's ML-KEM-768+X25519 key (0600)
	dataKeyFile     = "keys/data.key.wrapped" // the node data key, wrapped to sealKeyFile
	mfaDir          = "mfa"                   // one sealed TOTP seed per identity
	sessionsFile    = "zerotrust/sessions.journal"
	oldSessionsFile = "zerotrust/sessions.json" // the store before the journal; removed at start
	dataKeyAAD      = "medchain/node-data-key/v1"
	accessDeniedEvt = "access_denied"
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
// key, current roles, revocation, and the sealed seed store for MFA.
type chainIdentities struct {
	n     *Node
	seeds *sealedSeeds
}

// Lookup implements zerotrust.Identities with one local store read.
func (c chainIdentities) Lookup(_ context.Context, id string) (zerotrust.Identity, error) {
	rec, err := state.GetIdentity(c.n.cons.Store(), id)
	if err != nil || rec == nil {
		return zerotrust.Identity{}, fmt.Errorf("%w: %q", zerotrust.ErrUnknownIdentity, id)
	}
	return zerotrust.Identity{Roles: rec.Roles, PublicKey: rec.PublicKey, Clearance: clearanceFor(rec.Roles),
		Revoked: rec.Revoked, MFAEnrolled: c.seeds.enrolled(id)}, nil
}

var _ zerotrust.Identities = chainIdentities{}

// sealedSeeds keeps TOTP seeds on this node's disk sealed (AES-256-GCM)
// under the node data key, which is itself stored wrapped to the node's
// ML-KEM-768+X25519 key. It implements zerotrust.SeedSource. Distributing
// one cluster data key to every node (so any node verifies any identity's
// code) is the cluster-key work of issues 3 and 6; until then a session with
// MFA can be opened on the node where the identity enrolled.
type sealedSeeds struct {
	dir     string
	chainID string
	key     *seal.DataKey
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)

func openSealedSeeds(cfg config.Config, chainID string) (*sealedSeeds, error) {
	kemPath, wrappedPath := cfg.Path(sealKeyFile), cfg.Path(dataKeyFile)
	kem, err := seal.LoadKey(kemPath)
	if _, serr := os.Stat(kemPath); errors.Is(serr, os.ErrNotExist) {
		if kem, err = seal.GenerateKey(seal.DefaultAlgorithm, rand.Reader); err == nil {
			err = seal.SaveKey(kemPath, kem)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("node: seal key: %w", err)
	}
	var dk *seal.DataKey
	wrapped, err := os.ReadFile(wrappedPath)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if dk, err = seal.NewDataKey(rand.Reader); err != nil {
			return nil, err
		}
		w, err := seal.WrapKey(kem.Public(), dk, []byte(dataKeyAAD))
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(wrappedPath, w, 0o600); err != nil {
			return nil, fmt.Errorf("node: data key: %w", err)
		}
	case err != nil:
		return nil, fmt.Errorf("node: data key: %w", err)
	default:
		if dk, err = seal.UnwrapKey(kem, wrapped, []byte(dataKeyAAD)); err != nil {
			return nil, fmt.Errorf("node: data key: %w", err)
		}
	}
	dir := cfg.Path(mfaDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	return &sealedSeeds{dir: dir, chainID: chainID, key: dk}, nil
}

func (s *sealedSeeds) path(id string) string { return filepath.Join(s.dir, id+".seed") }
func (s *sealedSeeds) aad(id string) []byte {
	return []byte("medchain/totp-seed/v1\x00" + s.chainID + "\x00" + id)
}

func (s *sealedSeeds) enrolled(id string) bool {
	if !idPattern.MatchString(id) {
		return false
	}
	_, err := os.Stat(s.path(id))
	return err == nil
}

// Seed implements zerotrust.SeedSource.
func (s *sealedSeeds) Seed(_ context.Context, id string) (string, error) {
	if !idPattern.MatchString(id) {
		return "", fmt.Errorf("%w: %q", zerotrust.ErrMFANotEnrolled, id)
	}
	b, err := os.ReadFile(s.path(id))
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("%w: %q", zerotrust.ErrMFANotEnrolled, id)
	}
	if err != nil {
		return "", err
	}
	pt, err := s.key.Open(b, s.aad(id))
	if err != nil {
		return "", fmt.Errorf("node: sealed seed of %q does not open: %w", id, err)
	}
	return string(pt), nil
}

// Enroll implements rpc.Enroller: a fresh seed, sealed, written once.
func (s *sealedSeeds) Enroll(_ context.Context, id string) (string, error) {
	if !idPattern.MatchString(id) {
		return "", fmt.Errorf("node: bad identity %q", id)
	}
	k, err := totp.Generate(totp.GenerateOpts{Issuer: "medchain " + s.chainID, AccountName: id, Rand: rand.Reader})
	if err != nil {
		return "", fmt.Errorf("node: totp: %w", err)
	}
	sealed, err := s.key.Seal([]byte(k.Secret()), s.aad(id))
	if err != nil {
		return "", err
	}
	f, err := os.OpenFile(s.path(id), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("%q is already enrolled in MFA; an administrator must reset it", id)
	}
	if err != nil {
		return "", err
	}
	if _, err := f.Write(sealed); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return k.URL(), nil
}

var (
	_ zerotrust.SeedSource = (*sealedSeeds)(nil)
	_ rpc.Enroller         = (*sealedSeeds)(nil)
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
	done    chan struct{}
}

const denialQueue = 1024

func newDenials(n *Node, key *crypto.PrivateKey) *denials {
	d := &denials{n: n, key: key, q: make(chan rpc.Denial, denialQueue), done: make(chan struct{})}
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

func idOr(s, def string) string {
	if idPattern.MatchString(s) {
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

func (d *denials) run() {
	defer close(d.done)
	for x := range d.q {
		p := &types.AuditRecord{EventType: accessDeniedEvt, Patient: idOr(x.Patient, "unknown"), Actor: idOr(x.Identity, "anonymous"),
			Action: idOr(x.Method, "unknown_method"), Outcome: "denied", SessionID: idOr(x.SessionID, ""),
			Details: map[string]string{"reason": clip(x.Reason, 512), "address": clip(x.Address, 64), "node": d.n.cfg.Node.ID}}
		if x.Policy != "" {
			p.Details["policy"] = clip(x.Policy, 128)
		}
		p.Resource = clip(x.Resource, 256)
		if p.ValidateBasic() != nil {
			p.Resource = ""
		}
		tx, err := types.NewTx(d.n.genesis.ChainID, d.n.cfg.Node.ID, p, time.Now(), d.nonce.Add(1))
		if err == nil {
			err = tx.Sign(d.key)
		}
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err = d.n.Submit(ctx, tx)
			cancel()
		}
		if err != nil {
			d.n.log.Warn("zerotrust: could not record an access denial on chain", "method", x.Method, "identity", x.Identity, "err", err)
		}
	}
}

func (d *denials) close() {
	close(d.q)
	<-d.done
}

// openGate builds the gate of a node whose config enables it.
func (n *Node) openGate(key *crypto.PrivateKey, log *slog.Logger) (*rpc.GateConfig, error) {
	zc, err := gateConfig(n.cfg, n.genesis.ChainID)
	if err != nil || !zc.Enabled {
		return nil, err
	}
	seeds, err := openSealedSeeds(n.cfg, n.genesis.ChainID)
	if err != nil {
		return nil, err
	}
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
		MFA: zerotrust.NewTOTP(seeds), Store: store, Alerter: alerter, Logger: log})
	if err != nil {
		store.Close()
		return nil, err
	}
	n.gate = g
	n.denials = newDenials(n, key)
	n.sweeper = sweepSessions(g, sweepInterval(zc), log)
	return &rpc.GateConfig{Gate: g, MFA: seeds, OnDenied: n.denials.record}, nil
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
