package consensus

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/hashicorp/raft"

	"github.com/medchain/medchain/chain/store"
)

// Snapshots are Pebble checkpoints streamed as a tar of the checkpoint
// directory's files (flat: Pebble checkpoints have no subdirectories):
//
//	tar { MANIFEST-*, OPTIONS-*, *.sst, *.log, marker.* }   one regular file per entry
//
// Snapshot runs on the FSM goroutine: it syncs Pebble (so everything up to the
// applied index is durable before Raft may compact its log) and takes the
// checkpoint, which is cheap (hard links). Persist streams it on Raft's
// snapshot goroutine; Release deletes it.

var snapSeq atomic.Uint64

func (f *FSM) fs() vfs.FS {
	if f.opts.FS != nil {
		return f.opts.FS
	}
	return vfs.Default
}

// Snapshot implements raft.FSM.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	if err := f.Err(); err != nil {
		return nil, err // never let Raft compact entries this node did not apply
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	if err := f.st.Flush(); err != nil {
		return nil, fmt.Errorf("%w: sync store: %w", ErrSnapshot, err)
	}
	dir := fmt.Sprintf("%s.snapshot-%d-%d", f.dir, f.st.AppliedIndex(), snapSeq.Add(1))
	fs := f.fs()
	if err := fs.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("%w: clear %s: %w", ErrSnapshot, dir, err)
	}
	if err := f.st.Checkpoint(dir); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSnapshot, err)
	}
	if err := dropCheckpointWAL(fs, dir); err != nil { // erasure.go
		return nil, fmt.Errorf("%w: %w", ErrSnapshot, err)
	}
	f.logBytes.Store(0) // the log a restart replays starts after this snapshot (SnapshotLogBytes)
	return &snapshot{fs: fs, dir: dir}, nil
}

type snapshot struct {
	fs  vfs.FS
	dir string
}

// Persist implements raft.FSMSnapshot.
func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	if err := writeTar(s.fs, s.dir, sink); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("%w: persist: %w", ErrSnapshot, err)
	}
	return sink.Close()
}

// Release implements raft.FSMSnapshot.
func (s *snapshot) Release() { _ = s.fs.RemoveAll(s.dir) }

func writeTar(fs vfs.FS, dir string, w io.Writer) error {
	names, err := fs.List(dir)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	for _, name := range names {
		p := fs.PathJoin(dir, name)
		fi, err := fs.Stat(p)
		if err != nil {
			return err
		}
		if fi.IsDir() {
			return fmt.Errorf("unexpected directory %s in checkpoint", p)
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: fi.Size(), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		if err := copyFile(fs, p, tw); err != nil {
			return err
		}
	}
	return tw.Close()
}

func copyFile(fs vfs.FS, p string, w io.Writer) error {
	f, err := fs.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

// Restore implements raft.FSM: it unpacks the snapshot next to the store,
// closes the store, swaps the directories and reopens. Callers reading
// through Store or WithStore see the new store afterwards. If any step after
// closing fails the FSM halts (fail closed).
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	fs := f.fs()
	tmp := f.dir + ".restore"
	if err := fs.RemoveAll(tmp); err != nil {
		return fmt.Errorf("%w: clear %s: %w", ErrSnapshot, tmp, err)
	}
	if err := readTar(fs, tmp, rc); err != nil {
		_ = fs.RemoveAll(tmp)
		return fmt.Errorf("%w: unpack: %w", ErrSnapshot, err)
	}
	// Check the snapshot opens and is this chain's before touching the store.
	probe, err := store.Open(tmp, f.opts)
	if err != nil {
		_ = fs.RemoveAll(tmp)
		return fmt.Errorf("%w: open snapshot: %w", ErrSnapshot, err)
	}
	g, gerr := probe.Genesis()
	if cerr := probe.Close(); cerr != nil && gerr == nil {
		gerr = cerr
	}
	if gerr != nil || string(g) != string(f.genesis.Encode()) {
		_ = fs.RemoveAll(tmp)
		return fmt.Errorf("%w: snapshot is not of this chain's genesis (%v)", ErrSnapshot, gerr)
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.st.Close(); err != nil && !errors.Is(err, store.ErrClosed) {
		return fmt.Errorf("%w: close store: %w", ErrSnapshot, err)
	}
	if err := swapDirs(fs, tmp, f.dir); err != nil {
		f.stop(fmt.Errorf("restore snapshot: %w", err))
		return err
	}
	st, err := store.Open(f.dir, f.opts)
	if err != nil {
		f.stop(fmt.Errorf("reopen store after restore: %w", err))
		return err
	}
	f.st = st
	f.lastIndex.Store(st.AppliedIndex())
	f.log.Info("consensus: restored snapshot", "height", st.Height(), "applied_index", st.AppliedIndex())
	return nil
}

func readTar(fs vfs.FS, dir string, r io.Reader) error {
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if h.Typeflag != tar.TypeReg || h.Name == "" || strings.ContainsAny(h.Name, `/\`) || h.Name == "." || h.Name == ".." {
			return fmt.Errorf("bad entry %q (type %c) in snapshot", h.Name, h.Typeflag)
		}
		out, err := fs.Create(fs.PathJoin(dir, h.Name), vfs.WriteCategoryUnspecified)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, tr); err != nil {
			out.Close()
			return err
		}
		if err := out.Sync(); err != nil {
			out.Close()
			return err
		}
		if err := out.Close(); err != nil {
			return err
		}
	}
	return syncDir(fs, dir)
}

func syncDir(fs vfs.FS, dir string) error {
	d, err := fs.OpenDir(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// swapDirs replaces dir by tmp: dir -> dir.old, tmp -> dir, remove dir.old.
// recoverStoreDir finishes or undoes a swap interrupted by a crash.
func swapDirs(fs vfs.FS, tmp, dir string) error {
	old := dir + ".old"
	if err := fs.RemoveAll(old); err != nil {
		return err
	}
	if err := fs.Rename(dir, old); err != nil && !os.IsNotExist(err) {
		return err
	}
	if err := fs.Rename(tmp, dir); err != nil {
		return err
	}
	if err := syncDir(fs, fs.PathDir(dir)); err != nil {
		return err
	}
	return fs.RemoveAll(old)
}

// recoverStoreDir repairs an interrupted swapDirs: if dir is missing but
// dir.old exists, the restore had not finished; put the old store back (Raft
// will send the snapshot again, or New restores it from the snapshot store).
func recoverStoreDir(fs vfs.FS, dir string) error {
	old := dir + ".old"
	if _, err := fs.Stat(dir); err == nil {
		return fs.RemoveAll(old)
	}
	if _, err := fs.Stat(old); err == nil {
		return fs.Rename(old, dir)
	}
	return nil
}
