package codec

import (
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// Decode limits. A tx is at most a few kilobytes; a block carries at most a
// few thousand txs; these bound what an attacker can make a decoder allocate.
const (
	MaxNestedLevels   = 16
	MaxArrayElements  = 1 << 17
	MaxMapPairs       = 4096
	MaxByteStringSize = 64 << 20
)

// ErrDecode wraps every decoding failure.
var ErrDecode = errors.New("codec: malformed CBOR")

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	encMode, err = cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err) // static options: a failure is a programming error
	}
	decMode, err = cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		MaxNestedLevels:   MaxNestedLevels,
		MaxArrayElements:  MaxArrayElements,
		MaxMapPairs:       MaxMapPairs,
		UTF8:              cbor.UTF8RejectInvalid,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// Marshal encodes v deterministically.
func Marshal(v any) ([]byte, error) {
	b, err := encMode.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("codec: encode %T: %w", v, err)
	}
	return b, nil
}

// MustMarshal encodes v and panics on failure. Use it only for values whose
// types are known to encode (structs of fixed fields), never for input.
func MustMarshal(v any) []byte {
	b, err := Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// Unmarshal decodes b into v strictly; trailing bytes are an error.
func Unmarshal(b []byte, v any) error {
	if len(b) > MaxByteStringSize {
		return fmt.Errorf("%w: %d bytes exceeds the %d byte limit", ErrDecode, len(b), MaxByteStringSize)
	}
	if err := decMode.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %v", ErrDecode, err)
	}
	return nil
}
