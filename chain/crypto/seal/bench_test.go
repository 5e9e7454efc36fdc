package seal

import (
	"bytes"
	"testing"
)

// Targets: 1 KB Seal and Open each under 0.5 ms.
//
//	go test -run '^$' -bench . -benchmem ./chain/crypto/seal
func BenchmarkSeal1KB(b *testing.B) {
	pt := bytes.Repeat([]byte{'a'}, 1024)
	for _, alg := range Algorithms {
		b.Run(alg.String(), func(b *testing.B) {
			pub := testKey(b, alg, 50).Public()
			b.SetBytes(int64(len(pt)))
			for b.Loop() {
				if _, err := Seal(pub, pt, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkOpen1KB(b *testing.B) {
	pt := bytes.Repeat([]byte{'a'}, 1024)
	for _, alg := range Algorithms {
		b.Run(alg.String(), func(b *testing.B) {
			k := testKey(b, alg, 51)
			env, _ := Seal(k.Public(), pt, nil)
			b.SetBytes(int64(len(pt)))
			for b.Loop() {
				if _, err := Open(k, env, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDataKeySeal1KB(b *testing.B) {
	k := mustDataKey(b, 52)
	pt := bytes.Repeat([]byte{'a'}, 1024)
	b.SetBytes(int64(len(pt)))
	for b.Loop() {
		if _, err := k.Seal(pt, []byte("aad")); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDataKeyOpen1KB(b *testing.B) {
	k := mustDataKey(b, 53)
	pt := bytes.Repeat([]byte{'a'}, 1024)
	s, _ := k.Seal(pt, []byte("aad"))
	b.SetBytes(int64(len(pt)))
	for b.Loop() {
		if _, err := k.Open(s, []byte("aad")); err != nil {
			b.Fatal(err)
		}
	}
}
