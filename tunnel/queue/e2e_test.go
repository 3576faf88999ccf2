package queue

import (
	"bytes"
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
				BridgeToken: testToken, Rules: proxy.DefaultRules(), MaxBodyBytes: 1 << 20, UpstreamTimeout: 10 * time.Second,
				MaxInFlight: 16, Logger: testLogger(t), Registerer: prometheus.NewRegistry()})
			if err != nil {
				t.Fatal(err)
			}
			g := startGateway(t, nil)
			var logs lockedBuffer
			tw := startWorker(t, kind, g.dir, WorkerOptions{Handler: h.Trusted(), BridgeToken: []byte(testToken), MaxBodyBytes: 1 << 20,
				Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})

			resp, body := g.do(t, "GET", "/api/agents/me?view=compact", map[string]string{"If-None-Match": `"x"`}, "")
			if resp.StatusCode != 200 || body != `{"ok":true}` || resp.Header.Get("ETag") != `"u1"` || resp.Header.Get("Last-Modified") == "" {
				t.Fatalf("%d %s %v", resp.StatusCode, body, resp.Header)
			}
			resp, body = g.do(t, "DELETE", "/api/secrets", nil, "")
			if resp.StatusCode != 403 || body != `{"error":"Route not allowed: DELETE /api/secrets"}` {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			resp, _ = g.do(t, "POST", "/api/issues/issue-1/comments", map[string]string{"Content-Type": "application/json"}, `{"body":"hi"}`)
			if resp.StatusCode != 200 {
				t.Fatalf("POST %d", resp.StatusCode)
			}
			if !tw.Healthy() {
				t.Error("worker not healthy while serving")
			}
			// Neither token reaches a file on the execution host or the worker's log.
			_ = filepath.WalkDir(filepath.Dir(g.dir), func(p string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(testToken)) || bytes.Contains(b, []byte("real-run-jwt")) {
						t.Errorf("token found in %s", p)
					}
				}
				return nil
			})
			if strings.Contains(logs.String(), testToken) || strings.Contains(logs.String(), "real-run-jwt") {
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
