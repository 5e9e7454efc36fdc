package zerotrust

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// JournalStore is a SessionStore that survives restarts and crashes: a
// MemStore whose durable mutations are appended to a journal file and
// synced before they return (one small append and one fsync per login,
// refresh, segment move or logout, instead of rewriting every session).
// The journal holds token hashes, never tokens; its mode is 0600.
//
// Touches (LastSeen and Risk of an allowed request) stay in memory and are
// appended with the next durable write, by Flush, by DeleteExpired (the
// node's periodic sweep) and by Close: a crash loses only recent activity,
// which makes sessions look idle sooner, never later (invariant 9).
//
// The journal is rewritten (compacted) to one put record per live session
// when it opens and whenever it has grown past twice its size after the
// last compaction (and past 1 MiB); the rewrite goes to a temporary file
// that is synced and renamed over the journal, so it is never torn.
//
// Journal format (integers little-endian):
//
//	header:  "MCZTSJ" 0x00 0x01                      magic, version 1
//	record:  +-----------+-----------+------+----------------+
//	         | length u32| CRC-32C   | kind | payload        |
//	         |           | u32       | u8   | (length bytes) |
//	         +-----------+-----------+------+----------------+
//	         CRC-32C (Castagnoli) over kind and payload
//	kinds:   1 put     payload: the Session as JSON (insert or replace by token hash)
//	         2 delete  payload: the 32-byte token hash
//	         3 touch   payload: token hash, LastSeen (Unix ns, i64), Risk (u8)
//
// Crash safety: every write is at most journalMaxWrite bytes and is synced
// before the next one starts, so a crash can tear only the last write. At
// open, a record that is cut short or fails its checksum within the last
// journalMaxWrite bytes ends the journal: it and what follows were never
// acknowledged and are dropped (TornTail reports how many bytes). A bad
// record earlier than that is corruption (ErrCorrupt), not a torn write,
// and the store refuses to open rather than guess which sessions ended.
//
// A failed sync leaves the file's state unknown: the store then refuses
// every durable mutation (logins fail closed) until it is reopened.
type JournalStore struct {
	mem  *MemStore
	path string

	mu sync.Mutex // serialises durable mutations: the memory change and its record are one step
	// guards the following
	f          *os.File
	size       int64 // bytes of the journal that hold whole, synced records
	compacted  int64 // size right after the last compaction
	broken     error // set by a failed sync: durable mutations fail with it
	tornTail   int64 // bytes dropped from the tail at open
	compactMin int64

	dmu sync.Mutex
	// guards the following
	dirty map[TokenHash]struct{} // touched since their last record
}

// Journal record kinds.
const (
	recPut    byte = 1
	recDelete byte = 2
	recTouch  byte = 3
)

const (
	journalMagic = "MCZTSJ\x00\x01"
	// recordHeader is the length, the CRC and the kind.
	recordHeader = 9
	// journalMaxRecord bounds one record's payload: a session is a few
	// hundred bytes; anything near this is refused when written and read
	// as a torn or corrupt record.
	journalMaxRecord = 64 << 10
	// journalMaxWrite bounds one write (and so the tail a crash can tear).
	journalMaxWrite = 256 << 10
	// journalCompactMin is the size below which the journal is never compacted.
	journalCompactMin = 1 << 20
	touchPayload      = 32 + 8 + 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// OpenJournalStore replays the journal at path (a missing file is an empty
// store), drops a torn tail, compacts and returns the store. A journal with
// a bad header, a corrupt record before its tail, or a record that decodes
// to an invalid session is reported as ErrCorrupt. The directory must exist.
func OpenJournalStore(path string) (*JournalStore, error) {
	j := &JournalStore{mem: NewMemStore(), path: path, dirty: make(map[TokenHash]struct{}), compactMin: journalCompactMin}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("zerotrust: open session journal: %w", err)
	default:
		end, err := replayJournal(b, j.mem)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
		}
		j.tornTail = int64(len(b) - end)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.compactLocked(); err != nil {
		if j.f != nil {
			_ = j.f.Close()
		}
		return nil, err
	}
	return j, nil
}

// replayJournal applies b's records to m and returns the length of its
// valid prefix (a torn tail is dropped), or an error for corruption.
func replayJournal(b []byte, m *MemStore) (int, error) {
	// The header is written only by a compaction (a synced temporary file
	// renamed into place), so it is never torn.
	if !bytes.HasPrefix(b, []byte(journalMagic)) {
		return 0, errors.New("not a session journal (bad magic or version)")
	}
	off := len(journalMagic)
	for n := 0; off < len(b); n++ {
		kind, payload, next, err := readRecord(b, off)
		if err != nil {
			if len(b)-off <= journalMaxWrite {
				return off, nil // torn tail: never acknowledged
			}
			return 0, fmt.Errorf("record %d at offset %d: %v, with %d bytes after it", n, off, err, len(b)-off)
		}
		if err := applyRecord(m, kind, payload); err != nil {
			return 0, fmt.Errorf("record %d at offset %d: %v", n, off, err)
		}
		off = next
	}
	return off, nil
}

// readRecord frames the record at off.
func readRecord(b []byte, off int) (kind byte, payload []byte, next int, err error) {
	if len(b)-off < recordHeader {
		return 0, nil, 0, errors.New("header cut short")
	}
	n := binary.LittleEndian.Uint32(b[off:])
	sum := binary.LittleEndian.Uint32(b[off+4:])
	if n > journalMaxRecord {
		return 0, nil, 0, fmt.Errorf("length %d over the limit %d", n, journalMaxRecord)
	}
	end := off + recordHeader + int(n)
	if end > len(b) {
		return 0, nil, 0, errors.New("payload cut short")
	}
	if crc32.Checksum(b[off+8:end], castagnoli) != sum {
		return 0, nil, 0, errors.New("checksum mismatch")
	}
	return b[off+8], b[off+recordHeader : end], end, nil
}

// applyRecord replays one checksummed record into m.
func applyRecord(m *MemStore, kind byte, payload []byte) error {
	switch kind {
	case recPut:
		var s Session
		if err := json.Unmarshal(payload, &s); err != nil {
			return fmt.Errorf("put: %v", err)
		}
		if s.ID == "" || s.Identity == "" || s.TokenHash == (TokenHash{}) || !s.Segment.Valid() || !s.Clearance.Valid() {
			return errors.New("put: incomplete session")
		}
		if old, ok := m.byHash[s.TokenHash]; ok && old.Identity != s.Identity {
			return errors.New("put: token hash reused by another identity")
		}
		m.insertLocked(s)
	case recDelete:
		if len(payload) != len(TokenHash{}) {
			return fmt.Errorf("delete: %d bytes, want %d", len(payload), len(TokenHash{}))
		}
		m.deleteLocked(TokenHash(payload))
	case recTouch:
		if len(payload) != touchPayload {
			return fmt.Errorf("touch: %d bytes, want %d", len(payload), touchPayload)
		}
		if s, ok := m.byHash[TokenHash(payload[:32])]; ok { // a touch may precede a delete
			if seen := time.Unix(0, int64(binary.LittleEndian.Uint64(payload[32:]))).UTC(); seen.After(s.LastSeen) {
				s.LastSeen = seen
			}
			s.Risk = int(payload[40])
		}
	default:
		return fmt.Errorf("unknown kind %d", kind)
	}
	return nil
}

func appendRecord(b []byte, kind byte, payload []byte) []byte {
	var h [recordHeader]byte
	binary.LittleEndian.PutUint32(h[:], uint32(len(payload)))
	sum := crc32.Update(crc32.Checksum([]byte{kind}, castagnoli), castagnoli, payload)
	binary.LittleEndian.PutUint32(h[4:], sum)
	h[8] = kind
	return append(append(b, h[:]...), payload...)
}

func putRecord(b []byte, s Session) ([]byte, error) {
	p, err := json.Marshal(s)
	if err != nil {
		return b, fmt.Errorf("zerotrust: encode session: %w", err)
	}
	if len(p) > journalMaxRecord {
		return b, fmt.Errorf("%w: session of %q encodes to %d bytes, limit %d", ErrInvalidRequest, s.Identity, len(p), journalMaxRecord)
	}
	return appendRecord(b, recPut, p), nil
}

func deleteRecord(b []byte, h TokenHash) []byte { return appendRecord(b, recDelete, h[:]) }

func touchRecord(b []byte, s Session) []byte {
	var p [touchPayload]byte
	copy(p[:], s.TokenHash[:])
	binary.LittleEndian.PutUint64(p[32:], uint64(s.LastSeen.UnixNano()))
	p[40] = byte(min(max(s.Risk, 0), 255))
	return appendRecord(b, recTouch, p[:])
}

// TornTail returns how many bytes of a torn last write were dropped from
// the journal's tail when it was opened (0 after a clean shutdown).
func (j *JournalStore) TornTail() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.tornTail
}

// Create implements SessionStore.
func (j *JournalStore) Create(s Session, max int, expired func(Session) bool) error {
	rec, err := putRecord(nil, s)
	if err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.usableLocked(); err != nil {
		return err
	}
	evicted, err := j.mem.create(s, max, expired)
	if err != nil {
		return err
	}
	var pre []byte
	for _, h := range evicted {
		pre = deleteRecord(pre, h)
	}
	if err := j.appendLocked(append(pre, rec...)); err != nil {
		_ = j.mem.Delete(s.TokenHash) // not durable: not created (the evicted stay gone)
		return err
	}
	return nil
}

// Get implements SessionStore.
func (j *JournalStore) Get(h TokenHash) (Session, error) { return j.mem.Get(h) }

// Update implements SessionStore.
func (j *JournalStore) Update(s Session) error {
	rec, err := putRecord(nil, s)
	if err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.usableLocked(); err != nil {
		return err
	}
	old, err := j.mem.Get(s.TokenHash)
	if err != nil {
		return err
	}
	if err := j.mem.Update(s); err != nil {
		return err
	}
	if err := j.appendLocked(rec); err != nil {
		_ = j.mem.Update(old) // not durable: not updated
		return err
	}
	return nil
}

// Touch implements SessionStore; it is volatile until the next write.
func (j *JournalStore) Touch(h TokenHash, lastSeen time.Time, risk int) error {
	if err := j.mem.Touch(h, lastSeen, risk); err != nil {
		return err
	}
	j.dmu.Lock()
	j.dirty[h] = struct{}{}
	j.dmu.Unlock()
	return nil
}

// Delete implements SessionStore. The session is gone from memory even
// when its record cannot be written (the error says so).
func (j *JournalStore) Delete(h TokenHash) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.mem.Delete(h); err != nil {
		return err
	}
	if err := j.usableLocked(); err != nil {
		return err
	}
	return j.appendLocked(deleteRecord(nil, h))
}

// DeleteExpired implements SessionStore; it also writes pending touches.
func (j *JournalStore) DeleteExpired(expired func(Session) bool) (int, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	gone, err := j.mem.deleteExpired(expired)
	if err != nil {
		return 0, err
	}
	if err := j.usableLocked(); err != nil {
		return len(gone), err
	}
	var recs []byte
	for _, h := range gone {
		recs = deleteRecord(recs, h)
	}
	return len(gone), j.appendLocked(recs)
}

// Flush writes pending touches.
func (j *JournalStore) Flush() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.usableLocked(); err != nil {
		return err
	}
	return j.appendLocked(nil)
}

// Compact rewrites the journal to one record per live session now.
func (j *JournalStore) Compact() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.usableLocked(); err != nil {
		return err
	}
	return j.compactLocked()
}

// Close writes pending touches and closes the journal.
func (j *JournalStore) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	var err error
	if j.f != nil {
		if j.broken == nil {
			err = j.appendLocked(nil)
		}
		err = errors.Join(err, j.f.Close())
		j.f = nil
	}
	return errors.Join(err, j.mem.Close())
}

// usableLocked reports why durable mutations are refused, if they are.
func (j *JournalStore) usableLocked() error {
	if j.broken != nil {
		return j.broken
	}
	if j.f == nil {
		return ErrClosed
	}
	return nil
}

// takeTouchesLocked returns touch records for sessions touched since
// their last record and forgets them.
func (j *JournalStore) takeTouchesLocked() []byte {
	j.dmu.Lock()
	dirty := j.dirty
	if len(dirty) == 0 {
		j.dmu.Unlock()
		return nil
	}
	j.dirty = make(map[TokenHash]struct{})
	j.dmu.Unlock()
	var b []byte
	for h := range dirty {
		if s, err := j.mem.Get(h); err == nil {
			b = touchRecord(b, s)
		}
	}
	return b
}

// appendLocked writes pending touches and then recs, in writes of at most
// journalMaxWrite bytes each synced before the next, and compacts when the
// journal has grown enough. recs is whole records.
func (j *JournalStore) appendLocked(recs []byte) error {
	b := j.takeTouchesLocked()
	if b == nil {
		b = recs
	} else {
		b = append(b, recs...)
	}
	for len(b) > 0 {
		n := chunkEnd(b, journalMaxWrite)
		if _, err := j.f.WriteAt(b[:n], j.size); err != nil {
			// Cut the partial write off so later records follow whole ones.
			if terr := j.f.Truncate(j.size); terr != nil {
				j.broken = fmt.Errorf("zerotrust: session journal unusable after a failed write: %w", errors.Join(err, terr))
			}
			return fmt.Errorf("zerotrust: write session journal: %w", err)
		}
		if err := j.f.Sync(); err != nil {
			j.broken = fmt.Errorf("zerotrust: session journal unusable after a failed sync (reopen the store): %w", err)
			return j.broken
		}
		j.size += int64(n)
		b = b[n:]
	}
	if j.size > j.compactMin && j.size > 2*j.compacted {
		if err := j.compactLocked(); err != nil {
			// The records are durable; try again after as much growth.
			j.compacted = j.size
		}
	}
	return nil
}

// chunkEnd returns the end of the longest run of whole records at the
// start of b that fits in limit (at least one record).
func chunkEnd(b []byte, limit int) int {
	end := 0
	for end < len(b) {
		next := end + recordHeader + int(binary.LittleEndian.Uint32(b[end:]))
		if end > 0 && next > limit {
			break
		}
		end = next
	}
	return end
}

// compactLocked writes every live session to a new journal and renames it
// over the old one. Until the rename the old journal stays in use; after
// it, the new one is, and a failed directory sync makes the store broken.
func (j *JournalStore) compactLocked() error {
	j.takeTouchesLocked() // the snapshot below holds them
	b := []byte(journalMagic)
	for _, s := range j.mem.snapshot() {
		var err error
		if b, err = putRecord(b, s); err != nil {
			return err
		}
	}
	dir := filepath.Dir(j.path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(j.path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("zerotrust: compact session journal: %w", err)
	}
	err = tmp.Chmod(0o600)
	if err == nil {
		_, err = tmp.Write(b)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if err == nil {
		err = os.Rename(tmp.Name(), j.path)
	}
	if err != nil {
		tmp.Close()
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("zerotrust: compact session journal: %w", err)
	}
	if j.f != nil {
		_ = j.f.Close()
	}
	j.f, j.size, j.compacted = tmp, int64(len(b)), int64(len(b))
	if err := syncDir(dir); err != nil {
		j.broken = fmt.Errorf("zerotrust: session journal unusable after a failed directory sync (reopen the store): %w", err)
		return j.broken
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

var _ SessionStore = (*JournalStore)(nil)
