// Package fhir maps medchain's chain records to and from HL7 FHIR R4 (4.0.1)
// JSON, for EHR integrations: audit events as AuditEvent, consents as Consent,
// search results as a searchset Bundle, and the CapabilityStatement of the
// node's read-only FHIR endpoint:
//
//	GET /fhir/metadata                  CapabilityStatement
//	GET /fhir/AuditEvent?patient=<id>   Bundle (searchset) of AuditEvent
//	GET /fhir/Consent?patient=<id>      Bundle (searchset) of Consent
//
// Usage:
//
//	ev := fhir.AuditEventFromChain(fhir.AuditEntry{Record: rec, TxHash: h, Height: 42, Time: blockTime, Signer: "ehr-epic"})
//	b, _ := json.Marshal(ev)
//	rec, err := fhir.AuditRecordFromJSON(body)   // an AuditEvent an EHR submitted
//	bundle := fhir.SearchBundle(base, "AuditEvent?patient=p1", []fhir.Resource{ev}, time.Now())
//
// Invariants:
//
//  1. Every resource this package builds is valid FHIR R4: tests validate it
//     against the official R4 JSON schema and check the R4 invariants the
//     schema cannot express (required elements, value-set codes, ppc-1).
//  2. Chain to FHIR to chain is lossless: AuditRecordFromFHIR(AuditEventFromChain(e))
//     returns e.Record and ConsentFromFHIR(ConsentFromChain(c)) returns c's
//     grant and status. medchain's own values travel in codings of the
//     urn:medchain:fhir:* systems beside the standard HL7 codes. (A detail
//     with an empty value is dropped: FHIR JSON has no empty strings.)
//  3. Input from an EHR is bounded (MaxResourceBytes), must name the expected
//     resourceType (ErrWrongResourceType) and must yield a record that passes
//     the chain's ValidateBasic (ErrInvalid names the element at fault). It
//     never panics.
//  4. Identifiers are never turned into FHIR logical ids: patients and
//     identities travel as Identifier{system, value}, because medchain ids
//     allow characters (":@/#_") that a FHIR id does not.
//
// Mapping of an audit event:
//
//	AuditRecord.EventType  -> AuditEvent.type          (urn:medchain:fhir:event-type)
//	AuditRecord.Action     -> AuditEvent.subtype       (urn:medchain:fhir:action) and .action (C|R|U|D|E)
//	AuditRecord.Outcome    -> AuditEvent.outcome       (0 success, 4 denied, 8 error) and .outcomeDesc
//	AuditRecord.Purpose    -> AuditEvent.purposeOfEvent (v3-ActReason, text = medchain purpose)
//	AuditRecord.Actor      -> AuditEvent.agent[requestor=true].who.identifier
//	signer (if not actor)  -> AuditEvent.agent[requestor=false] (DICOM 110150 Application)
//	signer                 -> AuditEvent.source.observer.identifier
//	AuditRecord.Patient    -> AuditEvent.entity[role=1 Patient].what.identifier (absent if none is named)
//	AuditRecord.Resource   -> AuditEvent.entity[role=4 Domain Resource].what.reference
//	tx hash, height, time  -> AuditEvent.id, .recorded, entity[type=2 System Object].detail
//	SessionID, Details     -> that entity's detail ("session_id", "details.<key>")
package fhir
