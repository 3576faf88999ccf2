package worker

import (
	"context"
	"time"
)

// watchdog restarts the store when no listing has succeeded for WatchdogTimeout: a wedged
// remote shell or connection must not stall the queue for good.
func (w *Worker) watchdog(ctx context.Context) {
	t := time.NewTicker(w.o.WatchdogTimeout / 4)
	defer t.Stop()
	// The restart time is kept apart from lastOK: a restart is no successful listing, and
	// Healthy must stay false while the queue cannot be listed (a symlinked requests/ does
	// not go away by restarting).
	var restarted time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		since := time.Since(time.Unix(0, w.lastOK.Load()))
		if since > w.o.WatchdogTimeout && time.Since(restarted) > w.o.WatchdogTimeout {
			w.log.Error("queue watchdog: no successful poll; restarting", "since", since.Round(time.Millisecond).String())
			restarted = time.Now()
			w.st.Reset()
		}
	}
}

// Healthy reports whether a listing of the queue has succeeded within WatchdogTimeout (for
// /readyz). It is false before Run has prepared the queue.
func (w *Worker) Healthy() bool {
	last := w.lastOK.Load()
	return last != 0 && time.Since(time.Unix(0, last)) < w.o.WatchdogTimeout
}

// Ready is closed once Run has listed the queue for the first time, so the wiring can wait for
// a worker that serves instead of polling Healthy. It stays closed; it is never closed if Run
// cannot list the queue before it returns.
func (w *Worker) Ready() <-chan struct{} { return w.ready }
