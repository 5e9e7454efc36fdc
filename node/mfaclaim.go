package node

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/medchain/medchain/node/zerotrust"
)

// TOTP codes are single use across the cluster. Every node can verify every
// identity's code (the seeds are on chain), but zerotrust.TOTP remembers the
// codes it accepted only on its own node: without more, a code observed on
// one node could be replayed on another within its validity (about 90 s).
// So a node claims each code at the leader before it checks it, and the
// leader refuses a code claimed before. A claim is the SHA-256 of the identity and the code,
// never the code itself. The leader keeps claims in memory for codeClaimTTL;
// after a leader change the new leader starts empty, so a code used in the
// last 90 s before the change could be accepted once more.

// codeClaimTTL is how long a claimed code stays refused: longer than a code
// is valid (one 30 s step either side of the current one).
const codeClaimTTL = 2 * time.Minute

// errCodeClaimed is the leader's answer for a code claimed before.
var errCodeClaimed = errors.New("node: TOTP code already used on a node of this cluster")

// codeClaims is the leader's record of claimed codes.
type codeClaims struct {
	now func() time.Time

	mu sync.Mutex
	// guards the following
	until map[[32]byte]time.Time // claim -> when it may be forgotten
}

func newCodeClaims(now func() time.Time) *codeClaims {
	return &codeClaims{now: now, until: map[[32]byte]time.Time{}}
}

// claimOf returns the claim of a code: SHA-256 over a label, the identity
// and the code.
func claimOf(id, code string) []byte {
	h := sha256.Sum256([]byte("medchain/totp-claim/v1\x00" + id + "\x00" + code))
	return h[:]
}

// claim records c and reports whether it was new. It forgets expired claims
// as it goes, so memory is bounded by the codes accepted in codeClaimTTL.
func (s *codeClaims) claim(c []byte) (bool, error) {
	if len(c) != sha256.Size {
		return false, fmt.Errorf("node: a code claim is %d bytes, not %d", len(c), sha256.Size)
	}
	k := [32]byte(c)
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for old, t := range s.until {
		if !now.Before(t) {
			delete(s.until, old)
		}
	}
	if t, ok := s.until[k]; ok && now.Before(t) {
		return false, nil
	}
	s.until[k] = now.Add(codeClaimTTL)
	return true, nil
}

// clusterMFA is the node's zerotrust.MFA: a claim of the code at the leader,
// then the gate's TOTP verifier (claim nil: a single node, where the local
// verifier is the whole cluster). The claim comes first so that a refused or
// failed claim leaves the local verifier untouched: the same code may be
// tried again once the leader answers. Claiming a wrong code is harmless
// (the gate calls Verify only after the identity's signature checked out).
type clusterMFA struct {
	local *zerotrust.TOTP
	claim func(ctx context.Context, c []byte) error
}

var _ zerotrust.MFA = (*clusterMFA)(nil)

// Verify implements zerotrust.MFA.
func (m *clusterMFA) Verify(ctx context.Context, id, code string, now time.Time) error {
	if m.claim != nil {
		if err := m.claim(ctx, claimOf(id, code)); err != nil {
			if errors.Is(err, errCodeClaimed) {
				return fmt.Errorf("%w: code already used", zerotrust.ErrMFAFailed)
			}
			return fmt.Errorf("%w: cannot confirm with the leader that the code is unused: %v", ErrMFAUnavailable, err)
		}
	}
	return m.local.Verify(ctx, id, code, now)
}

// claimCode claims c at the leader: locally when this node leads, else with
// an mfa_claim query.
func (c *cluster) claimCode(ctx context.Context, claim []byte) error {
	if c.n.cons.IsLeader() {
		return c.claimLocal(claim)
	}
	leader, err := c.leaderPeer(ctx)
	if err != nil {
		return err
	}
	if leader == string(c.p2p.RaftAddress()) {
		return c.claimLocal(claim)
	}
	var fresh bool
	if err := c.query(ctx, leader, queryReq{Op: "mfa_claim", Claim: claim}, &fresh); err != nil {
		return err
	}
	if !fresh {
		return errCodeClaimed
	}
	return nil
}

func (c *cluster) claimLocal(claim []byte) error {
	fresh, err := c.claims.claim(claim)
	if err != nil {
		return err
	}
	if !fresh {
		return errCodeClaimed
	}
	return nil
}
