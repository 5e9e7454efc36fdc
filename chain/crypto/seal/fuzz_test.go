package seal

import (
	"bytes"
	"errors"
	"testing"

	"github.com/medchain/medchain/chain/codec"
)

// FuzzDecodeEnvelope feeds arbitrary bytes to the envelope decoder and to
// Open. Neither may panic; every error must be one of the package sentinels;
// a decoded envelope re-encodes to an envelope that decodes to the same value;
// only the untouched envelope opens, to its plaintext.
//
//	go test -run '^$' -fuzz FuzzDecodeEnvelope -fuzztime 60s ./chain/crypto/seal
func FuzzDecodeEnvelope(f *testing.F) {
	key := testKey(f, DefaultAlgorithm, 40)
	pt := []byte("fuzz plaintext")
	valid, err := Seal(key.Public(), pt, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	for _, alg := range Algorithms[1:] {
		env, _ := Seal(testKey(f, alg, 41).Public(), pt, nil)
		f.Add(env)
	}
	for _, n := range []int{0, 1, 2, 5, 20, len(valid) / 2, len(valid) - 1} {
		f.Add(valid[:n])
	}
	e, _ := DecodeEnvelope(valid)
	f.Add(codec.MustMarshal(&Envelope{Version: 2, Algorithm: e.Algorithm, Enc: e.Enc, Ciphertext: e.Ciphertext}))
	f.Add(codec.MustMarshal(&Envelope{Version: 1, Algorithm: 9, Enc: e.Enc, Ciphertext: e.Ciphertext}))
	f.Add(codec.MustMarshal(map[int]any{1: 1, 2: 1, 3: e.Enc, 4: e.Ciphertext, 5: 0}))
	f.Add([]byte{0xa0})
	f.Add([]byte{0xbf, 0xff})

	sentinels := []error{ErrMalformed, ErrUnsupportedVersion, ErrUnknownAlgorithm, ErrAlgorithmMismatch, ErrDecrypt}
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := DecodeEnvelope(b)
		if err == nil {
			again, err := env.Encode()
			if err != nil {
				t.Fatalf("decoded envelope does not encode: %v", err)
			}
			env2, err := DecodeEnvelope(again)
			if err != nil {
				t.Fatalf("re-encoded envelope does not decode: %v", err)
			}
			if env2.Version != env.Version || env2.Algorithm != env.Algorithm || !bytes.Equal(env2.Enc, env.Enc) || !bytes.Equal(env2.Ciphertext, env.Ciphertext) {
				t.Fatal("re-encoding changed the envelope")
			}
		} else if !isOneOf(err, sentinels) {
			t.Fatalf("decode error %v wraps no sentinel", err)
		}
		got, err := Open(key, b, nil)
		if err != nil {
			if !isOneOf(err, sentinels) {
				t.Fatalf("open error %v wraps no sentinel", err)
			}
			return
		}
		if !bytes.Equal(got, pt) {
			t.Fatalf("forged envelope opened to %q", got)
		}
	})
}

func isOneOf(err error, targets []error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}
