package seal

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
)

// referenceMAC is DataKey.MAC as first written: derive the label's key and
// key a fresh HMAC for every call. The pooled MAC must equal it.
func referenceMAC(t testing.TB, k *DataKey, label string, msg []byte) [32]byte {
	mk, err := hkdf.Key(sha256.New, k.key[:], nil, "medchain/seal/v1 mac\x00"+label, sha256.Size)
	if err != nil {
		t.Fatal(err)
	}
	h := hmac.New(sha256.New, mk)
	h.Write(msg)
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

func TestPooledMACEqualsAFreshHMAC(t *testing.T) {
	k := mustDataKey(t, 60)
	msgs := [][]byte{nil, []byte(""), []byte("MRN-1"), bytes.Repeat([]byte{0xff}, 200)}
	for _, label := range []string{"", "patient", "medchain/patient-id/v1"} {
		for _, msg := range msgs {
			for range 3 { // a reused (reset) state gives the same value
				if got, want := k.MAC(label, msg), referenceMAC(t, k, label, msg); got != want {
					t.Fatalf("label %q msg %q: pooled %x, fresh %x", label, msg, got, want)
				}
			}
		}
	}
}

func TestKeyedMACSum2IsHMACOfTheConcatenation(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	m := NewKeyedMAC(key)
	clear(key) // NewKeyedMAC copied it
	want := hmac.New(sha256.New, []byte("0123456789abcdef0123456789abcdef"))
	want.Write([]byte("domain\x00value"))
	for range 3 {
		if got := m.Sum2([]byte("domain\x00"), []byte("value")); !bytes.Equal(got[:], want.Sum(nil)) {
			t.Fatalf("Sum2 %x, want %x", got, want.Sum(nil))
		}
	}
}

func TestMACIsSafeForConcurrentUse(t *testing.T) {
	k := mustDataKey(t, 61)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				msg := fmt.Appendf(nil, "patient-%d-%d", g, i)
				if k.MAC("patient", msg) != referenceMAC(t, k, "patient", msg) {
					errs <- fmt.Errorf("goroutine %d message %d: wrong MAC", g, i)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestMACLabelsBeyondTheBoundStillCompute(t *testing.T) {
	k := mustDataKey(t, 62)
	for i := range 2 * maxMACLabels {
		label := fmt.Sprintf("label-%d", i)
		if k.MAC(label, []byte("m")) != referenceMAC(t, k, label, []byte("m")) {
			t.Fatalf("label %d: wrong MAC", i)
		}
	}
	if n := len(k.macs); n != maxMACLabels {
		t.Fatalf("%d MAC states kept, want the bound %d", n, maxMACLabels)
	}
}

// TestDestroyLeavesNoKeyAndRefusesUse proves that a destroyed key keeps no
// key bytes and no MAC state, and that sealing, opening and wrapping with
// it fail with ErrKeyDestroyed (never with a zero key).
func TestDestroyLeavesNoKeyAndRefusesUse(t *testing.T) {
	k := mustDataKey(t, 63)
	sealed, err := k.Seal([]byte("secret"), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	k.MAC("patient", []byte("MRN-1"))
	k.Destroy()
	k.Destroy() // twice is harmless
	if k.key != [DataKeySize]byte{} || k.macs != nil || !k.Destroyed() {
		t.Fatalf("destroyed key still holds key material: key zero %v, MAC states %d", k.key == [DataKeySize]byte{}, len(k.macs))
	}
	pub := testKey(t, MLKEM768X25519, 64).Public()
	for name, err := range map[string]error{
		"seal": func() error { _, err := k.Seal([]byte("x"), nil); return err }(),
		"open": func() error { _, err := k.Open(sealed, []byte("aad")); return err }(),
		"wrap": func() error { _, err := WrapKey(pub, k, []byte("aad")); return err }(),
	} {
		if !errors.Is(err, ErrKeyDestroyed) {
			t.Errorf("%s after Destroy: %v, want ErrKeyDestroyed", name, err)
		}
	}
	defer func() {
		if recover() == nil {
			t.Fatal("MAC after Destroy did not panic")
		}
	}()
	k.MAC("patient", []byte("MRN-1"))
}

func TestDestroyWhileSealingIsSafe(t *testing.T) {
	k := mustDataKey(t, 65)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 1000 {
			if _, err := k.Seal([]byte("payload"), []byte("aad")); err != nil && !errors.Is(err, ErrKeyDestroyed) {
				t.Errorf("seal racing Destroy: %v", err)
				return
			}
		}
	}()
	k.Destroy()
	wg.Wait()
}

func TestDataKeyFromCopiesTheBytes(t *testing.T) {
	raw := bytes.Repeat([]byte{7}, DataKeySize)
	k, err := DataKeyFrom(raw)
	if err != nil {
		t.Fatal(err)
	}
	clear(raw)
	s, err := k.Seal([]byte("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := DataKeyFrom(bytes.Repeat([]byte{7}, DataKeySize))
	if pt, err := k2.Open(s, nil); err != nil || string(pt) != "x" {
		t.Fatalf("key changed when the caller cleared its bytes: %v", err)
	}
	for _, n := range []int{0, 16, 31, 33} {
		if _, err := DataKeyFrom(make([]byte, n)); !errors.Is(err, ErrKeySize) {
			t.Errorf("DataKeyFrom(%d bytes): %v, want ErrKeySize", n, err)
		}
	}
}

func BenchmarkDataKeyMAC(b *testing.B) {
	k := mustDataKey(b, 66)
	msg := []byte("bench-patient-123")
	b.ReportAllocs()
	for b.Loop() {
		k.MAC("medchain/patient-id/v1", msg)
	}
}

func BenchmarkFreshHMACPerCall(b *testing.B) {
	k := mustDataKey(b, 67)
	msg := []byte("bench-patient-123")
	b.ReportAllocs()
	for b.Loop() {
		referenceMAC(b, k, "medchain/patient-id/v1", msg)
	}
}
