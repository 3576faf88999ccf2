package proxy

import (
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clipbridge/clipbridge/proxy/policy"
)

// limitRequestBody refuses a declared body over the cap before reading a
// byte of it. A body of unknown length (chunked) is capped while it is
// forwarded: cappedBody fails the read that crosses the cap, which aborts
// the upstream request mid-body, so upstream never sees a truncated body
// as a complete request, and the forwarder answers 413.
func limitRequestBody(max int64, rec *recorder) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > max {
				rec.reject(r, reasonRequestTooLarge)
				policy.WriteError(w, http.StatusRequestEntityTooLarge, msgRequestTooLarge)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// errBodyTooLarge is returned by cappedBody.Read once the cap is crossed.
var errBodyTooLarge = errors.New("request body exceeds the configured limit")

// cappedBody passes a request body through, failing once more than max
// bytes have been read. Each read gets its own read deadline on the
// agent's connection, so an agent that stops sending mid-body is cut off
// after the stall timeout instead of holding its slot forever.
//
// The Transport reads it on its own goroutine while the handler may be
// reading the response, so what both sides look at is synchronised.
type cappedBody struct {
	r        io.ReadCloser
	max      int64
	n        int64 // only the reading goroutine touches it
	exceeded atomic.Bool
	rc       *http.ResponseController
	stall    time.Duration
	ex       *exchange
	watch    *stallWatch // the upload moving is the call making progress

	mu       sync.Mutex
	agentErr error // a failure reading the agent's body (not the cap)

	// rcMu keeps the handler's ResponseController from use once the
	// handler has returned (done): the Transport may read the body after
	// that (see handlerDone), and over HTTP/2 the controller of a
	// finished handler panics.
	rcMu sync.Mutex
	done bool
}

// errHandlerDone fails a read of the body after its handler returned.
var errHandlerDone = errors.New("request body read after its handler returned")

// handlerDone marks the handler finished. net/http's Transport reads a
// request body on its own goroutine and may go on after RoundTrip and the
// handler have returned (for a declared length its last read, for EOF,
// comes after the last byte went out); from then on reads fail at once
// and touch nothing of the handler's.
func (b *cappedBody) handlerDone() {
	b.rcMu.Lock()
	b.done = true
	b.rcMu.Unlock()
}

// setReadDeadline sets the agent connection's read deadline unless the
// handler has returned, and reports whether it did.
func (b *cappedBody) setReadDeadline(t time.Time) bool {
	b.rcMu.Lock()
	defer b.rcMu.Unlock()
	if b.done {
		return false
	}
	_ = b.rc.SetReadDeadline(t)
	return true
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.exceeded.Load() {
		return 0, errBodyTooLarge
	}
	if !b.setReadDeadline(time.Now().Add(b.stall)) {
		return 0, errHandlerDone
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	if n > 0 {
		b.watch.progress()
	}
	switch {
	case err == io.EOF:
		// Once the body is done net/http keeps reading in the background
		// to notice a client that hangs up; a stale deadline would make
		// that read fail and cancel the request mid-response.
		b.setReadDeadline(time.Time{})
		b.ex.bodyPending.Store(false)
	case err != nil:
		b.mu.Lock()
		b.agentErr = err
		b.mu.Unlock()
	}
	if b.n > b.max {
		b.exceeded.Store(true)
		return 0, errBodyTooLarge
	}
	return n, err
}

// failure is the error reading the agent's body broke on, if any.
func (b *cappedBody) failure() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.agentErr
}

func (b *cappedBody) Close() error { return b.r.Close() }
