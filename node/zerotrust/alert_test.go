package zerotrust

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func loopbackServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func TestWebhookAlerterPostsJSON(t *testing.T) {
	got := make(chan Alert, 1)
	srv := loopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s", r.Method, r.Header.Get("Content-Type"))
		}
		var a Alert
		if err := json.NewDecoder(r.Body).Decode(&a); err != nil {
			t.Error(err)
		}
		got <- a
	}))
	w := &WebhookAlerter{URL: srv.URL, Timeout: time.Second}
	sent := Alert{Kind: AlertLockout, Time: t0, Identity: `'; DROP TABLE users; --`, Address: "192.0.2.1", Detail: `<script>"x"</script>`}
	if err := w.Alert(context.Background(), sent); err != nil {
		t.Fatal(err)
	}
	if a := <-got; a.Kind != sent.Kind || !a.Time.Equal(sent.Time) || a.Identity != sent.Identity || a.Detail != sent.Detail {
		t.Fatalf("received %+v", a)
	}
}

func TestWebhookAlerterFailsOnErrorAndTimeout(t *testing.T) {
	bad := loopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusInternalServerError)
	}))
	if err := (&WebhookAlerter{URL: bad.URL}).Alert(context.Background(), Alert{Kind: AlertReplay}); err == nil || !strings.Contains(err.Error(), "status 500") {
		t.Fatalf("500: got %v", err)
	}
	release := make(chan struct{})
	slow := loopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer close(release)
	start := time.Now()
	err := (&WebhookAlerter{URL: slow.URL, Timeout: 100 * time.Millisecond}).Alert(context.Background(), Alert{Kind: AlertReplay})
	if err == nil || time.Since(start) > 2*time.Second {
		t.Fatalf("slow webhook: %v after %v", err, time.Since(start))
	}
}

func TestSecretsNeverLogged(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := newHarness(t, func(c *Config) { c.MaxSessionsPerIdentity = 3 }, func(o *Options) {
		o.Logger = logger
		o.Alerter = MultiAlerter{SlogAlerter{Logger: logger}, o.Alerter}
	})
	h.addIdentity("dr.lee", SegmentCritical, true, "clinician")
	code := h.code()
	tok := h.login("dr.lee", 0)
	h.clock.Advance(time.Minute)
	// Failures and replays that log and alert.
	bad := h.signedLogin("dr.lee", "999999")
	h.gate.Login(h.ctx, bad)
	h.gate.Login(h.ctx, bad)
	h.gate.Authorize(h.ctx, tok, "audit_trail", testAddr, RequestMeta{})
	h.waitAlerts()
	out := buf.String()
	if out == "" {
		t.Fatal("nothing logged: the test proves nothing")
	}
	for _, secret := range []string{tok, testSeed, code, "999999"} {
		if strings.Contains(out, secret) {
			t.Fatalf("log contains a secret %q:\n%s", secret, out)
		}
	}
}
