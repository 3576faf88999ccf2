package worker

import (
	"context"
	"time"

	"github.com/clipbridge/clipbridge/proxy/budget"
	"github.com/clipbridge/clipbridge/tunnel/queue/queuedir"
)

// store is the queue directory on the execution host, as the worker sees it. Implementations:
// *queuedir.Store (this machine, fsnotify) and remoteStore (a co-process through a runner: the
// shell script or the queue-agent). Names are request file names (`<id>.json`) that passed
// queue.ValidName. Errors are queuedir's: the worker maps them to its answers.
type store interface {
	// Prepare creates requests/, responses/ and logs/ and starts whatever the store needs.
	Prepare(ctx context.Context) error
	// Wait returns the sorted request names once one that is not in skip exists, after wait has
	// passed, or as soon as ctx is done (then with ctx's error). Wait(ctx, 0, nil) just lists.
	// It may return earlier with nothing new (a shell without `read -t` caps each wait), so
	// callers loop.
	Wait(ctx context.Context, wait time.Duration, skip map[string]bool) ([]string, error)
	// Read returns the content of requests/<name>: queuedir.ErrNotExist if it is gone,
	// queuedir.ErrTooLarge if it holds more than limit bytes, a *queuedir.BudgetError if hold
	// cannot take its size. The bytes are reserved on hold before they are allocated where the
	// store can know the size first (the local store), or right after (the remote store, whose
	// co-process reads one file at a time, so at most one read is ever unaccounted). A nil hold
	// reserves nothing.
	Read(ctx context.Context, name string, limit int64, hold *budget.Hold) ([]byte, error)
	// Write publishes responses/<name> atomically (.tmp then rename) under Paperclip's
	// `<response>.paperclip-write.lock` mutex. With guard it writes only while requests/<name>
	// still exists, so a late answer never leaves an orphaned response. With remove it then
	// deletes requests/<name> (also when another writer had answered), still under the lock, so
	// the request goes only once its answer has landed; it saves the worker a round trip.
	Write(ctx context.Context, name string, data []byte, guard, remove bool) (queuedir.WriteResult, error)
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
