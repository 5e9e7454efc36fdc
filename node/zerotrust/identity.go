package zerotrust

import (
	"context"
	"slices"
	"sync"

	"github.com/medchain/medchain/chain/crypto"
)

// Identity is what the gate needs to know about an identity.
type Identity struct {
	// Roles are the identity's current roles.
	Roles []string
	// PublicKey verifies its challenge signatures.
	PublicKey crypto.PublicKey
	// Clearance is the most sensitive segment its sessions may enter.
	Clearance Segment
	// Revoked identities cannot log in, and their sessions die on their next request.
	Revoked bool
	// MFAEnrolled says the identity has a TOTP seed; a code it sends is
	// always checked, and RequireMFAAtLogin insists on one.
	MFAEnrolled bool
}

// Identities is the gate's view of the identity registry (the node backs it
// with chain state). Lookup is called at login, at refresh and on every
// Authorize, from many goroutines at once, so it must be safe for concurrent
// use and fast (a map or a local store read, never the network). It returns
// ErrUnknownIdentity, possibly wrapped, for an id it does not hold. The
// returned value is owned by the caller.
type Identities interface {
	Lookup(ctx context.Context, id string) (Identity, error)
}

// MemIdentities is an in-memory Identities for tests and single-node setups.
type MemIdentities struct {
	mu sync.RWMutex
	// guards the following
	m map[string]Identity
}

// NewMemIdentities returns an empty registry.
func NewMemIdentities() *MemIdentities { return &MemIdentities{m: make(map[string]Identity)} }

// Put adds or replaces id.
func (r *MemIdentities) Put(id string, ident Identity) {
	ident.Roles = slices.Clone(ident.Roles)
	r.mu.Lock()
	r.m[id] = ident
	r.mu.Unlock()
}

// Revoke marks id revoked.
func (r *MemIdentities) Revoke(id string) {
	r.mu.Lock()
	if ident, ok := r.m[id]; ok {
		ident.Revoked = true
		r.m[id] = ident
	}
	r.mu.Unlock()
}

// Lookup implements Identities.
func (r *MemIdentities) Lookup(_ context.Context, id string) (Identity, error) {
	r.mu.RLock()
	ident, ok := r.m[id]
	r.mu.RUnlock()
	if !ok {
		return Identity{}, ErrUnknownIdentity // the id is not quoted: it may be anybody's (recordFailure logs the error)
	}
	ident.Roles = slices.Clone(ident.Roles)
	return ident, nil
}

var _ Identities = (*MemIdentities)(nil)
