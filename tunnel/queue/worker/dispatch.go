package worker

import (
	"context"
	"time"

	"github.com/clipbridge/clipbridge/tunnel/queue"
)

// skipSetLocked names the request files a wait is not for: claimed by a job, or answered (their
// file may linger until the sweep removes it). The caller holds w.mu.
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

// idle reports that no job runs.
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
