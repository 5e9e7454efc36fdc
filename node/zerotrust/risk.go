package zerotrust

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// Risk factor names, as they appear in Risk.Factors.
const (
	FactorNoMFA           = "no_mfa"
	FactorNewDevice       = "new_device"
	FactorUnusualHour     = "unusual_hour"
	FactorFailedAttempts  = "failed_attempts"
	FactorRateAnomaly     = "rate_anomaly"
	FactorAddressChange   = "address_change"
	FactorSegmentMismatch = "segment_mismatch"
)

// RiskSignals are the observations a risk score is computed from.
type RiskSignals struct {
	NoMFA           bool
	NewDevice       bool
	UnusualHour     bool
	FailedAttempts  bool
	RateAnomaly     bool
	AddressChange   bool
	SegmentMismatch bool
}

// RiskFactor is one present factor and the weight it added.
type RiskFactor struct {
	Name   string `json:"name"`
	Weight int    `json:"weight"`
}

// Risk is a score 0-100 and the factors that make it up, in a fixed order.
type Risk struct {
	Score   int          `json:"score"`
	Factors []RiskFactor `json:"factors,omitempty"`
}

// AssessRisk sums the weights of the present signals, capped at 100. It is
// pure: the same signals and weights always give the same Risk.
func AssessRisk(w RiskConfig, s RiskSignals) Risk {
	var r Risk
	add := func(on bool, name string, weight int) {
		if on && weight > 0 {
			r.Factors = append(r.Factors, RiskFactor{Name: name, Weight: weight})
			r.Score += weight
		}
	}
	add(s.NoMFA, FactorNoMFA, w.NoMFA)
	add(s.NewDevice, FactorNewDevice, w.NewDevice)
	add(s.UnusualHour, FactorUnusualHour, w.UnusualHour)
	add(s.FailedAttempts, FactorFailedAttempts, w.FailedAttempts)
	add(s.RateAnomaly, FactorRateAnomaly, w.RateAnomaly)
	add(s.AddressChange, FactorAddressChange, w.AddressChange)
	add(s.SegmentMismatch, FactorSegmentMismatch, w.SegmentMismatch)
	r.Score = min(r.Score, 100)
	return r
}

// maxDevicesPerIdentity bounds the remembered device keys per identity.
const maxDevicesPerIdentity = 64

// profiles remembers, per identity, at which UTC hours it works and which
// device keys it has logged in from. Only authenticated activity is
// recorded, so the table is bounded by the registered identities. It lives
// in memory: after a restart every device is new and no hour is unusual
// until history rebuilds, which raises risk rather than lowering it for
// devices and is neutral for hours.
type profiles struct {
	minHistory int
	percent    int

	mu sync.Mutex
	// guards the following
	m map[string]*profile
}

type profile struct {
	hours   [24]uint32
	total   uint32
	devices map[string]struct{}
}

func newProfiles(minHistory, percent int) *profiles {
	return &profiles{minHistory: minHistory, percent: percent, m: make(map[string]*profile)}
}

func (p *profiles) get(id string) *profile {
	pr := p.m[id]
	if pr == nil {
		pr = &profile{devices: make(map[string]struct{})}
		p.m[id] = pr
	}
	return pr
}

// unusualHour reports whether t's UTC hour holds less than percent of the
// identity's history, once the history is long enough.
func (p *profiles) unusualHour(id string, t time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	pr := p.m[id]
	if pr == nil || int(pr.total) < p.minHistory {
		return false
	}
	return uint64(pr.hours[t.UTC().Hour()])*100 < uint64(pr.total)*uint64(p.percent)
}

// record counts one authenticated action at t.
func (p *profiles) record(id string, t time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pr := p.get(id)
	if pr.total == 1<<31 { // halve to keep shares and stay in range
		for i := range pr.hours {
			pr.hours[i] /= 2
		}
		pr.total /= 2
	}
	pr.hours[t.UTC().Hour()]++
	pr.total++
}

func (p *profiles) knownDevice(id, device string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	pr := p.m[id]
	if pr == nil {
		return false
	}
	_, ok := pr.devices[device]
	return ok
}

func (p *profiles) addDevice(id, device string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pr := p.get(id)
	if len(pr.devices) >= maxDevicesPerIdentity {
		clear(pr.devices)
	}
	pr.devices[device] = struct{}{}
}

// String lists the factors with their weights, e.g. "no_mfa 30 + new_device 20".
func (r Risk) String() string {
	if len(r.Factors) == 0 {
		return "no risk factors"
	}
	var b strings.Builder
	for i, f := range r.Factors {
		if i > 0 {
			b.WriteString(" + ")
		}
		fmt.Fprintf(&b, "%s %d", f.Name, f.Weight)
	}
	return b.String()
}
