package seal

import (
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeyFileRoundTrip(t *testing.T) {
	for _, alg := range Algorithms {
		t.Run(alg.String(), func(t *testing.T) {
			k := testKey(t, alg, 30)
			path := filepath.Join(t.TempDir(), "keys", "node.kem.json")
			if err := SaveKey(path, k); err != nil {
				t.Fatal(err)
			}
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != 0o600 {
				t.Fatalf("key file mode %04o, want 0600", st.Mode().Perm())
			}
			if d, _ := os.Stat(filepath.Dir(path)); d.Mode().Perm() != 0o700 {
				t.Fatalf("key directory mode %04o, want 0700", d.Mode().Perm())
			}
			got, err := LoadKey(path)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Public().Equal(k.Public()) || got.Algorithm() != alg {
				t.Fatal("loaded a different key")
			}
			env, _ := Seal(k.Public(), []byte("x"), nil)
			if _, err := Open(got, env, nil); err != nil {
				t.Fatalf("loaded key cannot open: %v", err)
			}
			if err := SaveKey(path, k); err == nil {
				t.Fatal("SaveKey overwrote an existing file")
			}
		})
	}
}

func TestLoadKeyRejects(t *testing.T) {
	k := testKey(t, DefaultAlgorithm, 31)
	seed := hex.EncodeToString(k.seed)
	other := hex.EncodeToString(testKey(t, DefaultAlgorithm, 32).pub.Key)
	tests := []struct {
		name string
		body string
		mode os.FileMode
	}{
		{"readable by others", `{"algorithm":"ML-KEM-768-X25519","seed":"` + seed + `"}`, 0o644},
		{"readable by group", `{"algorithm":"ML-KEM-768-X25519","seed":"` + seed + `"}`, 0o640},
		{"not JSON", "seed=" + seed, 0o600},
		{"unknown algorithm", `{"algorithm":"RSA","seed":"` + seed + `"}`, 0o600},
		{"missing algorithm", `{"seed":"` + seed + `"}`, 0o600},
		{"short seed", `{"algorithm":"ML-KEM-768-X25519","seed":"` + seed[:62] + `"}`, 0o600},
		{"seed of another algorithm's size", `{"algorithm":"ML-KEM-768","seed":"` + seed + `"}`, 0o600},
		{"public key does not match", `{"algorithm":"ML-KEM-768-X25519","seed":"` + seed + `","public_key":"` + other + `"}`, 0o600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "k.json")
			if err := os.WriteFile(path, []byte(tt.body), tt.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			_, err := LoadKey(path)
			if !errors.Is(err, ErrKeyFile) {
				t.Fatalf("got %v, want ErrKeyFile", err)
			}
			if strings.Contains(err.Error(), seed[:16]) {
				t.Fatalf("error quotes the seed: %v", err)
			}
		})
	}
	if _, err := LoadKey(filepath.Join(t.TempDir(), "absent")); !errors.Is(err, ErrKeyFile) {
		t.Fatalf("absent file: %v", err)
	}
}
