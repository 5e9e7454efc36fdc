package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/medchain/medchain/chain/crypto/pqbench"
	"github.com/medchain/medchain/chain/crypto/seal"
	"github.com/medchain/medchain/node/rpc"
)

// maxSealInput bounds what crypto seal reads: sealing is for fields, keys and
// exports, never bulk data, and the envelope must stay under seal.MaxEnvelopeSize.
const maxSealInput = seal.MaxEnvelopeSize - 4096

func newCrypto(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "crypto", Short: "Quantum-safe operations: algorithms, KEM keys, HPKE seal/open, benchmarks"}
	c.AddCommand(newCryptoAlgorithms(g), newCryptoKeygen(g), newCryptoSeal(g), newCryptoOpen(g), newCryptoBench(g))
	return c
}

func newCryptoAlgorithms(g *globals) *cobra.Command {
	var budget time.Duration
	c := &cobra.Command{
		Use:   "algorithms",
		Short: "ML-KEM and ML-DSA parameter sets: security level, sizes, speeds measured now, and the recommendation",
		RunE: func(cmd *cobra.Command, args []string) error {
			if budget <= 0 || budget > rpc.MaxMeasureBudget {
				return fmt.Errorf("--budget: between 1ms and %s", rpc.MaxMeasureBudget)
			}
			res, err := rpc.MeasureAlgorithms(budget)
			if err != nil {
				return err
			}
			return g.print(res, func(w io.Writer) {
				tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
				fmt.Fprintln(tw, "algorithm\tkind\tNIST level\tpublic key\tsecret key\tct/sig\tkeygen\top 1\top 2\t")
				for _, a := range res.Algorithms {
					name := a.Name
					if a.Recommended {
						name += " *"
					}
					fmt.Fprintf(tw, "%s\t%s\t%d\t%d B\t%d B\t%d B\t", name, a.Kind, a.SecurityLevel, a.PublicKeyBytes, a.SecretKeyBytes, a.OutputBytes)
					for _, s := range a.Speeds {
						fmt.Fprintf(tw, "%s %s\t", s.Op, fmtNs(s.MedianNs))
					}
					fmt.Fprintln(tw)
				}
				tw.Flush()
				fmt.Fprintf(w, "\nSpeeds: medians on this machine, %s per algorithm. * recommended.\n", budget)
				for _, a := range res.Algorithms {
					if a.UsedBy != "" {
						fmt.Fprintf(w, "  %-12s %s\n", a.Name, a.UsedBy)
					}
				}
				r := res.Recommendation
				fmt.Fprintf(w, "\nRecommendation: %s + %s (data sealed with HPKE %s).\n%s\n", r.KEM, r.Signature, r.Sealing, wrap(r.Why, 100))
			})
		},
	}
	c.Flags().DurationVar(&budget, "budget", 200*time.Millisecond, "time spent measuring each algorithm")
	return c
}

func fmtNs(ns int64) string {
	d := time.Duration(ns)
	switch {
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.1fµs", float64(d)/float64(time.Microsecond))
	}
}

func wrap(s string, width int) string {
	var b strings.Builder
	n := 0
	for _, w := range strings.Fields(s) {
		if n > 0 && n+1+len(w) > width {
			b.WriteByte('\n')
			n = 0
		} else if n > 0 {
			b.WriteByte(' ')
			n++
		}
		b.WriteString(w)
		n += len(w)
	}
	return b.String()
}

func newCryptoKeygen(g *globals) *cobra.Command {
	var out, algName string
	c := &cobra.Command{
		Use:   "keygen --out FILE",
		Short: "Create a KEM key pair for sealing: FILE (private, 0600) and FILE.pub (share it with senders)",
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return fmt.Errorf("--out: name the key file to create")
			}
			alg, err := seal.ParseAlgorithm(algName)
			if err != nil {
				return err
			}
			k, err := seal.GenerateKey(alg, rand.Reader)
			if err != nil {
				return err
			}
			if err := seal.SaveKey(out, k); err != nil {
				return err
			}
			pub := k.Public()
			if err := seal.SavePublicKey(out+".pub", pub); err != nil {
				return err
			}
			res := map[string]any{"algorithm": alg.String(), "key_file": out, "public_key_file": out + ".pub", "fingerprint": pub.Fingerprint()}
			return g.print(res, func(w io.Writer) {
				fmt.Fprintf(w, "%s key pair\n  private  %s (0600: keep it)\n  public   %s (give it to senders)\n  fingerprint %s\n", alg, out, out+".pub", pub.Fingerprint())
			})
		},
	}
	c.Flags().StringVar(&out, "out", "", "private key file to create (the public key goes to FILE.pub)")
	c.Flags().StringVar(&algName, "alg", seal.DefaultAlgorithm.String(), "ML-KEM-768-X25519, ML-KEM-1024-P384 or ML-KEM-768")
	return c
}

// ioFlags are the input and output of seal and open: files, or - for stdin/stdout.
type ioFlags struct{ in, out, aad string }

func (f *ioFlags) add(c *cobra.Command) {
	c.Flags().StringVar(&f.in, "in", "-", "input file (- for stdin)")
	c.Flags().StringVar(&f.out, "out", "-", "output file (- for stdout)")
	c.Flags().StringVar(&f.aad, "aad", "", "associated data authenticated with the message (the opener must give the same)")
}

func (f *ioFlags) read(cmd *cobra.Command) ([]byte, error) {
	var r io.Reader = cmd.InOrStdin()
	if f.in != "-" {
		fh, err := os.Open(f.in)
		if err != nil {
			return nil, err
		}
		defer fh.Close()
		r = fh
	}
	b, err := io.ReadAll(io.LimitReader(r, maxSealInput+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxSealInput {
		return nil, fmt.Errorf("input exceeds %d bytes: seal a key or a document, not bulk data", maxSealInput)
	}
	return b, nil
}

func (f *ioFlags) write(cmd *cobra.Command, b []byte, mode os.FileMode) error {
	if f.out == "-" {
		_, err := cmd.OutOrStdout().Write(b)
		return err
	}
	return os.WriteFile(f.out, b, mode)
}

func newCryptoSeal(g *globals) *cobra.Command {
	var to string
	var f ioFlags
	c := &cobra.Command{
		Use:   "seal --to PUBFILE [--in FILE] [--out FILE]",
		Short: "Encrypt to a public key with HPKE (hybrid post-quantum KEM, HKDF-SHA256, AES-256-GCM)",
		RunE: func(cmd *cobra.Command, args []string) error {
			if to == "" {
				return fmt.Errorf("--to: the recipient's public key file (from medchain crypto keygen)")
			}
			pub, err := seal.LoadPublicKey(to)
			if err != nil {
				return err
			}
			pt, err := f.read(cmd)
			if err != nil {
				return err
			}
			env, err := seal.Seal(pub, pt, []byte(f.aad))
			if err != nil {
				return err
			}
			return f.write(cmd, env, 0o644)
		},
	}
	c.Flags().StringVar(&to, "to", "", "recipient's public key file")
	f.add(c)
	return c
}

func newCryptoOpen(g *globals) *cobra.Command {
	var keyFile string
	var f ioFlags
	c := &cobra.Command{
		Use:   "open --key FILE [--in FILE] [--out FILE]",
		Short: "Decrypt an envelope made by crypto seal with the private key",
		RunE: func(cmd *cobra.Command, args []string) error {
			if keyFile == "" {
				return fmt.Errorf("--key: the private key file (from medchain crypto keygen)")
			}
			k, err := seal.LoadKey(keyFile)
			if err != nil {
				return err
			}
			env, err := f.read(cmd)
			if err != nil {
				return err
			}
			pt, err := seal.Open(k, env, []byte(f.aad))
			if errors.Is(err, seal.ErrDecrypt) {
				return fmt.Errorf("%w: the envelope was tampered with, sealed to another key, or sealed with another --aad", err)
			}
			if err != nil {
				return err
			}
			return f.write(cmd, pt, 0o600)
		},
	}
	c.Flags().StringVar(&keyFile, "key", "", "private key file")
	f.add(c)
	return c
}

func newCryptoBench(g *globals) *cobra.Command {
	var d time.Duration
	c := &cobra.Command{
		Use:   "bench",
		Short: "Post-quantum vs classical on this machine: 1 KB seal/open, sign/verify, encaps/decaps, overhead %",
		RunE: func(cmd *cobra.Command, args []string) error {
			if d <= 0 {
				return fmt.Errorf("--duration: must be positive")
			}
			res, err := pqbench.Compare(d)
			if err != nil {
				return err
			}
			return g.print(res, func(w io.Writer) {
				tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
				fmt.Fprintln(tw, "operation\tpost-quantum\ttime\tbytes\tclassical\ttime\tbytes\toverhead\t")
				for _, r := range res.Rows {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%d\t%+.0f%%\t\n", r.Operation, r.PostQuantum, fmtNs(r.PostQuantumNs), r.PostQuantumBytes,
						r.Classical, fmtNs(r.ClassicalNs), r.ClassicalBytes, r.OverheadPercent)
				}
				tw.Flush()
				fmt.Fprintf(w, "\nMedians on this machine over %s. Bytes: what travels (sealed 1 KB message, signature, KEM ciphertext or ephemeral key).\n", d)
			})
		},
	}
	c.Flags().DurationVar(&d, "duration", 2*time.Second, "total measuring time")
	return c
}
