package zerotrust

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"
)

// AlertKind names a security event.
type AlertKind string

// Alert kinds.
const (
	AlertLockout       AlertKind = "lockout"        // an identity hit the failure limit
	AlertQuarantine    AlertKind = "quarantine"     // an address brute-forced
	AlertReplay        AlertKind = "replay"         // a used or unknown challenge was answered
	AlertRevokedAccess AlertKind = "revoked_access" // a revoked identity tried to log in or call
	AlertHighRisk      AlertKind = "high_risk"      // a request was refused for risk
)

// Alert is one security event. It never carries a token, a code or a seed.
type Alert struct {
	Kind     AlertKind `json:"kind"`
	Time     time.Time `json:"time"`
	Identity string    `json:"identity,omitempty"`
	Address  string    `json:"address,omitempty"`
	Detail   string    `json:"detail"`
}

// Alerter delivers alerts. The gate calls Alert from its own goroutine with
// a context that carries the delivery deadline; an error is logged by the
// gate and otherwise dropped (alerts never block or fail a request).
type Alerter interface {
	Alert(ctx context.Context, a Alert) error
}

// SlogAlerter writes alerts to a slog.Logger at Warn level.
type SlogAlerter struct{ Logger *slog.Logger }

// Alert implements Alerter.
func (s SlogAlerter) Alert(ctx context.Context, a Alert) error {
	l := s.Logger
	if l == nil {
		l = slog.Default()
	}
	l.LogAttrs(ctx, slog.LevelWarn, "zerotrust alert",
		slog.String("kind", string(a.Kind)), slog.Time("time", a.Time),
		slog.String("identity", a.Identity), slog.String("address", a.Address),
		slog.String("detail", a.Detail))
	return nil
}

// WebhookAlerter posts each alert as JSON to URL.
type WebhookAlerter struct {
	// URL receives POST requests with Content-Type application/json.
	URL string
	// Client sends them; nil means a client with Timeout.
	Client *http.Client
	// Timeout bounds one delivery. Default 5 s.
	Timeout time.Duration
}

// Alert implements Alerter. A non-2xx answer is an error.
func (w *WebhookAlerter) Alert(ctx context.Context, a Alert) error {
	timeout := w.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	body, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("zerotrust: webhook: encode: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("zerotrust: webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	c := w.Client
	if c == nil {
		c = &http.Client{Timeout: timeout}
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("zerotrust: webhook: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("zerotrust: webhook: status %d", resp.StatusCode)
	}
	return nil
}

// MultiAlerter sends each alert to every alerter and joins their errors.
type MultiAlerter []Alerter

// Alert implements Alerter.
func (m MultiAlerter) Alert(ctx context.Context, a Alert) error {
	var errs []error
	for _, al := range m {
		if err := al.Alert(ctx, a); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

var (
	_ Alerter = SlogAlerter{}
	_ Alerter = (*WebhookAlerter)(nil)
	_ Alerter = MultiAlerter(nil)
)
