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

// localStore is a queue directory on this machine, watched with fsnotify.
type localStore struct {
	dir string
	log *slog.Logger

	mu      sync.Mutex
	watcher *fsnotify.Watcher
	notify  chan struct{} // a buffered tick per batch of events
}

func newLocalStore(dir string, log *slog.Logger) *localStore {
	return &localStore{dir: dir, log: log, notify: make(chan struct{}, 1)}
}

func (s *localStore) requests() string  { return filepath.Join(s.dir, "requests") }
func (s *localStore) responses() string { return filepath.Join(s.dir, "responses") }

// Prepare implements store.
func (s *localStore) Prepare(ctx context.Context) error {
	for _, d := range []string{s.requests(), s.responses(), filepath.Join(s.dir, "logs")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("mkdir %s: %w", d, err)
		}
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

func (s *localStore) list() ([]string, error) {
	entries, err := os.ReadDir(s.requests())
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
	return names, nil
}

// listRecover lists; when someone has removed the queue directories it recreates them (and
// the watch) and lists again.
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

// Read implements store. The file is opened without following symlinks, so a link planted in
// requests/ cannot make the worker read some other file of the host.
func (s *localStore) Read(_ context.Context, name string, limit int64, hold *budget.Hold) ([]byte, error) {
	f, err := os.OpenFile(filepath.Join(s.requests(), name), os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errNotExist
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("read %s: not a regular file", name)
	}
	// The size decides before a byte is read: too large, or too much for the budget now.
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

// Write implements store.
func (s *localStore) Write(ctx context.Context, name string, data []byte, guard, remove bool) (writeResult, error) {
	resp := filepath.Join(s.responses(), name)
	if err := os.MkdirAll(s.responses(), 0o755); err != nil {
		return 0, err
	}
	unlock, err := acquireLock(ctx, resp+lockSuffix)
	if err != nil {
		return 0, err
	}
	defer unlock()
	if guard {
		if _, err := os.Lstat(filepath.Join(s.requests(), name)); errors.Is(err, fs.ErrNotExist) {
			return skippedGone, nil
		}
	}
	if _, err := os.Lstat(resp); err == nil {
		if remove {
			return skippedExists, s.Remove(ctx, name)
		}
		return skippedExists, nil
	}
	tmp := resp + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		_ = os.Remove(tmp)
		return 0, fmt.Errorf("write bridge response %s: %w", resp, err)
	}
	if err := os.Rename(tmp, resp); err != nil {
		_ = os.Remove(tmp)
		return 0, fmt.Errorf("write bridge response %s: %w", resp, err)
	}
	if remove {
		return wrote, s.Remove(ctx, name)
	}
	return wrote, nil
}

// acquireLock takes Paperclip's mkdir mutex: the directory holds a pid file, and a lock whose pid
// is dead is broken, so a crashed writer never wedges the id.
func acquireLock(ctx context.Context, lock string) (func(), error) {
	for attempt := 0; ; attempt++ {
		err := os.Mkdir(lock, 0o755)
		if err == nil {
			// A write failure leaves an empty pid file; other writers then wait the lock out.
			_ = os.WriteFile(filepath.Join(lock, "pid"), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)
			return func() { _ = os.RemoveAll(lock) }, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("lock %s: %w", lock, err)
		}
		if lockHolderDead(lock) {
			_ = os.RemoveAll(lock)
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

// lockHolderDead reports a lock whose pid file names a process that no longer exists.
func lockHolderDead(lock string) bool {
	b, err := os.ReadFile(filepath.Join(lock, "pid"))
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
	err := os.Remove(filepath.Join(s.requests(), name))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	return nil
}

// Sweep implements store.
func (s *localStore) Sweep(_ context.Context) error {
	entries, err := os.ReadDir(s.responses())
	if err != nil {
		return err
	}
	for _, e := range entries {
		n := e.Name()
		p := filepath.Join(s.responses(), n)
		switch {
		case strings.HasSuffix(n, lockSuffix) && lockHolderDead(p):
			_ = os.RemoveAll(p)
		case strings.HasSuffix(n, ".json.tmp"):
			lock := strings.TrimSuffix(p, ".tmp") + lockSuffix
			if _, err := os.Stat(lock); errors.Is(err, fs.ErrNotExist) || lockHolderDead(lock) {
				_ = os.Remove(p)
			}
		}
	}
	return nil
}

// ClockOffset implements store: one machine, one clock.
func (s *localStore) ClockOffset() time.Duration { return 0 }

// Reset implements store: it drops the watch, so the next Prepare sets up a fresh one.
func (s *localStore) Reset() { _ = s.Close() }

// Close implements store.
func (s *localStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.watcher != nil {
		err := s.watcher.Close()
		s.watcher = nil
		return err
	}
	return nil
}
