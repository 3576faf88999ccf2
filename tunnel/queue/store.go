package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/clipbridge/clipbridge/proxy/budget"
)

// Store errors (the worker maps them to its answers).
var (
	// errNotExist: the request file is gone (the gateway removed it after its caller timed out).
	errNotExist = errors.New("request file does not exist")
	// errTooLarge: the request file is larger than the envelope limit.
	errTooLarge = errors.New("Bridge request envelope exceeded the configured size limit.")
)

// budgetError: holding the request file would overdraw the process-wide body budget. need is
// what the file alone costs; a file that could never fit is answered differently from one that
// must only wait its turn.
type budgetError struct{ need int64 }

func (e *budgetError) Error() string {
	return fmt.Sprintf("the body budget cannot hold a %d-byte request file now", e.need)
}

// writeResult says what a response write did.
type writeResult int

// Outcomes of store.Write.
const (
	// wrote: the response file is in place.
	wrote writeResult = iota
	// skippedGone: the guarded request file was gone, so nothing was written (no orphan).
	skippedGone
	// skippedExists: a response for this id was already there (another writer answered first).
	skippedExists
)

// store is the queue directory on the execution host, as the worker sees it. Implementations:
// localStore (this machine, fsnotify) and remoteStore (a co-process through a runner: the shell script or queue-agent).
// Names are request file names (`<id>.json`) that passed validName.
type store interface {
	// Prepare creates requests/, responses/ and logs/ and starts whatever the store needs.
	Prepare(ctx context.Context) error
	// Wait returns the sorted request names once one that is not in skip exists, after wait has
	// passed, or as soon as ctx is done (then with ctx's error). Wait(ctx, 0, nil) just lists.
	// It may return earlier with nothing new (a shell without `read -t` caps each wait), so
	// callers loop.
	Wait(ctx context.Context, wait time.Duration, skip map[string]bool) ([]string, error)
	// Read returns the content of requests/<name>: errNotExist if it is gone, errTooLarge if it
	// holds more than limit bytes, a *budgetError if hold cannot take its size. The bytes are
	// reserved on hold before they are allocated where the store can know the size first (the
	// local store), or right after (the remote store, whose co-process reads one file at a time,
	// so at most one read is ever unaccounted). A nil hold reserves nothing.
	Read(ctx context.Context, name string, limit int64, hold *budget.Hold) ([]byte, error)
	// Write publishes responses/<name> atomically (.tmp then rename) under Paperclip's
	// `<response>.paperclip-write.lock` mutex. With guard it writes only while requests/<name>
	// still exists, so a late answer never leaves an orphaned response. With remove it then
	// deletes requests/<name> (also when another writer had answered), still under the lock, so
	// the request goes only once its answer has landed; it saves the worker a round trip.
	Write(ctx context.Context, name string, data []byte, guard, remove bool) (writeResult, error)
	// Remove deletes requests/<name>; a missing file is fine.
	Remove(ctx context.Context, name string) error
	// Sweep removes leftovers of crashed writers: response temp files and locks whose pid is dead.
	Sweep(ctx context.Context) error
	// ClockOffset is how far the execution host's clock is ahead of ours (createdAt is written
	// with its clock).
	ClockOffset() time.Duration
	// Reset drops any broken connection state; the next call starts afresh.
	Reset()
	// Close releases everything.
	Close() error
}

// lockSuffix is Paperclip's response write mutex directory suffix.
const lockSuffix = ".paperclip-write.lock"

// Lock acquisition, as Paperclip's write script does it: retry every 50 ms, up to 600 times.
const (
	lockRetry    = 50 * time.Millisecond
	lockAttempts = 600
)

// errLockTimeout is Paperclip's message for a response lock that never frees.
var errLockTimeout = errors.New("Timed out acquiring sandbox callback bridge response lock.")
