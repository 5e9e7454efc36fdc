package zerotrust

import (
	"sync"
	"time"
)

// Clock is the gate's only source of time. Every expiry, lockout, delay,
// rate and risk decision reads Now from it, so tests drive time by hand.
// Implementations must be safe for concurrent use.
type Clock interface {
	Now() time.Time
}

// SystemClock reads the wall clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// ManualClock is a Clock that moves only when told; for tests in this and
// other packages. The zero value starts at the zero time: use NewManualClock.
type ManualClock struct {
	mu sync.Mutex
	// guards the following
	now time.Time
}

// NewManualClock returns a clock stopped at t.
func NewManualClock(t time.Time) *ManualClock { return &ManualClock{now: t} }

// Now returns the clock's current time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Set moves the clock to t.
func (c *ManualClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

var (
	_ Clock = SystemClock{}
	_ Clock = (*ManualClock)(nil)
)
