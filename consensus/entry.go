package consensus

import (
	"fmt"

	"github.com/medchain/medchain/chain/types"
)

// EntryKind is the first byte of every Raft log command this package writes.
// Values are wire format: append only.
type EntryKind uint8

// Entry kinds.
const (
	EntryBlock EntryKind = 1 + iota // a proposed block: kind || CBOR(types.Block)
)

// String names the kind.
func (k EntryKind) String() string {
	switch k {
	case EntryBlock:
		return "block"
	}
	return fmt.Sprintf("EntryKind(%d)", uint8(k))
}

// EncodeBlockEntry returns the Raft log command that proposes b.
func EncodeBlockEntry(b *types.Block) []byte {
	enc := b.Encode()
	out := make([]byte, 1+len(enc))
	out[0] = byte(EntryBlock)
	copy(out[1:], enc)
	return out
}

// decodeEntry splits a log command into its kind and body. An empty command
// has kind 0, which no version writes.
func decodeEntry(data []byte) (EntryKind, []byte) {
	if len(data) == 0 {
		return 0, nil
	}
	return EntryKind(data[0]), data[1:]
}
