package testsupport

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// Seen is what an Upstream recorded of one request, as it arrived.
type Seen struct {
	Method, RequestURI string
	Header             http.Header
	Body               []byte
	BodyErr            error // how reading the body ended, when not at its end
}

// Upstream is a loopback HTTP server standing in for Paperclip's API: it
// records every request, body included, then answers with the test's
// handler, or {"ok":true} without one.
type Upstream struct {
	*httptest.Server
	mu   sync.Mutex
	seen []Seen
}

// NewUpstream starts an Upstream, closed when the test ends.
func NewUpstream(t testing.TB, h http.HandlerFunc) *Upstream {
	t.Helper()
	u := &Upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		u.mu.Lock()
		u.seen = append(u.seen, Seen{r.Method, r.RequestURI, r.Header.Clone(), body, err})
		u.mu.Unlock()
		if h != nil {
			h(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(u.Close)
	return u
}

// Requests returns what arrived so far, in order.
func (u *Upstream) Requests() []Seen {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]Seen(nil), u.seen...)
}
