package seal

import (
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/medchain/medchain/chain/crypto/internal/secretfile"
)

type keyFile struct {
	Algorithm Algorithm `json:"algorithm"`
	Seed      string    `json:"seed"`
	PublicKey string    `json:"public_key"`
}

// SaveKey writes k to path with mode 0600, creating parent directories with
// mode 0700. It refuses to overwrite an existing file.
func SaveKey(path string, k *PrivateKey) error {
	b, err := json.MarshalIndent(keyFile{
		Algorithm: k.alg,
		Seed:      hex.EncodeToString(k.seed),
		PublicKey: hex.EncodeToString(k.pub.Key),
	}, "", "  ")
	if err != nil {
		return fmt.Errorf("seal: encode key: %w", err)
	}
	if err := secretfile.Write(path, append(b, '\n')); err != nil {
		return fmt.Errorf("seal: key: %w", err)
	}
	return nil
}

// LoadKey reads a key written by SaveKey. A file readable by group or others
// is refused, as ssh does, so a leaked permission is noticed. Errors wrap
// ErrKeyFile and never quote the seed.
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
	if !kf.Algorithm.Valid() {
		return nil, fmt.Errorf("%w: %s: missing or unknown algorithm", ErrKeyFile, path)
	}
	seed, err := hex.DecodeString(kf.Seed)
	if err != nil || len(seed) != kf.Algorithm.SeedSize() {
		return nil, fmt.Errorf("%w: %s: seed must be %d hex characters for %s", ErrKeyFile, path, 2*kf.Algorithm.SeedSize(), kf.Algorithm)
	}
	k, err := NewKeyFromSeed(kf.Algorithm, seed)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrKeyFile, path, err)
	}
	if kf.PublicKey != "" && kf.PublicKey != hex.EncodeToString(k.pub.Key) {
		return nil, fmt.Errorf("%w: %s: public key does not match the seed", ErrKeyFile, path)
	}
	return k, nil
}
