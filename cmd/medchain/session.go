package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/spf13/cobra"

	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/node/client"
	"github.com/medchain/medchain/node/rpc"
)

// Session cache: <data-dir>/sessions/<identity>.json (0600) holds the token
// of the identity's session on one node, so each CLI call reuses the session
// instead of logging in again (a node allows one session per identity by
// default). sessions/current names the identity of the last medchain login.
const sessionsDir = "sessions"

// devTOTPDir keeps TOTP secrets that medchain mfa enroll --save-secret
// saved (<data-dir>/totp/<identity>.secret, 0600): a dev convenience so that
// codes can be made without a phone. Production keeps the secret in an
// authenticator app only.
const devTOTPDir = "totp"

// devIdentity is the identity client commands log in as when neither --as
// nor a medchain login names one: the dev chain's admin, whose key
// medchain init --dev leaves in <data-dir>/keys.
const devIdentity = "admin"

type cachedSession struct {
	URL      string `json:"url"`
	Identity string `json:"identity"`
	Token    string `json:"token"`
}

func (g *globals) sessionPath(id string) string {
	return filepath.Join(g.dataDir, sessionsDir, id+".json")
}

func (g *globals) loadSession(id string) cachedSession {
	var cs cachedSession
	b, err := os.ReadFile(g.sessionPath(id))
	if err != nil || json.Unmarshal(b, &cs) != nil || cs.URL != g.rpcURL || cs.Identity != id {
		return cachedSession{}
	}
	return cs
}

// saveSession caches token for id (0600 in a 0700 dir); "" removes it.
func (g *globals) saveSession(id, token string) error {
	p := g.sessionPath(id)
	if token == "" {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	b, _ := json.Marshal(cachedSession{URL: g.rpcURL, Identity: id, Token: token})
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// setCurrent makes id the identity of later commands without --as.
func (g *globals) setCurrent(id string) error {
	return os.WriteFile(filepath.Join(g.dataDir, sessionsDir, "current"), []byte(id+"\n"), 0o600)
}

// sessionIdentity is --as, else the identity of the last medchain login,
// else the dev admin when its key is in the data dir ("" otherwise).
func (g *globals) sessionIdentity() string {
	if g.as != "" {
		return g.as
	}
	b, _ := os.ReadFile(filepath.Join(g.dataDir, sessionsDir, "current"))
	if id := strings.TrimSpace(string(b)); id != "" {
		return id
	}
	if _, err := os.Stat(filepath.Join(g.dataDir, "keys", devIdentity+".key")); err == nil {
		return devIdentity
	}
	return ""
}

// totpSecretPath is where mfa enroll --save-secret keeps id's secret.
func (g *globals) totpSecretPath(id string) string {
	return filepath.Join(g.dataDir, devTOTPDir, id+".secret")
}

// totpSecret returns the TOTP secret the CLI may make id's codes from:
// MEDCHAIN_TOTP_SECRET (an unattended integration), else --totp-file (for
// the identity the flags named), else
// the dev secret saved in the data dir; "" if none. file is the secret's
// file ("" for the environment).
func (g *globals) totpSecret(id string) (secret, file string, err error) {
	if s := os.Getenv("MEDCHAIN_TOTP_SECRET"); s != "" {
		return s, "", nil
	}
	path := g.totpFile
	if path != "" && g.totpOwner != "" && id != g.totpOwner {
		path = "" // --totp-file is the secret of another identity
	}
	if path == "" {
		path = g.totpSecretPath(id)
		if _, err := os.Stat(path); err != nil {
			return "", "", nil
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", "", fmt.Errorf("TOTP secret: %w", err)
	}
	secret = strings.TrimSpace(string(b))
	if secret == "" {
		return "", "", fmt.Errorf("TOTP secret: %s is empty", path)
	}
	return secret, path, nil
}

// totpPeriod is RFC 6238's time step, as the node verifies codes.
const totpPeriod = 30

// stepCodes makes TOTP codes of one secret, never for a time step it has
// already handed out: the node refuses a step at or below the last one it
// accepted for the identity, so two commands in the same 30 s would
// otherwise send the same, refused, code (a failed login that counts toward
// lockout). The last step is kept beside the secret file (<file>.step), so
// consecutive commands share it. It gives the current step, then the next
// (the node allows one step of skew), then waits for the clock.
type stepCodes struct {
	secret, stepFile string
	last             int64
}

func (c *stepCodes) next(ctx context.Context) (string, error) {
	if c.stepFile != "" {
		if b, err := os.ReadFile(c.stepFile); err == nil {
			if v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil {
				c.last = max(c.last, v)
			}
		}
	}
	for {
		now := time.Now().Unix() / totpPeriod
		if step := max(c.last+1, now); step <= now+1 {
			code, err := totp.GenerateCodeCustom(c.secret, time.Unix(step*totpPeriod, 0),
				totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
			if err != nil {
				return "", fmt.Errorf("TOTP secret: %w", err)
			}
			c.last = step
			if c.stepFile != "" {
				_ = os.WriteFile(c.stepFile, []byte(strconv.FormatInt(step, 10)+"\n"), 0o600)
			}
			return code, nil
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// totpCodes returns id's code source, or nil when the CLI has no secret.
func (g *globals) totpCodes(id string) (*stepCodes, error) {
	secret, file, err := g.totpSecret(id)
	if err != nil || secret == "" {
		return nil, err
	}
	c := &stepCodes{secret: secret}
	if file != "" {
		// Beside the real file: data dirs that link one secret share
		// its steps (the node takes each step once, cluster-wide).
		if real, err := filepath.EvalSymlinks(file); err == nil {
			file = real
		}
		c.stepFile = file + ".step"
	}
	return c, nil
}

// loginOption returns the client option that calls as the session
// identity: its cached session, else a login with its key (base's TOTP and
// segment apply). No identity means no login (a node with the gate off).
func (g *globals) loginOption(base client.Login) (client.Option, error) {
	id := g.sessionIdentity()
	if id == "" {
		return nil, nil
	}
	l := base
	l.Identity = id
	if l.Token == "" {
		l.Token = g.loadSession(id).Token
	}
	if key, err := g.signerKey(id, g.keyFile); err == nil {
		l.Key = key
	} else if l.Token == "" {
		return nil, fmt.Errorf("%w\n  no session for %q either: log in with medchain login --as %s", err, id, id)
	}
	if l.TOTPSecret == "" && l.TOTP == "" {
		codes, err := g.totpCodes(id)
		if err != nil {
			return nil, err
		}
		if codes != nil {
			l.TOTPCode = codes.next
			// A new session proves MFA at once, so that moving into a
			// segment that needs MFA is not first refused (and audited on
			// chain as a denial).
			// Only with a code at hand: if the free steps are used up (logins
			// on other nodes a moment ago), log in without one; a move that
			// needs MFA then waits for a code.
			if l.Token == "" {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				if code, err := codes.next(ctx); err == nil {
					l.TOTP = code
				}
			}
		}
	}
	l.OnToken = func(tok string) {
		if err := g.saveSession(id, tok); err != nil {
			fmt.Fprintf(os.Stderr, "warning: could not cache the session of %s: %v\n", id, err)
		}
	}
	return client.WithLogin(l), nil
}

func newLogin(g *globals) *cobra.Command {
	var code, segment, device string
	c := &cobra.Command{
		Use:   "login --as ID [--totp CODE] [--segment clinical]",
		Short: "Open a zero-trust session: sign the node's challenge with the identity's key (plus a TOTP code)",
		Long: `login asks the node for a challenge (auth_challenge), signs it with the
identity's ML-DSA key (<data-dir>/keys/<ID>.key or --key), sends it with
the TOTP code from the identity's authenticator app (auth_login) and caches
the session token in <data-dir>/sessions/<ID>.json (mode 0600). Later
commands reuse that session, refresh it when the node asks and move it
into the segment each method needs. Enrol in MFA first: medchain mfa enroll.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if g.as == "" {
				return fmt.Errorf("--as: name the identity that logs in (e.g. --as doctor456)")
			}
			ctx, cancel := g.ctx()
			defer cancel()
			if old := g.loadSession(g.as); old.Token != "" { // end the cached session: one per identity
				if lo, err := g.loginOption(client.Login{Token: old.Token}); err == nil && lo != nil {
					if c, err := client.Dial(ctx, g.rpcURL, append(g.clientOptions(), lo)...); err == nil {
						_ = c.Logout(ctx)
						c.Close()
					}
				}
				_ = g.saveSession(g.as, "")
			}
			lo, err := g.loginOption(client.Login{TOTP: code, Segment: segment, DeviceKeyID: device})
			if err != nil {
				return err
			}
			if err := g.loginWith(ctx, lo, segment); err != nil {
				return err
			}
			return g.setCurrent(g.as)
		},
	}
	c.Flags().StringVar(&code, "totp", "", "current code of the identity's authenticator app (required for the internal, clinical and critical segments; default: made from MEDCHAIN_TOTP_SECRET, --totp-file or the dev secret saved by mfa enroll --save-secret)")
	c.Flags().StringVar(&segment, "segment", "", "enter this segment at once: public, internal, clinical or critical")
	c.Flags().StringVar(&device, "device", "", "device key id (default "+client.DefaultDeviceKeyID+")")
	return c
}

func (g *globals) loginWith(ctx context.Context, lo client.Option, segment string) error {
	c, err := client.Dial(ctx, g.rpcURL, append(g.clientOptions(), lo)...)
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	defer c.Close()
	s, err := c.Login(ctx)
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	if segment != "" && s.Segment != segment { // dialling read node_status, a public method
		if s, err = c.MoveSegment(ctx, segment); err != nil {
			return fmt.Errorf("login: segment %s: %w", segment, err)
		}
	}
	return g.print(s, func(w io.Writer) { printSession(w, s) })
}

func printSession(w io.Writer, s *rpc.SessionView) {
	fmt.Fprintf(w, "logged in as %s (roles %s, clearance %s)\n", s.Identity, list(s.Roles), s.Clearance)
	fmt.Fprintf(w, "  session %s  segment %s  mfa %v  device %s\n", s.ID, s.Segment, s.MFA, s.DeviceKeyID)
	if s.Risk != nil {
		fmt.Fprintf(w, "  risk %d", s.Risk.Score)
		for _, f := range s.Risk.Factors {
			fmt.Fprintf(w, "  %s", f.Name)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "  re-sign a challenge every %.0fs (done automatically); token cached in the data dir\n", s.ReauthInterval)
}

func newLogout(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "logout [--as ID]",
		Short: "End the cached session (auth_logout) and forget its token",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			id := g.sessionIdentity()
			cs := g.loadSession(id)
			if id == "" || cs.Token == "" {
				return fmt.Errorf("no cached session%s", map[bool]string{true: " for " + id}[id != ""])
			}
			ctx, cancel := g.ctx()
			defer cancel()
			c, err := client.Dial(ctx, g.rpcURL, append(g.clientOptions(), client.WithLogin(client.Login{Identity: id, Token: cs.Token}))...)
			if err == nil {
				err = c.Logout(ctx)
				c.Close()
			}
			_ = g.saveSession(id, "")
			if err != nil {
				return fmt.Errorf("logout: %w (the cached token is forgotten)", err)
			}
			fmt.Fprintf(g.out, "logged out %s\n", id)
			return nil
		},
	}
}

func newMFA(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "mfa", Short: "Multi-factor authentication (TOTP)"}
	var save bool
	enroll := &cobra.Command{
		Use:   "enroll --as ID [--save-secret]",
		Short: "Enrol an identity in TOTP MFA and print its otpauth URI, once",
		Long: `enroll logs in as ID (signing a challenge with its key), asks the node for a
new TOTP seed (auth_mfaEnroll) and prints the otpauth:// URI: add it to an
authenticator app (or keep its secret for an unattended integration, as
MEDCHAIN_TOTP_SECRET). The seed goes on chain sealed under the cluster data
key, so every node verifies the codes; it is shown in clear this once.

--save-secret (dev only) also writes the secret to
<data-dir>/totp/<ID>.secret (mode 0600), from which medchain mfa code and
every client command make codes, so a dev chain needs no phone. Anyone who
reads that file holds the second factor: production uses an authenticator
app and never saves the secret.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if g.as == "" {
				return fmt.Errorf("--as: name the identity to enrol")
			}
			return g.withClient(func(ctx context.Context, c *client.Client) error {
				r, err := c.EnrollMFA(ctx)
				if err != nil {
					return fmt.Errorf("mfa enroll: %w", err)
				}
				// The session that enrolled has not proved MFA: end it, so
				// the next command's session does (with a code) at login.
				if err := c.Logout(ctx); err != nil {
					fmt.Fprintf(os.Stderr, "warning: could not end the enrolling session: %v\n", err)
				}
				saved := ""
				if save {
					if saved, err = g.saveTOTPSecret(g.as, r.URI); err != nil {
						return fmt.Errorf("mfa enroll: %s is enrolled, but its secret was not saved: %w (take it from the URI: %s)", g.as, err, r.URI)
					}
				}
				return g.print(r, func(w io.Writer) {
					fmt.Fprintf(w, "%s is enrolled in TOTP MFA. Add this URI to an authenticator app (shown once):\n%s\n", r.Identity, r.URI)
					if saved != "" {
						fmt.Fprintf(w, "dev only: the secret is also saved in %s (0600); medchain mfa code --as %s prints the current code.\n", saved, g.as)
						fmt.Fprintln(w, "In production, keep it only in the authenticator app.")
					}
				})
			})
		},
	}
	enroll.Flags().BoolVar(&save, "save-secret", false, "dev only: also save the secret 0600 in <data-dir>/totp/<ID>.secret")
	code := &cobra.Command{
		Use:   "code [--as ID]",
		Short: "Print the current TOTP code of an identity from its saved dev secret (or --totp-file, MEDCHAIN_TOTP_SECRET)",
		Long: `code prints the identity's TOTP code, made from MEDCHAIN_TOTP_SECRET,
--totp-file, or the secret medchain mfa enroll --save-secret saved in the
data dir: what an authenticator app would show. It never prints a code for
a time step the CLI already used (the node accepts each step once): a
second code within 30 s is the next step's, a third waits for the clock.
For dev chains and tests: with a real identity, read the code from the
authenticator app.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			id := g.sessionIdentity()
			if id == "" {
				return fmt.Errorf("--as: name the identity")
			}
			codes, err := g.totpCodes(id)
			if err != nil {
				return err
			}
			if codes == nil {
				return fmt.Errorf("no TOTP secret for %s: enrol with medchain mfa enroll --as %s --save-secret (dev), or pass --totp-file", id, id)
			}
			ctx, cancel := g.ctx()
			defer cancel()
			code, err := codes.next(ctx)
			if err != nil {
				return fmt.Errorf("TOTP code of %s: %w", id, err)
			}
			fmt.Fprintln(g.out, code)
			return nil
		},
	}
	var rs signerFlags
	var rid, reason string
	reset := &cobra.Command{
		Use:   "reset --identity ID [--reason R]",
		Short: "Clear an identity's MFA enrolment (admins), e.g. after a lost authenticator",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.send(&rs, &types.MFAReset{Identity: rid, Reason: reason})
		},
	}
	reset.Flags().StringVar(&rid, "identity", "", "identity whose enrolment to clear")
	reset.Flags().StringVar(&reason, "reason", "", "why")
	rs.add(reset, "admin")
	c.AddCommand(enroll, code, reset)
	return c
}

// saveTOTPSecret writes the secret of an otpauth URI to id's dev secret
// file (0600 in a 0700 dir) and returns its path.
func (g *globals) saveTOTPSecret(id, uri string) (string, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return "", err
	}
	secret := u.Query().Get("secret")
	if secret == "" {
		return "", errors.New("the URI holds no secret")
	}
	p := g.totpSecretPath(id)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return "", err
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, []byte(secret+"\n"), 0o600); err != nil {
		return "", err
	}
	return p, os.Rename(tmp, p)
}
