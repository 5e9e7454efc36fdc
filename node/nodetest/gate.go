package nodetest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/medchain/medchain/node/client"
)

// GateIdentity is the dev identity whose session ClientOptions use when the
// node's zero-trust gate is on: an admin, enrolled in MFA by Restart, so its
// clients may enter the public, internal and clinical segments.
const GateIdentity = "admin"

// totpFile keeps GateIdentity's TOTP secret in the test's data dir, so a
// restarted node's clients can still make codes (test fixture only).
const totpFile = "nodetest-admin.totp"

// codes hands out TOTP codes of one secret, never the same code twice
// (the gate refuses a reused code): a second caller in the same 30 s period
// waits for the next one.
type codes struct {
	secret string
	mu     sync.Mutex
	last   string
}

func (c *codes) next(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		code, err := totp.GenerateCode(c.secret, time.Now())
		if err != nil {
			return "", err
		}
		if code != c.last {
			c.last = code
			return code, nil
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// enrollGateIdentity logs GateIdentity in once, enrols it in MFA (or reads
// the secret an earlier Start saved) and keeps the code source for
// ClientOptions.
func (n *Node) enrollGateIdentity(ctx context.Context) error {
	path := filepath.Join(n.Config.Node.DataDir, totpFile)
	if b, err := os.ReadFile(path); err == nil {
		n.codes = &codes{secret: string(b)}
		return nil
	}
	key, err := n.loadKey(GateIdentity)
	if err != nil {
		return err
	}
	c, err := client.Dial(ctx, n.URL, client.WithCAFile(n.caFile()), client.WithLogin(client.Login{Identity: GateIdentity, Key: key, DeviceKeyID: "nodetest"}))
	if err != nil {
		return err
	}
	defer c.Close()
	r, err := c.EnrollMFA(ctx)
	if err != nil {
		return fmt.Errorf("nodetest: enrol %s in MFA: %w", GateIdentity, err)
	}
	_ = c.Logout(ctx)
	u, err := url.Parse(r.URI)
	if err != nil || u.Query().Get("secret") == "" {
		return errors.New("nodetest: enrolment URI without a secret")
	}
	n.codes = &codes{secret: u.Query().Get("secret")}
	return os.WriteFile(path, []byte(n.codes.secret), 0o600)
}
