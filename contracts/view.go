package contracts

import (
	"fmt"
	"sync"

	"github.com/medchain/medchain/chain/types"
)

// ConsentInfo is what a contract may learn about one consent of a patient.
// Empty Parties, Actions or Categories mean "any" (as in types.ConsentScope).
type ConsentInfo struct {
	Granted    bool
	Purposes   []string
	Parties    []string
	Actions    []string
	Categories []string
	Expiration int64 // Unix ms; 0: no expiry
}

// ConsentFromGrant converts a recorded consent grant.
func ConsentFromGrant(g *types.ConsentGrant) ConsentInfo {
	return ConsentInfo{
		Granted:    g.Granted,
		Purposes:   g.Scope.Purposes,
		Parties:    g.Scope.Parties,
		Actions:    g.Scope.Actions,
		Categories: g.Scope.DataCategories,
		Expiration: g.Scope.Expiration,
	}
}

// StateView is the chain state a contract may read, through host functions.
// The VM owns the interface; the chain's state executor implements it.
//
// Contract:
//   - Reads are of one consistent snapshot (the state the tx executes on);
//     the same call with the same arguments returns the same answer for the
//     whole execution. The VM may call a method several times, or not at all.
//   - Methods are called from the goroutine that called Execute.
//   - Returned slices are not modified by the VM; the VM copies them.
//   - An error means the view could not answer (I/O, corruption); the VM
//     returns it wrapped in ErrView and no decision. "Not found" is not an
//     error: Consent returns found=false, Roles returns an empty list.
//   - Lists longer than Config.MaxListLen are a broken view and fail the
//     same way as an error.
type StateView interface {
	// Consent returns the current consent of the given type for a patient.
	Consent(patient, consentType string) (info ConsentInfo, found bool, err error)
	// Roles returns the roles registered on chain for an identity.
	Roles(identity string) ([]string, error)
}

// MapView is an in-memory StateView for tests and tools. The zero value is
// an empty view. It is safe for concurrent use.
type MapView struct {
	mu sync.RWMutex
	// guards the following
	consents map[[2]string]ConsentInfo
	roles    map[string][]string
	err      error
}

var _ StateView = (*MapView)(nil)

// SetConsent records a consent.
func (v *MapView) SetConsent(patient, consentType string, c ConsentInfo) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.consents == nil {
		v.consents = make(map[[2]string]ConsentInfo)
	}
	v.consents[[2]string{patient, consentType}] = c
}

// SetRoles records an identity's roles.
func (v *MapView) SetRoles(identity string, roles ...string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.roles == nil {
		v.roles = make(map[string][]string)
	}
	v.roles[identity] = roles
}

// FailWith makes every later read return err (nil restores normal reads);
// tests use it to prove the VM fails closed on view errors.
func (v *MapView) FailWith(err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.err = err
}

// Consent implements StateView.
func (v *MapView) Consent(patient, consentType string) (ConsentInfo, bool, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.err != nil {
		return ConsentInfo{}, false, fmt.Errorf("mapview: consent %s/%s: %w", patient, consentType, v.err)
	}
	c, ok := v.consents[[2]string{patient, consentType}]
	return c, ok, nil
}

// Roles implements StateView.
func (v *MapView) Roles(identity string) ([]string, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.err != nil {
		return nil, fmt.Errorf("mapview: roles %s: %w", identity, v.err)
	}
	return v.roles[identity], nil
}
