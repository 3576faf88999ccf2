package worker

import (
	"context"
	"errors"
	"time"

	"github.com/clipbridge/clipbridge/internal/retry"
	"github.com/clipbridge/clipbridge/runner"
)

// loop is Run's listing loop, in two phases. Serving: until ctx ends, each turn waits for
// something to do and dispatches it. Draining: from then on, for at most DrainTimeout, turns go
// on dispatching what is queued, and the loop ends as soon as the queue lists empty with no job
// running. finalize then answers whatever is left.
//
// A turn (poller.turn) ends its wait at the first of: a request file that is not yet claimed or
// answered, a job finishing (a slot is free; a drain may be over), the end of its phase.
func (w *Worker) loop(ctx, jobsCtx context.Context) {
	p := &poller{w: w, jobsCtx: jobsCtx, swept: time.Now(), backoff: failureBackoff()}
	w.sweep(jobsCtx)
	for ctx.Err() == nil {
		wait := w.o.ListWait
		if !p.everListed {
			wait = 0 // Ready waits for this listing: it must not wait out an idle queue first
		}
		p.turn(ctx, wait, false)
	}

	// The one place the drain starts. Its context ends at the deadline, which bounds every
	// wait and backoff below; jobsCtx, not ctx, so that the stop itself does not end it.
	w.log.Info("queue worker draining", "drain_timeout", w.o.DrainTimeout.String())
	if d, ok := w.st.(interface{ Drain() }); ok {
		d.Drain() // the one-shot store: no more writes that wait out a poll
	}
	deadline := time.Now().Add(w.o.DrainTimeout)
	drainCtx, stop := context.WithDeadline(jobsCtx, deadline)
	defer stop()
	for left := time.Until(deadline); left > 0; left = time.Until(deadline) {
		if p.turn(drainCtx, left, true) {
			return
		}
	}
}

// poller is what the loop keeps from one turn to the next.
type poller struct {
	w          *Worker
	jobsCtx    context.Context // jobs run in it, past the end of the loop's phases
	failures   int             // listings failed in a row
	backoff    retry.Backoff   // paces the listings after a failure
	everListed bool            // a listing has succeeded (Ready is closed)
	swept      time.Time       // the last sweep
}

// turn waits for something to do, at most wait, within phase, and dispatches what it listed.
// Draining, it reports whether the drain is done: the queue listed empty and no job runs.
func (p *poller) turn(phase context.Context, wait time.Duration, draining bool) (drained bool) {
	w := p.w
	t := w.beginTurn(phase)
	if t.full {
		<-t.woken.Done() // a finishing job frees a slot, or the phase ends
		t.end()
		return false
	}
	if draining && t.idle {
		wait = 0 // nothing in flight: one last look, no waiting
	}
	names, err := w.st.Wait(t.woken, wait, t.skip)
	t.end()
	// A wait cut short by a wake or the end of the phase still returns a listing.
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		if draining && errors.Is(err, runner.ErrRelayClosed) {
			return true // the relay's parent is gone: nothing queued can be answered any more
		}
		p.listFailed(phase, err)
		return false
	}
	p.listed(names)
	w.dispatch(p.jobsCtx, names)
	if draining && len(names) == 0 && w.idle() {
		return true
	}
	if time.Since(p.swept) > sweepEvery {
		p.swept = time.Now()
		w.sweep(p.jobsCtx)
	}
	return false
}

// turnStart is what a turn starts from.
type turnStart struct {
	woken context.Context    // ends when a job finishes, or with the phase
	end   context.CancelFunc // releases woken
	full  bool               // every slot is taken: nothing to list for
	idle  bool               // no job runs
	skip  map[string]bool    // claimed or answered: the wait is not for these
}

// beginTurn arms the loop's wake and reads the job table under one lock, so a job that finishes
// after this snapshot always ends the wait the snapshot decided on.
func (w *Worker) beginTurn(phase context.Context) turnStart {
	woken, end := context.WithCancel(phase)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.wakeLoop = end
	return turnStart{woken: woken, end: end, full: len(w.jobs) >= w.o.MaxConcurrent, idle: len(w.jobs) == 0,
		skip: w.skipSetLocked()}
}

// listFailed logs the first of a run of failed listings and backs off before the next, within
// phase: a stop ends a backoff, and a drain's deadline bounds it.
func (p *poller) listFailed(phase context.Context, err error) {
	if p.failures == 0 {
		p.w.log.Warn("queue poll failed; retrying", "error", err)
	}
	p.failures++
	retry.Sleep(phase, p.backoff.Next())
}

// listed records a successful listing: health, readiness, queue depth, and the end of a run of
// failures.
func (p *poller) listed(names []string) {
	if p.failures > 0 {
		p.w.log.Info("queue poll recovered", "failures", p.failures)
		p.failures = 0
		p.backoff.Reset()
	}
	p.w.lastOK.Store(time.Now().UnixNano())
	if !p.everListed {
		p.everListed = true
		close(p.w.ready)
	}
	p.w.m.depth.Set(float64(len(names)))
}
