package zerotrust

import (
	"errors"
	"strings"
	"testing"
)

var cborContentTypes = []struct {
	ct        string
	cbor, bad bool
}{
	{"application/cbor", true, false},
	{"APPLICATION/Cbor", true, false},
	{" application/cbor ", true, false},
	{"application/cbor; charset", true, true},
	{"application/cbor;;", true, true},
	{"application/cbor;", true, false}, // an empty parameter list
	{"application/cbor; a=1", true, true},
	{"application/cbor; a=\"", true, true},
	{"application/json", false, false},
	{"application/json; charset", false, false},
	{"application/cbor-seq", false, false},
	{"", false, false},
	{";", false, false},
}

// TestCBORContentType: only the bare application/cbor media type is CBOR;
// with any parameter, parsable or not, it still asks for CBOR (so the
// refusal is in CBOR) but is refused with ErrContentType.
func TestCBORContentType(t *testing.T) {
	for _, tt := range cborContentTypes {
		cbor, err := CBORContentType(tt.ct)
		if cbor != tt.cbor || (err != nil) != tt.bad || (err != nil && !errors.Is(err, ErrContentType)) {
			t.Errorf("%q: cbor %v, err %v; want cbor %v, refused %v", tt.ct, cbor, err, tt.cbor, tt.bad)
		}
	}
	v := NewValidator(TestConfig().Request)
	for _, tt := range cborContentTypes {
		if !tt.cbor {
			continue
		}
		h := map[string][]string{"Content-Type": {tt.ct}}
		cbor, err := v.checkHeaders(h, 10)
		if !cbor || (err != nil) != tt.bad {
			t.Errorf("validator, %q: cbor %v, err %v", tt.ct, cbor, err)
		}
	}
}

func FuzzCBORContentType(f *testing.F) {
	for _, tt := range cborContentTypes {
		f.Add(tt.ct)
	}
	f.Fuzz(func(t *testing.T, ct string) {
		cbor, err := CBORContentType(ct)
		head, _, _ := strings.Cut(ct, ";")
		if cbor != strings.EqualFold(strings.TrimSpace(head), ContentTypeCBOR) {
			t.Fatalf("%q: cbor %v", ct, cbor)
		}
		if !cbor && err != nil {
			t.Fatalf("%q: not CBOR but refused: %v", ct, err)
		}
	})
}
