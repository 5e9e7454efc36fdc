package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/node/client"
	"github.com/medchain/medchain/node/rpc"
)

// Session cache: <data-dir>/sessions/<identity>.json (0600) holds the token
// of the identity's session on one node, so each CLI call reuses the session
// instead of logging in again (a node allows one session per identity by
// default). sessions/current names the last identity that logged in.
const sessionsDir = "sessions"

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
	if err := os.Rename(tmp, p); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(g.dataDir, sessionsDir, "current"), []byte(id+"\n"), 0o600)
}

// sessionIdentity is --as, else the identity of the last medchain login.
func (g *globals) sessionIdentity() string {
	if g.as != "" {
		return g.as
	}
	b, _ := os.ReadFile(filepath.Join(g.dataDir, sessionsDir, "current"))
	return strings.TrimSpace(string(b))
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
	if l.TOTPSecret == "" {
		l.TOTPSecret = os.Getenv("MEDCHAIN_TOTP_SECRET")
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
			return g.loginWith(ctx, lo, segment)
		},
	}
	c.Flags().StringVar(&code, "totp", "", "current code of the identity's authenticator app (required for clinical and critical segments)")
	c.Flags().StringVar(&segment, "segment", "", "enter this segment at once: public, internal, clinical or critical")
	c.Flags().StringVar(&device, "device", "", "device key id (default "+client.DefaultDeviceKeyID+")")
	c.Flags().StringVar(&g.keyFile, "key", "", "key file of the identity (default <data-dir>/keys/<as>.key)")
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
	c.AddCommand(&cobra.Command{
		Use:   "enroll --as ID",
		Short: "Enrol an identity in TOTP MFA and print its otpauth URI, once",
		Long: `enroll logs in as ID (signing a challenge with its key), asks the node for a
new TOTP seed (auth_mfaEnroll) and prints the otpauth:// URI: add it to an
authenticator app (or keep its secret for an unattended integration, as
MEDCHAIN_TOTP_SECRET). The seed goes on chain sealed under the cluster data
key, so every node verifies the codes; it is shown in clear this once.`,
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
				return g.print(r, func(w io.Writer) {
					fmt.Fprintf(w, "%s is enrolled in TOTP MFA. Add this URI to an authenticator app (shown once):\n%s\n", r.Identity, r.URI)
				})
			})
		},
	})
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
	c.AddCommand(reset)
	return c
}
