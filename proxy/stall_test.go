package proxy

import (
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clipbridge/clipbridge/internal/testsupport"
)

// A request on a reused connection still gets its stall bound: upstream
// answers the first call and stalls on the second, which ends in 504
// after about the timeout and well before twice it.
func TestStallBoundOnReusedConnection(t *testing.T) {
	var calls atomic.Int32
	release := make(chan struct{})
	up := testsupport.NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 2 {
			select {
			case <-release:
			case <-time.After(5 * time.Second):
			}
		}
		_, _ = w.Write([]byte(`{}`))
	})
	defer close(release)
	const timeout = 400 * time.Millisecond
	b := newBridge(t, up.URL, func(o *Options) { o.UpstreamTimeout = timeout })
	if got := b.do(t, "GET", "/api/agents/me", nil, nil).StatusCode; got != 200 {
		t.Fatalf("first call %d", got)
	}
	start := time.Now()
	resp := b.do(t, "GET", "/api/agents/me", nil, nil)
	took := time.Since(start)
	if body := readBody(t, resp); resp.StatusCode != http.StatusGatewayTimeout || !strings.Contains(body, msgTimeout) ||
		took < timeout || took > 2*timeout {
		t.Fatalf("stalled call: %d %s after %v, want 504 %q after about %v", resp.StatusCode, body, took, msgTimeout, timeout)
	}
}

// The stall bound is per chunk of a response body, not per response: a
// body that keeps arriving, slower overall than the timeout, is relayed
// whole; one that stops mid-way is cut off after the timeout.
func TestStallBoundPerBodyChunk(t *testing.T) {
	const timeout = 300 * time.Millisecond
	const chunks = 6 // 6 x 100 ms: twice the timeout in all
	up := testsupport.NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "6")
		stall := r.URL.Query().Get("stall") != ""
		for i := range chunks {
			_, _ = io.WriteString(w, "x")
			w.(http.Flusher).Flush()
			if stall && i == 2 {
				time.Sleep(3 * timeout)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	b := newBridge(t, up.URL, func(o *Options) { o.UpstreamTimeout = timeout })
	resp := b.do(t, "GET", "/api/agents/me", nil, nil)
	if body := readBody(t, resp); resp.StatusCode != 200 || body != "xxxxxx" {
		t.Fatalf("slow but steady body: %d %q", resp.StatusCode, body)
	}
	start := time.Now()
	resp = b.do(t, "GET", "/api/agents/me?stall=1", nil, nil)
	_, err := io.ReadAll(resp.Body)
	if took := time.Since(start); err == nil || took > 3*timeout {
		t.Fatalf("stalled body: read error %v after %v, want the connection cut after about %v", err, took, timeout)
	}
}
