package queuedir

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
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/clipbridge/clipbridge/proxy/budget"
	"github.com/clipbridge/clipbridge/tunnel/queue"
)

// localPollFallback is how often the local store re-lists even without a notification, for
// filesystems where inotify sees nothing (network and some container filesystems).
const localPollFallback = 500 * time.Millisecond

// Store is a queue directory on this machine, watched with fsnotify: the worker's store when it
// runs beside the sandbox (the local runner), and what the queue-agent serves on the execution
// host. Every file operation goes through q, confined to the queue directory (root.go).
type Store struct {
	dir     string
	log     *slog.Logger
	q       *Root
	refusal logRefusal

	mu      sync.Mutex
	watcher *fsnotify.Watcher
	notify  chan struct{} // a buffered tick per batch of events
}

// New returns the store of the queue directory dir; Prepare creates it.
func New(dir string, log *slog.Logger) *Store {
	return &Store{dir: dir, log: log, q: NewRoot(dir), notify: make(chan struct{}, 1)}
}

func (s *Store) requests() string { return filepath.Join(s.dir, "requests") }

// root returns the queue root with requests/ and responses/ checked: real directories, no links.
func (s *Store) root() (*os.Root, error) {
	r, err := s.q.Open()
	if err == nil {
		err = s.q.CheckDirs(r, "requests", "responses")
	}
	s.refusal.note(s.log, err)
	return r, err
}

// Prepare creates requests/, responses/ and logs/ and starts the watch. It refuses a queue
// whose requests/, responses/ or logs/ is a link.
func (s *Store) Prepare(ctx context.Context) error {
	r, err := s.q.Open()
	if err == nil {
		err = s.q.EnsureDirs(r, "requests", "responses", "logs")
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
func (s *Store) forward(w *fsnotify.Watcher) {
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
func (s *Store) list() ([]string, error) {
	r, err := s.q.Current()
	if err == nil {
		err = s.q.CheckDirs(r, "requests", "responses")
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
		if e.Type().IsRegular() && queue.ValidName(e.Name()) {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	s.refusal.clear()
	return names, nil
}

// listRecover lists; when someone has removed the queue directories it recreates them (and
// the watch and the root: the queue directory itself may be new) and lists again.
func (s *Store) listRecover(ctx context.Context) ([]string, error) {
	names, err := s.list()
	if errors.Is(err, fs.ErrNotExist) {
		s.Reset()
		if perr := s.Prepare(ctx); perr == nil {
			names, err = s.list()
		}
	}
	return names, err
}

// Wait returns the sorted request names once one that is not in skip exists, after wait has
// passed, or as soon as ctx is done (then with ctx's error). Wait(ctx, 0, nil) just lists.
func (s *Store) Wait(ctx context.Context, wait time.Duration, skip map[string]bool) ([]string, error) {
	names, _, _, err := WaitOr[struct{}](ctx, s, wait, skip, nil)
	return names, err
}

// WaitOr is s.Wait that also ends as soon as a value arrives on interrupt: it then lists once
// more and returns that listing with the value (got is true). The queue-agent waits this way, so
// that any line from the host, a wake or its next command, ends a wait at once. A function, not
// a method, because methods cannot have type parameters.
func WaitOr[T any](ctx context.Context, s *Store, wait time.Duration, skip map[string]bool, interrupt <-chan T) (names []string, v T, got bool, err error) {
	deadline := time.Now().Add(wait)
	for {
		// Drain a pending tick first: the listing below covers whatever caused it.
		select {
		case <-s.notify:
		default:
		}
		names, err = s.listRecover(ctx)
		if err != nil {
			return nil, v, false, err
		}
		left := time.Until(deadline)
		if hasUnskipped(names, skip) || left <= 0 {
			return names, v, false, nil
		}
		t := time.NewTimer(min(left, localPollFallback))
		select {
		case <-ctx.Done():
			t.Stop()
			return names, v, false, ctx.Err()
		case v = <-interrupt:
			t.Stop()
			names, err = s.list()
			return names, v, true, err
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

// Mark renews the file name in the queue directory (its content empty, its mtime now), by
// publishing it afresh, so a planted link or FIFO of that name is replaced, never followed.
func (s *Store) Mark(name string) error {
	r, err := s.q.Open()
	if err != nil {
		return err
	}
	return Publish(r, name, nil)
}

// Read returns the content of requests/<name>: ErrNotExist if it is gone, ErrTooLarge if it
// holds more than limit bytes, a *BudgetError if hold cannot take its size (a nil hold reserves
// nothing). Only a regular file inside the queue directory is read (see OpenRegular), and its
// size decides before a byte is read or allocated.
func (s *Store) Read(_ context.Context, name string, limit int64, hold *budget.Hold) ([]byte, error) {
	f, st, err := s.openRequest(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size := st.Size()
	if size > limit {
		return nil, ErrTooLarge
	}
	if !hold.Grow(size) {
		return nil, &BudgetError{Need: size}
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
func (s *Store) openRequest(name string) (*os.File, fs.FileInfo, error) {
	r, err := s.root()
	var f *os.File
	var st fs.FileInfo
	if err == nil {
		f, st, err = s.q.OpenRegular(r, "requests/"+name)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, ErrNotExist
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", name, err)
	}
	return f, st, nil
}

// ReadUpTo returns at most n bytes of requests/<name> (the queue agent's R: the host judges
// the size).
func (s *Store) ReadUpTo(name string, n int64) ([]byte, error) {
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

// Write publishes responses/<name> atomically under Paperclip's `<response>.paperclip-write.lock`
// mutex. With guard it writes only while requests/<name> still exists (a late answer leaves no
// orphan); with remove it then deletes requests/<name>, still under the lock.
//
// The temp file keeps Paperclip's name, `<id>.json.tmp`, so either side's sweep knows it. It
// is created O_EXCL under the response lock: no live writer can own an existing one, so that
// is a dead writer's leftover or a plant (perhaps a link to a file outside the queue), and it
// is removed, never written through.
func (s *Store) Write(ctx context.Context, name string, data []byte, guard, remove bool) (WriteResult, error) {
	resp := "responses/" + name
	r, err := s.q.Open()
	if err == nil {
		err = s.q.EnsureDirs(r, "requests", "responses")
	}
	if err != nil {
		s.refusal.note(s.log, err)
		return 0, fmt.Errorf("write bridge response %s: %w", name, err)
	}
	unlock, err := acquireLock(ctx, s.q, r, resp+lockSuffix)
	if err != nil {
		return 0, err
	}
	defer unlock()
	if guard {
		if _, err := r.Lstat("requests/" + name); errors.Is(err, fs.ErrNotExist) {
			return SkippedGone, nil
		}
	}
	if _, err := r.Lstat(resp); err == nil {
		if remove {
			return SkippedExists, s.Remove(ctx, name)
		}
		return SkippedExists, nil
	}
	if err := Publish(r, resp, data); err != nil {
		return 0, fmt.Errorf("write bridge response %s: %w", s.q.Path(resp), err)
	}
	if remove {
		return Wrote, s.Remove(ctx, name)
	}
	return Wrote, nil
}

// Remove deletes requests/<name>; a missing file is fine.
func (s *Store) Remove(_ context.Context, name string) error {
	r, err := s.q.Open()
	if err == nil {
		err = s.q.CheckDirs(r, "requests")
	}
	if err == nil {
		err = r.Remove("requests/" + name)
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	return nil
}

// Sweep removes leftovers of crashed writers: response temp files and locks whose pid is dead.
func (s *Store) Sweep(_ context.Context) error {
	r, err := s.q.Open()
	if err == nil {
		err = s.q.CheckDirs(r, "responses")
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
		case strings.HasSuffix(n, lockSuffix) && lockHolderDead(s.q, r, p):
			_ = r.RemoveAll(p)
		case strings.HasSuffix(n, ".json.tmp"):
			lock := strings.TrimSuffix(p, ".tmp") + lockSuffix
			if fi, err := r.Lstat(lock); err != nil || !fi.IsDir() || lockHolderDead(s.q, r, lock) {
				_ = r.Remove(p)
			}
		}
	}
	return nil
}

// ClockOffset is how far the queue's clock is ahead of ours: zero, one machine has one clock.
func (s *Store) ClockOffset() time.Duration { return 0 }

// Reset drops the watch and the root, so the next Prepare sets up fresh ones.
func (s *Store) Reset() {
	s.q.Reset()
	_ = s.closeWatch()
}

// Close releases the watch and the root.
func (s *Store) Close() error {
	s.q.Close()
	return s.closeWatch()
}

func (s *Store) closeWatch() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.watcher != nil {
		err := s.watcher.Close()
		s.watcher = nil
		return err
	}
	return nil
}
