package worker

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/clipbridge/clipbridge/tunnel/queue/internal/queuetest"
)

// gatedStore holds the first listing until the test opens the gate, and says when it is held.
type gatedStore struct {
	store
	entered, gate chan struct{}
	once          sync.Once
}

func (s *gatedStore) Wait(ctx context.Context, d time.Duration, skip map[string]bool) ([]string, error) {
	s.once.Do(func() {
		close(s.entered)
		<-s.gate
	})
	return s.store.Wait(ctx, d, skip)
}

// Ready is closed by the first successful listing and not before: the queue is prepared (and
// Healthy) once Run has created its directories, but the wiring's ready line promises a queue
// the worker has listed. A listing that fails does not count either. And it comes at once, not
// after an idle wait for a first request (ListWait is a minute here).
func TestWorkerReady(t *testing.T) {
	for _, kind := range []string{"local", "exec"} {
		t.Run(kind, func(t *testing.T) {
			dir := queuetest.Dir(t)
			gs := &gatedStore{entered: make(chan struct{}), gate: make(chan struct{})}
			tw := startWorkerWrapped(t, kind, dir, Options{Handler: &queuetest.Recorder{}, ListWait: time.Minute}, func(s store) store {
				fs := &flakyStore{store: s}
				fs.waitFails.Store(2)
				gs.store = fs
				return gs
			})
			<-gs.entered
			select {
			case <-tw.Ready():
				t.Fatal("Ready before the first listing")
			default:
			}
			close(gs.gate)
			select {
			case <-tw.Ready():
			case <-time.After(10 * time.Second):
				t.Fatal("not Ready after the queue was listed")
			}
			if !tw.Healthy() {
				t.Error("Ready but not Healthy")
			}
		})
	}
}
