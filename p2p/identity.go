package p2p

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	ci "github.com/libp2p/go-libp2p/core/crypto"
)

// LoadOrCreateIdentity returns the Ed25519 libp2p key stored at path,
// creating it (mode 0600, parent directories 0700) if the file does not
// exist. A file readable by group or others, or that does not hold an
// Ed25519 key, is refused with ErrIdentityFile.
//
// File format: the libp2p protobuf encoding of the private key
// (crypto.MarshalPrivateKey), raw bytes.
func LoadOrCreateIdentity(path string) (ci.PrivKey, error) {
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return createIdentity(path)
	case err != nil:
		return nil, fmt.Errorf("%w: %v", ErrIdentityFile, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o; run chmod 600 %s", ErrIdentityFile, path, st.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrIdentityFile, err)
	}
	k, err := ci.UnmarshalPrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrIdentityFile, path, err)
	}
	if k.Type() != ci.Ed25519 {
		return nil, fmt.Errorf("%w: %s holds a %v key, want Ed25519", ErrIdentityFile, path, k.Type())
	}
	return k, nil
}

func createIdentity(path string) (ci.PrivKey, error) {
	k, _, err := ci.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("p2p: generate identity: %w", err)
	}
	b, err := ci.MarshalPrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("p2p: encode identity: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrIdentityFile, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrIdentityFile, err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: write %s: %v", ErrIdentityFile, path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: sync %s: %v", ErrIdentityFile, path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrIdentityFile, err)
	}
	return k, nil
}
