package seal

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// SavePublicKey writes pub in the key file format without the seed
// ({"algorithm": ..., "public_key": "<hex>"}), mode 0644, for senders. It
// refuses to overwrite an existing file.
func SavePublicKey(path string, pub PublicKey) error {
	if err := pub.Validate(); err != nil {
		return err
	}
	b, err := json.MarshalIndent(keyFile{Algorithm: pub.Algorithm, PublicKey: hex.EncodeToString(pub.Key)}, "", "  ")
	if err != nil {
		return fmt.Errorf("seal: encode public key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("seal: public key: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("seal: public key: %w", err)
	}
	return f.Close()
}

// LoadPublicKey reads a public key written by SavePublicKey, or the public
// half of a key file written by SaveKey. A file holding a signature key (an
// ML-DSA key file of chain/crypto) is refused with ErrUnknownAlgorithm and a
// message saying so: signature keys cannot receive sealed data.
func LoadPublicKey(path string) (PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return PublicKey{}, fmt.Errorf("%w: %v", ErrKeyFile, err)
	}
	var raw struct {
		Algorithm string `json:"algorithm"`
		Seed      string `json:"seed"`
		PublicKey string `json:"public_key"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return PublicKey{}, fmt.Errorf("%w: %s: not a key file (JSON does not decode)", ErrKeyFile, path)
	}
	alg, err := ParseAlgorithm(raw.Algorithm)
	if err != nil {
		if strings.HasPrefix(strings.ToUpper(strings.ReplaceAll(raw.Algorithm, "-", "")), "MLDSA") {
			return PublicKey{}, fmt.Errorf("%w: %s holds a %s signature key, not a KEM key: sealing needs a key from `medchain crypto keygen` (ML-KEM-768-X25519, ML-KEM-1024-P384 or ML-KEM-768)", ErrUnknownAlgorithm, path, raw.Algorithm)
		}
		return PublicKey{}, fmt.Errorf("%s: %w", path, err)
	}
	if raw.Algorithm == "" {
		return PublicKey{}, fmt.Errorf("%w: %s: algorithm missing", ErrKeyFile, path)
	}
	if raw.Seed != "" {
		k, err := LoadKey(path)
		if err != nil {
			return PublicKey{}, err
		}
		return k.Public(), nil
	}
	key, err := hex.DecodeString(raw.PublicKey)
	if err != nil {
		return PublicKey{}, fmt.Errorf("%w: %s: public_key is not hex", ErrKeyFile, path)
	}
	pub := PublicKey{Algorithm: alg, Key: key}
	if err := pub.Validate(); err != nil {
		return PublicKey{}, fmt.Errorf("%s: %w", path, err)
	}
	if _, err := pub.parse(); err != nil {
		return PublicKey{}, fmt.Errorf("%s: %w", path, err)
	}
	return pub, nil
}
