package queuedir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// The sandbox writes the queue directory, so everything in it is hostile: requests/ or
// responses/ swapped for a symlink, a link planted where we are about to create a temp file or
// a lock, a FIFO where we read (issue 10, finding 2). Every file operation of the local store
// and the gateway therefore goes through an os.Root opened on the queue directory, which
// refuses any path that resolves outside it. os.Root still follows links that stay inside, so
// on top of it:
//   - a symlinked requests/, responses/ or logs/ is refused outright with an error naming it
//     (only the sandbox plants one; following it, even inside the queue, would cross channels);
//   - files are read only when they are regular and the open file is the entry that was
//     checked (no link swapped in between), opened O_NONBLOCK so a FIFO cannot block us;
//   - files are created O_EXCL, which never follows a link, and a planted entry is removed
//     (unlinking a link never touches its target) rather than written through.
// A link swapped in after a check can still redirect an operation, but only within the queue
// directory, which the sandbox controls anyway.

var (
	// ErrSymlink matches every error that refuses a symlinked queue directory (or its
	// requests/, responses/ or logs/); the error's text names the path.
	ErrSymlink = errors.New("queue directory is a symlink")
	// errNotRegular: a file we read is a link, FIFO, device or directory.
	errNotRegular = errors.New("is not a regular file")
)

// linkError is the queue directory, or one of its requests/, responses/ or logs/, found to be
// a symlink. It names the path, for the log line that tells the operator what was planted.
type linkError struct{ path string }

func (e *linkError) Error() string {
	return "queue directory " + e.path + " is a symlink; refusing to follow it"
}
func (e *linkError) Is(target error) bool { return target == ErrSymlink }

// Root is the queue directory opened as an os.Root, reopened after a reset (an open Root
// keeps referring to the directory it opened, also once that is removed and recreated).
type Root struct {
	dir string
	mu  sync.Mutex
	r   *os.Root
}

// NewRoot returns the Root of the queue directory dir; nothing is opened until Open.
func NewRoot(dir string) *Root { return &Root{dir: dir} }

// Open returns the root, creating the queue directory first. The queue directory itself must
// not be a link either: Paperclip keeps it under the runtime root, which the sandbox can write,
// so a recreated link there would be the sandbox's. Earlier path components are the operator's.
func (q *Root) Open() (*os.Root, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.r != nil {
		return q.r, nil
	}
	if err := os.MkdirAll(q.dir, 0o755); err != nil {
		return nil, fmt.Errorf("mkdir %s: %w", q.dir, err)
	}
	fi, err := os.Lstat(q.dir)
	if err != nil {
		return nil, err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return nil, &linkError{q.dir}
	}
	r, err := os.OpenRoot(q.dir)
	if err != nil {
		return nil, err
	}
	// OpenRoot follows a link swapped in after the Lstat; make sure we hold what we checked.
	if st, err := r.Stat("."); err != nil || !os.SameFile(fi, st) {
		_ = r.Close()
		return nil, fmt.Errorf("queue directory %s changed while being opened", q.dir)
	}
	q.r = r
	return r, nil
}

// Current is Open, after making sure the root is still the directory named dir: an open root
// follows its directory when it is moved away, while the other end of the queue goes by name
// and would meet a recreated directory there. So a moved, removed or replaced queue directory
// is reopened (or refused, when a link now stands in its place).
func (q *Root) Current() (*os.Root, error) {
	r, err := q.Open()
	if err != nil {
		return nil, err
	}
	fi, err := os.Lstat(q.dir)
	if err == nil {
		var st fs.FileInfo
		if st, err = r.Stat("."); err == nil && os.SameFile(fi, st) {
			return r, nil
		}
	}
	q.Reset()
	return q.Open()
}

// Reset makes the next open reopen the directory by name. The old root is not closed here:
// operations in flight on other goroutines (a response write between its lock and its unlock)
// finish on it, and the garbage collector closes it once they are done.
func (q *Root) Reset() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.r = nil
}

// Close releases the root for good.
func (q *Root) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.r != nil {
		_ = q.r.Close()
		q.r = nil
	}
}

// Path names an entry for messages.
func (q *Root) Path(name string) string { return filepath.Join(q.dir, name) }

// EnsureDirs creates the named subdirectories that are missing and then checks them all.
func (q *Root) EnsureDirs(r *os.Root, names ...string) error {
	for _, n := range names {
		// Mkdir never follows a link: an existing one fails with ErrExist and CheckDirs refuses it.
		if err := r.Mkdir(n, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("mkdir %s: %w", q.Path(n), err)
		}
	}
	return q.CheckDirs(r, names...)
}

// CheckDirs makes sure each named entry is a real directory, not a link. A missing one gives
// an error matching fs.ErrNotExist (the caller may recreate it).
func (q *Root) CheckDirs(r *os.Root, names ...string) error {
	for _, n := range names {
		fi, err := r.Lstat(n)
		switch {
		case err != nil:
			return fmt.Errorf("queue directory %s: %w", q.Path(n), err)
		case fi.Mode()&fs.ModeSymlink != 0:
			return &linkError{q.Path(n)}
		case !fi.IsDir():
			return fmt.Errorf("queue directory %s is not a directory", q.Path(n))
		}
	}
	return nil
}

// OpenRegular opens name for reading only if it is a regular file, and only if the open file
// is still that entry. Errors for a missing file match fs.ErrNotExist.
func (q *Root) OpenRegular(r *os.Root, name string) (*os.File, fs.FileInfo, error) {
	fi, err := r.Lstat(name)
	if err != nil {
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s %w", q.Path(name), errNotRegular)
	}
	// O_NOFOLLOW does not stop os.Root from following an in-root link (it resolves links
	// itself), hence the identity check below; O_NONBLOCK keeps a FIFO swapped in from
	// blocking the open.
	f, err := r.OpenFile(name, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() || !os.SameFile(fi, st) {
		_ = f.Close()
		return nil, nil, fmt.Errorf("%s %w (it changed while being opened)", q.Path(name), errNotRegular)
	}
	return f, st, nil
}

// writeExclusive creates name exclusively and writes data to it. An entry already there is
// removed once and the create retried: callers hold the response lock or use a fresh random
// name, so it is a dead writer's leftover or a plant, and removing a link never touches its
// target. On failure nothing of ours is left behind.
func writeExclusive(r *os.Root, name string, data []byte) error {
	const flags = os.O_WRONLY | os.O_CREATE | os.O_EXCL | syscall.O_NOFOLLOW
	f, err := r.OpenFile(name, flags, 0o644)
	if errors.Is(err, fs.ErrExist) {
		if rerr := r.Remove(name); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			return fmt.Errorf("remove leftover %s: %w", name, rerr)
		}
		f, err = r.OpenFile(name, flags, 0o644)
	}
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = r.Remove(name)
	}
	return err
}

// Publish writes name atomically through name.tmp and a rename, so readers (Paperclip's
// included: they read only `*.json`) never see a partial file. rename replaces whatever name
// is, a link included, without following it.
func Publish(r *os.Root, name string, data []byte) error {
	tmp := name + ".tmp"
	if err := writeExclusive(r, tmp, data); err != nil {
		return err
	}
	if err := r.Rename(tmp, name); err != nil {
		_ = r.Remove(tmp)
		return err
	}
	return nil
}
