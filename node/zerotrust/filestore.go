package zerotrust

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// FileStore is a SessionStore that survives restarts: a MemStore whose
// every durable mutation rewrites one JSON file atomically (temporary file,
// fsync, rename, fsync of the directory), mode 0600. Touches stay in memory
// until the next durable write, Flush or Close; a crash therefore loses
// only recent activity, which makes sessions look idle sooner. The file
// holds token hashes, never tokens.
//
// File format:
//
//	{"version": 1, "sessions": [Session, ...]}   sessions sorted by id
type FileStore struct {
	mem  *MemStore
	path string

	wmu sync.Mutex // serialises writes; each write takes a fresh snapshot
	// guards the following
	dirty bool
}

type storeFile struct {
	Version  int       `json:"version"`
	Sessions []Session `json:"sessions"`
}

const storeVersion = 1

// OpenFileStore loads path (a missing file is an empty store) and returns
// the store. A file that does not decode, or holds an invalid session, is
// reported as ErrCorrupt rather than silently dropped.
func OpenFileStore(path string) (*FileStore, error) {
	fsStore := &FileStore{mem: NewMemStore(), path: path}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fsStore, nil
	}
	if err != nil {
		return nil, fmt.Errorf("zerotrust: open session store: %w", err)
	}
	var f storeFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
	}
	if f.Version != storeVersion {
		return nil, fmt.Errorf("%w: %s: version %d, want %d", ErrCorrupt, path, f.Version, storeVersion)
	}
	for i, s := range f.Sessions {
		if s.ID == "" || s.Identity == "" || s.TokenHash == (TokenHash{}) || !s.Segment.Valid() || !s.Clearance.Valid() {
			return nil, fmt.Errorf("%w: %s: session %d incomplete", ErrCorrupt, path, i)
		}
		if _, dup := fsStore.mem.byHash[s.TokenHash]; dup {
			return nil, fmt.Errorf("%w: %s: session %d duplicates a token hash", ErrCorrupt, path, i)
		}
		fsStore.mem.insertLocked(s)
	}
	return fsStore, nil
}

// Create implements SessionStore.
func (f *FileStore) Create(s Session, max int, expired func(Session) bool) error {
	if err := f.mem.Create(s, max, expired); err != nil {
		return err
	}
	if err := f.write(); err != nil {
		_ = f.mem.Delete(s.TokenHash) // not durable: not created
		return err
	}
	return nil
}

// Get implements SessionStore.
func (f *FileStore) Get(h TokenHash) (Session, error) { return f.mem.Get(h) }

// Update implements SessionStore.
func (f *FileStore) Update(s Session) error {
	if err := f.mem.Update(s); err != nil {
		return err
	}
	return f.write()
}

// Touch implements SessionStore; it is volatile until the next write.
func (f *FileStore) Touch(h TokenHash, lastSeen time.Time, risk int) error {
	if err := f.mem.Touch(h, lastSeen, risk); err != nil {
		return err
	}
	f.wmu.Lock()
	f.dirty = true
	f.wmu.Unlock()
	return nil
}

// Delete implements SessionStore.
func (f *FileStore) Delete(h TokenHash) error {
	if err := f.mem.Delete(h); err != nil {
		return err
	}
	return f.write()
}

// DeleteExpired implements SessionStore.
func (f *FileStore) DeleteExpired(expired func(Session) bool) (int, error) {
	n, err := f.mem.DeleteExpired(expired)
	if err != nil || n == 0 {
		return n, err
	}
	return n, f.write()
}

// Flush writes touched state if any.
func (f *FileStore) Flush() error {
	f.wmu.Lock()
	dirty := f.dirty
	f.wmu.Unlock()
	if !dirty {
		return nil
	}
	return f.write()
}

// Close flushes and closes the store.
func (f *FileStore) Close() error {
	err := f.Flush()
	return errors.Join(err, f.mem.Close())
}

func (f *FileStore) write() error {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	b, err := json.Marshal(storeFile{Version: storeVersion, Sessions: f.mem.snapshot()})
	if err != nil {
		return fmt.Errorf("zerotrust: encode session store: %w", err)
	}
	if err := writeFileAtomic(f.path, b); err != nil {
		return fmt.Errorf("zerotrust: write session store: %w", err)
	}
	f.dirty = false
	return nil
}

func writeFileAtomic(path string, b []byte) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err = tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err = tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

var _ SessionStore = (*FileStore)(nil)
