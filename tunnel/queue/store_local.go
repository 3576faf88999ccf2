package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/clipbridge/clipbridge/proxy/budget"
)

// localPollFallback is how often the local store re-lists even without a notification, for
// filesystems where inotify sees nothing (network and some container filesystems).
const localPollFallback = 500 * time.Millisecond

// localStore is a queue directory on this machine, watched with fsnotify. Every file operation
// goes through q, confined to the queue directory (root.go).
type localStore struct {
	dir     string
	log     *slog.Logger
	q       queueRoot
	refusal logRefusal

	mu      sync.Mutex
	watcher *fsnotify.Watcher
	notify  chan struct{} // a buffered tick per batch of events
}

func newLocalStore(dir string, log *slog.Logger) *localStore {
	return &localStore{dir: dir, log: log, q: queueRoot{dir: dir}, notify: make(chan struct{}, 1)}
}

func (s *localStore) requests() string { return filepath.Join(s.dir, "requests") }

// root returns the queue root with requests/ and responses/ checked: real directories, no links.
func (s *localStore) root() (*os.Root, error) {
	r, err := s.q.open()
	if err == nil {
		err = s.q.checkDirs(r, "requests", "responses")
	}
	s.refusal.note(s.log, err)
	return r, err
}

// Prepare implements store. It refuses a queue whose requests/, responses/ or logs/ is a link.
func (s *localStore) Prepare(ctx context.Context) error {
	r, err := s.q.open()
	if err == nil {
		err = s.q.ensureDirs(r, "requests", "responses", "logs")
	}
	if err != nil {
		s.refusal.note(s.log, err)
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.watcher != nil {
		return nil
	}
	w, err := fsnotify.NewWatcher()
	if err == nil {
		err = w.Add(s.requests())
		if err != nil {
			_ = w.Close()
		}
	}
	if err != nil {
		// Still correct, only slower: Wait falls back to polling.
		s.log.Warn("queue watch unavailable, polling", "error", err)
		return nil
	}
	s.watcher = w
	go s.forward(w)
	return nil
}

// forward turns watcher events into ticks on s.notify; it ends when the watcher is closed.
func (s *localStore) forward(w *fsnotify.Watcher) {
	for {
		select {
		case _, ok := <-w.Events:
			if !ok {
				return
			}
			select {
			case s.notify <- struct{}{}:
			default:
			}
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			s.log.Debug("queue watch error", "error", err)
		}
	}
}

// list names the regular `*.json` files in requests/ (links, FIFOs and directories are not
// requests). It fails while requests/ or responses/ is a link: nothing could be answered.
func (s *localStore) list() ([]string, error) {
	r, err := s.q.current()
	if err == nil {
		err = s.q.checkDirs(r, "requests", "responses")
	}
	if err != nil {
		s.refusal.note(s.log, err)
		return nil, fmt.Errorf("list: %w", err)
	}
	d, err := r.Open("requests")
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", s.requests(), err)
	}
	entries, err := d.ReadDir(-1)
	_ = d.Close()
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", s.requests(), err)
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() && validName(e.Name()) {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	s.refusal.clear()
	return names, nil
}

// listRecover lists; when someone has removed the queue directories it recreates them (and
// the watch and the root: the queue directory itself may be new) and lists again.
func (s *localStore) listRecover(ctx context.Context) ([]string, error) {
	names, err := s.list()
	if errors.Is(err, fs.ErrNotExist) {
		s.Reset()
		if perr := s.Prepare(ctx); perr == nil {
			names, err = s.list()
		}
	}
	return names, err
}

// Wait implements store.
func (s *localStore) Wait(ctx context.Context, wait time.Duration, skip map[string]bool) ([]string, error) {
	deadline := time.Now().Add(wait)
	for {
		// Drain a pending tick first: the listing below covers whatever caused it.
		select {
		case <-s.notify:
		default:
		}
		names, err := s.listRecover(ctx)
		if err != nil {
			return nil, err
		}
		if hasUnskipped(names, skip) || wait <= 0 {
			return names, nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return names, nil
		}
		t := time.NewTimer(min(left, localPollFallback))
		select {
		case <-ctx.Done():
			t.Stop()
			return names, ctx.Err()
		case <-s.notify:
		case <-t.C:
		}
		t.Stop()
	}
}

func hasUnskipped(names []string, skip map[string]bool) bool {
	for _, n := range names {
		if !skip[n] {
			return true
		}
	}
	return false
}

// Read implements store. Only a regular file inside the queue directory is read (see
// openRegular), and its size decides before a byte is read: too large, or too much for the body
// budget now.
func (s *localStore) Read(_ context.Context, name string, limit int64, hold *budget.Hold) ([]byte, error) {
	f, st, err := s.openRequest(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size := st.Size()
	if size > limit {
		return nil, errTooLarge
	}
	if !hold.Grow(size) {
		return nil, &budgetError{need: size}
	}
	// One byte more than the size tells a file still being written (by a writer that did not
	// rename it into place): that is a failed read, retried at the next listing.
	b := make([]byte, size+1)
	n, err := io.ReadFull(f, b)
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
	case err == nil:
		return nil, fmt.Errorf("read %s: the file grew while it was read", name)
	default:
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return b[:n], nil
}

// openRequest opens requests/<name> if it is a regular file: a link planted in requests/
// cannot make us read some other file, nor a FIFO block us.
func (s *localStore) openRequest(name string) (*os.File, fs.FileInfo, error) {
	r, err := s.root()
	var f *os.File
	var st fs.FileInfo
	if err == nil {
		f, st, err = s.q.openRegular(r, "requests/"+name)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, errNotExist
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", name, err)
	}
	return f, st, nil
}

// readUpTo returns at most n bytes of requests/<name> (the queue agent's R: the host judges
// the size).
func (s *localStore) readUpTo(name string, n int64) ([]byte, error) {
	f, _, err := s.openRequest(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, n))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return b, nil
}

// Write implements store.
//
// The temp file keeps Paperclip's name, `<id>.json.tmp`, so either side's sweep knows it. It
// is created O_EXCL under the response lock: no live writer can own an existing one, so that
// is a dead writer's leftover or a plant (perhaps a link to a file outside the queue), and it
// is removed, never written through.
func (s *localStore) Write(ctx context.Context, name string, data []byte, guard, remove bool) (writeResult, error) {
	resp := "responses/" + name
	r, err := s.q.open()
	if err == nil {
		err = s.q.ensureDirs(r, "requests", "responses")
	}
	if err != nil {
		s.refusal.note(s.log, err)
		return 0, fmt.Errorf("write bridge response %s: %w", name, err)
	}
	unlock, err := acquireLock(ctx, &s.q, r, resp+lockSuffix)
	if err != nil {
		return 0, err
	}
	defer unlock()
	if guard {
		if _, err := r.Lstat("requests/" + name); errors.Is(err, fs.ErrNotExist) {
			return skippedGone, nil
		}
	}
	if _, err := r.Lstat(resp); err == nil {
		if remove {
			return skippedExists, s.Remove(ctx, name)
		}
		return skippedExists, nil
	}
	if err := publish(r, resp, data); err != nil {
		return 0, fmt.Errorf("write bridge response %s: %w", s.q.path(resp), err)
	}
	if remove {
		return wrote, s.Remove(ctx, name)
	}
	return wrote, nil
}

// acquireLock takes Paperclip's mkdir mutex: the directory holds a pid file, and a lock whose pid
// is dead is broken, so a crashed writer never wedges the id. Only a real directory is a lock:
// a link or file in its place was planted and is removed (the link, never its target).
func acquireLock(ctx context.Context, q *queueRoot, r *os.Root, lock string) (func(), error) {
	for attempt := 0; ; attempt++ {
		err := r.Mkdir(lock, 0o755)
		if err == nil {
			// A write failure leaves an empty pid file; other writers then wait the lock out.
			_ = writeExclusive(r, lock+"/pid", []byte(strconv.Itoa(os.Getpid())+"\n"))
			return func() { _ = r.RemoveAll(lock) }, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("lock %s: %w", q.path(lock), err)
		}
		if fi, err := r.Lstat(lock); err == nil && !fi.IsDir() {
			_ = r.Remove(lock)
			continue
		}
		if lockHolderDead(q, r, lock) {
			_ = r.RemoveAll(lock)
			continue
		}
		if attempt >= lockAttempts {
			return nil, errLockTimeout
		}
		t := time.NewTimer(lockRetry)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// lockHolderDead reports a lock whose pid file names a process that no longer exists. A pid
// file that is not a plain small file says nothing.
func lockHolderDead(q *queueRoot, r *os.Root, lock string) bool {
	f, _, err := q.openRegular(r, lock+"/pid")
	if err != nil {
		return false
	}
	b, err := io.ReadAll(io.LimitReader(f, 32))
	_ = f.Close()
	if err != nil {
		return false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return false
	}
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// Remove implements store.
func (s *localStore) Remove(_ context.Context, name string) error {
	r, err := s.q.open()
	if err == nil {
		err = s.q.checkDirs(r, "requests")
	}
	if err == nil {
		err = r.Remove("requests/" + name)
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	return nil
}

// Sweep implements store.
func (s *localStore) Sweep(_ context.Context) error {
	r, err := s.q.open()
	if err == nil {
		err = s.q.checkDirs(r, "responses")
	}
	if err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	d, err := r.Open("responses")
	if err != nil {
		return err
	}
	entries, err := d.ReadDir(-1)
	_ = d.Close()
	if err != nil {
		return err
	}
	for _, e := range entries {
		n := e.Name()
		p := "responses/" + n
		switch {
		case strings.HasSuffix(n, lockSuffix) && !e.IsDir():
			_ = r.Remove(p) // a planted link or file is never a writer's lock
		case strings.HasSuffix(n, lockSuffix) && lockHolderDead(&s.q, r, p):
			_ = r.RemoveAll(p)
		case strings.HasSuffix(n, ".json.tmp"):
			lock := strings.TrimSuffix(p, ".tmp") + lockSuffix
			if fi, err := r.Lstat(lock); err != nil || !fi.IsDir() || lockHolderDead(&s.q, r, lock) {
				_ = r.Remove(p)
			}
		}
	}
	return nil
}

// ClockOffset implements store: one machine, one clock.
func (s *localStore) ClockOffset() time.Duration { return 0 }

// Reset implements store: it drops the watch and the root, so the next Prepare sets up fresh
// ones.
func (s *localStore) Reset() {
	s.q.reset()
	_ = s.closeWatch()
}

// Close implements store.
func (s *localStore) Close() error {
	s.q.close()
	return s.closeWatch()
}

func (s *localStore) closeWatch() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.watcher != nil {
		err := s.watcher.Close()
		s.watcher = nil
		return err
	}
	return nil
}
