package node_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/medchain/medchain/node/client"
	"github.com/medchain/medchain/node/config"
	"github.com/medchain/medchain/node/nodetest"
	"github.com/medchain/medchain/node/rpc"
)

// TestClientLogin: a client with WithLogin signs the challenge, sends its
// token on every call, refreshes when the node asks (-32021), moves into the
// segment a method needs (with a TOTP code it makes from the secret) and
// logs in again after logout.
func TestClientLogin(t *testing.T) {
	n := nodetest.Start(t, func(c *config.Config) {
		c.ZeroTrust.Enabled = true
		c.ZeroTrust.ReauthInterval = config.Duration(2 * time.Second)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var tokens []string
	opts := append(n.ClientOptions(), client.WithLogin(client.Login{Identity: "doctor456", Key: n.Key(t, "doctor456"),
		OnToken: func(tok string) { tokens = append(tokens, tok) }}))
	c, err := client.Dial(ctx, n.URL, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.ChainID() == "" || c.Token() == "" {
		t.Fatalf("dial through the gate: chain %q token %q", c.ChainID(), c.Token())
	}
	if _, err := c.Head(ctx); err != nil {
		t.Fatal(err)
	}
	// Without MFA the clinical read is refused, with the gate's code.
	_, err = c.Trail(ctx, rpc.TrailParams{Patient: "patient123"})
	if code, _, _ := client.RPCError(err); code != rpc.CodeForbidden {
		t.Fatalf("clinical read without MFA: %v", err)
	}
	enr, err := c.EnrollMFA(ctx)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(enr.URI)
	secret := u.Query().Get("secret")
	if err := c.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Head(ctx); err != nil { // logs in again
		t.Fatalf("after logout: %v", err)
	}
	c.Logout(ctx)
	c.Close()

	// With the TOTP secret: clinical reads, public reads, refreshes.
	c, err = client.Dial(ctx, n.URL, append(n.ClientOptions(), client.WithLogin(client.Login{Identity: "doctor456",
		Key: n.Key(t, "doctor456"), TOTPSecret: secret, Segment: "clinical"}))...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 2 {
		if _, err := c.Trail(ctx, rpc.TrailParams{Patient: "patient123"}); err != nil {
			t.Fatalf("clinical read %d: %v", i, err)
		}
		if _, err := c.Head(ctx); err != nil {
			t.Fatalf("public read %d: %v", i, err)
		}
		tok := c.Token()
		time.Sleep(2100 * time.Millisecond) // past the reauthentication interval
		if _, err := c.Trail(ctx, rpc.TrailParams{Patient: "patient123"}); err != nil {
			t.Fatalf("read after the reauthentication interval: %v", err)
		}
		if c.Token() != tok {
			t.Fatal("refresh replaced the session")
		}
	}
	s, err := c.Session(ctx)
	if err != nil || !s.MFA {
		t.Fatalf("session %+v: %v", s, err)
	}
	if len(tokens) < 2 {
		t.Fatalf("OnToken saw %d tokens", len(tokens))
	}
}
