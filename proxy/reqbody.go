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
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.exceeded.Load() {
		return 0, errBodyTooLarge
	}
	_ = b.rc.SetReadDeadline(time.Now().Add(b.stall))
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
		_ = b.rc.SetReadDeadline(time.Time{})
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
