package rpc

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func events(purpose string, n, patients int) []statEvent {
	var out []statEvent
	for i := 0; i < n; i++ {
		out = append(out, statEvent{Purpose: purpose, Role: "clinician", Month: "2026-11", Patient: fmt.Sprintf("%s-p%d", purpose, i%patients)})
	}
	return out
}

func cell(t *testing.T, cells []StatsCell, key string) StatsCell {
	t.Helper()
	for _, c := range cells {
		if c.Key == key {
			return c
		}
	}
	t.Fatalf("no cell %q in %+v", key, cells)
	return StatsCell{}
}

// A cell of 4 is suppressed, a cell of 5 shown.
func TestStatsSuppressesBelowK(t *testing.T) {
	ev := append(append(events("treatment", 5, 5), events("research", 4, 4)...), events("billing", 4, 4)...)
	r := computeStats(ev, 5)
	if c := cell(t, r.ByPurpose, "treatment"); c.Suppressed || c.Count == nil || *c.Count != 5 {
		t.Errorf("cell of 5 events about 5 patients: %+v, want shown with count 5", c)
	}
	for _, k := range []string{"research", "billing"} {
		if c := cell(t, r.ByPurpose, k); !c.Suppressed || c.Count != nil {
			t.Errorf("cell of 4: %+v, want suppressed without a count", c)
		}
	}
	if r.Total == nil || *r.Total != 13 {
		t.Errorf("total %v, want 13 (13 events, 13 patients)", r.Total)
	}
	// k is configurable: with k = 4 the cells of 4 show.
	r = computeStats(ev, 4)
	if c := cell(t, r.ByPurpose, "research"); c.Suppressed || *c.Count != 4 {
		t.Errorf("k=4, cell of 4: %+v, want shown", c)
	}
}

// Five events about one patient single that patient out: suppressed.
func TestStatsCountsDistinctPatients(t *testing.T) {
	ev := append(events("treatment", 5, 1), events("research", 6, 6)...)
	ev = append(ev, events("billing", 7, 7)...)
	r := computeStats(ev, 5)
	if c := cell(t, r.ByPurpose, "treatment"); !c.Suppressed {
		t.Errorf("5 events about one patient: %+v, want suppressed", c)
	}
}

// Access denials that name no patient describe nobody: they count as
// events but never as a patient, so they cannot lift a cell about fewer
// than k patients over the threshold.
func TestStatsDenialsNamingNoPatientAreNoPatient(t *testing.T) {
	ev := events("treatment", 8, 4)
	for range 3 {
		ev = append(ev, statEvent{Purpose: "treatment", Role: "clinician", Month: "2026-11"})
	}
	r := computeStats(ev, 5)
	if c := cell(t, r.ByPurpose, "treatment"); !c.Suppressed {
		t.Errorf("11 events about 4 patients plus denials naming none: %+v, want suppressed", c)
	}
	if r.Total != nil {
		t.Errorf("total %v shown for 4 patients, want suppressed", *r.Total)
	}
	ev = append(ev, events("research", 1, 1)...) // a fifth patient
	if r := computeStats(ev, 5); r.Total == nil || *r.Total != 12 {
		t.Errorf("total %v, want 12 (12 events about 5 patients)", r.Total)
	}
}

// With one cell below k, the smallest other cell is suppressed too, so the
// total minus the shown cells does not give the suppressed one back.
func TestStatsComplementarySuppression(t *testing.T) {
	ev := append(append(events("treatment", 20, 20), events("research", 6, 6)...), events("audit", 2, 2)...)
	r := computeStats(ev, 5)
	if r.Total == nil || *r.Total != 28 {
		t.Fatalf("total %v, want 28", r.Total)
	}
	if c := cell(t, r.ByPurpose, "audit"); !c.Suppressed {
		t.Errorf("audit (2): %+v, want suppressed", c)
	}
	if c := cell(t, r.ByPurpose, "research"); !c.Suppressed {
		t.Errorf("research (6), the smallest shown cell: %+v, want suppressed as the complement of audit (2)", c)
	}
	if c := cell(t, r.ByPurpose, "treatment"); c.Suppressed || *c.Count != 20 {
		t.Errorf("treatment (20): %+v, want shown", c)
	}
	// Fewer than k events in all: nothing shows, not even the total.
	r = computeStats(events("treatment", 4, 4), 5)
	if !r.TotalSuppressed || r.Total != nil || !cell(t, r.ByPurpose, "treatment").Suppressed {
		t.Errorf("4 events in all: %+v", r)
	}
}

// Property: in every table, the suppressed cells are none, or at least two
// that together hold at least k events about at least k patients; so the
// total minus the shown cells never isolates one cell, nor a group below k.
func TestStatsTotalsNeverRevealASuppressedCell(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 300; trial++ {
		var ev []statEvent
		n := rng.IntN(60)
		for i := 0; i < n; i++ {
			ev = append(ev, statEvent{Purpose: fmt.Sprintf("p%d", rng.IntN(6)), Role: fmt.Sprintf("r%d", rng.IntN(4)),
				Month: fmt.Sprintf("2026-%02d", 1+rng.IntN(8)), Patient: fmt.Sprintf("pt%d", rng.IntN(15))})
		}
		k := 2 + rng.IntN(6)
		r := computeStats(ev, k)
		for name, tbl := range map[string]func(statEvent) string{
			"purpose": func(e statEvent) string { return e.Purpose },
			"role":    func(e statEvent) string { return e.Role },
			"month":   func(e statEvent) string { return e.Month },
		} {
			cells := map[string][]StatsCell{"purpose": r.ByPurpose, "role": r.ByRole, "month": r.ByMonth}[name]
			supp := map[string]bool{}
			shown := 0
			for _, c := range cells {
				if c.Suppressed {
					supp[c.Key] = true
				} else {
					shown += *c.Count
				}
			}
			if len(supp) == 0 {
				if r.Total != nil && shown != *r.Total {
					t.Fatalf("trial %d %s: shown cells sum to %d, total %d", trial, name, shown, *r.Total)
				}
				continue
			}
			evs, pts := 0, map[string]bool{}
			for _, e := range ev {
				if supp[tbl(e)] {
					evs++
					pts[e.Patient] = true
				}
			}
			if evs == 0 {
				continue
			}
			all := len(supp) == len(cells)
			if !all && (len(supp) < 2 || evs < k || len(pts) < k) {
				t.Fatalf("trial %d k=%d %s: suppressed %v hold %d events about %d patients: recoverable by subtraction", trial, k, name, supp, evs, len(pts))
			}
			if r.Total != nil && !all && len(supp) < 2 {
				t.Fatalf("trial %d: one suppressed cell beside a total", trial)
			}
		}
	}
}
