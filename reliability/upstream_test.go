package reliability

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Paths the suite uses; each is on clipbridge's default allowlist.
const (
	getPath   = "/api/issues/issue-1"          // GET, a read
	postPath  = "/api/issues/issue-1/comments" // POST, a mutation
	largePath = "/api/attachments/big/content" // GET, a 10 MiB answer
	largeSize = 10 << 20
)

// upstreamHandler is the stand-in Paperclip API of the suite. Every
// request carries its own id in the query (?req=...), which the query
// rule forwards byte for byte; the handler records each arrival with
// record before answering (for a mutation: once its whole body arrived),
// and echoes the id, so the client can tell
// whose answer it got and the test can count how often each mutation
// reached upstream. It refuses anything without the run token.
func upstreamHandler(runToken string, delay time.Duration, record func(method, id string)) http.Handler {
	big := []byte(strings.Repeat("x", largeSize))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+runToken {
			http.Error(w, `{"error":"Unauthorized"}`, http.StatusUnauthorized)
			return
		}
		id := r.URL.Query().Get("req")
		if r.Method != http.MethodGet {
			// Only a complete body makes a request that takes effect; a
			// body cut short is the bridge correctly giving up.
			if _, err := io.Copy(io.Discard, r.Body); err != nil {
				return
			}
		}
		if record != nil {
			record(r.Method, id)
		}
		if delay > 0 {
			time.Sleep(delay)
		}
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == largePath {
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
			_, _ = w.Write(big)
			return
		}
		body, _ := json.Marshal(map[string]string{"req": id})
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusCreated)
		}
		_, _ = w.Write(body)
	})
}

// arrivals counts requests that reached upstream, by "METHOD id".
type arrivals struct {
	mu sync.Mutex
	n  map[string]int
}

func newArrivals() *arrivals { return &arrivals{n: map[string]int{}} }

func (a *arrivals) record(method, id string) {
	a.mu.Lock()
	a.n[method+" "+id]++
	a.mu.Unlock()
}

func (a *arrivals) count(method, id string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n[method+" "+id]
}

func (a *arrivals) total() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, v := range a.n {
		n += v
	}
	return n
}

// upstream is an in-process stand-in on a loopback port. The bridge runs
// in its own process, so sharing the test's runtime costs nothing in
// fidelity.
type upstream struct {
	addr string
	arr  *arrivals
	srv  *http.Server
}

// startUpstream serves upstreamHandler, accepting runToken.
func startUpstream(t testing.TB, runToken string, delay time.Duration) *upstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &upstream{addr: ln.Addr().String(), arr: newArrivals()}
	u.srv = &http.Server{
		Handler:           upstreamHandler(runToken, delay, u.arr.record),
		ReadHeaderTimeout: 10 * time.Second,
		// Node's keep-alive timeout, which Paperclip runs with.
		IdleTimeout: 5 * time.Second,
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := u.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("upstream: %v", err)
		}
	}()
	t.Cleanup(func() {
		_ = u.srv.Close()
		<-served
	})
	return u
}
