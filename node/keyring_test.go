package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/chain/crypto/seal"
	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/node/rpc"
	"github.com/medchain/medchain/node/zerotrust"
)

// keyringChain is a genesis state whose node-1 holds a grant for seal key sk.
func keyringChain(t *testing.T, grant bool) (*state.MemView, *seal.PrivateKey) {
	t.Helper()
	sk, err := seal.GenerateKey(seal.MLKEM768X25519, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	nk, err := crypto.GenerateKey(crypto.MLDSA44, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	g := &state.Genesis{ChainID: "kr-chain", Time: time.Now().UnixMilli(), Params: state.DefaultParams(), Identities: []types.IdentityRegister{
		{ID: "admin", Kind: types.KindPerson, Roles: []string{types.RoleAdmin}, PublicKey: nk.Public()},
		{ID: "node-1", Kind: types.KindNode, Roles: []string{types.RoleNode}, PublicKey: nk.Public()},
	}}
	if grant {
		if g.ClusterKeyGrants, err = newClusterKeyGrants(g.ChainID, []string{"node-1"}, []seal.PublicKey{sk.Public()}); err != nil {
			t.Fatal(err)
		}
	}
	ex, err := state.NewExecutor(g)
	if err != nil {
		t.Fatal(err)
	}
	v := state.NewMemView()
	ws, _ := ex.GenesisState()
	v.Apply(ws, nil)
	return v, sk
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// testClusterKeyring is the conformance test every ClusterKeyring runs: an
// available key is the same key on every call, seals and opens, and its id
// is the chain's key id (when one is given).
func testClusterKeyring(t *testing.T, k ClusterKeyring, wantID string) {
	t.Helper()
	a, err := k.ClusterKey()
	if err != nil {
		t.Fatalf("ClusterKey: %v", err)
	}
	b, err := k.ClusterKey()
	if err != nil || !a.Equal(b) || a.ID() != b.ID() {
		t.Fatalf("second ClusterKey differs: %v", err)
	}
	if wantID != "" && a.ID() != wantID {
		t.Fatalf("key id %s, chain says %s", a.ID(), wantID)
	}
	f, err := a.Seal([]byte("x"), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := b.Open(f, []byte("aad")); err != nil || string(pt) != "x" {
		t.Fatalf("open: %v", err)
	}
	if s, want := fmt.Sprintf("%v|%#v", a, a), "seal.DataKey("+a.ID()+")"; s != want+"|"+want {
		t.Fatalf("the key prints as %q, want only its id", s)
	}
}

func TestClusterKeyringConformance(t *testing.T) {
	v, sk := keyringChain(t, true)
	info, _ := state.GetClusterKeyInfo(v)
	t.Run("keyring", func(t *testing.T) {
		testClusterKeyring(t, newKeyring("kr-chain", "node-1", sk, func() state.View { return v }, quiet), info.KeyID)
	})
	t.Run("static", func(t *testing.T) {
		dk, _ := seal.NewDataKey(rand.Reader)
		testClusterKeyring(t, StaticClusterKey{Key: dk}, dk.ID())
	})
}

// TestClusterKeyringUnavailable: every way a node can lack the key gives
// ErrClusterKeyUnavailable with the reason, and a grant applied later is
// picked up without a restart.
func TestClusterKeyringUnavailable(t *testing.T) {
	v, sk := keyringChain(t, true)
	other, _ := seal.GenerateKey(seal.MLKEM768X25519, rand.Reader)
	noKey, _ := keyringChain(t, false)
	for _, tc := range []struct {
		name string
		k    ClusterKeyring
		want string
	}{
		{"chain without a cluster key", newKeyring("kr-chain", "node-1", sk, func() state.View { return noKey }, quiet), "no cluster data key"},
		{"node without a grant", newKeyring("kr-chain", "node-2", sk, func() state.View { return v }, quiet), "has not received"},
		{"wrong seal key", newKeyring("kr-chain", "node-1", other, func() state.View { return v }, quiet), "does not unwrap"},
		{"grant of another chain", newKeyring("other-chain", "node-1", sk, func() state.View { return v }, quiet), "does not unwrap"},
		{"static without a key", StaticClusterKey{}, "no key"},
		{"store not open", newKeyring("kr-chain", "node-1", sk, func() state.View { return nil }, quiet), "not open"},
	} {
		_, err := tc.k.ClusterKey()
		if !errors.Is(err, ErrClusterKeyUnavailable) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want ErrClusterKeyUnavailable saying %q", tc.name, err, tc.want)
		}
	}
	// The grant arrives after the first attempt: the next call succeeds.
	late := state.NewMemView()
	k := newKeyring("kr-chain", "node-1", sk, func() state.View { return late }, quiet)
	if _, err := k.ClusterKey(); !errors.Is(err, ErrClusterKeyUnavailable) {
		t.Fatalf("before the grant: %v", err)
	}
	for key, val := range v.KV {
		late.KV[key] = val
	}
	if _, err := k.ClusterKey(); err != nil {
		t.Fatalf("after the grant: %v", err)
	}
}

// seedChain is a chain (node-1 holds the cluster key, doctor is registered)
// whose submit executes each tx as a block on a MemView.
type seedChain struct {
	ex     *state.Executor
	view   *state.MemView
	prev   types.Hash
	height uint64
	keys   *keyring
	nodeK  *crypto.PrivateKey
}

func newSeedChain(t testing.TB) *seedChain {
	t.Helper()
	sk, _ := seal.GenerateKey(seal.MLKEM768X25519, rand.Reader)
	nk, _ := crypto.GenerateKey(crypto.MLDSA44, rand.Reader)
	dk, _ := crypto.GenerateKey(crypto.MLDSA44, rand.Reader)
	g := &state.Genesis{ChainID: "kr-chain", Time: time.Now().UnixMilli(), Params: state.DefaultParams(), Identities: []types.IdentityRegister{
		{ID: "admin", Kind: types.KindPerson, Roles: []string{types.RoleAdmin}, PublicKey: dk.Public()},
		{ID: "doctor", Kind: types.KindPerson, Roles: []string{types.RoleClinician}, PublicKey: dk.Public()},
		{ID: "node-1", Kind: types.KindNode, Roles: []string{types.RoleNode}, PublicKey: nk.Public()},
	}}
	var err error
	if g.ClusterKeyGrants, err = newClusterKeyGrants(g.ChainID, []string{"node-1"}, []seal.PublicKey{sk.Public()}); err != nil {
		t.Fatal(err)
	}
	ex, err := state.NewExecutor(g)
	if err != nil {
		t.Fatal(err)
	}
	c := &seedChain{ex: ex, view: state.NewMemView(), nodeK: nk}
	ws, h := ex.GenesisState()
	c.view.Apply(ws, nil)
	c.prev = h
	c.keys = newKeyring(g.ChainID, "node-1", sk, func() state.View { return c.view }, quiet)
	return c
}

func (c *seedChain) submit(_ context.Context, tx *types.Tx) (rpc.Receipt, error) {
	if err := c.ex.CheckTx(c.view, tx, time.Now().UnixMilli()); err != nil {
		return rpc.Receipt{}, err
	}
	c.height++
	out, err := c.ex.ExecuteBlock(c.view, c.prev, state.BlockContext{Height: c.height, Time: time.Now().UnixMilli()}, []*types.Tx{tx}, state.ExecOptions{VerifySignatures: true})
	if err != nil {
		return rpc.Receipt{}, err
	}
	c.view.Apply(out.Writes, []types.Hash{tx.Hash()})
	c.prev = out.StateHash
	return rpc.Receipt{TxHash: tx.Hash(), Height: c.height, Result: out.Results[0]}, nil
}

func (c *seedChain) seeds(keys ClusterKeyring) *chainSeeds {
	return &chainSeeds{chainID: "kr-chain", nodeID: "node-1", key: c.nodeK, keys: keys,
		view: func() state.View { return c.view }, submit: c.submit}
}

// TestChainSeedsEnrolOnChainAndOpenWithTheClusterKey: Enroll commits the
// sealed seed, Seed opens it with the cluster key (and only with it), a
// second enrolment is refused, and a node without the key says MFA is
// unavailable instead of "wrong code".
func TestChainSeedsEnrolOnChainAndOpenWithTheClusterKey(t *testing.T) {
	c := newSeedChain(t)
	ctx := context.Background()
	s := c.seeds(c.keys)
	if _, err := s.Seed(ctx, "doctor"); !errors.Is(err, zerotrust.ErrMFANotEnrolled) {
		t.Fatalf("seed before enrolment: %v", err)
	}
	uri, err := s.Enroll(ctx, "doctor")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(uri)
	secret := u.Query().Get("secret")
	if got, err := s.Seed(ctx, "doctor"); err != nil || got != secret || secret == "" {
		t.Fatalf("seed: %v", err)
	}
	if !s.enrolled("doctor") || s.enrolled("admin") || s.enrolled("bad id!") {
		t.Fatal("enrolled() disagrees with the chain")
	}
	for k, v := range c.view.KV {
		if strings.Contains(string(v), secret) {
			t.Fatalf("the seed is in state in clear at %q", k)
		}
	}
	if _, err := s.Enroll(ctx, "doctor"); err == nil || !strings.Contains(err.Error(), "already enrolled") {
		t.Fatalf("second enrolment: %v", err)
	}
	if _, err := s.Enroll(ctx, "no body"); err == nil {
		t.Fatal("enrolment of a malformed identity accepted")
	}
	if _, err := s.Enroll(ctx, "ghost"); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("enrolment of an unknown identity: %v", err)
	}

	other, _ := seal.NewDataKey(rand.Reader)
	for _, tc := range []struct {
		name string
		keys ClusterKeyring
	}{
		{"node without the cluster key", StaticClusterKey{}},
		{"node holding another key", StaticClusterKey{Key: other}},
	} {
		ns := c.seeds(tc.keys)
		if _, err := ns.Seed(ctx, "doctor"); !errors.Is(err, ErrMFAUnavailable) {
			t.Errorf("%s: Seed: %v, want ErrMFAUnavailable", tc.name, err)
		}
	}
	if _, err := c.seeds(StaticClusterKey{}).Enroll(ctx, "admin"); !errors.Is(err, ErrMFAUnavailable) {
		t.Errorf("enrolment without the key: %v", err)
	}
	// Through the gate's verifier: the unavailable reason reaches the caller.
	err = zerotrust.NewTOTP(c.seeds(StaticClusterKey{})).Verify(ctx, "doctor", "123456", time.Now())
	if err == nil || !strings.Contains(err.Error(), "cluster data key") {
		t.Errorf("verify without the key: %v", err)
	}
}

// BenchmarkChainSeedsSeed is the per-login cost of reading a seed: one
// state read and an AES-256-GCM open (the keyring is warm).
func BenchmarkChainSeedsSeed(b *testing.B) {
	c := newSeedChain(b)
	s := c.seeds(c.keys)
	if _, err := s.Enroll(context.Background(), "doctor"); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Seed(context.Background(), "doctor"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKeyringFirstUnwrap is what a node pays once to unwrap its grant
// (two state reads and an ML-KEM-768+X25519 decapsulation).
func BenchmarkKeyringFirstUnwrap(b *testing.B) {
	c := newSeedChain(b)
	for b.Loop() {
		k := newKeyring("kr-chain", "node-1", c.keys.sealKey, func() state.View { return c.view }, quiet)
		if _, err := k.ClusterKey(); err != nil {
			b.Fatal(err)
		}
	}
}
