package zerotrust

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiters holds token buckets keyed by identity or address. Buckets run on
// the gate's clock (AllowN with an explicit time), so tests are exact.
type limiters struct {
	cfg RateLimitConfig

	mu sync.Mutex
	// guards the following
	m map[string]*bucket
}

type bucket struct {
	lim      *rate.Limiter
	perMin   int
	lastSeen time.Time
	// recent counts requests in the current and previous minute, for the
	// rate-anomaly risk factor.
	minute    int64
	cur, prev int
}

func newLimiters(cfg RateLimitConfig) *limiters {
	return &limiters{cfg: cfg, m: make(map[string]*bucket)}
}

// perMinute returns the rate for an identity holding roles.
func (l *limiters) perMinute(roles []string) int {
	for _, r := range roles {
		if slices.Contains(l.cfg.AdminRoles, r) {
			return l.cfg.AdminPerMinute
		}
	}
	return l.cfg.UserPerMinute
}

// allow takes one token from key's bucket at rate perMin and returns the
// requests seen in the last minute (including this one). A role change
// resets the bucket to the new rate.
func (l *limiters) allow(key string, perMin int, now time.Time) (ok bool, lastMinute int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.m[key]
	if b == nil || b.perMin != perMin {
		if b == nil && len(l.m) >= l.cfg.MaxTracked {
			l.prune(now)
		}
		b = &bucket{lim: rate.NewLimiter(rate.Limit(float64(perMin)/60), l.cfg.Burst), perMin: perMin}
		l.m[key] = b
	}
	b.lastSeen = now
	m := now.Unix() / 60
	switch {
	case m == b.minute:
	case m == b.minute+1:
		b.prev, b.cur, b.minute = b.cur, 0, m
	default:
		b.prev, b.cur, b.minute = 0, 0, m
	}
	b.cur++
	// Sliding estimate: this minute plus the unexpired share of the last.
	frac := float64(now.Unix()%60) / 60
	lastMinute = b.cur + int(float64(b.prev)*(1-frac))
	return b.lim.AllowN(now, 1), lastMinute
}

// prune drops buckets idle long enough to be full again (so forgetting them
// changes nothing), and if none is, the least recently used one.
func (l *limiters) prune(now time.Time) {
	var oldest string
	var oldestSeen time.Time
	for k, b := range l.m {
		refill := time.Duration(float64(l.cfg.Burst) / float64(b.perMin) * float64(time.Minute))
		if now.Sub(b.lastSeen) > max(refill, time.Minute) {
			delete(l.m, k)
			continue
		}
		if oldest == "" || b.lastSeen.Before(oldestSeen) {
			oldest, oldestSeen = k, b.lastSeen
		}
	}
	if len(l.m) >= l.cfg.MaxTracked && oldest != "" {
		delete(l.m, oldest)
	}
}

func rateErr(what string, perMin int) error {
	return fmt.Errorf("%w: %s over %d/min", ErrRateLimited, what, perMin)
}
