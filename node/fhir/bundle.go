package fhir

import (
	"strings"
	"time"
)

// Bundle is a FHIR R4 Bundle of type searchset.
type Bundle struct {
	ResourceTypeName string        `json:"resourceType"`
	Type             string        `json:"type"`
	Timestamp        string        `json:"timestamp,omitempty"`
	Total            int           `json:"total"`
	Link             []BundleLink  `json:"link,omitempty"`
	Entry            []BundleEntry `json:"entry,omitempty"`
}

// BundleLink is Bundle.link.
type BundleLink struct {
	Relation string `json:"relation"`
	URL      string `json:"url"`
}

// BundleEntry is Bundle.entry.
type BundleEntry struct {
	FullURL  string       `json:"fullUrl,omitempty"`
	Resource Resource     `json:"resource"`
	Search   *EntrySearch `json:"search,omitempty"`
}

// EntrySearch is Bundle.entry.search.
type EntrySearch struct {
	Mode string `json:"mode"` // match
}

// ResourceType implements Resource.
func (*Bundle) ResourceType() string { return "Bundle" }

// ResourceID implements Resource; a search result has no id.
func (*Bundle) ResourceID() string { return "" }

// SearchBundle builds the searchset Bundle answering query (e.g.
// "AuditEvent?patient=p1", relative to base, e.g. "https://node1.example/fhir")
// with resources as matches, stamped at now.
func SearchBundle(base, query string, resources []Resource, now time.Time) *Bundle {
	base = strings.TrimRight(base, "/")
	b := &Bundle{
		ResourceTypeName: "Bundle",
		Type:             "searchset",
		Timestamp:        formatInstant(now),
		Total:            len(resources),
		Link:             []BundleLink{{Relation: "self", URL: base + "/" + strings.TrimLeft(query, "/")}},
	}
	for _, r := range resources {
		e := BundleEntry{Resource: r, Search: &EntrySearch{Mode: "match"}}
		if id := r.ResourceID(); id != "" {
			e.FullURL = base + "/" + r.ResourceType() + "/" + id
		}
		b.Entry = append(b.Entry, e)
	}
	return b
}
