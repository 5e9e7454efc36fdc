package state

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/medchain/medchain/chain/codec"
	"github.com/medchain/medchain/chain/types"
)

// ErrBadQuery is returned for query parameters that make no sense.
var ErrBadQuery = errors.New("state: bad query")

// GetIdentity returns the identity id, or nil if it is not registered.
func GetIdentity(v View, id string) (*Identity, error) { return newOverlay(v).identity(id) }

// GetConsent returns the current consent, or nil if none was ever recorded.
func GetConsent(v View, patient, consentType string) (*Consent, error) {
	return newOverlay(v).consent(patient, consentType)
}

// ConsentRequest is a question put to a consent: may Requester use the data
// for Purpose (and Action, DataCategory when given) at time At (Unix ms)?
type ConsentRequest struct {
	Purpose      string `json:"purpose"`
	Requester    string `json:"requester_id"`
	Action       string `json:"action,omitempty"`
	DataCategory string `json:"data_category,omitempty"`
	At           int64  `json:"-"`
}

// ConsentDecision is the answer, with the reason in words.
type ConsentDecision struct {
	Granted bool     `json:"granted"`
	Reason  string   `json:"reason"`
	Consent *Consent `json:"consent,omitempty"`
}

// VerifyConsent decides req against c (which may be nil). It is pure: the
// time comes in the request, normally the head block's time.
func VerifyConsent(c *Consent, req ConsentRequest) ConsentDecision {
	d := ConsentDecision{Consent: c}
	switch {
	case c == nil:
		d.Reason = "no consent recorded"
	case c.Status == ConsentRevoked:
		d.Reason = fmt.Sprintf("consent revoked at height %d", c.Height)
	case !c.Granted:
		d.Reason = "consent refused by the patient"
	case c.Scope.Expiration != 0 && req.At >= c.Scope.Expiration:
		d.Reason = "consent expired at " + time.UnixMilli(c.Scope.Expiration).UTC().Format(time.RFC3339)
	case !slices.Contains(c.Scope.Purposes, req.Purpose):
		d.Reason = fmt.Sprintf("purpose %q is not allowed (allowed: %v)", req.Purpose, c.Scope.Purposes)
	case len(c.Scope.Parties) > 0 && !slices.Contains(c.Scope.Parties, req.Requester):
		d.Reason = fmt.Sprintf("requester %q is not an authorized party", req.Requester)
	case req.Action != "" && len(c.Scope.Actions) > 0 && !slices.Contains(c.Scope.Actions, req.Action):
		d.Reason = fmt.Sprintf("action %q is not allowed (allowed: %v)", req.Action, c.Scope.Actions)
	case req.DataCategory != "" && len(c.Scope.DataCategories) > 0 && !slices.Contains(c.Scope.DataCategories, req.DataCategory):
		d.Reason = fmt.Sprintf("data category %q is not covered (covered: %v)", req.DataCategory, c.Scope.DataCategories)
	default:
		d.Granted, d.Reason = true, "consent granted"
	}
	return d
}

// ConsentHistory returns every recorded version of a consent, oldest first.
func ConsentHistory(s Scanner, patient, consentType string) ([]Consent, error) {
	prefix := ConsentHistoryPrefix(patient, consentType)
	var out []Consent
	var derr error
	err := s.Scan(prefix, prefixEnd(prefix), false, func(k, v []byte) bool {
		var c Consent
		if derr = codec.Unmarshal(v, &c); derr != nil {
			derr = fmt.Errorf("%w: corrupt consent history at %q: %v", ErrIO, k, derr)
			return false
		}
		out = append(out, c)
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrIO, err)
	}
	return out, derr
}

// EHRSystems returns every registered EHR system in id order.
func EHRSystems(s Scanner) ([]EHRSystem, error) {
	p := EHRPrefix()
	var out []EHRSystem
	var derr error
	err := s.Scan(p, prefixEnd(p), false, func(k, v []byte) bool {
		var e EHRSystem
		if derr = codec.Unmarshal(v, &e); derr != nil {
			derr = fmt.Errorf("%w: corrupt EHR record at %q: %v", ErrIO, k, derr)
			return false
		}
		out = append(out, e)
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrIO, err)
	}
	return out, derr
}

// Trail limits.
const (
	DefaultTrailLimit = 100
	MaxTrailLimit     = 1000
)

// TrailQuery selects a page of a patient's (or an actor's) audit trail.
type TrailQuery struct {
	ID      string // patient id, or actor id when ByActor
	ByActor bool
	From    int64  // block time lower bound, Unix ms, inclusive; 0: none
	To      int64  // block time upper bound, Unix ms, exclusive; 0: none
	Cursor  string // from a previous page's Next
	Limit   int    // 0: DefaultTrailLimit
	Newest  bool   // newest first
}

// TrailPage is one page of a trail, in chain order (or reversed with Newest).
type TrailPage struct {
	Entries []AuditEntry `json:"entries"`
	Next    string       `json:"next,omitempty"` // cursor of the next page; empty at the end
}

// Trail returns a page of audit entries. The patient trail holds entries;
// the actor trail holds keys into it, resolved through v. A redacted entry
// gets its sealed payload, or Pruned, when v is a SealedReader.
func Trail(v View, s Scanner, q TrailQuery) (*TrailPage, error) {
	if err := types.ValidateID("id", q.ID); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadQuery, err)
	}
	if q.Limit == 0 {
		q.Limit = DefaultTrailLimit
	}
	if q.Limit < 0 || q.Limit > MaxTrailLimit {
		return nil, fmt.Errorf("%w: limit must be between 1 and %d", ErrBadQuery, MaxTrailLimit)
	}
	if q.From < 0 || q.To < 0 || (q.To != 0 && q.To <= q.From) {
		return nil, fmt.Errorf("%w: time range [%d, %d) is empty or negative", ErrBadQuery, q.From, q.To)
	}
	prefix := TrailPrefix(q.ID, q.ByActor)
	start := binary.BigEndian.AppendUint64(slices.Clone(prefix), uint64(q.From))
	end := prefixEnd(prefix)
	if q.To != 0 {
		end = binary.BigEndian.AppendUint64(slices.Clone(prefix), uint64(q.To))
	}
	if q.Cursor != "" {
		c, err := base64.RawURLEncoding.DecodeString(q.Cursor)
		if err != nil || !bytes.HasPrefix(c, prefix) {
			return nil, fmt.Errorf("%w: cursor does not belong to this trail", ErrBadQuery)
		}
		if q.Newest {
			if bytes.Compare(c, end) < 0 {
				end = c // exclusive: resume below the last key returned
			}
		} else if cs := append(c, 0); bytes.Compare(cs, start) > 0 {
			start = cs // just after the last key returned
		}
	}
	page := &TrailPage{}
	sr, _ := v.(SealedReader)
	var last []byte
	var ferr error
	err := s.Scan(start, end, q.Newest, func(k, val []byte) bool {
		if len(page.Entries) == q.Limit {
			page.Next = base64.RawURLEncoding.EncodeToString(last)
			return false
		}
		if q.ByActor {
			b, found, err := v.Get(val)
			if err != nil {
				ferr = fmt.Errorf("%w: %v", ErrIO, err)
				return false
			}
			if !found {
				ferr = fmt.Errorf("%w: actor index at %q points to missing entry %q", ErrIO, k, val)
				return false
			}
			val = b
		}
		var e AuditEntry
		if err := codec.Unmarshal(val, &e); err != nil {
			ferr = fmt.Errorf("%w: corrupt audit entry at %q: %v", ErrIO, k, err)
			return false
		}
		if e.Redacted && sr != nil {
			sealed, found, err := sr.SealedPayload(e.Height, e.Index)
			if err != nil {
				ferr = fmt.Errorf("%w: sealed payload of audit event %s: %v", ErrIO, e.TxHash, err)
				return false
			}
			e.Sealed, e.Pruned = sealed, !found
		}
		page.Entries = append(page.Entries, e)
		last = append(last[:0], k...)
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrIO, err)
	}
	if ferr != nil {
		return nil, ferr
	}
	return page, nil
}

// prefixEnd returns the smallest key greater than every key with prefix p.
func prefixEnd(p []byte) []byte {
	end := slices.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}
