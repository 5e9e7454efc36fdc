package secretfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ErrTooOpen is returned by Read for a file that group or others may read.
var ErrTooOpen = errors.New("secretfile: readable by group or others")

// Write creates path with mode 0600 (parents 0700) holding b, and syncs it.
// An existing file is never overwritten.
func Write(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create directory of %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return f.Close()
}

// Read returns the contents of path, refusing (ErrTooOpen) a file whose mode
// lets group or others read or write it.
func Read(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o; run chmod 600 %s", ErrTooOpen, path, perm, path)
	}
	return os.ReadFile(path)
}
