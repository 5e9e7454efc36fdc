package crypto

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"

	"github.com/medchain/medchain/chain/crypto/internal/secretfile"
)

type keyFile struct {
	Algorithm Algorithm `json:"algorithm"`
	Seed      string    `json:"seed,omitempty"`
	PublicKey string    `json:"public_key"`
}

// SaveKey writes k to path with mode 0600, creating parent directories with
// mode 0700. It refuses to overwrite an existing file.
func SaveKey(path string, k *PrivateKey) error {
	b, err := json.MarshalIndent(keyFile{
		Algorithm: k.alg,
		Seed:      hex.EncodeToString(k.seed[:]),
		PublicKey: hex.EncodeToString(k.pub.Key),
	}, "", "  ")
	if err != nil {
		return fmt.Errorf("crypto: encode key: %w", err)
	}
	if err := secretfile.Write(path, append(b, '\n')); err != nil {
		return fmt.Errorf("crypto: key: %w", err)
	}
	return nil
}

// LoadKey reads a key written by SaveKey. A file readable by group or others
// is refused, as ssh does, so a leaked permission is noticed.
func LoadKey(path string) (*PrivateKey, error) {
	b, err := secretfile.Read(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeyFile, err)
	}
	var kf keyFile
	if err := json.Unmarshal(b, &kf); err != nil {
		// json errors can quote input bytes: report only the kind.
		return nil, fmt.Errorf("%w: %s: not a key file (JSON does not decode)", ErrKeyFile, path)
	}
	seed, err := hex.DecodeString(kf.Seed)
	if err != nil || len(seed) != 32 {
		return nil, fmt.Errorf("%w: %s: seed must be 64 hex characters", ErrKeyFile, path)
	}
	var s [32]byte
	copy(s[:], seed)
	k, err := NewKeyFromSeed(kf.Algorithm, s)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrKeyFile, path, err)
	}
	if kf.PublicKey != "" && kf.PublicKey != hex.EncodeToString(k.pub.Key) {
		return nil, fmt.Errorf("%w: %s: public key does not match the seed", ErrKeyFile, path)
	}
	return k, nil
}

// SavePublicKey writes the public half of a key in the key file format
// (without the seed), mode 0644, for sharing with the consortium's admins.
func SavePublicKey(path string, pub PublicKey) error {
	b, err := json.MarshalIndent(keyFile{Algorithm: pub.Algorithm, PublicKey: hex.EncodeToString(pub.Key)}, "", "  ")
	if err != nil {
		return fmt.Errorf("crypto: encode public key: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("crypto: write public key %s: %w", path, err)
	}
	return nil
}

// LoadPublicKey reads the public key from a public key file or a key file
// (only its public half is used; a key file's permissions are still checked).
func LoadPublicKey(path string) (PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return PublicKey{}, fmt.Errorf("%w: %v", ErrKeyFile, err)
	}
	var kf keyFile
	if err := json.Unmarshal(b, &kf); err != nil {
		return PublicKey{}, fmt.Errorf("%w: %s: %v", ErrKeyFile, path, err)
	}
	if kf.Seed != "" {
		k, err := LoadKey(path)
		if err != nil {
			return PublicKey{}, err
		}
		return k.Public(), nil
	}
	key, err := hex.DecodeString(kf.PublicKey)
	if err != nil {
		return PublicKey{}, fmt.Errorf("%w: %s: public_key is not hex", ErrKeyFile, path)
	}
	pub := PublicKey{Algorithm: kf.Algorithm, Key: key}
	if err := pub.Validate(); err != nil {
		return PublicKey{}, fmt.Errorf("%w: %s: %v", ErrKeyFile, path, err)
	}
	return pub, nil
}
