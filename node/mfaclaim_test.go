package node

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/medchain/medchain/node/zerotrust"
)

func TestCodeClaimsAreSingleUseUntilTheyExpire(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	s := newCodeClaims(func() time.Time { return now })
	a, b := claimOf("doctor", "123456"), claimOf("nurse", "123456")
	for _, step := range []struct {
		name  string
		claim []byte
		after time.Duration
		fresh bool
	}{
		{"first use", a, 0, true},
		{"replay", a, 0, false},
		{"same code, other identity", b, 0, true},
		{"replay just before expiry", a, codeClaimTTL - time.Second, false},
		{"after expiry", a, codeClaimTTL + time.Second, true},
	} {
		now = now.Add(step.after)
		fresh, err := s.claim(step.claim)
		if err != nil || fresh != step.fresh {
			t.Fatalf("%s: fresh %v %v, want %v", step.name, fresh, err, step.fresh)
		}
	}
	if _, err := s.claim([]byte("short")); err == nil {
		t.Fatal("a malformed claim was accepted")
	}
	if len(s.until) > 2 {
		t.Fatalf("expired claims kept: %d", len(s.until))
	}
}

// TestTOTPCodeIsSingleUseAcrossNodes: two nodes' verifiers sharing the
// leader's claims accept a code once; a claim that cannot reach the leader
// fails closed with the reason.
func TestTOTPCodeIsSingleUseAcrossNodes(t *testing.T) {
	const secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	seeds := zerotrust.MemSeeds{"doctor": secret}
	leader := newCodeClaims(time.Now)
	claim := func(_ context.Context, c []byte) error {
		fresh, err := leader.claim(c)
		if err == nil && !fresh {
			err = errCodeClaimed
		}
		return err
	}
	node1 := &clusterMFA{local: zerotrust.NewTOTP(seeds), claim: claim}
	node3 := &clusterMFA{local: zerotrust.NewTOTP(seeds), claim: claim}
	now := time.Now()
	code, err := totp.GenerateCode(secret, now)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := node3.Verify(ctx, "doctor", code, now); err != nil {
		t.Fatalf("first use on node 3: %v", err)
	}
	if err := node1.Verify(ctx, "doctor", code, now); !errors.Is(err, zerotrust.ErrMFAFailed) || !strings.Contains(err.Error(), "already used") {
		t.Fatalf("replay on node 1: %v", err)
	}
	// Without a leader the claim fails closed, and the node's own verifier
	// is left untouched: the code works once the leader answers.
	leaderUp := false
	node4 := &clusterMFA{local: zerotrust.NewTOTP(seeds), claim: func(ctx context.Context, c []byte) error {
		if !leaderUp {
			return errors.New("no leader is known")
		}
		return claim(ctx, c)
	}}
	other := newCodeClaims(time.Now) // a fresh leader after a change
	claim = func(_ context.Context, c []byte) error {
		if fresh, _ := other.claim(c); !fresh {
			return errCodeClaimed
		}
		return nil
	}
	if err := node4.Verify(ctx, "doctor", code, now); !errors.Is(err, ErrMFAUnavailable) || !strings.Contains(err.Error(), "no leader") {
		t.Fatalf("claim without a leader: %v", err)
	}
	leaderUp = true
	if err := node4.Verify(ctx, "doctor", code, now); err != nil {
		t.Fatalf("after the leader is back: %v", err)
	}
	single := &clusterMFA{local: zerotrust.NewTOTP(seeds)}
	if err := single.Verify(ctx, "doctor", code, now); err != nil {
		t.Fatalf("single node: %v", err)
	}
	wrong := "000000"
	for _, d := range []time.Duration{-30 * time.Second, 0, 30 * time.Second} {
		if c, _ := totp.GenerateCode(secret, now.Add(d)); c == wrong {
			wrong = "000001" // "000000" happens to be valid now; two codes cannot both be
		}
	}
	if err := single.Verify(ctx, "doctor", wrong, now); !errors.Is(err, zerotrust.ErrMFAFailed) {
		t.Fatalf("wrong code on a single node: %v", err)
	}
}
