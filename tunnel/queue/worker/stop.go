package worker

import (
	"context"
	"net/http"
	"time"

	"github.com/clipbridge/clipbridge/tunnel/queue"
)

// finalize runs at the drain deadline. Unstarted requests get the retryable 503 at once.
// Started ones get AbortGrace to finish with their real answer; then they are cancelled, and
// whatever has still not answered shortly after gets the backstop: the retryable 503 for a safe
// method, the non-retryable 409 for a mutation (it may have been applied upstream).
func (w *Worker) finalize(ctx context.Context) {
	w.mu.Lock()
	w.final = true
	skip := w.skipSetLocked()
	w.mu.Unlock()

	names, err := w.st.Wait(ctx, 0, nil)
	if err != nil {
		w.log.Warn("queue final listing failed", "error", err)
	}
	stopped := 0
	for _, n := range names {
		if skip[n] {
			continue
		}
		j := &job{name: n, answered: true}
		w.deliver(ctx, j, errorResponse(queue.IDFromName(n), http.StatusServiceUnavailable, msgWorkerStopped), outcomeStopped)
		stopped++
	}
	if stopped > 0 {
		w.log.Info("queue worker stopped queued requests", "count", stopped)
	}
	if w.waitJobs(w.o.AbortGrace) {
		return
	}
	w.mu.Lock()
	var running []*job
	for _, j := range w.jobs {
		running = append(running, j)
	}
	w.mu.Unlock()
	for _, j := range running {
		j.mu.Lock()
		if j.started && j.cancel != nil {
			j.cancel()
		}
		j.mu.Unlock()
	}
	// A cooperating handler answers promptly once cancelled; give it that chance.
	if w.waitJobs(min(w.o.AbortGrace/5, 500*time.Millisecond)) {
		return
	}
	for _, j := range running {
		j.mu.Lock()
		started, method := j.started, j.method
		j.mu.Unlock()
		switch {
		case !started:
			// Still reading its file; it sees w.final and answers 503 itself.
		case queue.SafeMethod(method):
			w.reply(ctx, j, errorResponse(queue.IDFromName(j.name), http.StatusServiceUnavailable, msgWorkerStopped), outcomeStopped)
		default:
			w.log.Warn("queue mutation cut short at stop", "request", j.name)
			w.reply(ctx, j, indeterminateResponse(queue.IDFromName(j.name), msgHandlerAborted), outcomeIndeterminate)
		}
	}
}
