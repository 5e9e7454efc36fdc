package seal

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func mustDataKey(t testing.TB, seed uint64) *DataKey {
	t.Helper()
	k, err := NewDataKey(testRand(100 + seed))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestDataKeyRoundTrip(t *testing.T) {
	k := mustDataKey(t, 1)
	for _, pt := range [][]byte{nil, []byte("MRN 12345"), bytes.Repeat([]byte{7}, 4096)} {
		aad := []byte("patient/p1#mrn")
		s, err := k.Seal(pt, aad)
		if err != nil {
			t.Fatal(err)
		}
		if len(s) != len(pt)+FieldOverhead {
			t.Fatalf("sealed %d bytes for %d plaintext, want +%d", len(s), len(pt), FieldOverhead)
		}
		got, err := k.Open(s, aad)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("open: %v", err)
		}
		if len(pt) > 0 && bytes.Contains(s, pt) {
			t.Fatal("plaintext visible in the sealed field")
		}
	}
}

// Each Seal draws a fresh 96-bit nonce: over many seals no nonce repeats.
func TestDataKeyNoncesAreFresh(t *testing.T) {
	k := mustDataKey(t, 2)
	seen := make(map[string]bool)
	for range 2000 {
		s, _ := k.Seal([]byte("same"), nil)
		n := string(s[fieldHeaderSize : fieldHeaderSize+gcmNonceSize])
		if seen[n] {
			t.Fatal("nonce repeated")
		}
		seen[n] = true
	}
}

func TestDataKeyOpenRejects(t *testing.T) {
	k := mustDataKey(t, 3)
	other := mustDataKey(t, 4)
	aad := []byte("patient/p1#mrn")
	s, _ := k.Seal([]byte("MRN 12345"), aad)
	flip := func(i int) []byte { c := bytes.Clone(s); c[i] ^= 1; return c }
	tests := []struct {
		name   string
		key    *DataKey
		sealed []byte
		aad    []byte
		want   error
	}{
		{"field moved to another place", k, s, []byte("patient/p2#mrn"), ErrDecrypt},
		{"other key", other, s, aad, ErrWrongDataKey},
		{"key id altered", k, flip(1), aad, ErrWrongDataKey},
		{"nonce altered", k, flip(fieldHeaderSize), aad, ErrDecrypt},
		{"ciphertext altered", k, flip(fieldHeaderSize + gcmNonceSize), aad, ErrDecrypt},
		{"tag altered", k, flip(len(s) - 1), aad, ErrDecrypt},
		{"version altered", k, flip(0), aad, ErrUnsupportedVersion},
		{"truncated below minimum", k, s[:FieldOverhead-1], aad, ErrMalformed},
		{"truncated into ciphertext", k, s[:len(s)-1], aad, ErrDecrypt},
		{"empty", k, nil, aad, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if pt, err := tt.key.Open(tt.sealed, tt.aad); !errors.Is(err, tt.want) || pt != nil {
				t.Fatalf("got %q, %v; want %v", pt, err, tt.want)
			}
		})
	}
}

func TestWrapUnwrapEveryAlgorithm(t *testing.T) {
	dk := mustDataKey(t, 5)
	field, _ := dk.Seal([]byte("allergy: penicillin"), []byte("patient/p1#allergy"))
	for _, alg := range Algorithms {
		t.Run(alg.String(), func(t *testing.T) {
			node := testKey(t, alg, 20)
			aad := []byte("patient-key/p1")
			w, err := WrapKey(node.Public(), dk, aad)
			if err != nil {
				t.Fatal(err)
			}
			got, err := UnwrapKey(node, w, aad)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(dk) || got.ID() != dk.ID() {
				t.Fatal("unwrapped a different key")
			}
			if pt, err := got.Open(field, []byte("patient/p1#allergy")); err != nil || string(pt) != "allergy: penicillin" {
				t.Fatalf("unwrapped key does not open the field: %v", err)
			}
			if _, err := UnwrapKey(node, w, []byte("patient-key/p2")); !errors.Is(err, ErrDecrypt) {
				t.Fatalf("wrong aad: %v", err)
			}
			if _, err := UnwrapKey(testKey(t, alg, 21), w, aad); !errors.Is(err, ErrDecrypt) {
				t.Fatalf("wrong node: %v", err)
			}
			// A message envelope never unwraps as a key, even one of 32 bytes.
			msg, _ := Seal(node.Public(), make([]byte, DataKeySize), aad)
			if _, err := UnwrapKey(node, msg, aad); !errors.Is(err, ErrDecrypt) {
				t.Fatalf("message unwrapped as key: %v", err)
			}
		})
	}
	if _, err := WrapKey(testKey(t, DefaultAlgorithm, 22).Public(), nil, nil); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("nil data key: %v", err)
	}
}

func TestUnwrapRejectsWrongLengthKey(t *testing.T) {
	node := testKey(t, DefaultAlgorithm, 23)
	w, err := seal(node.Public(), make([]byte, DataKeySize-1), nil, infoDataKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := UnwrapKey(node, w, nil); !errors.Is(err, ErrMalformed) {
		t.Fatalf("31-byte key: got %v, want ErrMalformed", err)
	}
}

func TestDataKeyNeverPrintsKey(t *testing.T) {
	k := mustDataKey(t, 6)
	raw := hex.EncodeToString(k.key[:])
	out := fmt.Sprintf("%v %+v %#v %s", k, k, k, k)
	if strings.Contains(out, raw) || strings.Contains(out, fmt.Sprint(k.key)) {
		t.Fatalf("formatted data key leaks the key: %s", out)
	}
	if !strings.Contains(out, k.ID()) || len(k.ID()) != 16 {
		t.Fatalf("formatted data key does not show its id: %s", out)
	}
	if _, err := NewDataKey(strings.NewReader("short")); err == nil {
		t.Fatal("short entropy accepted")
	}
}

func TestFieldKeyIDNamesTheSealingKey(t *testing.T) {
	k1, k2 := mustDataKey(t, 1), mustDataKey(t, 2)
	f, err := k1.Seal([]byte("seed"), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	if id, err := FieldKeyID(f); err != nil || id != k1.ID() || id == k2.ID() {
		t.Fatalf("FieldKeyID = %q, %v; want %s", id, err, k1.ID())
	}
	bad := append([]byte{Version + 1}, f[1:]...)
	for name, tc := range map[string]struct {
		in   []byte
		want error
	}{"short": {f[:FieldOverhead-1], ErrMalformed}, "empty": {nil, ErrMalformed}, "version": {bad, ErrUnsupportedVersion}} {
		if _, err := FieldKeyID(tc.in); !errors.Is(err, tc.want) {
			t.Errorf("%s: err %v, want %v", name, err, tc.want)
		}
	}
}

func TestDataKeyMACIsKeyedAndLabelled(t *testing.T) {
	k1, k2 := mustDataKey(t, 1), mustDataKey(t, 2)
	again, err := newDataKey(k1.key[:])
	if err != nil {
		t.Fatal(err)
	}
	m := k1.MAC("patient", []byte("MRN-1"))
	for name, tc := range map[string]struct {
		got  [32]byte
		same bool
	}{
		"same key, label and message": {again.MAC("patient", []byte("MRN-1")), true},
		"another key":                 {k2.MAC("patient", []byte("MRN-1")), false},
		"another label":               {k1.MAC("consent", []byte("MRN-1")), false},
		"another message":             {k1.MAC("patient", []byte("MRN-2")), false},
		"label and message shifted":   {k1.MAC("patientM", []byte("RN-1")), false},
	} {
		if (tc.got == m) != tc.same {
			t.Errorf("%s: equal %v, want %v", name, tc.got == m, tc.same)
		}
	}
}
