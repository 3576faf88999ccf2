package worker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/clipbridge/clipbridge/internal/retry"
	"github.com/clipbridge/clipbridge/runner"

	"github.com/clipbridge/clipbridge/proxy/budget"
	"github.com/clipbridge/clipbridge/tunnel/queue"
	"github.com/clipbridge/clipbridge/tunnel/queue/queuedir"
)

// process handles one claimed request file from read to removal.
//
// Memory: everything it holds of the envelope (the file, its decoded strings, a base64 body
// decoded, the captured answer and its encoding) is reserved on the process-wide body budget
// as it is allocated, and released when the job ends. A file the budget cannot hold now gets
// the retryable 503 the local listener gives; one it could never hold gets 413.
func (w *Worker) process(ctx context.Context, j *job) {
	defer w.finish(j)
	hold := w.o.Budget.NewHold()
	defer hold.Release()
	stem := queue.IDFromName(j.name)
	data, err := w.st.Read(ctx, j.name, queue.EnvelopeLimit(w.o.MaxBodyBytes), hold)
	var short *queuedir.BudgetError
	switch {
	case errors.Is(err, queuedir.ErrNotExist):
		// The gateway removed it after its caller timed out: nobody waits for an answer.
		w.m.requests.WithLabelValues(outcomeVanished).Inc()
		j.mu.Lock()
		j.gone = true
		j.mu.Unlock()
		return
	case errors.Is(err, queuedir.ErrTooLarge):
		w.reply(ctx, j, errorResponse(stem, http.StatusRequestEntityTooLarge, msgEnvelopeTooLarge), outcomeTooLarge)
		return
	case errors.As(err, &short):
		w.overBudget(ctx, j, stem, short.Need)
		return
	case err != nil:
		w.readFailed(ctx, j, err)
		return
	}
	// Decoding allocates at most the file's size again (its strings); the file itself is
	// dropped right after, before the MAC is checked.
	if !hold.Grow(int64(len(data))) {
		w.overBudget(ctx, j, stem, int64(len(data)))
		return
	}
	req, err := queue.DecodeRequest(data)
	hold.Shrink(int64(len(data))) // the file's bytes are garbage from here on
	if err != nil {
		w.log.Warn("queue request invalid", "request", j.name, "error", err)
		w.reply(ctx, j, errorResponse(stem, http.StatusBadRequest, msgInvalidPayload), outcomeInvalid)
		return
	}
	if len(w.o.BridgeToken) > 0 && (req.ID != stem || !req.VerifyMAC(w.o.BridgeToken) || w.replayed(req.ID)) {
		w.log.Warn("queue request unauthenticated", "request", j.name)
		w.reply(ctx, j, errorResponse(stem, http.StatusUnauthorized, msgInvalidToken), outcomeUnauthenticated)
		return
	}
	body, size, err := openBody(req, w.o.MaxBodyBytes, hold)
	if errors.As(err, &short) {
		w.overBudget(ctx, j, stem, short.Need)
		return
	} else if errors.Is(err, queue.ErrBodyTooLarge) {
		w.reply(ctx, j, errorResponse(stem, http.StatusRequestEntityTooLarge, msgBodyTooLarge), outcomeTooLarge)
		return
	} else if err != nil {
		w.log.Warn("queue request invalid", "request", j.name, "error", err)
		w.reply(ctx, j, errorResponse(stem, http.StatusBadRequest, msgInvalidPayload), outcomeInvalid)
		return
	}
	// Answers carry the envelope's id (Paperclip's), or the file's when it has none; errors
	// before this point always use the file's.
	id := req.ID
	if id == "" {
		id = stem
	}
	hreq, err := envelopeRequest(ctx, req, body, size)
	if err != nil {
		w.log.Warn("queue request refused", "request", j.name, "error", err)
		msg := msgInvalidPayload
		if errors.Is(err, errEnvelopeTarget) {
			msg = msgInvalidPath
		}
		w.reply(ctx, j, errorResponse(id, http.StatusBadRequest, msg), outcomeInvalid)
		return
	}
	if created, err := time.Parse(time.RFC3339Nano, req.CreatedAt); err == nil {
		age := time.Now().Add(w.st.ClockOffset()).Sub(created)
		if age > w.o.ResponseTimeout+queue.StaleSlack {
			w.log.Warn("queue request expired; removing unanswered", "request", j.name, "age", age.Round(time.Millisecond).String())
			w.m.requests.WithLabelValues(outcomeExpired).Inc()
			removed := w.st.Remove(ctx, j.name) == nil
			j.mu.Lock()
			j.gone, j.answered = removed, true
			j.mu.Unlock()
			return
		}
		w.m.pickup.Observe(max(age, 0).Seconds())
	}

	j.mu.Lock()
	if w.isFinal() {
		j.answered = true
		j.mu.Unlock()
		w.deliver(ctx, j, errorResponse(id, http.StatusServiceUnavailable, msgWorkerStopped), outcomeStopped)
		return
	}
	hctx, cancel := context.WithTimeout(ctx, w.o.ResponseTimeout)
	defer cancel()
	j.started, j.method, j.cancel = true, req.Method, cancel
	j.mu.Unlock()

	resp, outcome := w.serve(hreq.WithContext(hctx), id, hold)
	w.reply(ctx, j, resp, outcome)
}

// replayed records a signed id and reports whether it had been handled before.
func (w *Worker) replayed(id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.seen[id]; ok {
		return true
	}
	w.seen[id] = time.Now()
	return false
}

func (w *Worker) isFinal() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.final
}

// readFailed answers a file that repeatedly cannot be read with Paperclip's worker-failed 503
// (safe: nothing was forwarded); until then the next listing retries it.
func (w *Worker) readFailed(ctx context.Context, j *job, err error) {
	w.mu.Lock()
	w.readFails[j.name]++
	n := w.readFails[j.name]
	if n >= readAttempts {
		delete(w.readFails, j.name)
	}
	w.mu.Unlock()
	w.log.Warn("queue request read failed", "request", j.name, "attempt", n, "error", err)
	if n >= readAttempts {
		w.reply(ctx, j, errorResponse(queue.IDFromName(j.name), http.StatusServiceUnavailable, msgWorkerFailedPrefix+err.Error()), outcomeFailed)
	}
}

// reply delivers r unless someone (the stop backstop) has already answered j.
func (w *Worker) reply(ctx context.Context, j *job, r queue.Response, outcome string) {
	j.mu.Lock()
	if j.answered {
		j.mu.Unlock()
		return
	}
	j.answered = true
	j.mu.Unlock()
	w.deliver(ctx, j, r, outcome)
}

// deliver writes the response envelope, guarded on the request file, and then removes the
// request. A failed write is retried until it lands or ctx ends: a started request keeps its
// real answer, never a retryable substitute.
func (w *Worker) deliver(ctx context.Context, j *job, r queue.Response, outcome string) {
	data, err := queue.MarshalLine(r)
	if err != nil {
		w.log.Error("queue response encode failed", "request", j.name, "error", err)
		return
	}
	delay := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		res, err := w.st.Write(ctx, j.name, data, true, true)
		if err == nil {
			w.m.requests.WithLabelValues(outcome).Inc()
			if res == queuedir.SkippedGone {
				w.log.Debug("queue response skipped: request gone", "request", j.name)
			}
			j.mu.Lock()
			j.gone = true
			j.mu.Unlock()
			return
		}
		if ctx.Err() != nil {
			w.log.Error("queue response dropped at shutdown", "request", j.name, "status", r.Status, "error", err)
			return
		}
		if errors.Is(err, runner.ErrRelayClosed) {
			// The parent that ran our commands is gone: no retry can reach the host again.
			w.log.Error("queue response dropped: the relay is closed", "request", j.name, "status", r.Status)
			return
		}
		w.log.Warn("queue response write failed; retrying", "request", j.name, "attempt", attempt, "error", err)
		retry.Sleep(ctx, delay)
		delay = min(2*delay, 2*time.Second)
	}
}

// serve runs the envelope through the handler and renders its answer as a response envelope.
func (w *Worker) serve(hreq *http.Request, id string, hold *budget.Hold) (queue.Response, string) {
	capt := newCapture(w.o.MaxBodyBytes, hold)
	if p := w.callHandler(capt, hreq); p != nil || capt.overflow || capt.busy {
		msg := msgHandlerAborted
		switch {
		case capt.busy:
			// The budget ran out while the answer arrived: as the handler does for a held
			// body, retryable for a safe method, indeterminate for a mutation.
			if queue.SafeMethod(hreq.Method) {
				return retryLaterResponse(id, msgBodyBudget), outcomeBusy
			}
			return indeterminateResponse(id, msgBodyBudget), outcomeIndeterminate
		case capt.overflow:
			msg = fmt.Sprintf("Bridge response body exceeded the configured size limit of %d bytes.", w.o.MaxBodyBytes)
		}
		if queue.SafeMethod(hreq.Method) {
			return errorResponse(id, http.StatusBadGateway, msg), outcomeForwarded
		}
		return indeterminateResponse(id, msg), outcomeIndeterminate
	}
	status := capt.status
	if status == 0 {
		status = http.StatusOK
	}
	headers := make(map[string]string, len(capt.header))
	for k, vs := range capt.header {
		lk := strings.ToLower(k)
		if !skippedResponseHeaders[lk] && len(vs) > 0 {
			headers[lk] = strings.Join(vs, ", ")
		}
	}
	// The answer is owed whatever the budget says now (the call was made): its encoding, a
	// string copy and the JSON line of about the same size again, is accounted, not refused.
	hold.Force(2 * int64(len(capt.body)))
	text, enc := queue.EncodeBody(capt.body)
	return queue.Response{ID: id, Status: status, Headers: headers, Body: text, BodyEncoding: enc,
		CompletedAt: queue.FormatTime(time.Now())}, outcomeForwarded
}

// overBudget answers a request file the body budget cannot hold: the retryable 503 while the
// budget is only busy (nothing was forwarded), 413 when twice the file's size (the file and its
// decoded strings) exceeds the whole budget, because waiting would never help.
func (w *Worker) overBudget(ctx context.Context, j *job, stem string, need int64) {
	if 2*need > w.o.Budget.Size() {
		w.log.Warn("queue request larger than the whole body budget", "request", j.name, "bytes", need,
			"budget", w.o.Budget.Size())
		w.reply(ctx, j, errorResponse(stem, http.StatusRequestEntityTooLarge, msgEnvelopeTooLarge), outcomeTooLarge)
		return
	}
	w.log.Info("queue request deferred: body budget busy", "request", j.name, "bytes", need)
	w.reply(ctx, j, retryLaterResponse(stem, msgBodyBudget), outcomeBusy)
}

// callHandler calls the handler, turning a panic into a return value. http.ErrAbortHandler is
// how the callback handler cuts a response it cannot complete.
func (w *Worker) callHandler(c *capture, r *http.Request) (p any) {
	defer func() {
		if p = recover(); p != nil && p != http.ErrAbortHandler { //nolint:errorlint // sentinel panic value
			w.log.Error("queue handler panicked", "panic", fmt.Sprint(p))
		}
	}()
	w.o.Handler.ServeHTTP(c, r)
	return nil
}
