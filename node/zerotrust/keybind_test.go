package zerotrust

import (
	"errors"
	"testing"
	"time"
)

func TestSessionEndsWhenItsKeyIsRotatedOut(t *testing.T) {
	h := newHarness(t, nil)
	h.addIdentity("dr.lee", SegmentCritical, true, "clinician")
	h.addIdentity("dr.kim", SegmentCritical, true, "clinician")
	oldTok := h.login("dr.lee", SegmentClinical)
	otherTok := h.login("dr.kim", SegmentClinical)
	if _, _, err := h.gate.Authorize(h.ctx, oldTok, "audit_trail", testAddr, RequestMeta{}); err != nil {
		t.Fatalf("before rotation: %v", err)
	}

	// dr.lee rotates to a new key (identity_rotate_key committed on chain).
	newKey := testKey(t, 99)
	id, _ := h.ids.Lookup(h.ctx, "dr.lee")
	id.PublicKey = newKey.Public()
	h.ids.Put("dr.lee", id)

	_, _, err := h.gate.Authorize(h.ctx, oldTok, "audit_trail", testAddr, RequestMeta{})
	if !errors.Is(err, ErrKeyRotated) || !errors.Is(err, ErrSessionUnknown) {
		t.Fatalf("session of the rotated-out key: got %v, want ErrKeyRotated and ErrSessionUnknown", err)
	}
	h.waitAlerts()
	if n := h.alerts.kinds()[AlertRevokedAccess]; n != 1 {
		t.Fatalf("%d revoked-access alerts, want 1", n)
	}
	// The session is gone, not merely refused once.
	if _, _, err := h.gate.Authorize(h.ctx, oldTok, "audit_trail", testAddr, RequestMeta{}); !errors.Is(err, ErrSessionUnknown) || errors.Is(err, ErrKeyRotated) {
		t.Fatalf("second request on the ended session: got %v, want only ErrSessionUnknown", err)
	}
	if err := h.refresh(oldTok); !errors.Is(err, ErrSessionUnknown) {
		t.Fatalf("refresh of the ended session: got %v, want ErrSessionUnknown", err)
	}
	// Another identity's session is untouched.
	if _, _, err := h.gate.Authorize(h.ctx, otherTok, "audit_trail", testAddr, RequestMeta{}); err != nil {
		t.Fatalf("unrelated session: %v", err)
	}

	// The old key can no longer log in; the new key can, and its session works.
	h.clock.Advance(time.Minute) // past the progressive delay of a failed login
	if _, _, err := h.gate.Login(h.ctx, h.signedLogin("dr.lee", h.code())); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("login with the old key: got %v, want ErrBadSignature", err)
	}
	h.keys["dr.lee"] = newKey
	h.clock.Advance(time.Minute) // past the progressive delay of a failed login
	newTok := h.login("dr.lee", SegmentClinical)
	if _, _, err := h.gate.Authorize(h.ctx, newTok, "audit_trail", testAddr, RequestMeta{}); err != nil {
		t.Fatalf("session of the new key: %v", err)
	}
	if err := h.refresh(newTok); err != nil {
		t.Fatalf("refresh with the new key: %v", err)
	}
}

func TestKeyPrintsCacheFollowsKeyAndStaysBounded(t *testing.T) {
	c := newKeyPrints()
	a, b := testKey(t, 1).Public(), testKey(t, 2).Public()
	if got := c.of("x", a); got != a.Fingerprint() {
		t.Fatalf("first key: %s, want %s", got, a.Fingerprint())
	}
	if got := c.of("x", b); got != b.Fingerprint() {
		t.Fatalf("after rotation the cache answered %s, want %s", got, b.Fingerprint())
	}
	for i := range maxKeyPrints + 10 {
		c.of(string(rune('a'+i%26))+string(rune(i)), a)
	}
	if n := len(c.m); n > maxKeyPrints {
		t.Fatalf("cache holds %d entries, bound %d", n, maxKeyPrints)
	}
}
