package p2p

import (
	"encoding/binary"
	"fmt"
	"io"
)

// maxFrameLimit caps every configurable frame limit (16 MiB).
const maxFrameLimit = 16 << 20

// writeFrame writes b as one frame: a 4-byte big-endian length, then b.
func writeFrame(w io.Writer, b []byte) error {
	if len(b) > maxFrameLimit {
		return fmt.Errorf("%w: %d bytes", ErrTooLarge, len(b))
	}
	buf := make([]byte, 4+len(b))
	binary.BigEndian.PutUint32(buf, uint32(len(b)))
	copy(buf[4:], b)
	_, err := w.Write(buf)
	return err
}

// readFrame reads one frame of at most limit bytes. A longer announced length
// is refused before anything is allocated.
func readFrame(r io.Reader, limit int) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if uint64(n) > uint64(limit) {
		return nil, fmt.Errorf("%w: frame of %d bytes exceeds the %d byte limit", ErrTooLarge, n, limit)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return b, nil
}
