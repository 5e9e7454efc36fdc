package fhir

import "time"

// Collection is a FHIR R4 Bundle of type collection: a patient's export. It
// has no total and its entries no search element (R4 invariant bdl-1 allows
// them only in a searchset or history); resource ids are tx hashes, so
// entries need no fullUrl.
type Collection struct {
	ResourceTypeName string            `json:"resourceType"`
	Type             string            `json:"type"`
	Timestamp        string            `json:"timestamp,omitempty"`
	Entry            []CollectionEntry `json:"entry,omitempty"`
}

// CollectionEntry is Bundle.entry of a collection.
type CollectionEntry struct {
	Resource Resource `json:"resource"`
}

// ResourceType implements Resource.
func (*Collection) ResourceType() string { return "Bundle" }

// ResourceID implements Resource; an export has no id.
func (*Collection) ResourceID() string { return "" }

// CollectionBundle builds the collection Bundle holding resources, stamped at ts.
func CollectionBundle(resources []Resource, ts time.Time) *Collection {
	b := &Collection{ResourceTypeName: "Bundle", Type: "collection", Timestamp: formatInstant(ts)}
	for _, r := range resources {
		b.Entry = append(b.Entry, CollectionEntry{Resource: r})
	}
	return b
}
