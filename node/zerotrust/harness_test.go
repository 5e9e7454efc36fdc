package zerotrust

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/medchain/medchain/chain/crypto"
)

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

const (
	testAddr   = "192.0.2.10:51000"
	testDevice = "laptop-7f3a"
	testSeed   = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
)

// recAlerter records alerts for assertions.
type recAlerter struct {
	mu     sync.Mutex
	alerts []Alert
}

func (r *recAlerter) Alert(_ context.Context, a Alert) error {
	r.mu.Lock()
	r.alerts = append(r.alerts, a)
	r.mu.Unlock()
	return nil
}

func (r *recAlerter) kinds() map[AlertKind]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := map[AlertKind]int{}
	for _, a := range r.alerts {
		m[a.Kind]++
	}
	return m
}

type harness struct {
	t      testing.TB
	ctx    context.Context
	clock  *ManualClock
	ids    *MemIdentities
	seeds  MemSeeds
	keys   map[string]*crypto.PrivateKey
	alerts *recAlerter
	gate   *Gate
	rng    *rand.ChaCha8
}

func testKey(t testing.TB, n byte) *crypto.PrivateKey {
	t.Helper()
	var s [32]byte
	s[0] = n
	k, err := crypto.GenerateKey(crypto.MLDSA65, rand.NewChaCha8(s))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newHarness builds a gate on a manual clock with deterministic randomness.
func newHarness(t testing.TB, mutate func(*Config), o ...func(*Options)) *harness {
	t.Helper()
	cfg := DefaultConfig()
	cfg.ChainID = "medchain-test"
	if mutate != nil {
		mutate(&cfg)
	}
	h := &harness{
		t: t, ctx: context.Background(), clock: NewManualClock(t0), ids: NewMemIdentities(),
		seeds: MemSeeds{}, keys: map[string]*crypto.PrivateKey{}, alerts: &recAlerter{},
		rng: rand.NewChaCha8([32]byte{42}),
	}
	opts := Options{Logger: slog.New(slog.DiscardHandler), Identities: h.ids, MFA: NewTOTP(h.seeds), Alerter: h.alerts, Clock: h.clock, Rand: h.rng}
	for _, f := range o {
		f(&opts)
	}
	g, err := NewGate(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	h.gate = g
	return h
}

func (h *harness) addIdentity(id string, clearance Segment, mfa bool, roles ...string) {
	h.t.Helper()
	k := testKey(h.t, byte(len(h.keys)+1))
	h.keys[id] = k
	if mfa {
		h.seeds[id] = testSeed
	}
	h.ids.Put(id, Identity{Roles: roles, PublicKey: k.Public(), Clearance: clearance, MFAEnrolled: mfa})
}

// code returns the current TOTP code for the test seed.
func (h *harness) code() string {
	h.t.Helper()
	c, err := totp.GenerateCodeCustom(testSeed, h.clock.Now(), totpOpts)
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

// signedLogin returns a login request answering a fresh challenge.
func (h *harness) signedLogin(id, code string) LoginRequest {
	h.t.Helper()
	ch, err := h.gate.IssueChallenge(h.ctx, id, testDevice, testAddr)
	if err != nil {
		h.t.Fatalf("challenge: %v", err)
	}
	sig, err := h.keys[id].Sign(ch.SignBytes())
	if err != nil {
		h.t.Fatal(err)
	}
	return LoginRequest{Identity: id, DeviceKeyID: testDevice, Nonce: ch.Nonce, Signature: sig, TOTP: code, RemoteAddr: testAddr}
}

// login logs id in (with TOTP if enrolled) and moves it to seg.
func (h *harness) login(id string, seg Segment) string {
	h.t.Helper()
	code := ""
	if _, ok := h.seeds[id]; ok {
		code = h.code()
	}
	req := h.signedLogin(id, code)
	req.Segment = seg
	tok, _, err := h.gate.Login(h.ctx, req)
	if err != nil {
		h.t.Fatalf("login %s: %v", id, err)
	}
	return tok
}

func (h *harness) refresh(token string) error {
	h.t.Helper()
	ch, err := h.gate.RefreshChallenge(h.ctx, token, testAddr)
	if err != nil {
		return err
	}
	s, err := h.gate.store.Get(mustHash(h.t, token))
	if err != nil {
		return err
	}
	sig, _ := h.keys[s.Identity].Sign(ch.SignBytes())
	_, err = h.gate.Refresh(h.ctx, RefreshRequest{Token: token, Nonce: ch.Nonce, Signature: sig, RemoteAddr: testAddr})
	return err
}

func mustHash(t testing.TB, tok string) TokenHash {
	t.Helper()
	hh, err := HashToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	return hh
}

// waitAlerts waits for pending alert deliveries.
func (h *harness) waitAlerts() { h.gate.alertWG.Wait() }

func generateAt(at time.Time) (string, error) {
	return totp.GenerateCodeCustom(testSeed, at, totpOpts)
}
