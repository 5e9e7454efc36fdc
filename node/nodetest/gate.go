package nodetest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/medchain/medchain/node/client"
)

// GateIdentity is the dev identity whose session ClientOptions use when the
// node's zero-trust gate is on: an admin, enrolled in MFA the first time a
// segment needs it (once per chain: the seed is on chain), so its clients may enter the public, internal and
// clinical segments.
const GateIdentity = "admin"

// totpSuffix names the file that keeps an identity's TOTP secret in the
// node's data dir (nodetest-<id>.totp, 0600), so a restarted node's clients
// can still make codes (test fixture only: production secrets live in an
// authenticator app).
const totpSuffix = ".totp"

// totpPeriod is RFC 6238's time step, as the gate verifies it.
const totpPeriod = 30

// codes hands out TOTP codes of one identity on one node, never for a time
// step already used (the gate refuses a step at or below the last one it
// accepted): the current step, then the next one (the gate allows one step
// of skew), then it waits for the clock. The secret is enrolled on first
// use.
type codes struct {
	enroll func(ctx context.Context) (string, error)

	mu sync.Mutex
	// guards the following
	secret string
	last   int64 // last time step handed out
}

func (c *codes) next(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.secret == "" {
		s, err := c.enroll(ctx)
		if err != nil {
			return "", err
		}
		c.secret = s
	}
	for {
		now := time.Now().Unix() / totpPeriod
		step := max(c.last+1, now)
		if step <= now+1 {
			code, err := totp.GenerateCodeCustom(c.secret, time.Unix(step*totpPeriod, 0),
				totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
			if err != nil {
				return "", err
			}
			c.last = step
			return code, nil
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// sharedCodes holds one code source per TOTP secret file: an identity's
// seed is on chain and its codes are single use across the cluster, so
// every node of a cluster (and every restart of a node) shares it.
var sharedCodes sync.Map // secret file path -> *codes

// codesFor returns the code source of identity id (one per secret file,
// shared by every client of it, so no two send the same step); the first
// node that needs it enrols id.
func (n *Node) codesFor(id string) *codes {
	c, _ := sharedCodes.LoadOrStore(n.totpPath(id), &codes{enroll: func(ctx context.Context) (string, error) { return n.enrollMFA(ctx, id) }})
	return c.(*codes)
}

// enrollMFA returns id's TOTP secret on this node: the one an earlier run
// saved in the data dir, else a new enrolment (a public session of id asks
// auth_mfaEnroll), which it saves.
func (n *Node) enrollMFA(ctx context.Context, id string) (string, error) {
	path := n.totpPath(id)
	if b, err := os.ReadFile(path); err == nil {
		return string(b), nil
	}
	key, err := n.loadKey(id)
	if err != nil {
		return "", err
	}
	opts := n.tlsOptions()
	c, err := client.Dial(ctx, n.URL, append(opts, client.WithLogin(client.Login{Identity: id, Key: key, DeviceKeyID: "nodetest"}))...)
	if err != nil {
		return "", err
	}
	defer c.Close()
	r, err := c.EnrollMFA(ctx)
	if err != nil {
		return "", fmt.Errorf("nodetest: enrol %s in MFA: %w", id, err)
	}
	_ = c.Logout(ctx)
	u, err := url.Parse(r.URI)
	if err != nil || u.Query().Get("secret") == "" {
		return "", errors.New("nodetest: enrolment URI without a secret")
	}
	secret := u.Query().Get("secret")
	return secret, os.WriteFile(path, []byte(secret), 0o600)
}

// TOTPSecretFile enrols identity id in MFA on this node if needed and
// returns the file (0600, in the data dir) that holds its TOTP secret, for
// a CLI's --totp-file. Codes made from it bypass TOTPCode's bookkeeping: a
// test uses one or the other for an identity.
func (n *Node) TOTPSecretFile(t testing.TB, id string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := n.codesFor(id)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.secret == "" {
		s, err := c.enroll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		c.secret = s
	}
	return n.totpPath(id)
}

// totpPath is id's secret file: in the data dir, or for a cluster's node
// in the cluster's dir (one seed for every node).
func (n *Node) totpPath(id string) string {
	dir := n.secretDir
	if dir == "" {
		dir = n.Config.Node.DataDir
	}
	return filepath.Join(dir, "nodetest-"+id+totpSuffix)
}

// codeFunc is id's code source for clients of this node: the seed is on
// chain and a follower may not have applied the enrolment yet when a code
// is made right after it, so each code waits for this node to reflect every
// committed write first (a read barrier).
func (n *Node) codeFunc(id string) func(ctx context.Context) (string, error) {
	c := n.codesFor(id)
	return func(ctx context.Context) (string, error) {
		code, err := c.next(ctx)
		if err != nil {
			return "", err
		}
		if err := n.ReadBarrier(ctx); err != nil {
			return "", fmt.Errorf("nodetest: read barrier before a TOTP code: %w", err)
		}
		return code, nil
	}
}

// TOTPCode returns a fresh TOTP code of identity id on this node, enrolling
// it in MFA first if needed; the node's clients of id share the same source.
func (n *Node) TOTPCode(ctx context.Context, id string) (string, error) {
	return n.codeFunc(id)(ctx)
}

// SessionOptions are the client.Dial options of a session of identity id
// that enters segment at login ("" stays public), with MFA (id is enrolled
// on first need) so that it may enter any segment its roles allow. With the
// gate off they only trust the node's CA.
func (n *Node) SessionOptions(t testing.TB, id, segment string) []client.Option {
	t.Helper()
	opts := n.tlsOptions()
	if n.Gate() == nil {
		return opts
	}
	return append(opts, client.WithLogin(client.Login{Identity: id, Key: n.Key(t, id), DeviceKeyID: "nodetest",
		TOTPCode: n.codeFunc(id), Segment: segment}))
}

// SessionClient dials a client with SessionOptions, logs it in and moves
// it into segment (for raw requests with its Token); the test's cleanup
// logs it out and closes it.
func (n *Node) SessionClient(t testing.TB, id, segment string) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, n.URL, n.SessionOptions(t, id, segment)...)
	if err != nil {
		t.Fatalf("nodetest: session of %s: %v", id, err)
	}
	if n.Gate() != nil {
		if _, err := c.Login(ctx); err != nil {
			c.Close()
			t.Fatalf("nodetest: login of %s: %v", id, err)
		}
		if segment != "" { // dialling read node_status, a public method
			if _, err := c.MoveSegment(ctx, segment); err != nil {
				c.Close()
				t.Fatalf("nodetest: session of %s into %s: %v", id, segment, err)
			}
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if n.Gate() != nil {
			_ = c.Logout(ctx)
		}
		c.Close()
	})
	return c
}
