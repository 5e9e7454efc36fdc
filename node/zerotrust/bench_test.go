package zerotrust

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func benchHarness(b *testing.B, mutate func(*Config), o ...func(*Options)) *harness {
	return newHarness(b, func(c *Config) {
		c.MaxSessionsPerIdentity = 1 << 30
		c.RateLimit.AdminPerMinute, c.RateLimit.UserPerMinute, c.RateLimit.AnonymousPerMinute = 1e9, 1e9, 1e9
		c.RateLimit.Burst = 1e9
		if mutate != nil {
			mutate(c)
		}
	}, o...)
}

// BenchmarkSessionCreate measures Login: challenge lookup, ML-DSA-65
// verification, token generation and store insert. Issuing and signing the
// challenge (client work) is excluded.
func BenchmarkSessionCreate(b *testing.B) {
	for _, store := range []string{"mem", "journal"} {
		b.Run(store, func(b *testing.B) {
			var opt []func(*Options)
			if store == "journal" {
				st, err := OpenJournalStore(filepath.Join(b.TempDir(), "sessions.journal"))
				if err != nil {
					b.Fatal(err)
				}
				opt = append(opt, func(o *Options) { o.Store = st })
			}
			h := benchHarness(b, nil, opt...)
			h.addIdentity("dr.lee", SegmentCritical, false, "clinician")
			var lat []time.Duration
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				req := h.signedLogin("dr.lee", "")
				b.StartTimer()
				t := time.Now()
				tok, _, err := h.gate.Login(h.ctx, req)
				lat = append(lat, time.Since(t))
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := h.gate.Logout(h.ctx, tok); err != nil { // stay under the session limit
					b.Fatal(err)
				}
				b.StartTimer()
			}
			reportQuantiles(b, lat)
		})
	}
}

// reportQuantiles adds the median and 99th percentile of per-operation
// latencies to the benchmark's output: on a shared disk the mean (ns/op)
// is dominated by a few slow syncs.
func reportQuantiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns/op")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns/op")
}

// BenchmarkSyncFloor is the floor of any durable login: appending a
// session-sized record (450 bytes) to a file and syncing it, with nothing
// else. BenchmarkSessionCreate/journal pays this once per login.
func BenchmarkSyncFloor(b *testing.B) {
	f, err := os.OpenFile(filepath.Join(b.TempDir(), "floor"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	rec := make([]byte, 450)
	var lat []time.Duration
	for b.Loop() {
		t := time.Now()
		if _, err := f.Write(rec); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t))
	}
	reportQuantiles(b, lat)
}

// BenchmarkSessionVerify measures Authorize of a public method: token hash,
// store lookup, timeouts, identity lookup, rate limits, risk, segment; with
// the in-memory store and with the node's journal (a touch is kept in memory).
func BenchmarkSessionVerify(b *testing.B) {
	for _, store := range []string{"mem", "journal"} {
		b.Run(store, func(b *testing.B) {
			var opt []func(*Options)
			if store == "journal" {
				st, err := OpenJournalStore(filepath.Join(b.TempDir(), "sessions.journal"))
				if err != nil {
					b.Fatal(err)
				}
				opt = append(opt, func(o *Options) { o.Store = st })
			}
			h := benchHarness(b, nil, opt...)
			h.addIdentity("dr.lee", SegmentCritical, true, "clinician")
			tok := h.login("dr.lee", 0)
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := h.gate.Authorize(h.ctx, tok, "chain_head", testAddr, RequestMeta{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAuthorizeWithPolicy is BenchmarkSessionVerify plus a CEL policy.
func BenchmarkAuthorizeWithPolicy(b *testing.B) {
	h := benchHarness(b, nil)
	h.addIdentity("dr.lee", SegmentCritical, true, "clinician")
	tok := h.login("dr.lee", SegmentClinical)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := h.gate.Authorize(h.ctx, tok, "audit_trail", testAddr, RequestMeta{Resource: "Patient/1"}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPolicyEvaluate measures one seed policy on the allow path and on
// the deny path (which re-runs rules to name the reason).
func BenchmarkPolicyEvaluate(b *testing.B) {
	pols, err := CompilePolicies(DefaultPolicies(), 10_000)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		in   PolicyInput
	}{
		{"allow", PolicyInput{Roles: []string{"clinician"}, Risk: 10, Segment: SegmentClinical, MFA: true}},
		{"deny", PolicyInput{Roles: []string{"clinician"}, Risk: 10, Segment: SegmentClinical, MFA: false}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				d, _ := pols.Evaluate(PolicyPatientDataAccess, &c.in)
				if d.Allowed != (c.name == "allow") {
					b.Fatal(d)
				}
			}
		})
	}
}
