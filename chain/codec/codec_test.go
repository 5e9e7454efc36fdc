package codec

import (
	"bytes"
	"errors"
	"testing"
)

type sample struct {
	A uint64            `cbor:"1,keyasint"`
	B string            `cbor:"2,keyasint"`
	C map[string]string `cbor:"3,keyasint"`
}

func TestMarshalIsDeterministic(t *testing.T) {
	v := sample{A: 7, B: "x", C: map[string]string{"z": "1", "a": "2", "m": "3"}}
	first := MustMarshal(v)
	for i := 0; i < 50; i++ {
		if got := MustMarshal(v); !bytes.Equal(got, first) {
			t.Fatalf("run %d: encoding changed", i)
		}
	}
}

func TestUnmarshalRejects(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"truncated", []byte{0xa1, 0x01}},
		{"duplicate key", []byte{0xa2, 0x01, 0x01, 0x01, 0x02}},
		{"unknown field", []byte{0xa1, 0x09, 0x01}},
		{"indefinite map", []byte{0xbf, 0x01, 0x01, 0xff}},
		{"trailing bytes", []byte{0xa1, 0x01, 0x01, 0x00}},
		{"invalid utf8", []byte{0xa1, 0x02, 0x61, 0xff}},
		{"tag", []byte{0xc1, 0xa0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v sample
			if err := Unmarshal(tt.in, &v); !errors.Is(err, ErrDecode) {
				t.Fatalf("Unmarshal(%x) = %v, want ErrDecode", tt.in, err)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	v := sample{A: 1 << 40, B: "patient-1", C: map[string]string{"k": "v"}}
	var got sample
	if err := Unmarshal(MustMarshal(v), &got); err != nil {
		t.Fatal(err)
	}
	if got.A != v.A || got.B != v.B || got.C["k"] != "v" {
		t.Fatalf("round trip: got %+v", got)
	}
}

func FuzzUnmarshal(f *testing.F) {
	f.Add(MustMarshal(sample{A: 1, B: "b", C: map[string]string{"x": "y"}}))
	f.Add([]byte{0xbf, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		var v sample
		if Unmarshal(b, &v) != nil {
			return
		}
		// Whatever decodes must re-encode to the same bytes: one encoding per value.
		if again := MustMarshal(v); !bytes.Equal(again, b) {
			t.Fatalf("non-canonical input accepted: %x re-encodes as %x", b, again)
		}
	})
}
