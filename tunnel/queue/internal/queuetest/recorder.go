package queuetest

import (
	"io"
	"net/http"
	"sync"
)

// Seen is what the Recorder received of one request.
type Seen struct {
	Method, RequestURI, Path, Query string
	Header                          http.Header
	Body                            string
}

// Recorder is a stand-in callback handler that records each request and answers with Fn, or
// with {"ok":true} as application/json when Fn is nil.
type Recorder struct {
	Fn func(w http.ResponseWriter, r *http.Request)

	mu   sync.Mutex
	seen []Seen
}

// ServeHTTP implements http.Handler.
func (h *Recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.seen = append(h.seen, Seen{r.Method, r.RequestURI, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), string(b)})
	h.mu.Unlock()
	if h.Fn != nil {
		h.Fn(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"ok":true}`))
}

// Requests returns what was recorded so far.
func (h *Recorder) Requests() []Seen {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Seen(nil), h.seen...)
}
