package zerotrust

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// lockedBuffer is a bytes.Buffer safe for the gate's concurrent logging.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestAFailedLoginLogsNoUnregisteredIdentity: the identity a failed login
// claims is any id-shaped string (a patient's MRN, a person's name); unless
// the registry knows it, neither the info log, nor the error, nor an alert
// names it (it stands as "(unregistered)"), and a challenge issued for it
// is not quoted when another identity answers it. A registered identity is
// still named, so an operator sees who is being guessed.
func TestAFailedLoginLogsNoUnregisteredIdentity(t *testing.T) {
	const mrn = "MRN-4711-Jane-Doe"
	var logs lockedBuffer
	h := newHarness(t, func(c *Config) { c.Quarantine.Threshold = 3 }, func(o *Options) {
		o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	})
	h.addIdentity("doctor456", SegmentCritical, false, "physician")
	forMRN, err := h.gate.IssueChallenge(h.ctx, mrn, testDevice, testAddr)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := h.keys["doctor456"].Sign(forMRN.SignBytes())
	if err != nil {
		t.Fatal(err)
	}
	own, err := h.gate.IssueChallenge(h.ctx, mrn, testDevice, testAddr)
	if err != nil {
		t.Fatal(err)
	}
	ownSig, err := h.keys["doctor456"].Sign(own.SignBytes())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		req      LoginRequest
		want     error
		identity string // as logged
	}{
		{"an unregistered MRN, a nonce never issued", LoginRequest{Identity: mrn, DeviceKeyID: testDevice, Nonce: bytes.Repeat([]byte{1}, NonceSize), Signature: sig, RemoteAddr: testAddr}, ErrChallengeUnknown, unregisteredIdentity},
		{"a registered identity answering a challenge issued for the MRN", LoginRequest{Identity: "doctor456", DeviceKeyID: testDevice, Nonce: forMRN.Nonce, Signature: sig, RemoteAddr: testAddr}, ErrChallengeMismatch, "doctor456"},
		{"an unregistered MRN with its own challenge", LoginRequest{Identity: mrn, DeviceKeyID: testDevice, Nonce: own.Nonce, Signature: ownSig, RemoteAddr: testAddr}, ErrUnknownIdentity, unregisteredIdentity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(logs.String())
			_, _, err := h.gate.Login(h.ctx, tt.req)
			if !errors.Is(err, tt.want) {
				t.Fatalf("login: %v, want %v", err, tt.want)
			}
			if strings.Contains(err.Error(), mrn) {
				t.Fatalf("the error quotes the claimed identity: %v", err)
			}
			line := logs.String()[before:]
			if !strings.Contains(line, "authentication failed") || !strings.Contains(line, "identity="+tt.identity) || strings.Contains(line, mrn) {
				t.Fatalf("logged %q: want the failure, identity %s, no MRN", line, tt.identity)
			}
		})
	}
	h.gate.alertWG.Wait() // the alert deliveries
	h.alerts.mu.Lock()
	defer h.alerts.mu.Unlock()
	if len(h.alerts.alerts) == 0 {
		t.Fatal("no alert raised (replay, quarantine)")
	}
	for _, a := range h.alerts.alerts {
		if strings.Contains(a.Identity+a.Detail, mrn) {
			t.Fatalf("alert %+v names the claimed identity", a)
		}
	}
}
