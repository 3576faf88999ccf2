package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clipbridge/clipbridge/runner"
	"github.com/clipbridge/clipbridge/tunnel/queue/internal/queuetest"
	"github.com/clipbridge/clipbridge/tunnel/queue/worker"
)

// §9.3 #10: the upload is skipped when the remote sha256 matches, and leaves no temp or lock files.
func TestSyncBinary(t *testing.T) {
	for _, kind := range []string{"local", "exec", "ssh"} {
		t.Run(kind, func(t *testing.T) {
			r := queuetest.Runner(t, kind)
			dir := t.TempDir()
			src := filepath.Join(dir, "src-bin")
			dst := filepath.Join(dir, "remote", "server", "clipbridge")
			if err := os.WriteFile(src, []byte("binary v1 \x00\xff"), 0o755); err != nil {
				t.Fatal(err)
			}
			for i, want := range []bool{true, false} {
				up, err := SyncBinary(t.Context(), r, src, dst, 10*time.Second)
				if err != nil || up != want {
					t.Fatalf("sync %d: uploaded=%v err=%v", i, up, err)
				}
			}
			got, _ := os.ReadFile(dst)
			if string(got) != "binary v1 \x00\xff" {
				t.Fatalf("content %q", got)
			}
			if st, _ := os.Stat(dst); st.Mode()&0o111 == 0 {
				t.Fatal("not executable")
			}
			_ = os.WriteFile(src, []byte("binary v2"), 0o755)
			if up, err := SyncBinary(t.Context(), r, src, dst, 10*time.Second); err != nil || !up {
				t.Fatalf("changed binary: uploaded=%v err=%v", up, err)
			}
			if left := queuetest.DirEntries(t, filepath.Dir(dst)); len(left) != 1 {
				t.Fatalf("leftovers: %v", left)
			}
		})
	}
}

// §9.3 #11: a corrupted upload is rejected and nothing torn is committed.
func TestUploadMismatch(t *testing.T) {
	r := queuetest.Runner(t, "exec")
	dir := t.TempDir()
	dst := filepath.Join(dir, "server", "clipbridge")
	good := []byte("the real binary")
	sum := sha256.Sum256(good)
	cases := map[string][]byte{"empty stdin": nil, "corrupted": []byte("the real binarY")}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			err := uploadBinary(t.Context(), r, bytes.NewReader(data), int64(len(good)), hex.EncodeToString(sum[:]), dst, 10*time.Second, nil)
			if !errors.Is(err, ErrUploadMismatch) || !strings.Contains(strings.ToLower(err.Error()), "sha mismatch") {
				t.Fatalf("err = %v", err)
			}
			if left := queuetest.DirEntries(t, filepath.Dir(dst)); len(left) != 0 {
				t.Fatalf("leftovers: %v", left)
			}
		})
	}
}

// StartGateway copies this test binary, starts it as the gateway with the token outside argv,
// and our worker serves it; a killed gateway comes back on the same port; Stop ends it.
func TestLaunch(t *testing.T) {
	for _, kind := range []string{"local", "exec", "ssh"} {
		t.Run(kind, func(t *testing.T) {
			l := launchRunning(t, kind)
			g, dir := l.g, l.dir
			env := g.AgentEnv()
			if env["PAPERCLIP_API_KEY"] != queuetest.Token || env["PAPERCLIP_API_BRIDGE_MODE"] != "queue_v1" ||
				env["PAPERCLIP_BRIDGE_QUEUE_DIR"] != dir || !strings.HasPrefix(env["PAPERCLIP_API_URL"], "http://127.0.0.1:") {
				t.Fatalf("agent env %v", env)
			}
			get := func() int { return agentGet(env) }
			if code := get(); code != 200 {
				t.Fatalf("GET through launched gateway: %d", code)
			}
			if where := cmdlineContaining(t, queuetest.Token); where != "" {
				t.Fatalf("bridge token visible in argv: %s", where)
			}
			// Kill it: Run restarts it on the same port.
			pid := g.Ready().PID
			_ = syscall.Kill(pid, syscall.SIGKILL)
			queuetest.Eventually(t, "gateway restarted", func() bool { return g.Ready().PID != pid && get() == 200 })
			if g.Ready().BaseURL != env["PAPERCLIP_API_URL"] {
				t.Fatalf("URL changed: %s -> %s", env["PAPERCLIP_API_URL"], g.Ready().BaseURL)
			}
			if err := l.stop(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(dir, "ready.json")); !os.IsNotExist(err) {
				t.Fatal("ready.json left after stop")
			}
			if c, err := net.Dial("tcp", strings.TrimPrefix(env["PAPERCLIP_API_URL"], "http://")); err == nil {
				c.Close()
				t.Fatal("gateway still listening after stop")
			}
			if g2, err := Launch(t.Context(), LaunchOptions{Runner: l.r, Binary: l.self, QueueDir: dir, BridgeToken: queuetest.Token, Logger: queuetest.Logger(t)}); err != nil || g2.Uploaded {
				t.Fatalf("second launch: uploaded=%v err=%v", g2 != nil && g2.Uploaded, err)
			} else {
				g2.Stop()
			}
		})
	}
}

// launched is a gateway Launch started through a runner of kind, over a queue directory our
// worker serves, with Run going until stop.
type launched struct {
	g    *Launched
	r    runner.Runner
	dir  string
	self string // the binary launched (this test binary, which runs the gateway)
	stop func() error
}

func launchRunning(t *testing.T, kind string) launched {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	r := queuetest.Runner(t, kind)
	dir := queuetest.Dir(t)
	startWorker(t, r, dir)
	g, err := Launch(t.Context(), LaunchOptions{Runner: r, Binary: self, QueueDir: dir, BridgeToken: queuetest.Token,
		ResponseTimeout: 5 * time.Second, Logger: queuetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(t.Context())
	runDone := make(chan error, 1)
	go func() { runDone <- g.Run(runCtx) }()
	return launched{g: g, r: r, dir: dir, self: self, stop: func() error { cancel(); return <-runDone }}
}

// agentGet is the agent's GET /api/agents/me through the gateway env names; 0 when no answer came.
func agentGet(env map[string]string) int {
	req, _ := http.NewRequest("GET", env["PAPERCLIP_API_URL"]+"/api/agents/me", nil)
	req.Header.Set("Authorization", "Bearer "+env["PAPERCLIP_API_KEY"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// cmdlineContaining returns a process whose command line contains s, or "".
func cmdlineContaining(t *testing.T, s string) string {
	t.Helper()
	entries, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	if len(entries) == 0 {
		t.Skip("no /proc to inspect")
	}
	for _, e := range entries {
		if b, err := os.ReadFile(e); err == nil && bytes.Contains(b, []byte(s)) {
			return e + ": " + strings.ReplaceAll(string(b), "\x00", " ")
		}
	}
	return ""
}

// startWorker serves dir with our worker through r (as `serve --queue-dir` does), requiring the
// envelope MAC of our gateway, until the test ends.
func startWorker(t *testing.T, r runner.Runner, dir string) {
	t.Helper()
	w, err := worker.New(worker.Options{Dir: dir, Runner: r, Handler: &queuetest.Recorder{}, BridgeToken: []byte(queuetest.Token),
		OpTimeout: 5 * time.Second, DrainTimeout: time.Second, AbortGrace: time.Second, Logger: queuetest.Logger(t)})
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
}

// Over a one-shot runner (the relay, an exec prefix that cannot stream) the gateway runs
// detached: one exec starts it and returns its ready.json, the worker's one-shot store serves
// it, and Stop is one more exec that ends it. The token stays out of argv throughout.
func TestLaunchDetached(t *testing.T) {
	for _, kind := range []string{"exec-one-shot", "relay"} {
		t.Run(kind, func(t *testing.T) {
			l := launchRunning(t, kind)
			g, dir := l.g, l.dir
			if code := agentGet(g.AgentEnv()); code != 200 {
				t.Fatalf("GET through the detached gateway: %d", code)
			}
			if where := cmdlineContaining(t, queuetest.Token); where != "" {
				t.Fatalf("bridge token visible in argv: %s", where)
			}
			pid := g.Ready().PID
			if err := l.stop(); err != nil {
				t.Fatal(err)
			}
			queuetest.Eventually(t, "gateway gone", func() bool { return syscall.Kill(pid, 0) != nil })
			if _, err := os.Stat(filepath.Join(dir, "ready.json")); !os.IsNotExist(err) {
				t.Fatal("ready.json left after stop")
			}
		})
	}
}
