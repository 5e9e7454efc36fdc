package crypto

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

type keyFile struct {
	Algorithm Algorithm `json:"algorithm"`
	Seed      string    `json:"seed,omitempty"`
	PublicKey string    `json:"public_key"`
}

// SaveKey writes k to path with mode 0600, creating parent directories with
// mode 0700. It refuses to overwrite an existing file.
func SaveKey(path string, k *PrivateKey) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("crypto: create key directory: %w", err)
	}
	b, err := json.MarshalIndent(keyFile{
		Algorithm: k.alg,
		Seed:      hex.EncodeToString(k.seed[:]),
		PublicKey: hex.EncodeToString(k.pub.Key),
	}, "", "  ")
	if err != nil {
		return fmt.Errorf("crypto: encode key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("crypto: write key %s: %w", path, err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("crypto: write key %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("crypto: sync key %s: %w", path, err)
	}
	return f.Close()
}

// LoadKey reads a key written by SaveKey. A file readable by group or others
// is refused, as ssh does, so a leaked permission is noticed.
func LoadKey(path string) (*PrivateKey, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeyFile, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o; run chmod 600 %s", ErrKeyFile, path, st.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeyFile, err)
	}
	var kf keyFile
	if err := json.Unmarshal(b, &kf); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrKeyFile, path, err)
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
