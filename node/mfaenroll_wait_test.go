package node

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/node/rpc"
	"github.com/medchain/medchain/node/zerotrust"
)

// laggingChain is a seedChain whose commit is known (a receipt) before this
// node applies it, as on a follower that forwarded the tx to the leader: the
// block's writes reach the local view only when apply says so.
type laggingChain struct {
	*seedChain
	pending *state.Outcome
	hash    types.Hash
}

// submit executes tx and returns its receipt without applying it here.
func (c *laggingChain) submit(_ context.Context, tx *types.Tx) (rpc.Receipt, error) {
	if err := c.ex.CheckTx(c.view, tx, time.Now().UnixMilli()); err != nil {
		return rpc.Receipt{}, err
	}
	c.height++
	out, err := c.ex.ExecuteBlock(c.view, c.prev, state.BlockContext{Height: c.height, Time: time.Now().UnixMilli()}, []*types.Tx{tx}, state.ExecOptions{VerifySignatures: true})
	if err != nil {
		return rpc.Receipt{}, err
	}
	c.pending, c.hash = out, tx.Hash()
	return rpc.Receipt{TxHash: tx.Hash(), Height: c.height, Result: out.Results[0]}, nil
}

// apply stores the pending block in the local view.
func (c *laggingChain) apply() {
	c.view.Apply(c.pending.Writes, []types.Hash{c.hash})
	c.prev = c.pending.StateHash
}

// TestMFAEnrolReturnsOnlyOnceAppliedHere proves the enrolment's contract: the
// URI comes back only once this node's state holds the new seed, so a TOTP
// code checks out on this node at once, and the wait is bounded, ending in
// a -32013 error that says the enrolment may still commit (and no URI).
// Before, Enroll returned the URI on the receipt alone, with no bound of its
// own: on a node that had not applied the block yet, the login that followed
// failed and counted toward the lockout.
func TestMFAEnrolReturnsOnlyOnceAppliedHere(t *testing.T) {
	const timeout = 300 * time.Millisecond
	tests := []struct {
		name    string
		submit  func(c *laggingChain) func(context.Context, *types.Tx) (rpc.Receipt, error)
		applied func(c *laggingChain) func(context.Context, types.Hash) error
		wantErr string // "" for success
		timeout bool   // the error is rpc.CodeTimeout
	}{
		{name: "receipt first, applied here 100 ms later",
			submit: func(c *laggingChain) func(context.Context, *types.Tx) (rpc.Receipt, error) { return c.submit },
			applied: func(c *laggingChain) func(context.Context, types.Hash) error {
				return func(ctx context.Context, h types.Hash) error {
					if h != c.hash {
						t.Errorf("waits for %s, the enrolment is %s", h, c.hash)
					}
					time.Sleep(100 * time.Millisecond)
					c.apply()
					return nil
				}
			}},
		{name: "the commit never comes",
			submit: func(c *laggingChain) func(context.Context, *types.Tx) (rpc.Receipt, error) {
				return func(ctx context.Context, _ *types.Tx) (rpc.Receipt, error) {
					<-ctx.Done()
					return rpc.Receipt{}, ctx.Err()
				}
			},
			applied: func(c *laggingChain) func(context.Context, types.Hash) error { return nil },
			wantErr: "not committed within", timeout: true},
		{name: "committed, never applied here",
			submit: func(c *laggingChain) func(context.Context, *types.Tx) (rpc.Receipt, error) { return c.submit },
			applied: func(c *laggingChain) func(context.Context, types.Hash) error {
				return func(ctx context.Context, _ types.Hash) error {
					<-ctx.Done()
					return ctx.Err()
				}
			},
			wantErr: "not yet applied on this node within", timeout: true},
		{name: "applied, but the state does not hold it",
			submit: func(c *laggingChain) func(context.Context, *types.Tx) (rpc.Receipt, error) { return c.submit },
			applied: func(c *laggingChain) func(context.Context, types.Hash) error {
				return func(context.Context, types.Hash) error { return nil }
			},
			wantErr: "does not hold it"},
		{name: "the wait fails for another reason",
			submit: func(c *laggingChain) func(context.Context, *types.Tx) (rpc.Receipt, error) { return c.submit },
			applied: func(c *laggingChain) func(context.Context, types.Hash) error {
				return func(context.Context, types.Hash) error { return rpc.ErrUnavailable }
			},
			wantErr: "unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &laggingChain{seedChain: newSeedChain(t)}
			s := c.seeds(c.keys)
			s.submit, s.applied, s.timeout = tt.submit(c), tt.applied(c), timeout
			done := make(chan struct{})
			var uri string
			var err error
			start := time.Now()
			go func() {
				defer close(done)
				uri, err = s.Enroll(context.Background(), "doctor")
			}()
			select {
			case <-done:
			case <-time.After(timeout + 5*time.Second):
				t.Fatal("Enroll did not return: the wait has no bound")
			}
			took := time.Since(start)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || uri != "" {
					t.Fatalf("Enroll: %q, %v; want no URI and an error containing %q", uri, err, tt.wantErr)
				}
				var re *rpc.Error
				if isTimeout := errors.As(err, &re) && re.Code == rpc.CodeTimeout; isTimeout != tt.timeout {
					t.Fatalf("Enroll: %v: timeout code %v, want %v", err, isTimeout, tt.timeout)
				}
				if tt.timeout && (!strings.Contains(err.Error(), "may still commit") || took > timeout+2*time.Second) {
					t.Fatalf("Enroll after %v: %v; want a bounded wait that says it may still commit", took, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// At once: the seed is here and a code of it checks out.
			u, _ := url.Parse(uri)
			code, err := totp.GenerateCode(u.Query().Get("secret"), time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if err := zerotrust.NewTOTP(s).Verify(context.Background(), "doctor", code, time.Now()); err != nil {
				t.Fatalf("a code right after the enrolment: %v", err)
			}
		})
	}
}
