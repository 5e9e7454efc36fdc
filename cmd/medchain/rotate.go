package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/chain/types"
)

// newTxIdentityRotateKey is `medchain tx identity rotate-key`: an identity
// replaces its own key. The tx is signed with the current key (--key, or the
// identity's key file) and the new key signs the rotation's proof.
func newTxIdentityRotateKey(g *globals) *cobra.Command {
	var s signerFlags
	var newKeyFile, reason string
	c := &cobra.Command{
		Use:   "rotate-key --as ID --new-key FILE",
		Short: "Replace your own signing key (signed by the current and the new key)",
		Long: `Replace the signing key of identity --as with the key in --new-key (create it with
medchain keygen --out FILE, any ML-DSA algorithm). The tx is signed with the current key
(--key, default <data-dir>/keys/<as>.key) and the new key signs a proof that names the chain,
the identity and both keys. The new key signs from the block after the rotation's; txs signed
before stay valid. Afterwards, sign with the new key file (move it to <data-dir>/keys/<as>.key
or pass --key). Node identities change keys through governance, not by rotation.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if newKeyFile == "" {
				return fmt.Errorf("--new-key: name the new private key file (medchain keygen --out FILE writes one)")
			}
			newKey, err := crypto.LoadKey(newKeyFile)
			if err != nil {
				return fmt.Errorf("--new-key: %w (it must be the private key file, not FILE.pub: the new key signs the rotation)", err)
			}
			old, err := g.signerKey(s.as, s.key)
			if err != nil {
				return err
			}
			if err := g.sendBuilt(&s, func(chainID string) (types.Payload, error) {
				p, err := types.NewRotateKey(chainID, s.as, old.Public(), newKey, reason)
				if err != nil {
					return nil, err
				}
				return p, p.ValidateBasic()
			}); err != nil {
				return err
			}
			if !g.json {
				fmt.Fprintf(g.out, "  new key  %.16s… signs for %q from the next block: use --key %s or move it to the identity's key file\n",
					newKey.Public().Fingerprint(), s.as, newKeyFile)
			}
			return nil
		},
	}
	s.add(c, "")
	c.Flags().StringVar(&newKeyFile, "new-key", "", "the new private key file (from medchain keygen)")
	c.Flags().StringVar(&reason, "reason", "", "why (e.g. scheduled rotation, suspected compromise)")
	return c
}
