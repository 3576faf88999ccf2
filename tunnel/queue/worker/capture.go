package worker

import (
	"net/http"

	"github.com/clipbridge/clipbridge/proxy/budget"
)

// capture is the worker's in-memory http.ResponseWriter: it records what the callback handler
// answers, up to max body bytes, reserving each write on the job's budget hold first. Going
// over max marks the answer as overflowed rather than growing (the handler already enforces the
// response cap, so this is only a safety net); a write the budget cannot take marks it busy.
type capture struct {
	header   http.Header
	status   int
	body     []byte
	max      int64
	hold     *budget.Hold
	overflow bool
	busy     bool
}

func newCapture(max int64, hold *budget.Hold) *capture {
	return &capture{header: http.Header{}, max: max, hold: hold}
}

// Header implements http.ResponseWriter.
func (c *capture) Header() http.Header { return c.header }

// WriteHeader implements http.ResponseWriter; informational statuses are ignored.
func (c *capture) WriteHeader(status int) {
	if c.status != 0 || status < 200 {
		return
	}
	c.status = status
}

// Write implements http.ResponseWriter.
func (c *capture) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.WriteHeader(http.StatusOK)
	}
	if int64(len(c.body)+len(p)) > c.max {
		c.overflow = true
		return 0, errCaptureFull
	}
	if grow := len(c.body) + len(p) - cap(c.body); grow > 0 {
		// append at least doubles: reserve the capacity it will allocate.
		newCap := max(len(c.body)+len(p), 2*cap(c.body))
		if !c.hold.Grow(int64(newCap - cap(c.body))) {
			c.busy = true
			return 0, errCaptureFull
		}
		grown := make([]byte, len(c.body), newCap)
		copy(grown, c.body)
		c.body = grown
	}
	c.body = append(c.body, p...)
	return len(p), nil
}

// Flush implements http.Flusher; the envelope is written only once the handler returns.
func (c *capture) Flush() {}

var errCaptureFull = &captureError{}

type captureError struct{}

func (*captureError) Error() string { return "response exceeds the bridge body limit" }

// skippedResponseHeaders are not copied into a response envelope: framing and hop-by-hop fields
// describe the handler's HTTP exchange, not the answer (the gateway sets its own).
var skippedResponseHeaders = map[string]bool{
	"content-length": true, "connection": true, "keep-alive": true, "transfer-encoding": true,
	"trailer": true, "upgrade": true, "proxy-connection": true, "date": true,
}
