package zerotrust

import (
	"fmt"
	"strings"
)

// Segment is a micro-segment: a zone of methods with one trust level. A
// session sits in exactly one segment at a time and may call only that
// segment's methods (cross-segment access is refused unless
// Config.AllowLowerSegments). Values are ordered by sensitivity; append only.
type Segment uint8

// The segments, least to most sensitive.
const (
	SegmentPublic   Segment = 1 + iota // API consumers; chain head, proofs
	SegmentInternal                    // administrators and staff; identities, governance, EHR config
	SegmentClinical                    // clinicians; audit events, consents, patient trails
	SegmentCritical                    // physicians; clinical decisions, contract execution
)

// Segments lists every segment in order.
var Segments = []Segment{SegmentPublic, SegmentInternal, SegmentClinical, SegmentCritical}

var segmentNames = [...]string{"", "public", "internal", "clinical", "critical"}

// String returns the lower-case name used in config, CEL and JSON.
func (s Segment) String() string {
	if s.Valid() {
		return segmentNames[s]
	}
	return fmt.Sprintf("Segment(%d)", uint8(s))
}

// Valid reports whether s is one of the four segments.
func (s Segment) Valid() bool { return s >= SegmentPublic && s <= SegmentCritical }

// ParseSegment maps a name from String back to its segment.
func ParseSegment(name string) (Segment, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	for _, s := range Segments {
		if segmentNames[s] == n {
			return s, nil
		}
	}
	return 0, fmt.Errorf("%w: unknown segment %q (want public, internal, clinical or critical)", ErrInvalidRequest, name)
}

// MarshalText encodes the segment by name.
func (s Segment) MarshalText() ([]byte, error) {
	if !s.Valid() {
		return nil, fmt.Errorf("%w: segment %d", ErrInvalidRequest, uint8(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText decodes a name accepted by ParseSegment.
func (s *Segment) UnmarshalText(b []byte) error {
	v, err := ParseSegment(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// MethodRule says where a method lives and which policy guards it.
type MethodRule struct {
	// Segment is the micro-segment the method belongs to.
	Segment Segment `json:"segment"`
	// Policy names a Policy in Config.Policies; empty means the segment
	// check alone decides.
	Policy string `json:"policy,omitempty"`
}

// lookupMethod finds the rule for method: an exact key first, then the
// longest "prefix*" key. No rule means no access (default deny).
func lookupMethod(rules map[string]MethodRule, method string) (MethodRule, bool) {
	if r, ok := rules[method]; ok {
		return r, true
	}
	best, bestLen, found := MethodRule{}, -1, false
	for k, r := range rules {
		p, ok := strings.CutSuffix(k, "*")
		if !ok || !strings.HasPrefix(method, p) {
			continue
		}
		if len(p) > bestLen { // two wildcard keys never share a prefix length and a prefix
			best, bestLen, found = r, len(p), true
		}
	}
	return best, found
}
