package rpc

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/medchain/medchain/chain/state"
)

// k-anonymity bounds of audit_stats.
const (
	DefaultStatsK = 5
	MinStatsK     = 2
)

// StatsParams are audit_stats's params.
type StatsParams struct {
	// K is the anonymity threshold: default 5, never below 2.
	K    int  `json:"k,omitempty"`
	From Time `json:"from,omitempty"` // block time, inclusive; RFC 3339 or Unix ms
	To   Time `json:"to,omitempty"`   // exclusive
}

// StatsCell is one count. A suppressed cell has no count.
type StatsCell struct {
	Key        string `json:"key"`
	Count      *int   `json:"count,omitempty"`
	Suppressed bool   `json:"suppressed,omitempty"`
}

// StatsResult is audit_stats's result: three one-way tables over the same
// events (access counts by purpose, by signer role and by month) and their
// total.
type StatsResult struct {
	K      int    `json:"k"`
	Height uint64 `json:"height"`
	From   int64  `json:"from,omitempty"`
	To     int64  `json:"to,omitempty"`
	// Total is the number of events, or absent (TotalSuppressed) when the
	// events are fewer than k or involve fewer than k patients.
	Total           *int        `json:"total,omitempty"`
	TotalSuppressed bool        `json:"total_suppressed,omitempty"`
	ByPurpose       []StatsCell `json:"by_purpose"`
	ByRole          []StatsCell `json:"by_role"`
	ByMonth         []StatsCell `json:"by_month"`
}

// Labels for events without a purpose or with an unregistered signer.
const (
	statsNoPurpose = "(none)"
	statsUnknown   = "(unknown)"
)

// statEvent is one audit event reduced to what the tables need. Patient is
// kept only to count distinct patients per cell; it is never returned.
type statEvent struct {
	Purpose, Role, Month, Patient string
}

// statCell aggregates one cell.
type statCell struct {
	key      string
	events   int
	patients map[string]bool
}

func (c *statCell) add(patient string) {
	c.events++
	if patient != "" { // an access denial naming no patient describes none
		c.patients[patient] = true
	}
}

// safe: at least k events about at least k distinct patients, so no cell
// describes fewer than k people.
func safe(events int, patients map[string]bool, k int) bool {
	return events >= k && len(patients) >= k
}

// Stats returns k-anonymous access counts by purpose, signer role (the
// signer's current roles, sorted and joined with "+", so each event falls
// in exactly one cell) and month (block time, UTC), aggregated across all
// patients: it takes no patient parameter and never returns patient ids.
//
// Suppression. A cell is shown only if it counts at least k events about at
// least k distinct patients: a cell of 5 events about one patient would
// single that patient out as surely as a cell of 1. Cells below that are
// reported as suppressed, without a count.
//
// Totals. Each table partitions the same events, so its cells sum to the
// total: a total (or a table with no suppressed cell, which implies the
// total) minus the shown cells would give back a single suppressed cell.
// Omitting the total is not enough, because any fully shown table reveals
// it. So the tables use complementary suppression instead: within each
// table, while the suppressed cells number fewer than two, or together hold
// fewer than k events or k patients, the smallest shown cell is suppressed
// too. What subtraction can recover is then only the sum of two or more
// suppressed cells, itself at least k events about at least k patients; and
// one-way tables share no cell, so no combination of them isolates one. The
// total is shown when it is itself safe.
func (a *AuditAPI) Stats(p StatsParams) (*StatsResult, error) {
	k := p.K
	if k == 0 {
		k = DefaultStatsK
	}
	if k < MinStatsK {
		return nil, invalidParams("k must be at least %d (default %d), got %d", MinStatsK, DefaultStatsK, k)
	}
	if p.From < 0 || p.To < 0 || (p.To != 0 && p.To <= p.From) {
		return nil, invalidParams("time range [%d, %d) is empty or negative", p.From, p.To)
	}
	r := a.l.Reader()
	head, _ := r.Head()
	roles := map[string]string{}
	var events []statEvent
	var lerr error
	err := state.ScanAuditEntries(r, func(e *state.AuditEntry) bool {
		if e.Time < int64(p.From) || (p.To != 0 && e.Time >= int64(p.To)) {
			return true
		}
		role, ok := roles[e.Signer]
		if !ok {
			id, err := state.GetIdentity(r, e.Signer)
			if err != nil {
				lerr = err
				return false
			}
			role = statsUnknown
			if id != nil && len(id.Roles) > 0 {
				rs := slices.Clone(id.Roles)
				slices.Sort(rs)
				role = strings.Join(rs, "+")
			}
			roles[e.Signer] = role
		}
		purpose := e.Record.Purpose
		if purpose == "" {
			purpose = statsNoPurpose
		}
		events = append(events, statEvent{Purpose: purpose, Role: role, Patient: e.Record.Patient,
			Month: time.UnixMilli(e.Time).UTC().Format("2006-01")})
		return true
	})
	if err == nil {
		err = lerr
	}
	if err != nil {
		return nil, toRPC(err)
	}
	out := computeStats(events, k)
	out.Height, out.From, out.To = head.Height, int64(p.From), int64(p.To)
	return out, nil
}

// computeStats builds the three tables with suppression (see Stats).
func computeStats(events []statEvent, k int) *StatsResult {
	out := &StatsResult{K: k}
	all := map[string]bool{}
	for _, e := range events {
		if e.Patient != "" {
			all[e.Patient] = true
		}
	}
	if n := len(events); safe(n, all, k) {
		out.Total = &n
	} else {
		out.TotalSuppressed = true
	}
	out.ByPurpose = table(events, k, func(e statEvent) string { return e.Purpose })
	out.ByRole = table(events, k, func(e statEvent) string { return e.Role })
	out.ByMonth = table(events, k, func(e statEvent) string { return e.Month })
	return out
}

// table counts events by key and applies primary and complementary
// suppression; cells are returned in key order.
func table(events []statEvent, k int, key func(statEvent) string) []StatsCell {
	cells := map[string]*statCell{}
	for _, e := range events {
		kk := key(e)
		c := cells[kk]
		if c == nil {
			c = &statCell{key: kk, patients: map[string]bool{}}
			cells[kk] = c
		}
		c.add(e.Patient)
	}
	list := make([]*statCell, 0, len(cells))
	for _, c := range cells {
		list = append(list, c)
	}
	suppressed := map[string]bool{}
	for _, c := range list {
		if !safe(c.events, c.patients, k) {
			suppressed[c.key] = true
		}
	}
	// Complementary suppression: smallest shown cells first.
	slices.SortFunc(list, func(a, b *statCell) int {
		return cmp.Or(cmp.Compare(a.events, b.events), cmp.Compare(len(a.patients), len(b.patients)), strings.Compare(a.key, b.key))
	})
	for len(suppressed) > 0 {
		n, pts := 0, map[string]bool{}
		for _, c := range list {
			if suppressed[c.key] {
				n += c.events
				for p := range c.patients {
					pts[p] = true
				}
			}
		}
		if len(suppressed) >= 2 && safe(n, pts, k) {
			break
		}
		next := -1
		for i, c := range list {
			if !suppressed[c.key] {
				next = i
				break
			}
		}
		if next < 0 {
			break // everything is suppressed
		}
		suppressed[list[next].key] = true
	}
	slices.SortFunc(list, func(a, b *statCell) int { return strings.Compare(a.key, b.key) })
	out := make([]StatsCell, 0, len(list))
	for _, c := range list {
		if suppressed[c.key] {
			out = append(out, StatsCell{Key: c.key, Suppressed: true})
			continue
		}
		n := c.events
		out = append(out, StatsCell{Key: c.key, Count: &n})
	}
	return out
}
