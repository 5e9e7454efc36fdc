// Package fhirtest validates JSON against the official HL7 FHIR R4 JSON
// schema, for tests outside package fhir that check what the node serves.
// The schema is the one package fhir's tests use (node/fhir/testdata, fetched
// by fetch-schema.sh and checked by SHA-256); without it, Validate only logs.
package fhirtest
