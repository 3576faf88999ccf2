package queuedir

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// lockSuffix is Paperclip's response write mutex directory suffix.
const lockSuffix = ".paperclip-write.lock"

// Lock acquisition, as Paperclip's write script does it: retry every 50 ms, up to 600 times.
const (
	lockRetry    = 50 * time.Millisecond
	lockAttempts = 600
)

// acquireLock takes Paperclip's mkdir mutex: the directory holds a pid file, and a lock whose pid
// is dead is broken, so a crashed writer never wedges the id. Only a real directory is a lock:
// a link or file in its place was planted and is removed (the link, never its target).
func acquireLock(ctx context.Context, q *Root, r *os.Root, lock string) (func(), error) {
	for attempt := 0; ; attempt++ {
		err := r.Mkdir(lock, 0o755)
		if err == nil {
			// A write failure leaves an empty pid file; other writers then wait the lock out.
			_ = writeExclusive(r, lock+"/pid", []byte(strconv.Itoa(os.Getpid())+"\n"))
			return func() { _ = r.RemoveAll(lock) }, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("lock %s: %w", q.Path(lock), err)
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
			return nil, ErrLockTimeout
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
func lockHolderDead(q *Root, r *os.Root, lock string) bool {
	f, _, err := q.OpenRegular(r, lock+"/pid")
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
