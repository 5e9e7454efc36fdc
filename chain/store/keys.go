package store

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/medchain/medchain/chain/types"
)

// Keyspace prefixes (see the key layout in doc.go). They are on-disk format:
// never change or reuse one.
const (
	PrefixBlock     byte = 'b' // height u64 -> CBOR(types.Block)
	PrefixBlockHash byte = 'h' // block hash -> height u64
	PrefixTx        byte = 't' // tx hash -> txLoc
	PrefixNode      byte = 'n' // level u8 | index u64 -> node hash
	PrefixState     byte = 's' // state key -> state value
	PrefixMeta      byte = 'm' // name -> value
)

// Meta names under PrefixMeta.
const (
	metaApplied = "applied"
	metaGenesis = "genesis"
	metaHead    = "head"
)

const (
	txLocSize   = 8 + 4 + 8
	hashSize    = len(types.Hash{})
	nodeKeySize = 1 + 1 + 8
)

// BlockKey returns the key of the block at height.
func BlockKey(height uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{PrefixBlock}, height)
}

// BlockHashKey returns the key of the block-hash index entry for h.
func BlockHashKey(h types.Hash) []byte { return append([]byte{PrefixBlockHash}, h[:]...) }

// TxKey returns the key of the tx index entry for h.
func TxKey(h types.Hash) []byte { return append([]byte{PrefixTx}, h[:]...) }

// NodeKey returns the key of the log node (level, index).
func NodeKey(level uint, index uint64) []byte {
	return appendNodeKey(make([]byte, 0, nodeKeySize), level, index)
}

func appendNodeKey(b []byte, level uint, index uint64) []byte {
	return binary.BigEndian.AppendUint64(append(b, PrefixNode, byte(level)), index)
}

// StateKey returns the store key of the state key k.
func StateKey(k []byte) []byte { return append([]byte{PrefixState}, k...) }

// MetaKey returns the key of a meta record ("applied", "genesis", "head").
func MetaKey(name string) []byte { return append([]byte{PrefixMeta}, name...) }

// txLoc is the value of a tx index entry: where the tx is and its log leaf.
type txLoc struct {
	Height uint64
	Index  uint32
	Leaf   uint64
}

func (l txLoc) encode() []byte {
	b := make([]byte, 0, txLocSize)
	b = binary.BigEndian.AppendUint64(b, l.Height)
	b = binary.BigEndian.AppendUint32(b, l.Index)
	return binary.BigEndian.AppendUint64(b, l.Leaf)
}

func decodeTxLoc(b []byte) (txLoc, error) {
	if len(b) != txLocSize {
		return txLoc{}, fmt.Errorf("tx location is %d bytes, want %d", len(b), txLocSize)
	}
	return txLoc{
		Height: binary.BigEndian.Uint64(b[:8]),
		Index:  binary.BigEndian.Uint32(b[8:12]),
		Leaf:   binary.BigEndian.Uint64(b[12:]),
	}, nil
}

func encodeU64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func decodeU64(b []byte) (uint64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("integer is %d bytes, want 8", len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}

func decodeHash(b []byte) (types.Hash, error) {
	var h types.Hash
	if len(b) != hashSize {
		return h, fmt.Errorf("hash is %d bytes, want %d", len(b), hashSize)
	}
	copy(h[:], b)
	return h, nil
}

// decodeBlock decodes the block stored under height and checks that it
// belongs there.
func decodeBlock(height uint64, raw []byte) (*types.Block, error) {
	b, err := types.DecodeBlock(raw)
	if err != nil {
		return nil, err
	}
	if b.Header.Height != height {
		return nil, fmt.Errorf("header says height %d", b.Header.Height)
	}
	return b, nil
}

// corrupt wraps a decode failure of the record under key in ErrCorrupt.
func corrupt(key []byte, err error) error {
	return fmt.Errorf("%w: %s: %v", ErrCorrupt, describeKey(key), err)
}

// describeKey names a key for errors and logs: "block 12", "log node (3, 7)".
func describeKey(k []byte) string {
	if len(k) == 0 {
		return "empty key"
	}
	rest := k[1:]
	switch k[0] {
	case PrefixBlock:
		if len(rest) == 8 {
			return fmt.Sprintf("block at height %d", binary.BigEndian.Uint64(rest))
		}
	case PrefixBlockHash:
		return "block hash index " + hex.EncodeToString(rest)
	case PrefixTx:
		return "tx index " + hex.EncodeToString(rest)
	case PrefixNode:
		if len(rest) == 9 {
			return fmt.Sprintf("log node (%d, %d)", rest[0], binary.BigEndian.Uint64(rest[1:]))
		}
	case PrefixState:
		return fmt.Sprintf("state key %q", rest)
	case PrefixMeta:
		return fmt.Sprintf("meta %q", rest)
	case PrefixVault:
		return "vault record"
	case PrefixSealed:
		if len(rest) == 12 {
			return fmt.Sprintf("sealed payload copy of tx %d at height %d", binary.BigEndian.Uint32(rest[8:]), binary.BigEndian.Uint64(rest))
		}
	}
	return fmt.Sprintf("key %x", k)
}

// checkRecord decodes the record (k, v) by its keyspace and reports whether
// it is well formed: the integrity scan and the fuzz target use it.
func checkRecord(k, v []byte) error {
	if len(k) == 0 {
		return corrupt(k, fmt.Errorf("empty key"))
	}
	rest := k[1:]
	var err error
	switch k[0] {
	case PrefixBlock:
		if len(rest) != 8 {
			return corrupt(k, fmt.Errorf("block key has %d height bytes, want 8", len(rest)))
		}
		_, err = decodeBlock(binary.BigEndian.Uint64(rest), v)
	case PrefixBlockHash:
		if len(rest) != hashSize {
			return corrupt(k, fmt.Errorf("block hash key has %d bytes, want %d", len(rest), hashSize))
		}
		_, err = decodeU64(v)
	case PrefixTx:
		if len(rest) != hashSize {
			return corrupt(k, fmt.Errorf("tx key has %d bytes, want %d", len(rest), hashSize))
		}
		_, err = decodeTxLoc(v)
	case PrefixNode:
		if len(rest) != 9 {
			return corrupt(k, fmt.Errorf("node key has %d bytes, want 9", len(rest)))
		}
		if rest[0] > 63 {
			return corrupt(k, fmt.Errorf("node level %d exceeds 63", rest[0]))
		}
		_, err = decodeHash(v)
	case PrefixState, PrefixVault:
		return nil // opaque to the store
	case PrefixSealed:
		if len(rest) != sealedKeySize-1 {
			return corrupt(k, fmt.Errorf("sealed payload key has %d bytes, want %d", len(rest), sealedKeySize-1))
		}
		// Its bytes are checked against its block's body (checkSealedCopies):
		// its length bound depends on the genesis limit.
		if len(v) == 0 {
			return corrupt(k, fmt.Errorf("empty sealed payload"))
		}
		return nil
	case PrefixMeta:
		switch string(rest) {
		case metaApplied, metaHead:
			_, err = decodeU64(v)
		case metaGenesis:
			return nil
		default:
			if name, ok := strings.CutPrefix(string(rest), metaPrunePrefix); ok && checkPruneName(name) == nil {
				_, err = decodePruneMark(v)
				break
			}
			return corrupt(k, fmt.Errorf("unknown meta record"))
		}
	default:
		return corrupt(k, fmt.Errorf("unknown keyspace prefix %#x", k[0]))
	}
	if err != nil {
		return corrupt(k, err)
	}
	return nil
}
