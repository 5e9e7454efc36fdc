package rpc

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/node/zerotrust"
)

// callerString stands for caller input a refusal must never record in
// clear: an MRN given as the identity of a login, or as a method, address
// or challenge owner quoted by an error message.
const callerString = "MRN-4711-Jane-Doe"

// TestADenialReasonIsItsClassNeverCallerInput: the reason a refusal is
// recorded with on chain is the fixed text of its error class, whatever the
// error's own message quotes; a policy or segment refusal adds the rule of
// the gate's config that refused.
func TestADenialReasonIsItsClassNeverCallerInput(t *testing.T) {
	segErr := fmt.Errorf("%w: method audit_trail is in segment clinical, session is in public", zerotrust.ErrSegment)
	tests := []struct {
		name string
		err  error
		dec  zerotrust.Decision
		want string
	}{
		{"challenge issued for another identity", fmt.Errorf("%w: issued for login of %q on device %q", zerotrust.ErrChallengeMismatch, callerString, "laptop"), zerotrust.Decision{}, "challenge not issued for this identity, device or session"},
		{"unknown nonce", zerotrust.ErrChallengeUnknown, zerotrust.Decision{}, "challenge unknown or already used"},
		{"expired challenge", fmt.Errorf("%w: at 2026-11-22T20:00:00Z", zerotrust.ErrChallengeExpired), zerotrust.Decision{}, "challenge expired"},
		{"unknown identity", fmt.Errorf("%w: %q", zerotrust.ErrUnknownIdentity, callerString), zerotrust.Decision{}, "unknown identity"},
		{"revoked identity", fmt.Errorf("%w: %q", zerotrust.ErrRevoked, callerString), zerotrust.Decision{}, "identity revoked"},
		{"bad signature", fmt.Errorf("%w: %v", zerotrust.ErrBadSignature, errors.New("ml-dsa: verification failed")), zerotrust.Decision{}, "bad signature"},
		{"bad params", fmt.Errorf("%w: identity: %q has a space", zerotrust.ErrInvalidRequest, callerString), zerotrust.Decision{}, "invalid request"},
		{"rate limit of an address", fmt.Errorf("%w: address %s over 60/min", zerotrust.ErrRateLimited, callerString), zerotrust.Decision{}, "rate limit exceeded"},
		{"lockout", fmt.Errorf("%w: %q until 21:00", zerotrust.ErrLocked, callerString), zerotrust.Decision{}, "identity locked out"},
		{"too soon", zerotrust.ErrTooSoon, zerotrust.Decision{}, "retry too soon after a failed attempt"},
		{"quarantine", fmt.Errorf("%w: %s", zerotrust.ErrQuarantined, callerString), zerotrust.Decision{}, "address quarantined"},
		{"no session", fmt.Errorf("%w: malformed token", zerotrust.ErrSessionUnknown), zerotrust.Decision{}, "no session or an unknown session"},
		{"key rotated", fmt.Errorf("%w: %w: %q rotated", zerotrust.ErrSessionUnknown, zerotrust.ErrKeyRotated, callerString), zerotrust.Decision{}, "identity key rotated since the session authenticated"},
		{"unknown method", fmt.Errorf("%w: %q", zerotrust.ErrUnknownMethod, callerString), zerotrust.Decision{}, "method has no access rule"},
		{"risk", fmt.Errorf("%w: 80 > 70", zerotrust.ErrRiskTooHigh), zerotrust.Decision{Reason: callerString}, "risk score too high"},
		{"policy with its rule", fmt.Errorf("%w: clinical: requires role physician", zerotrust.ErrPolicyDenied), zerotrust.Decision{Reason: "requires role physician"}, "policy denied: requires role physician"},
		{"segment, the decision a copy of the error", segErr, zerotrust.Decision{Reason: segErr.Error()}, "segment access refused"},
		{"segment with its rule", fmt.Errorf("%w: segment critical requires MFA", zerotrust.ErrSegment), zerotrust.Decision{Reason: "segment critical requires MFA"}, "segment access refused: segment critical requires MFA"},
		{"broken policy", fmt.Errorf("%w: policy %q: no such key", zerotrust.ErrPolicy, callerString), zerotrust.Decision{Reason: "evaluation failed"}, "policy evaluation failed"},
		{"MFA rejected", zerotrust.ErrMFAFailed, zerotrust.Decision{}, "MFA code rejected"},
		{"infrastructure", fmt.Errorf("zerotrust: identity lookup: pebble: closed (%s)", callerString), zerotrust.Decision{}, "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := denialReason(tt.err, tt.dec)
			if got != tt.want {
				t.Fatalf("denialReason = %q, want %q", got, tt.want)
			}
			if strings.Contains(got, callerString) {
				t.Fatalf("the recorded reason %q quotes caller input", got)
			}
		})
	}
}

// psLedger is a Ledger with a pseudonym vault (Pseudonyms) that maps every
// id to one pseudonym; psLedgerSays also says whether the chain
// pseudonymizes (Pseudonymizer).
type psLedger struct {
	Ledger
	pseudonym string
}

func (l psLedger) Pseudonym(string) (string, error) { return l.pseudonym, nil }
func (psLedger) Opener(string) (func([]byte, types.Hash) ([]byte, error), error) {
	return nil, ErrNotFound
}
func (psLedger) Unredact(*types.Tx) (*types.Tx, error)        { return nil, ErrNotFound }
func (psLedger) ErasureStatus(string) (*ErasureStatus, error) { return &ErasureStatus{}, nil }

type psLedgerSays struct {
	psLedger
	on bool
}

func (l psLedgerSays) Pseudonymizes() bool { return l.on }

// TestAPseudonymIsNoPatientIDOnAPseudonymizingChain: a reader takes a
// patient by id; on a chain that pseudonymizes, a pseudonym given as the
// patient is invalid params (else the reader would answer the records under
// it, opened and naming the id: the link the node keeps inside); on a chain
// that does not, ids are stored as given and a pseudonym-shaped one is looked
// up as is.
func TestAPseudonymIsNoPatientIDOnAPseudonymizingChain(t *testing.T) {
	ps := types.NewPseudonym([types.PseudonymSize]byte{1, 2, 3})
	vault := psLedger{pseudonym: types.NewPseudonym([types.PseudonymSize]byte{9})}
	tests := []struct {
		name    string
		l       Ledger
		patient string
		want    string // stored id, "" for a -32602 refusal
	}{
		{"pseudonymizing, a patient id", vault, "patient123", vault.pseudonym},
		{"pseudonymizing, a pseudonym", vault, ps, ""},
		{"pseudonymizing (says so), a pseudonym", psLedgerSays{vault, true}, ps, ""},
		{"pseudonymizing, an id that only starts like a pseudonym", vault, "ps:abc", vault.pseudonym},
		{"not pseudonymizing (says so), a pseudonym: looked up as before", psLedgerSays{vault, false}, ps, vault.pseudonym},
		{"no vault, a pseudonym", nil, ps, ps},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := patientID(tt.l, tt.patient)
			if tt.want != "" {
				if err != nil || got != tt.want {
					t.Fatalf("patientID = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Code != CodeInvalidParams || !strings.Contains(e.Msg, "give the patient's id, not a pseudonym") {
				t.Fatalf("patientID = %q, %v; want -32602 naming the rule", got, err)
			}
			if strings.Contains(e.Msg, ps) {
				t.Fatalf("the message quotes the pseudonym: %s", e.Msg)
			}
		})
	}
}

// TestErasureStatusRefusesAPseudonym: patient_erasureStatus takes the
// patient's id like every other reader.
func TestErasureStatusRefusesAPseudonym(t *testing.T) {
	ps := types.NewPseudonym([types.PseudonymSize]byte{4})
	for _, tt := range []struct {
		name    string
		l       Ledger
		refused bool
	}{
		{"pseudonymizing", psLedger{}, true},
		{"not pseudonymizing", psLedgerSays{psLedger{}, false}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := (&PatientAPI{l: tt.l}).ErasureStatus(ErasureStatusParams{Patient: ps})
			var e *Error
			if refused := errors.As(err, &e) && e.Code == CodeInvalidParams; refused != tt.refused {
				t.Fatalf("erasure status of a pseudonym: %v, want refused %v", err, tt.refused)
			}
		})
	}
}
