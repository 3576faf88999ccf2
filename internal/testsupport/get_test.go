package testsupport

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The header arrives, status, response headers and body come back, and
// every call opens (and closes) its own connection.
func TestGet(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Seen", r.Header.Get("Authorization"))
		w.WriteHeader(http.StatusTeapot)
		_, _ = w.Write([]byte("body " + r.URL.Path))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	for i := range 2 {
		resp, body := Get(t, srv.URL+"/p", Bearer("tok"))
		if resp.StatusCode != http.StatusTeapot || body != "body /p" || resp.Header.Get("X-Seen") != "Bearer tok" {
			t.Fatalf("GET = %d %q seen=%q", resp.StatusCode, body, resp.Header.Get("X-Seen"))
		}
		if n := conns.Load(); n != int32(i+1) {
			t.Fatalf("after %d GETs the server saw %d connections; want one each", i+1, n)
		}
	}
}

// A refused connection fails the test with the URL; a body cut short is
// returned as far as it came, and TryGet also reports the error.
func TestGetFailures(t *testing.T) {
	refused := "http://127.0.0.1:" + strconv.Itoa(FreePort(t)) + "/x"
	msg := runHelper(t, func(tb testing.TB) { Get(tb, refused, nil) })
	if !strings.Contains(msg, "GET "+refused) {
		t.Fatalf("failure message = %q", msg)
	}

	short := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		_, _ = w.Write([]byte("abc"))
	}))
	defer short.Close()
	var body string
	if msg := runHelper(t, func(tb testing.TB) { _, body = Get(tb, short.URL, nil) }); msg != "" || body != "abc" {
		t.Fatalf("Get of a short body = %q, failure %q", body, msg)
	}
	resp, body, err := TryGet(t.Context(), short.URL, nil, GetTimeout)
	if resp == nil || body != "abc" || err == nil {
		t.Fatalf("TryGet of a short body = %v %q %v", resp, body, err)
	}
}

// TryGet gives up at its timeout.
func TestTryGetTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	start := time.Now()
	_, _, err := TryGet(t.Context(), srv.URL, nil, 100*time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("TryGet against a wedged server = %v, want a deadline error", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("TryGet took %s with a 100ms timeout", took)
	}
}
