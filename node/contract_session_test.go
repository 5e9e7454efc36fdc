package node_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/node/client"
	"github.com/medchain/medchain/node/config"
	"github.com/medchain/medchain/node/nodetest"
	"github.com/medchain/medchain/node/rpc"
)

// TestContractCallIsHeldToTheSession: with the gate on, a contract call's
// stated signer, segment and risk must be the caller's session's, so
// break-glass cannot be claimed for someone else or from another segment.
func TestContractCallIsHeldToTheSession(t *testing.T) {
	n := nodetest.Start(t, func(c *config.Config) { c.ZeroTrust.Enabled = true })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	createAndDeploy(ctx, t, n, "privacy_officer", rpc.CreateParams{ID: "emergency", Owner: "privacy_officer", Template: "break-glass"})

	// doctor456 enrols in MFA, then logs in with TOTP into the critical segment.
	key := n.Key(t, "doctor456")
	c, err := client.Dial(ctx, n.URL, append(n.ClientOptions(), client.WithLogin(client.Login{Identity: "doctor456", Key: key}))...)
	if err != nil {
		t.Fatal(err)
	}
	enr, err := c.EnrollMFA(ctx)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(enr.URI)
	c.Logout(ctx)
	c.Close()
	c, err = client.Dial(ctx, n.URL, append(n.ClientOptions(), client.WithLogin(client.Login{Identity: "doctor456", Key: key,
		TOTPSecret: u.Query().Get("secret"), Segment: "critical"}))...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	call := func(signer string, segment string) (*rpc.ExecuteResult, error) {
		tx, err := c.Signer(signer, n.Key(t, signer)).Build(&types.ContractExecute{ContractID: "emergency", Action: "read",
			Purpose: "emergency", Patient: "patient123", Segment: segment, Risk: 100})
		if err != nil {
			t.Fatal(err)
		}
		return c.ExecuteContract(ctx, tx)
	}
	if r, err := call("doctor456", "critical"); err != nil || !r.Result.Allowed() || !r.ReviewRequired {
		t.Fatalf("break-glass from the doctor's critical session: %+v %v", r, err)
	}
	for _, tc := range []struct{ signer, segment, want string }{
		{"epic_system", "critical", "session is \"doctor456\"'s"},
		{"doctor456", "public", "session is in \"critical\""},
	} {
		_, err := call(tc.signer, tc.segment)
		if code, _, _ := client.RPCError(err); code != rpc.CodeInvalidParams || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s stating %s: %v, want -32602 mentioning %q", tc.signer, tc.segment, err, tc.want)
		}
	}
}
