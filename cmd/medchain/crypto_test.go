package main

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/chain/crypto/seal"
)

// runCmd runs the CLI in process with stdin in and returns stdout and the error.
func runCmd(t *testing.T, in []byte, args ...string) ([]byte, error) {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetIn(bytes.NewReader(in))
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.Bytes(), err
}

func TestCryptoSealOpenRoundTripThroughFilesAndPipes(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "r.key")
	if _, err := runCmd(t, nil, "crypto", "keygen", "--out", key); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(key); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("private key file mode: %v %v", st, err)
	}
	msg := bytes.Repeat([]byte("MRN 12345; "), 100)
	env, err := runCmd(t, msg, "crypto", "seal", "--to", key+".pub", "--aad", "export/p1")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(env, []byte("MRN 12345")) {
		t.Fatal("the envelope contains the plaintext")
	}
	envFile := filepath.Join(dir, "env.bin")
	if err := os.WriteFile(envFile, env, 0o644); err != nil {
		t.Fatal(err)
	}
	outFile := filepath.Join(dir, "plain.txt")
	if _, err := runCmd(t, nil, "crypto", "open", "--key", key, "--aad", "export/p1", "--in", envFile, "--out", outFile); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(outFile); !bytes.Equal(got, msg) {
		t.Fatal("opened plaintext differs")
	}
	// Another aad does not open.
	if _, err := runCmd(t, env, "crypto", "open", "--key", key, "--aad", "export/p2"); !errors.Is(err, seal.ErrDecrypt) {
		t.Fatalf("wrong aad: got %v, want ErrDecrypt", err)
	}
}

func TestCryptoOpenRejectsTamperedCiphertext(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "r.key")
	if _, err := runCmd(t, nil, "crypto", "keygen", "--out", key); err != nil {
		t.Fatal(err)
	}
	env, err := runCmd(t, []byte("secret"), "crypto", "seal", "--to", key+".pub")
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{len(env) - 1, len(env) - 20, 40} { // tag, ciphertext, encapsulated key
		bad := bytes.Clone(env)
		bad[i] ^= 0x01
		out, err := runCmd(t, bad, "crypto", "open", "--key", key)
		if !errors.Is(err, seal.ErrDecrypt) {
			t.Errorf("byte %d flipped: got %v, want ErrDecrypt", i, err)
		}
		if bytes.Contains(out, []byte("secret")) {
			t.Errorf("byte %d flipped: plaintext printed", i)
		}
	}
	if _, err := runCmd(t, env[:len(env)/2], "crypto", "open", "--key", key); !errors.Is(err, seal.ErrMalformed) {
		t.Errorf("truncated: got %v, want ErrMalformed", err)
	}
}

func TestCryptoSealRefusesKeysOfTheWrongAlgorithm(t *testing.T) {
	dir := t.TempDir()
	// An ML-DSA signature key cannot receive sealed data.
	sk, err := crypto.GenerateKey(crypto.MLDSA65, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sigPub := filepath.Join(dir, "doctor.pub")
	if err := crypto.SavePublicKey(sigPub, sk.Public()); err != nil {
		t.Fatal(err)
	}
	_, err = runCmd(t, []byte("x"), "crypto", "seal", "--to", sigPub)
	if !errors.Is(err, seal.ErrUnknownAlgorithm) || !strings.Contains(err.Error(), "signature key") {
		t.Fatalf("seal to an ML-DSA key: got %v", err)
	}
	// An envelope for one KEM does not open with a key of another.
	a, b := filepath.Join(dir, "a.key"), filepath.Join(dir, "b.key")
	if _, err := runCmd(t, nil, "crypto", "keygen", "--out", a); err != nil {
		t.Fatal(err)
	}
	if _, err := runCmd(t, nil, "crypto", "keygen", "--out", b, "--alg", "ML-KEM-1024-P384"); err != nil {
		t.Fatal(err)
	}
	env, err := runCmd(t, []byte("x"), "crypto", "seal", "--to", a+".pub")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := runCmd(t, env, "crypto", "open", "--key", b); !errors.Is(err, seal.ErrAlgorithmMismatch) {
		t.Fatalf("open with a key of another algorithm: got %v, want ErrAlgorithmMismatch", err)
	}
	// A public key file whose bytes do not fit its algorithm.
	badPub := filepath.Join(dir, "bad.pub")
	os.WriteFile(badPub, []byte(`{"algorithm":"ML-KEM-768-X25519","public_key":"00ff"}`), 0o644)
	if _, err := runCmd(t, []byte("x"), "crypto", "seal", "--to", badPub); !errors.Is(err, seal.ErrKeySize) {
		t.Fatalf("short public key: got %v, want ErrKeySize", err)
	}
	if _, err := runCmd(t, nil, "crypto", "keygen", "--out", filepath.Join(dir, "c.key"), "--alg", "ML-DSA-65"); !errors.Is(err, seal.ErrUnknownAlgorithm) {
		t.Fatalf("keygen --alg ML-DSA-65: got %v", err)
	}
}
