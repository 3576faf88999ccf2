package worker

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clipbridge/clipbridge/tunnel/queue/internal/queuetest"
)

// countingStore counts listings.
type countingStore struct {
	store
	waits atomic.Int32
}

func (s *countingStore) Wait(ctx context.Context, d time.Duration, skip map[string]bool) ([]string, error) {
	s.waits.Add(1)
	return s.store.Wait(ctx, d, skip)
}

// A worker whose requests/ the sandbox swapped for a link reports unhealthy and stays so
// (also across watchdog restarts) until the directory is fixed, retrying with backoff rather
// than in a busy loop, and touches nothing outside the queue.
func TestWorkerUnhealthyWhileQueueDirIsALink(t *testing.T) {
	for _, kind := range []string{"local", "coproc-bash"} {
		t.Run(kind, func(t *testing.T) {
			q, out := queuetest.Dir(t), t.TempDir()
			if err := os.Mkdir(filepath.Join(out, "requests"), 0o755); err != nil {
				t.Fatal(err)
			}
			writeEnvelope(t, out, paperclipRequest{ID: "outside", Method: "GET", Path: "/api/agents/me"})
			h := &queuetest.Recorder{}
			var cs *countingStore
			tw := startWorkerWrapped(t, kind, q, Options{Handler: h, ListWait: 50 * time.Millisecond,
				WatchdogTimeout: 300 * time.Millisecond}, func(s store) store { cs = &countingStore{store: s}; return cs })
			queuetest.Eventually(t, "a first listing", tw.Healthy)
			before := queuetest.Snapshot(t, out)
			queuetest.ReplaceWithLink(t, q, "requests", filepath.Join(out, "requests"))
			queuetest.Eventually(t, "unhealthy", func() bool { return !tw.Healthy() })
			start := cs.waits.Load()
			// Several watchdog periods: a restart must not make a broken queue look healthy.
			for deadline := time.Now().Add(1500 * time.Millisecond); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				if tw.Healthy() {
					t.Fatal("healthy again while requests/ is a link")
				}
			}
			if n := cs.waits.Load() - start; n > 40 {
				t.Errorf("%d listings in 1.5 s: a busy loop", n)
			}
			if len(h.Requests()) != 0 {
				t.Errorf("handler saw %d requests", len(h.Requests()))
			}
			queuetest.SameSnapshot(t, "outside directory", before, queuetest.Snapshot(t, out))
			// Once the link is gone the worker recreates requests/ and serves the queue again.
			if err := os.Remove(filepath.Join(q, "requests")); err != nil {
				t.Fatal(err)
			}
			queuetest.Eventually(t, "healthy after the fix", tw.Healthy)
		})
	}
}
