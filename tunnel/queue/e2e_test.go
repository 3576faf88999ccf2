package queue_test

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clipbridge/clipbridge/proxy"
	"github.com/clipbridge/clipbridge/tunnel/queue/gateway"
	"github.com/clipbridge/clipbridge/tunnel/queue/internal/queuetest"
	"github.com/clipbridge/clipbridge/tunnel/queue/worker"
)

// upstreamCall is what the stand-in Paperclip API received.
type upstreamCall struct {
	Method, URI, Auth, RunID string
}

// TestEndToEnd runs our gateway and our worker against each other with the real callback
// handler and a stand-in upstream: the run JWT reaches upstream, the bridge token never does,
// and the route allowlist applies (§9.3 #1, #2; §9.2 "starts a localhost Paperclip bridge").
func TestEndToEnd(t *testing.T) {
	for _, kind := range []string{"local", "exec", "ssh"} {
		t.Run(kind, func(t *testing.T) {
			var mu sync.Mutex
			var calls []upstreamCall
			upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				calls = append(calls, upstreamCall{r.Method, r.RequestURI, r.Header.Get("Authorization"), r.Header.Get("X-Paperclip-Run-Id")})
				mu.Unlock()
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("ETag", `"u1"`)
				w.Header().Set("Last-Modified", "Wed, 01 May 2026 10:00:00 GMT")
				_, _ = io.WriteString(w, `{"ok":true}`)
			}))
			defer upstream.Close()
			u, _ := url.Parse(upstream.URL)
			h, err := proxy.New(proxy.Options{Upstream: u, RunToken: func() string { return "real-run-jwt" }, RunID: "run-bridge",
				BridgeToken: queuetest.Token, Rules: proxy.DefaultRules(), MaxBodyBytes: 1 << 20, UpstreamTimeout: 10 * time.Second,
				MaxInFlight: 16, Logger: queuetest.Logger(t), Registerer: prometheus.NewRegistry()})
			if err != nil {
				t.Fatal(err)
			}
			g := queuetest.StartGateway(t, gateway.Run, nil)
			var logs lockedBuffer
			w := runWorker(t, worker.Options{Dir: g.Dir, Runner: queuetest.Runner(t, kind), Handler: h.Trusted(),
				BridgeToken: []byte(queuetest.Token), MaxBodyBytes: 1 << 20,
				Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})

			resp, body := g.Do(t, "GET", "/api/agents/me?view=compact", map[string]string{"If-None-Match": `"x"`}, "")
			if resp.StatusCode != 200 || body != `{"ok":true}` || resp.Header.Get("ETag") != `"u1"` || resp.Header.Get("Last-Modified") == "" {
				t.Fatalf("%d %s %v", resp.StatusCode, body, resp.Header)
			}
			resp, body = g.Do(t, "DELETE", "/api/secrets", nil, "")
			if resp.StatusCode != 403 || body != `{"error":"Route not allowed: DELETE /api/secrets"}` {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			resp, _ = g.Do(t, "POST", "/api/issues/issue-1/comments", map[string]string{"Content-Type": "application/json"}, `{"body":"hi"}`)
			if resp.StatusCode != 200 {
				t.Fatalf("POST %d", resp.StatusCode)
			}
			if !w.Healthy() {
				t.Error("worker not healthy while serving")
			}
			// Neither token reaches a file on the execution host or the worker's log.
			_ = filepath.WalkDir(filepath.Dir(g.Dir), func(p string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(queuetest.Token)) || bytes.Contains(b, []byte("real-run-jwt")) {
						t.Errorf("token found in %s", p)
					}
				}
				return nil
			})
			if strings.Contains(logs.String(), queuetest.Token) || strings.Contains(logs.String(), "real-run-jwt") {
				t.Error("token in the worker log")
			}
			mu.Lock()
			defer mu.Unlock()
			if len(calls) != 2 {
				t.Fatalf("upstream calls %+v", calls)
			}
			want := upstreamCall{"GET", "/api/agents/me?view=compact", "Bearer real-run-jwt", "run-bridge"}
			if calls[0] != want || calls[1].Method != "POST" || calls[1].Auth != "Bearer real-run-jwt" {
				t.Fatalf("upstream saw %+v", calls)
			}
		})
	}
}

// runWorker runs a worker with o until the test ends.
func runWorker(t *testing.T, o worker.Options) *worker.Worker {
	t.Helper()
	w, err := worker.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker Run: %v", err)
		}
	})
	return w
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers (log handlers).
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
