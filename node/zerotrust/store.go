package zerotrust

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// TokenHash is SHA-256 of a session token: the only form in which a token
// is stored. It encodes as hex in JSON.
type TokenHash [32]byte

// MarshalText encodes h as hex.
func (h TokenHash) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(h[:])), nil }

// UnmarshalText decodes hex.
func (h *TokenHash) UnmarshalText(b []byte) error {
	if hex.DecodedLen(len(b)) != len(h) {
		return fmt.Errorf("%w: token hash: %d hex chars, want %d", ErrCorrupt, len(b), 2*len(h))
	}
	_, err := hex.Decode(h[:], b)
	return err
}

// Session is an authenticated session. It holds no secret: the token is
// known only to the client, the store keeps its hash.
type Session struct {
	// ID names the session in logs and audit events; it is not a credential.
	ID          string    `json:"id"`
	TokenHash   TokenHash `json:"token_hash"`
	Identity    string    `json:"identity"`
	Roles       []string  `json:"roles"` // as of login or the last refresh; requests use current roles
	Clearance   Segment   `json:"clearance"`
	Segment     Segment   `json:"segment"`
	MFA         bool      `json:"mfa"`
	DeviceKeyID string    `json:"device_key_id"`
	// KeyFingerprint is the fingerprint of the identity key that signed the
	// login or last refresh challenge; a request after the identity rotated
	// that key out ends the session (ErrKeyRotated).
	KeyFingerprint string    `json:"key_fingerprint,omitempty"`
	NewDevice      bool      `json:"new_device"` // the device key was unseen before this session's login
	Address        string    `json:"address"`    // the client IP at login
	Created        time.Time `json:"created"`
	LastAuth       time.Time `json:"last_auth"` // login or last refresh
	LastSeen       time.Time `json:"last_seen"` // last accepted request
	Risk           int       `json:"risk"`      // the last computed score
}

func (s Session) clone() Session {
	s.Roles = slices.Clone(s.Roles)
	return s
}

// SessionStore keeps sessions by token hash. Implementations are safe for
// concurrent use; returned Sessions are copies the caller owns.
//
// Touch may be volatile (kept in memory, written later): a store that
// loses a touch on a crash makes the session look idle sooner, never later.
// Every other mutation is durable when it returns, for persistent stores.
type SessionStore interface {
	// Create stores s after deleting s.Identity's sessions for which
	// expired is true; it returns ErrTooManySessions (wrapped) if the
	// identity would then hold more than max sessions. Check and insert are
	// atomic.
	Create(s Session, max int, expired func(Session) bool) error
	// Get returns the session for h, or ErrSessionUnknown.
	Get(h TokenHash) (Session, error)
	// Update replaces the stored session with s.TokenHash, or returns
	// ErrSessionUnknown if it is gone.
	Update(s Session) error
	// Touch sets the session's LastSeen (never moving it back) and Risk.
	// ErrSessionUnknown if it is gone.
	Touch(h TokenHash, lastSeen time.Time, risk int) error
	// Delete removes the session for h; deleting a missing one is not an error.
	Delete(h TokenHash) error
	// DeleteExpired removes every session for which expired is true and
	// returns how many went.
	DeleteExpired(expired func(Session) bool) (int, error)
	// Close releases the store, flushing volatile state.
	Close() error
}

// MemStore is an in-memory SessionStore. Sessions die with the process.
type MemStore struct {
	mu sync.RWMutex
	// guards the following
	byHash     map[TokenHash]*Session
	byIdentity map[string]map[TokenHash]struct{}
	closed     bool
}

// NewMemStore returns an empty store.
func NewMemStore() *MemStore {
	return &MemStore{byHash: make(map[TokenHash]*Session), byIdentity: make(map[string]map[TokenHash]struct{})}
}

// Create implements SessionStore.
func (m *MemStore) Create(s Session, max int, expired func(Session) bool) error {
	_, err := m.create(s, max, expired)
	return err
}

// create is Create that also returns the expired sessions it deleted.
func (m *MemStore) create(s Session, max int, expired func(Session) bool) ([]TokenHash, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	var evicted []TokenHash
	for h := range m.byIdentity[s.Identity] {
		if old := m.byHash[h]; expired != nil && expired(*old) {
			m.deleteLocked(h)
			evicted = append(evicted, h)
		}
	}
	if n := len(m.byIdentity[s.Identity]); n >= max {
		return evicted, fmt.Errorf("%w: %q holds %d of %d", ErrTooManySessions, s.Identity, n, max)
	}
	m.insertLocked(s.clone())
	return evicted, nil
}

func (m *MemStore) insertLocked(s Session) {
	if old, ok := m.byHash[s.TokenHash]; ok {
		m.deleteLocked(old.TokenHash)
	}
	m.byHash[s.TokenHash] = &s
	set := m.byIdentity[s.Identity]
	if set == nil {
		set = make(map[TokenHash]struct{})
		m.byIdentity[s.Identity] = set
	}
	set[s.TokenHash] = struct{}{}
}

func (m *MemStore) deleteLocked(h TokenHash) bool {
	s, ok := m.byHash[h]
	if !ok {
		return false
	}
	delete(m.byHash, h)
	if set := m.byIdentity[s.Identity]; set != nil {
		delete(set, h)
		if len(set) == 0 {
			delete(m.byIdentity, s.Identity)
		}
	}
	return true
}

// Get implements SessionStore.
func (m *MemStore) Get(h TokenHash) (Session, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return Session{}, ErrClosed
	}
	s, ok := m.byHash[h]
	if !ok {
		return Session{}, ErrSessionUnknown
	}
	return s.clone(), nil
}

// Update implements SessionStore.
func (m *MemStore) Update(s Session) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	old, ok := m.byHash[s.TokenHash]
	if !ok {
		return ErrSessionUnknown
	}
	if old.Identity != s.Identity {
		return fmt.Errorf("%w: update may not change the identity", ErrInvalidRequest)
	}
	*old = s.clone()
	return nil
}

// Touch implements SessionStore.
func (m *MemStore) Touch(h TokenHash, lastSeen time.Time, risk int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	s, ok := m.byHash[h]
	if !ok {
		return ErrSessionUnknown
	}
	if lastSeen.After(s.LastSeen) {
		s.LastSeen = lastSeen
	}
	s.Risk = risk
	return nil
}

// Delete implements SessionStore.
func (m *MemStore) Delete(h TokenHash) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	m.deleteLocked(h)
	return nil
}

// DeleteExpired implements SessionStore.
func (m *MemStore) DeleteExpired(expired func(Session) bool) (int, error) {
	gone, err := m.deleteExpired(expired)
	return len(gone), err
}

// deleteExpired is DeleteExpired that returns the deleted sessions' hashes.
func (m *MemStore) deleteExpired(expired func(Session) bool) ([]TokenHash, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	var gone []TokenHash
	for h, s := range m.byHash {
		if expired(*s) {
			m.deleteLocked(h)
			gone = append(gone, h)
		}
	}
	return gone, nil
}

// Close implements SessionStore.
func (m *MemStore) Close() error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	return nil
}

// snapshot returns every session sorted by ID.
func (m *MemStore) snapshot() []Session {
	m.mu.RLock()
	out := make([]Session, 0, len(m.byHash))
	for _, s := range m.byHash {
		out = append(out, s.clone())
	}
	m.mu.RUnlock()
	slices.SortFunc(out, func(a, b Session) int { return strings.Compare(a.ID, b.ID) })
	return out
}

var _ SessionStore = (*MemStore)(nil)
