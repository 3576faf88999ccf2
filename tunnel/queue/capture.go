package queue

import (
	"net/http"
)

// capture is the worker's in-memory http.ResponseWriter: it records what the callback handler
// answers, up to max body bytes. Going over max marks the answer as overflowed rather than
// growing: the handler already enforces the response cap, so this is only a safety net.
type capture struct {
	header   http.Header
	status   int
	body     []byte
	max      int64
	overflow bool
}

func newCapture(max int64) *capture { return &capture{header: http.Header{}, max: max} }

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
