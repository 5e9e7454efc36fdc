package node_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/medchain/medchain/node/client"
	"github.com/medchain/medchain/node/config"
	"github.com/medchain/medchain/node/nodetest"
)

// TestMFALoginRightAfterEnrolment proves that auth_mfaEnroll answers only
// once the node that answered has applied the enrolment: a login with a
// TOTP code sent right after it, to the same node, is accepted (and no
// failed login is counted toward lockout), on the leader and on followers.
func TestMFALoginRightAfterEnrolment(t *testing.T) {
	c := nodetest.StartCluster(t, 3, 1, 1, func(i int, cfg *config.Config) { gated(cfg) })
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c.WaitLeader(20 * time.Second)
	ids := []string{"doctor456", "admin", "privacy_officer"}
	for i, n := range c.Nodes {
		id := ids[i]
		cl, err := client.Dial(ctx, n.URL, append(n.ClientOptions(), client.WithLogin(client.Login{Identity: id, Key: c.Key(id)}))...)
		if err != nil {
			t.Fatal(err)
		}
		enr, err := cl.EnrollMFA(ctx)
		cl.Close()
		if err != nil {
			t.Fatalf("node-%d: enrol %s: %v", i+1, id, err)
		}
		u, err := url.Parse(enr.URI)
		if err != nil || u.Query().Get("secret") == "" {
			t.Fatalf("node-%d: enrolment URI %q: %v", i+1, enr.URI, err)
		}
		secret := u.Query().Get("secret")
		code, err := totp.GenerateCode(secret, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		lc, err := client.Dial(ctx, n.URL, append(n.ClientOptions(), client.WithLogin(client.Login{Identity: id, Key: c.Key(id),
			TOTP: code}))...)
		if err != nil {
			t.Fatalf("node-%d (leader %v): TOTP login of %s right after enrolment: %v", i+1, n.Consensus().IsLeader(), id, err)
		}
		s, err := lc.Session(ctx)
		lc.Close()
		if err != nil || !s.MFA {
			t.Fatalf("node-%d (leader %v): session of %s after a TOTP login: %+v %v", i+1, n.Consensus().IsLeader(), id, s, err)
		}
	}
}
