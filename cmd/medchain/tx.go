package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/node/rpc"
)

// signerFlags are the flags of every command that signs a tx.
type signerFlags struct {
	as, key string
	noWait  bool
}

func (s *signerFlags) add(c *cobra.Command, def string) {
	c.Flags().StringVar(&s.as, "as", def, "identity that signs the tx")
	c.Flags().StringVar(&s.key, "key", "", "key file of that identity (default <data-dir>/keys/<as>.key)")
	c.Flags().BoolVar(&s.noWait, "no-wait", false, "return once the tx is admitted, without waiting for its block")
}

// send signs p as s.as and submits it, printing the outcome.
func (g *globals) send(s *signerFlags, p types.Payload) error {
	return g.sendBuilt(s, func(string) (types.Payload, error) { return p, nil })
}

// sendBuilt is send for a payload that depends on the node's chain id.
func (g *globals) sendBuilt(s *signerFlags, build func(chainID string) (types.Payload, error)) error {
	key, err := g.signerKey(s.as, s.key)
	if err != nil {
		return err
	}
	ctx, cancel := g.ctx()
	defer cancel()
	g.as, g.keyFile = s.as, s.key
	c, err := g.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	p, err := build(c.ChainID())
	if err != nil {
		return err
	}
	tx, err := c.Signer(s.as, key).Build(p)
	if err != nil {
		return err
	}
	r, err := c.Submit(ctx, tx, !s.noWait)
	if err != nil {
		return err
	}
	if err := g.print(r, func(w io.Writer) { printSubmit(w, tx, r) }); err != nil {
		return err
	}
	if r.Receipt != nil && !r.Receipt.Result.OK() {
		return fmt.Errorf("the block recorded the tx as rejected: %s", r.Receipt.Result.Code)
	}
	return nil
}

func printSubmit(w io.Writer, tx *types.Tx, r *rpc.SubmitResult) {
	fmt.Fprintf(w, "%s tx %s\n", tx.Type, r.TxHash)
	if r.Receipt == nil {
		fmt.Fprintf(w, "  status   %s (check with: medchain query tx %s)\n", r.Status, r.TxHash)
		return
	}
	fmt.Fprintf(w, "  status   %s at height %d, index %d\n  result   %s", r.Status, r.Receipt.Height, r.Receipt.Index, r.Receipt.Result.Code)
	if r.Receipt.Result.Reason != "" {
		fmt.Fprintf(w, ": %s", r.Receipt.Result.Reason)
	}
	fmt.Fprintln(w)
}

func newTx(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "tx", Short: "Build, sign and submit txs"}
	c.AddCommand(newTxAudit(g), newTxConsent(g), newTxIdentity(g), newTxEHR(g))
	c.AddCommand(newTxNode(g))
	return c
}

func newTxAudit(g *globals) *cobra.Command {
	var s signerFlags
	var p types.AuditRecord
	var details []string
	c := &cobra.Command{
		Use:   "audit --patient ID --action ACTION",
		Short: "Record an access to a patient's record (the seed's record_audit_trail)",
		RunE: func(cmd *cobra.Command, args []string) error {
			if p.Actor == "" {
				p.Actor = s.as
			}
			if len(details) > 0 {
				p.Details = map[string]string{}
				for _, d := range details {
					k, v, ok := strings.Cut(d, "=")
					if !ok {
						return fmt.Errorf("--detail %q: want key=value", d)
					}
					p.Details[k] = v
				}
			}
			return g.send(&s, &p)
		},
	}
	s.add(c, "")
	f := c.Flags()
	f.StringVar(&p.EventType, "event-type", "data_access", "event type (data_access, data_modification, ...)")
	f.StringVar(&p.Patient, "patient", "", "patient id")
	f.StringVar(&p.Actor, "actor", "", "who acted (default: the signer)")
	f.StringVar(&p.Action, "action", "", "what was done, e.g. view_record")
	f.StringVar(&p.Purpose, "purpose", "", "purpose of use, e.g. treatment")
	f.StringVar(&p.Outcome, "outcome", "success", "success, denied or error")
	f.StringVar(&p.Resource, "resource", "", "FHIR reference, e.g. Observation/bp-1")
	f.StringVar(&p.SessionID, "session", "", "session id")
	f.StringArrayVar(&details, "detail", nil, "extra detail key=value (repeatable)")
	return c
}

func newTxConsent(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "consent", Short: "Grant or revoke a patient's consent (the seed's manage_patient_consent)"}
	var gs signerFlags
	var gp types.ConsentGrant
	var expires string
	var refuse bool
	grant := &cobra.Command{
		Use:   "grant --patient ID --purpose P",
		Short: "Grant (or with --refuse, refuse) a consent with its scope",
		RunE: func(cmd *cobra.Command, args []string) error {
			gp.Granted = !refuse
			if expires != "" {
				t, err := parseExpiry(expires)
				if err != nil {
					return err
				}
				gp.Scope.Expiration = t.UnixMilli()
			}
			return g.send(&gs, &gp)
		},
	}
	gs.add(grant, "")
	f := grant.Flags()
	f.StringVar(&gp.Patient, "patient", "", "patient id")
	f.StringVar(&gp.ConsentType, "type", "data_sharing", "consent type")
	f.StringSliceVar(&gp.Scope.Purposes, "purpose", nil, "allowed purpose (repeatable or comma-separated)")
	f.StringSliceVar(&gp.Scope.Parties, "party", nil, "authorized party (default: anyone)")
	f.StringSliceVar(&gp.Scope.Actions, "action", nil, "allowed action (default: any)")
	f.StringSliceVar(&gp.Scope.DataCategories, "category", nil, "data category covered (default: all)")
	f.StringVar(&expires, "expires", "", "expiry: RFC 3339 time or a duration from now such as 720h")
	f.BoolVar(&refuse, "refuse", false, "record that the patient refuses this consent")

	var rs signerFlags
	var rp types.ConsentRevoke
	revoke := &cobra.Command{
		Use:   "revoke --patient ID",
		Short: "Revoke a consent",
		RunE:  func(cmd *cobra.Command, args []string) error { return g.send(&rs, &rp) },
	}
	rs.add(revoke, "")
	revoke.Flags().StringVar(&rp.Patient, "patient", "", "patient id")
	revoke.Flags().StringVar(&rp.ConsentType, "type", "data_sharing", "consent type")
	revoke.Flags().StringVar(&rp.Reason, "reason", "", "why")
	c.AddCommand(grant, revoke)
	return c
}

func parseExpiry(s string) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return time.Now().Add(d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return t, fmt.Errorf("--expires %q: want RFC 3339 (2027-12-31T23:59:59Z) or a duration (720h)", s)
	}
	return t, nil
}

func newTxIdentity(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "identity", Short: "Register, change or revoke identities (admins)"}
	var s signerFlags
	var p types.IdentityRegister
	var kind, pubFile string
	reg := &cobra.Command{
		Use:   "register --id ID --kind KIND --role ROLE --pubkey FILE",
		Short: "Register a person, service, patient or node with its public key",
		RunE: func(cmd *cobra.Command, args []string) error {
			if pubFile == "" {
				return fmt.Errorf("--pubkey: name the identity's public key file (medchain keygen writes FILE.pub)")
			}
			pub, err := crypto.LoadPublicKey(pubFile)
			if err != nil {
				return err
			}
			p.PublicKey, p.Kind = pub, types.IdentityKind(kind)
			if p.Kind == types.KindPatient && p.Patient == "" {
				// Not defaulted to --id: the identity id signs every tx in
				// clear, while the patient id is stored under a pseudonym.
				return fmt.Errorf("--patient: name the patient id this identity speaks for (choose an --id that is not the patient id: the id is stored in clear as the signer of every tx it signs)")
			}
			return g.send(&s, &p)
		},
	}
	s.add(reg, "admin")
	f := reg.Flags()
	f.StringVar(&p.ID, "id", "", "identity id")
	f.StringVar(&kind, "kind", "person", "person, service, patient or node")
	f.StringVar(&p.Name, "name", "", "display name")
	f.StringSliceVar(&p.Roles, "role", nil, "role (repeatable): admin, clinician, physician, ehr, patient, privacy_officer, auditor, researcher, node")
	f.StringVar(&pubFile, "pubkey", "", "public key file (or key file)")
	f.StringVar(&p.Patient, "patient", "", "for patient identities: the patient id they speak for (required; stored under a pseudonym)")
	f.StringSliceVar(&p.ActsFor, "acts-for", nil, "patients whose consents this identity may manage, in clear: only on a chain without pseudonyms (else use identity delegate)")

	var us signerFlags
	var up types.IdentityUpdateRoles
	roles := &cobra.Command{
		Use:   "roles --id ID --role ROLE",
		Short: "Replace an identity's roles and delegations",
		RunE:  func(cmd *cobra.Command, args []string) error { return g.send(&us, &up) },
	}
	us.add(roles, "admin")
	roles.Flags().StringVar(&up.ID, "id", "", "identity id")
	roles.Flags().StringSliceVar(&up.Roles, "role", nil, "role (repeatable)")
	roles.Flags().StringSliceVar(&up.ActsFor, "acts-for", nil, "patients whose consents this identity may manage, in clear: only on a chain without pseudonyms (else use identity delegate)")

	var ds signerFlags
	var dp types.IdentityDelegate
	delegate := &cobra.Command{
		Use:   "delegate --id ID --patient PATIENT [--revoke]",
		Short: "Appoint (or with --revoke dismiss) an identity as acting for one patient",
		Long: `Submit an identity_delegate tx: the identity may then manage the patient's consents and ask
for their erasure. An admin or the patient signs it. The chain stores it under the patient's
pseudonym, so the delegate's record names the pseudonym, never the patient id.`,
		RunE: func(cmd *cobra.Command, args []string) error { return g.send(&ds, &dp) },
	}
	ds.add(delegate, "admin")
	delegate.Flags().StringVar(&dp.ID, "id", "", "the delegate's identity id")
	delegate.Flags().StringVar(&dp.Patient, "patient", "", "the patient id they act for")
	delegate.Flags().BoolVar(&dp.Revoke, "revoke", false, "dismiss the delegate instead")

	var vs signerFlags
	var vp types.IdentityRevoke
	revoke := &cobra.Command{
		Use:   "revoke --id ID",
		Short: "Revoke an identity: its key signs nothing after",
		RunE:  func(cmd *cobra.Command, args []string) error { return g.send(&vs, &vp) },
	}
	vs.add(revoke, "admin")
	revoke.Flags().StringVar(&vp.ID, "id", "", "identity id")
	revoke.Flags().StringVar(&vp.Reason, "reason", "", "why")
	c.AddCommand(reg, roles, revoke, delegate, newTxIdentityRotateKey(g))
	return c
}

func newTxEHR(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "ehr", Short: "Register EHR integrations (the seed's integrate_ehr_system)"}
	var s signerFlags
	var p types.EHRRegister
	var interval uint32
	reg := &cobra.Command{
		Use:   "register --system-id ID",
		Short: "Register or reconfigure an EHR system",
		RunE: func(cmd *cobra.Command, args []string) error {
			p.SyncInterval = interval
			if p.SyncInterval == 0 && p.SyncEnabled {
				p.SyncInterval = uint32(envInt("BLOCKCHAIN_SYNC_INTERVAL", 300))
			}
			return g.send(&s, &p)
		},
	}
	s.add(reg, "admin")
	f := reg.Flags()
	f.StringVar(&p.SystemID, "system-id", "", "system id, e.g. epic_system")
	f.StringVar(&p.Name, "name", "", "display name")
	f.StringVar(&p.Vendor, "vendor", "", "epic, cerner, allscripts, meditech or fhir")
	f.BoolVar(&p.SyncEnabled, "sync", true, "sync enabled")
	f.Uint32Var(&interval, "interval", 0, "sync interval in seconds (default BLOCKCHAIN_SYNC_INTERVAL or 300)")
	f.StringVar(&p.Endpoint, "endpoint", "", "API endpoint URL")
	f.StringVar(&p.AuthMethod, "auth-method", "oauth2", "auth method")
	f.BoolVar(&p.AuditAllAccess, "audit-all", true, "audit all access")
	f.StringVar(&p.Service, "service", "", "identity the system signs as (role ehr)")
	c.AddCommand(reg)
	return c
}

func envInt(k string, def int) int {
	var n int
	if _, err := fmt.Sscanf(envOr(k, ""), "%d", &n); err == nil && n > 0 {
		return n
	}
	return def
}
