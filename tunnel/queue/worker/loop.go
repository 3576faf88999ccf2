package worker

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/clipbridge/clipbridge/tunnel/queue"
)

// loop lists and dispatches until ctx is cancelled and the drain is over.
func (w *Worker) loop(ctx, jobsCtx context.Context) {
	var (
		deadline  time.Time
		failures  int
		lastSweep = time.Now()
	)
	w.sweep(jobsCtx)
	for {
		if ctx.Err() != nil && deadline.IsZero() {
			deadline = time.Now().Add(w.o.DrainTimeout)
			w.log.Info("queue worker draining", "drain_timeout", w.o.DrainTimeout.String())
		}
		waitCtx, wait := ctx, w.o.ListWait
		cancelDeadline := context.CancelFunc(func() {})
		if !deadline.IsZero() {
			left := time.Until(deadline)
			if left <= 0 {
				return
			}
			waitCtx, cancelDeadline = context.WithDeadline(jobsCtx, deadline)
			wait = left
		}
		iterCtx, cancel := context.WithCancel(waitCtx)
		w.mu.Lock()
		w.wakeLoop = cancel
		full := len(w.jobs) >= w.o.MaxConcurrent
		if !deadline.IsZero() && len(w.jobs) == 0 {
			wait = 0 // draining with nothing in flight: one last look, no waiting
		}
		skip := w.skipSetLocked()
		w.mu.Unlock()

		var names []string
		var err error
		if full {
			<-iterCtx.Done() // a finishing job (or the stop) cancels it
		} else {
			names, err = w.st.Wait(iterCtx, wait, skip)
		}
		cancel()
		cancelDeadline()
		if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			if failures == 0 {
				w.log.Warn("queue poll failed; retrying", "error", err)
			}
			failures++
			pause, sleepIn := backoff(failures-1), ctx
			if !deadline.IsZero() {
				pause, sleepIn = min(pause, time.Until(deadline)), jobsCtx
			}
			sleepCtx(sleepIn, pause)
			continue
		}
		if full {
			continue
		}
		if failures > 0 {
			w.log.Info("queue poll recovered", "failures", failures)
			failures = 0
		}
		w.lastOK.Store(time.Now().UnixNano())
		w.m.depth.Set(float64(len(names)))
		w.dispatch(jobsCtx, names)
		if !deadline.IsZero() && len(names) == 0 && w.idle() {
			return
		}
		if time.Since(lastSweep) > sweepEvery {
			lastSweep = time.Now()
			w.sweep(jobsCtx)
		}
	}
}

func (w *Worker) skipSetLocked() map[string]bool {
	skip := make(map[string]bool, len(w.jobs)+len(w.answered))
	for n := range w.jobs {
		skip[n] = true
	}
	for n := range w.answered {
		skip[n] = true
	}
	return skip
}

func (w *Worker) idle() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.jobs) == 0
}

// dispatch claims listed files in order and starts a job for each, up to MaxConcurrent.
func (w *Worker) dispatch(ctx context.Context, names []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, n := range names {
		if _, ok := w.jobs[n]; ok {
			continue
		}
		if _, ok := w.answered[n]; ok {
			continue
		}
		if len(w.jobs) >= w.o.MaxConcurrent {
			return
		}
		j := &job{name: n}
		w.jobs[n] = j
		w.wg.Add(1)
		go w.process(ctx, j)
	}
}

// finish releases a job's claim and wakes the loop (a slot is free; a drain may be over).
func (w *Worker) finish(j *job) {
	w.mu.Lock()
	delete(w.jobs, j.name)
	j.mu.Lock()
	if j.answered && !j.gone {
		w.answered[j.name] = time.Now()
	}
	j.mu.Unlock()
	if w.wakeLoop != nil {
		w.wakeLoop()
	}
	w.mu.Unlock()
	w.wg.Done()
}

// sweep removes crashed writers' leftovers, retries removing answered requests, and forgets
// old replay-guard entries.
func (w *Worker) sweep(ctx context.Context) {
	if err := w.st.Sweep(ctx); err != nil {
		w.log.Debug("queue sweep failed", "error", err)
	}
	horizon := 2 * (w.o.ResponseTimeout + queue.StaleSlack)
	w.mu.Lock()
	var retry []string
	for n, at := range w.answered {
		if time.Since(at) > horizon {
			delete(w.answered, n)
		} else {
			retry = append(retry, n)
		}
	}
	for id, at := range w.seen {
		if time.Since(at) > horizon {
			delete(w.seen, id)
		}
	}
	w.mu.Unlock()
	for _, n := range retry {
		if w.st.Remove(ctx, n) == nil {
			w.mu.Lock()
			delete(w.answered, n)
			w.mu.Unlock()
		}
	}
}

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

// waitJobs waits for running jobs, at most d.
func (w *Worker) waitJobs(d time.Duration) bool {
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// backoff is the jittered exponential delay after attempt failures: 100 ms doubling up to 5 s.
func backoff(attempt int) time.Duration {
	d := 100 * time.Millisecond << min(attempt, 6)
	d = min(d, maxBackoff)
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}

// sleepCtx sleeps d unless ctx ends first; it reports whether the full sleep happened.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
