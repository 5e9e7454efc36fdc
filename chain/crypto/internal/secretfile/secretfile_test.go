package secretfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteReadAndPermissions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "a.key")
	if err := Write(path, []byte("seed")); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != want {
			t.Fatalf("%s: mode %v (%v), want %04o", p, st.Mode().Perm(), err, want)
		}
	}
	if b, err := Read(path); err != nil || string(b) != "seed" {
		t.Fatalf("read %q, %v", b, err)
	}
	if err := Write(path, []byte("other")); err == nil {
		t.Fatal("overwrote an existing secret")
	}
	os.Chmod(path, 0o640)
	if _, err := Read(path); !errors.Is(err, ErrTooOpen) {
		t.Fatalf("group-readable file: %v, want ErrTooOpen", err)
	}
}
