package rpc

import (
	"fmt"
	"testing"

	"github.com/medchain/medchain/node/zerotrust"
)

func TestClassifyGateErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		code   int
		reason string
	}{
		{"session of a rotated-out key", fmt.Errorf("%w: %w: x", zerotrust.ErrSessionUnknown, zerotrust.ErrKeyRotated), CodeUnauthenticated, "key_rotated"},
		{"unknown session", fmt.Errorf("%w: x", zerotrust.ErrSessionUnknown), CodeUnauthenticated, "unauthenticated"},
		{"idle session", zerotrust.ErrIdleTimeout, CodeUnauthenticated, "expired"},
		{"reauth", zerotrust.ErrReauthRequired, CodeReauthRequired, "reauth_required"},
		{"rate", zerotrust.ErrRateLimited, CodeRateLimited, "rate_limited"},
		{"risk", zerotrust.ErrRiskTooHigh, CodeForbidden, "risk"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, data := classify(tc.err)
			if code != tc.code || data["reason"] != tc.reason {
				t.Fatalf("classify(%v) = %d %v, want %d %q", tc.err, code, data, tc.code, tc.reason)
			}
		})
	}
}
