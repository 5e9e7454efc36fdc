package zerotrust

import (
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// lockouts tracks failed logins per identity (lockout with progressive
// delays) and per address (quarantine). Identities are tracked only once
// Identities knows them, so an attacker cannot grow the table with invented
// ids; addresses are bounded by MaxTracked with pruning.
type lockouts struct {
	cfg LockoutConfig
	q   QuarantineConfig

	mu sync.Mutex
	// guards the following
	ids   map[string]*failState
	addrs map[string]*addrState
}

type failState struct {
	count       int       // failures since first
	first       time.Time // start of the counting window
	notBefore   time.Time // progressive delay: no attempt before
	lockedUntil time.Time
}

type addrState struct {
	count            int
	first            time.Time
	quarantinedUntil time.Time
}

func newLockouts(cfg LockoutConfig, q QuarantineConfig) *lockouts {
	return &lockouts{cfg: cfg, q: q, ids: make(map[string]*failState), addrs: make(map[string]*addrState)}
}

// check refuses an attempt for a locked identity or one inside its delay.
func (l *lockouts) check(id string, now time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.ids[id]
	if s == nil {
		return nil
	}
	if now.Before(s.lockedUntil) {
		return fmt.Errorf("%w: %q until %s", ErrLocked, id, s.lockedUntil.UTC().Format(time.RFC3339))
	}
	if now.Before(s.notBefore) {
		return fmt.Errorf("%w: %q may retry in %v", ErrTooSoon, id, s.notBefore.Sub(now))
	}
	return nil
}

// fail records a failed attempt for id and reports whether it locked the
// identity now.
func (l *lockouts) fail(id string, now time.Time) (locked bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.ids[id]
	if s == nil {
		if len(l.ids) >= l.cfg.MaxTracked {
			l.pruneIDs(now)
		}
		s = &failState{}
		l.ids[id] = s
	}
	if s.count == 0 || now.Sub(s.first) > l.cfg.Window {
		s.count, s.first = 0, now
	}
	s.count++
	if l.cfg.ProgressiveDelays {
		d := l.cfg.BaseDelay
		for i := 1; i < s.count && d < l.cfg.MaxDelay; i++ {
			d *= 2
		}
		s.notBefore = now.Add(min(d, l.cfg.MaxDelay))
	}
	if s.count >= l.cfg.MaxFailures && !now.Before(s.lockedUntil) {
		s.lockedUntil = now.Add(l.cfg.Duration)
		return true
	}
	return false
}

// succeed forgets id's failures.
func (l *lockouts) succeed(id string) {
	l.mu.Lock()
	delete(l.ids, id)
	l.mu.Unlock()
}

// recentFailures returns id's failures inside the window.
func (l *lockouts) recentFailures(id string, now time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.ids[id]
	if s == nil || now.Sub(s.first) > l.cfg.Window {
		return 0
	}
	return s.count
}

// checkAddr refuses a quarantined address.
func (l *lockouts) checkAddr(addr string, now time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := l.addrs[addr]; s != nil && now.Before(s.quarantinedUntil) {
		return fmt.Errorf("%w: %s until %s", ErrQuarantined, addr, s.quarantinedUntil.UTC().Format(time.RFC3339))
	}
	return nil
}

// failAddr records a failure from addr and reports whether it quarantined
// the address now.
func (l *lockouts) failAddr(addr string, now time.Time) (quarantined bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.addrs[addr]
	if s == nil {
		if len(l.addrs) >= l.cfg.MaxTracked {
			l.pruneAddrs(now)
		}
		s = &addrState{}
		l.addrs[addr] = s
	}
	if s.count == 0 || now.Sub(s.first) > l.q.Window {
		s.count, s.first = 0, now
	}
	s.count++
	if s.count >= l.q.Threshold && !now.Before(s.quarantinedUntil) {
		s.quarantinedUntil = now.Add(l.q.Duration)
		s.count = 0
		return true
	}
	return false
}

// pruneIDs drops entries that neither lock nor count any more; if none can
// go, it drops one unlocked entry so the table stays bounded.
func (l *lockouts) pruneIDs(now time.Time) {
	var spare string
	for id, s := range l.ids {
		if now.Before(s.lockedUntil) {
			continue
		}
		if now.Sub(s.first) > l.cfg.Window && !now.Before(s.notBefore) {
			delete(l.ids, id)
		} else if spare == "" {
			spare = id
		}
	}
	if len(l.ids) >= l.cfg.MaxTracked && spare != "" {
		delete(l.ids, spare)
	}
}

func (l *lockouts) pruneAddrs(now time.Time) {
	var spare string
	for a, s := range l.addrs {
		if now.Before(s.quarantinedUntil) {
			continue
		}
		if now.Sub(s.first) > l.q.Window {
			delete(l.addrs, a)
		} else if spare == "" {
			spare = a
		}
	}
	if len(l.addrs) >= l.cfg.MaxTracked && spare != "" {
		delete(l.addrs, spare)
	}
}

// parseAddr takes "ip:port" or "ip" and returns the IP, 4-in-6 unmapped.
func parseAddr(remote string) (netip.Addr, error) {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().Unmap(), nil
	}
	a, err := netip.ParseAddr(remote)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%w: remote address %q", ErrInvalidRequest, remote)
	}
	return a.Unmap(), nil
}

// addrKey groups addresses the way one party holds them: one IPv4 address,
// or one IPv6 /64.
func addrKey(a netip.Addr) string {
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
