package gateway

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/clipbridge/clipbridge/tunnel/queue"
	"github.com/clipbridge/clipbridge/tunnel/queue/internal/queuetest"
)

// onNewRequests calls fn once for each request file the gateway publishes, as a hostile
// sandbox watching requests/ would, until the test ends.
func onNewRequests(t *testing.T, dir string, fn func(name string)) {
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		seen := map[string]bool{}
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			entries, _ := os.ReadDir(filepath.Join(dir, "requests"))
			for _, e := range entries {
				if n := e.Name(); strings.HasSuffix(n, ".json") && !seen[n] {
					seen[n] = true
					fn(n)
				}
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
}

// boundedGet sends an authenticated GET and fails the test if no answer comes within bound.
func boundedGet(t *testing.T, g *testGateway, bound time.Duration) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", g.BaseURL+"/api/agents/me", nil)
	req.Header.Set("Authorization", "Bearer "+queuetest.Token)
	resp, err := (&http.Client{Timeout: bound}).Do(req)
	if err != nil {
		t.Fatalf("no answer within %v: %v", bound, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestGatewayConfinedToQueueDir: the gateway on the execution host (or on the control plane
// with the local runner) shares the queue directory with the sandbox. What the sandbox plants
// there must not make it write, delete or read anything outside the queue, nor hang it.
func TestGatewayConfinedToQueueDir(t *testing.T) {
	const secret = "TOP-SECRET-HOST-FILE"
	fast := map[string]string{queue.EnvResponseTimeout: "3000", queue.EnvPollIntervalMS: "20"}
	withDir := func(q string, more map[string]string) map[string]string {
		env := map[string]string{queue.EnvQueueDir: q}
		for k, v := range fast {
			env[k] = v
		}
		for k, v := range more {
			env[k] = v
		}
		return env
	}

	t.Run("ready.json.tmp is a symlink to an outside file", func(t *testing.T) {
		q, out := queuetest.Dir(t), t.TempDir()
		queuetest.MustWrite(t, filepath.Join(out, "victim"), "precious\n")
		queuetest.MustSymlink(t, filepath.Join(out, "victim"), filepath.Join(q, "ready.json.tmp"))
		before := queuetest.Snapshot(t, out)
		g := startGateway(t, withDir(q, nil))
		fi, err := os.Lstat(filepath.Join(q, "ready.json"))
		if err != nil || !fi.Mode().IsRegular() {
			t.Errorf("ready.json is not a regular file: %v %v", fi, err)
		} else if b, _ := os.ReadFile(filepath.Join(q, "ready.json")); string(b) != g.ReadyLine {
			t.Errorf("ready.json %q, ready line %q", b, g.ReadyLine)
		}
		_ = g.Stop(t)
		queuetest.SameSnapshot(t, "outside directory", before, queuetest.Snapshot(t, out))
	})

	t.Run("a response is a symlink to an outside envelope", func(t *testing.T) {
		q, out := queuetest.Dir(t), t.TempDir()
		target := filepath.Join(out, "secret.json")
		queuetest.MustWrite(t, target, `{"status":200,"headers":{},"body":"`+secret+`"}`)
		before := queuetest.Snapshot(t, out)
		g := startGateway(t, withDir(q, nil))
		onNewRequests(t, q, func(name string) {
			_ = os.Symlink(target, filepath.Join(q, "responses", name))
		})
		status, body := boundedGet(t, g, 10*time.Second)
		if status == http.StatusOK || strings.Contains(body, secret) {
			t.Errorf("got %d %q: the gateway served a file from outside the queue", status, body)
		}
		queuetest.SameSnapshot(t, "outside directory", before, queuetest.Snapshot(t, out))
	})

	t.Run("a response is a FIFO", func(t *testing.T) {
		q := queuetest.Dir(t)
		g := startGateway(t, withDir(q, nil))
		var mu sync.Mutex
		var fifos []string
		onNewRequests(t, q, func(name string) {
			p := filepath.Join(q, "responses", name)
			if syscall.Mkfifo(p, 0o644) == nil {
				mu.Lock()
				fifos = append(fifos, p)
				mu.Unlock()
			}
		})
		t.Cleanup(func() {
			// Frees a reader that the code under test left blocked in open.
			mu.Lock()
			defer mu.Unlock()
			for _, p := range fifos {
				if f, err := os.OpenFile(p, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
					f.Close()
				}
			}
		})
		if status, body := boundedGet(t, g, 10*time.Second); status == http.StatusOK {
			t.Errorf("got %d %q from a FIFO", status, body)
		}
	})

	t.Run("requests is a symlink to an outside directory", func(t *testing.T) {
		q, out := queuetest.Dir(t), t.TempDir()
		// A stale-looking file there: the full-queue sweep must not delete it.
		stale := filepath.Join(out, "stale.json")
		queuetest.MustWrite(t, stale, "{}")
		old := time.Now().Add(-time.Hour)
		if err := os.Chtimes(stale, old, old); err != nil {
			t.Fatal(err)
		}
		g := startGateway(t, withDir(q, map[string]string{queue.EnvMaxQueueDepth: "1"}))
		queuetest.ReplaceWithLink(t, q, "requests", out)
		before := queuetest.Snapshot(t, out)
		if status, body := boundedGet(t, g, 10*time.Second); status == http.StatusOK {
			t.Errorf("got %d %q through a symlinked requests/", status, body)
		}
		queuetest.SameSnapshot(t, "outside directory", before, queuetest.Snapshot(t, out))
	})

	t.Run("responses is a symlink to an outside directory", func(t *testing.T) {
		q, out := queuetest.Dir(t), t.TempDir()
		g := startGateway(t, withDir(q, nil))
		// Once the request is queued, the sandbox swaps responses/ for a link and answers into
		// the outside directory; that must not count as an answer.
		onNewRequests(t, q, func(name string) {
			_ = os.WriteFile(filepath.Join(out, name), []byte(`{"status":200,"headers":{},"body":"`+secret+`"}`), 0o644)
			_ = os.RemoveAll(filepath.Join(q, "responses"))
			_ = os.Symlink(out, filepath.Join(q, "responses"))
		})
		status, body := boundedGet(t, g, 10*time.Second)
		if status == http.StatusOK || strings.Contains(body, secret) {
			t.Errorf("got %d %q through a symlinked responses/", status, body)
		}
		entries := queuetest.DirEntries(t, out)
		if len(entries) != 1 {
			t.Errorf("outside directory holds %v, want just the planted answer, untouched", entries)
		}
	})
}
