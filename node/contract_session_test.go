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

// TestContractCallThroughTxSubmitIsRefusedWithTheGateOn: tx_submit and
// tx_submitBatch are public methods, so a contract_execute tx sent through
// them would escape the session check of contract_execute: a physician's
// key alone, from a public session without MFA, could state "critical" and
// break the glass. With the gate on they refuse contract_execute txs, and
// nothing is recorded.
func TestContractCallThroughTxSubmitIsRefusedWithTheGateOn(t *testing.T) {
	n := nodetest.Start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	createAndDeploy(ctx, t, n, "privacy_officer", rpc.CreateParams{ID: "emergency", Owner: "privacy_officer", Template: "break-glass"})
	public, err := client.Dial(ctx, n.URL, n.LoginOptions(t, "doctor456")...) // no MFA, public segment
	if err != nil {
		t.Fatal(err)
	}
	defer public.Close()
	claim := &types.ContractExecute{ContractID: "emergency", Action: "read", Purpose: "emergency", Patient: "patient123", Segment: "critical", Risk: 0}
	sign := func() *types.Tx {
		tx, err := public.Signer("doctor456", n.Key(t, "doctor456")).Build(claim)
		if err != nil {
			t.Fatal(err)
		}
		return tx
	}
	if _, err := public.Submit(ctx, sign(), true); err == nil || !strings.Contains(err.Error(), "contract_execute") {
		t.Fatalf("tx_submit of a contract call: %v, want a refusal naming contract_execute", err)
	} else if code, _, _ := client.RPCError(err); code != rpc.CodeInvalidParams {
		t.Fatalf("tx_submit of a contract call: code %d, want %d", code, rpc.CodeInvalidParams)
	}
	items, err := public.SubmitMany(ctx, []*types.Tx{sign()}, true)
	if err == nil && (len(items) != 1 || items[0].Error == nil) {
		t.Fatalf("tx_submitBatch of a contract call: %+v, want a refusal", items)
	}
	reviews, err := n.Client.ContractReviews(ctx, rpc.PageParams{ContractID: "emergency"})
	if err != nil || len(reviews.Entries) != 0 {
		t.Fatalf("a refused contract call left reviews: %+v %v", reviews, err)
	}
}
