package rpc

import (
	"reflect"
	"slices"
	"unicode"

	"github.com/medchain/medchain/node/zerotrust"
)

// MethodRules is the zero-trust method table: every JSON-RPC method the
// server registers, with the micro-segment it lives in and the policy that
// guards it. It is the one place a method's exposure is decided; a method
// with no rule is refused (default deny), and TestEveryMethodHasARule fails
// when a registered method is missing here.
//
//   - public: any authenticated session. Node and chain metadata, proofs
//     (checkable by the client without trusting the node), the algorithm
//     list, FHIR mapping (pure, no data) and tx submission and lookup. A
//     submitted tx carries its own ML-DSA signature, and chain.CheckTx
//     refuses it unless the signer's registered role permits its type
//     (design invariant 3): the role check happens per tx, not per session.
//   - internal, policy administrative (admin, MFA, risk ≤ 40): identity
//     records, EHR integration config, cluster membership and leadership,
//     contract deployment and review. Whole-chain verification and contract
//     reads are internal without a policy, so auditors and privacy officers
//     (who may enter internal) can check the trail and the contracts.
//   - clinical, policy patient_data_access (clinician or admin, MFA, risk
//     ≤ 30): anything that returns who touched a patient's record or what the
//     patient consented to: audit trails, consents, their FHIR views, and
//     the patient_* and compliance_* namespaces that other work adds.
//   - critical, policy clinical_decision (clinician or physician, MFA,
//     risk ≤ 20): executing or simulating an access-policy contract.
//
// auth_* and session_* are not in the table: auth_challenge, auth_login,
// auth_refresh and auth_logout open and close sessions; auth_mfaEnroll,
// session_status and session_segment manage the caller's own live session.
func MethodRules() map[string]zerotrust.MethodRule {
	pub := zerotrust.MethodRule{Segment: zerotrust.SegmentPublic}
	internal := zerotrust.MethodRule{Segment: zerotrust.SegmentInternal}
	admin := zerotrust.MethodRule{Segment: zerotrust.SegmentInternal, Policy: zerotrust.PolicyAdministrative}
	patient := zerotrust.MethodRule{Segment: zerotrust.SegmentClinical, Policy: zerotrust.PolicyPatientDataAccess}
	decision := zerotrust.MethodRule{Segment: zerotrust.SegmentCritical, Policy: zerotrust.PolicyClinicalDecision}
	return map[string]zerotrust.MethodRule{
		"node_status":       pub,
		"chain_head":        pub,
		"chain_block":       pub,
		"chain_proof":       pub,
		"chain_consistency": pub,
		"crypto_algorithms": pub,
		"cluster_genesis":   pub,
		"fhir_map":          pub,
		"fhir_metadata":     pub, // the REST capability statement (gateREST)
		"tx_submit":         pub,
		"tx_submitBatch":    pub,
		"tx_get":            pub,
		"fhir_submit":       pub,

		"chain_verify":        internal,
		"chain_verifyStatus":  internal,
		"contract_get":        internal,
		"contract_executions": internal,
		"contract_reviews":    internal,
		"contract_getReview":  internal,

		"identity_get":           admin,
		"ehr_list":               admin,
		"ehr_status":             admin,
		"cluster_status":         admin,
		"cluster_nodes":          admin,
		"cluster_transferLeader": admin,
		"contract_create":        admin,
		"contract_deploy":        admin,
		"compliance_*":           admin,

		"audit_*":         patient, // audit_trail, audit_stats
		"consent_*":       patient, // consent_verify, consent_get, consent_history
		"fhir_auditTrail": patient,
		"fhir_consents":   patient,
		"patient_*":       patient,

		"contract_execute":  decision,
		"contract_simulate": decision,
	}
}

// serviceMethods lists the JSON-RPC names go-ethereum's rpc server gives
// the exported methods of svc registered as namespace: namespace_ plus the
// method name with its first letter in lower case.
func serviceMethods(namespace string, svc any) []string {
	t := reflect.TypeOf(svc)
	var out []string
	for i := range t.NumMethod() {
		m := t.Method(i)
		if m.PkgPath != "" {
			continue
		}
		r := []rune(m.Name)
		r[0] = unicode.ToLower(r[0])
		out = append(out, namespace+"_"+string(r))
	}
	return out
}

// Methods returns every JSON-RPC method the server registered, sorted.
func (s *Server) Methods() []string {
	out := slices.Clone(s.methods)
	slices.Sort(out)
	return out
}
