// Package compliance evaluates the node's HIPAA technical safeguards
// (45 CFR §164.312) and the GDPR measures it can check against evidence
// gathered live from a running node (node.ComplianceEvidence): the TLS
// configuration in force, the zero-trust gate, the audit events on chain, a
// chain verification, key ages, consents, erasures, the records in state
// that name a patient (counted by kind, with how many name a pseudonym),
// and the retention settings with the retention pruner's state (each pass's
// progress against its period; Report.Retention carries it). Evaluate is pure: the same evidence gives
// the same report, so tests flip each line by changing the evidence. No
// line passes without evidence; administrative and physical safeguards are
// listed as not checkable by the node.
//
// Usage:
//
//	ev, err := n.ComplianceEvidence(ctx) // node.Node: live evidence
//	rep := compliance.Evaluate(ev)
//	for _, c := range rep.Checks { fmt.Println(c.Status, c.ID, c.Evidence) }
//
// Invariants (tested):
//
//  1. No line is hard-coded to pass: changing one piece of evidence (plain
//     HTTP, the gate off, a tampered chain, old keys, expired consents,
//     retention, a pruner behind its period, no recent audit event) flips
//     the lines that depend on it from pass to fail, and no others.
//  2. Erasure and pseudonymisation fail on a node without pseudonyms (no
//     cluster data key).
//  3. Administrative and physical safeguards are not_checkable, never pass.
//  4. Pseudonymisation passes only when every record that names a patient
//     names a pseudonym, genesis identities aside (counted and reported);
//     its evidence holds counts and kinds, never a patient id or a
//     pseudonym.
package compliance
