package zerotrust

import (
	"fmt"
	"sync"
	"time"

	"github.com/medchain/medchain/chain/codec"
)

// NonceSize is the size of a challenge nonce in bytes.
const NonceSize = 32

// Purpose says what a challenge authenticates. Values are signed: append only.
type Purpose uint8

// Purposes.
const (
	PurposeLogin   Purpose = 1 + iota // open a session
	PurposeRefresh                    // re-prove key possession for an open session
)

// String returns "login" or "refresh".
func (p Purpose) String() string {
	switch p {
	case PurposeLogin:
		return "login"
	case PurposeRefresh:
		return "refresh"
	}
	return fmt.Sprintf("Purpose(%d)", uint8(p))
}

// Challenge is what a client signs to prove it holds an identity's key. It
// is single use, expires, and is bound to one identity, one device key id,
// one purpose and (for refresh) one session.
type Challenge struct {
	ChainID     string    `json:"chain_id"`
	Purpose     Purpose   `json:"purpose"`
	Identity    string    `json:"identity"`
	Nonce       []byte    `json:"nonce"` // NonceSize random bytes
	DeviceKeyID string    `json:"device_key_id"`
	SessionID   string    `json:"session_id,omitempty"` // refresh only
	Expires     time.Time `json:"expires"`
}

type signedChallenge struct {
	ChainID     string  `cbor:"1,keyasint"`
	Purpose     Purpose `cbor:"2,keyasint"`
	Identity    string  `cbor:"3,keyasint"`
	Nonce       []byte  `cbor:"4,keyasint"`
	DeviceKeyID string  `cbor:"5,keyasint"`
	SessionID   string  `cbor:"6,keyasint"`
	Expires     int64   `cbor:"7,keyasint"` // Unix milliseconds
}

const challengeDomain = "medchain/zerotrust/challenge/v1\x00"

// SignBytes returns the canonical bytes the client signs:
//
//	"medchain/zerotrust/challenge/v1" 0x00 ||
//	CBOR{1 chain id, 2 purpose, 3 identity, 4 nonce, 5 device key id, 6 session id, 7 expiry ms}
func (c *Challenge) SignBytes() []byte {
	b := codec.MustMarshal(signedChallenge{c.ChainID, c.Purpose, c.Identity, c.Nonce, c.DeviceKeyID, c.SessionID, c.Expires.UnixMilli()})
	return append([]byte(challengeDomain), b...)
}

// challenges holds issued, unanswered challenges by nonce.
type challenges struct {
	max int

	mu sync.Mutex
	// guards the following
	m map[[NonceSize]byte]Challenge
}

func newChallenges(max int) *challenges {
	return &challenges{max: max, m: make(map[[NonceSize]byte]Challenge)}
}

func (cs *challenges) put(c Challenge, now time.Time) error {
	var k [NonceSize]byte
	copy(k[:], c.Nonce)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if len(cs.m) >= cs.max {
		for n, old := range cs.m {
			if !now.Before(old.Expires) {
				delete(cs.m, n)
			}
		}
		if len(cs.m) >= cs.max {
			return fmt.Errorf("%w: %d pending", ErrTooManyChallenges, len(cs.m))
		}
	}
	cs.m[k] = c
	return nil
}

// take removes and returns the challenge for nonce: whatever happens next,
// a nonce is answered at most once.
func (cs *challenges) take(nonce []byte) (Challenge, bool) {
	if len(nonce) != NonceSize {
		return Challenge{}, false
	}
	var k [NonceSize]byte
	copy(k[:], nonce)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	c, ok := cs.m[k]
	delete(cs.m, k)
	return c, ok
}
