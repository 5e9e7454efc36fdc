package zerotrust

import (
	"context"
	"crypto/subtle"
	"fmt"
	"sync"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// MFA checks a second factor. Verify returns nil only for a code that is
// valid for id at now and has not been accepted before (a code is single
// use); ErrMFAFailed (wrapped) for a wrong, stale or reused code;
// ErrMFANotEnrolled when it holds no factor for id. It is called from many
// goroutines. Implementations never log or return the code or the seed.
type MFA interface {
	Verify(ctx context.Context, id, code string, now time.Time) error
}

// SeedSource hands out TOTP seeds (base32). The sealed seed store
// implements it; the seed is used and dropped, never kept by TOTP.
type SeedSource interface {
	// Seed returns id's base32 TOTP secret, or ErrMFANotEnrolled (wrapped).
	Seed(ctx context.Context, id string) (string, error)
}

// MemSeeds is a SeedSource held in memory, for tests.
type MemSeeds map[string]string

// Seed implements SeedSource.
func (m MemSeeds) Seed(_ context.Context, id string) (string, error) {
	s, ok := m[id]
	if !ok {
		return "", fmt.Errorf("%w: %q", ErrMFANotEnrolled, id)
	}
	return s, nil
}

// TOTP is an MFA verifier for RFC 6238 codes (SHA-1, 6 digits, 30 s
// steps, one step of skew either way) that refuses a time step it has
// already accepted for the same identity, so an observed code cannot be
// replayed.
type TOTP struct {
	seeds SeedSource

	mu sync.Mutex
	// guards the following
	lastStep map[string]int64 // highest accepted time step per identity
}

// NewTOTP returns a verifier over seeds.
func NewTOTP(seeds SeedSource) *TOTP {
	return &TOTP{seeds: seeds, lastStep: make(map[string]int64)}
}

const totpPeriod = 30

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// Verify implements MFA.
func (t *TOTP) Verify(ctx context.Context, id, code string, now time.Time) error {
	if len(code) != 6 {
		return fmt.Errorf("%w: want 6 digits", ErrMFAFailed)
	}
	seed, err := t.seeds.Seed(ctx, id)
	if err != nil {
		return err
	}
	step := now.Unix() / totpPeriod
	matched := int64(-1)
	for _, s := range []int64{step - 1, step, step + 1} {
		want, err := totp.GenerateCodeCustom(seed, time.Unix(s*totpPeriod, 0), totpOpts)
		if err != nil {
			return fmt.Errorf("%w: stored seed unusable", ErrMFAFailed) // the error could quote the seed
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			matched = s
		}
	}
	if matched < 0 {
		return fmt.Errorf("%w: wrong or expired code", ErrMFAFailed)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if last, ok := t.lastStep[id]; ok && matched <= last {
		return fmt.Errorf("%w: code already used", ErrMFAFailed)
	}
	t.lastStep[id] = matched
	return nil
}

var (
	_ MFA        = (*TOTP)(nil)
	_ SeedSource = MemSeeds(nil)
)
