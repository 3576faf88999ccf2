package cli

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/clipbridge/clipbridge/internal/relayparent"
	"github.com/clipbridge/clipbridge/internal/testsupport"
	"github.com/clipbridge/clipbridge/runner/relaywire"
)

// startRelaySidecar starts `serve --runner relay` with a relay socket on fd 3, as the npm
// launcher does, and returns the parent's end; the sidecar is not waited for (no ready line).
func startRelaySidecar(t *testing.T, p *relayparent.Parent, args ...string) (*exec.Cmd, chan struct{}, *testsupport.LockedBuffer, func()) {
	t.Helper()
	child, parent, err := relayparent.Pair()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binPath, append([]string{"serve", "--runner", "relay"}, args...)...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, baseEnv("http://127.0.0.1:9")...)
	cmd.ExtraFiles = []*os.File{child}
	stderr := &testsupport.LockedBuffer{}
	cmd.Stdout, cmd.Stderr = &bytes.Buffer{}, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	_ = child.Close()
	served := make(chan struct{})
	go func() { defer close(served); _ = p.Serve(parent) }()
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		_ = parent.Close()
		<-served
	})
	return cmd, done, stderr, func() { _ = parent.Close() }
}

// When the parent goes away (the launcher crashed or was killed: its end of the socket closes),
// the sidecar exits on its own instead of serving on with nobody to run its commands.
func TestRelayParentDeathEndsSidecar(t *testing.T) {
	p := &relayparent.Parent{}
	cmd, done, stderr, closeParent := startRelaySidecar(t, p, "--queue-dir", filepath.Join(t.TempDir(), "q"), "--log-format", "json")
	// Let it come up and use the relay (prepare, then its first long poll), then go away.
	for deadline := time.Now().Add(10 * time.Second); p.Execs() < 2 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if p.Execs() < 2 {
		t.Fatalf("the sidecar never used the relay; stderr:\n%s", stderr.String())
	}
	closeParent()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatalf("the sidecar outlived its parent; stderr:\n%s", stderr.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Fatalf("exit status %d, want 1; stderr:\n%s", code, stderr.String())
	}
	mustContainAll(t, stderr.String(), "relay parent gone", "relay to the parent process is closed")
}

// Without the launcher's socket on fd 3 the sidecar refuses to start, with a usage error, and
// touches no descriptor it does not own.
func TestRelayWithoutSocket(t *testing.T) {
	_, stderr, code := runBinary(t, baseEnv("http://127.0.0.1:9"), "serve", "--runner", "relay", "--queue-dir", t.TempDir())
	if code != 2 || !strings.Contains(stderr, "--runner relay: relay fd 3") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
}

// The relay end to end, as the npm launcher runs it for a sandbox reached through a runner
// object: `serve --runner relay --start-gateway` copies itself through the relay, starts the
// gateway detached, and serves the queue with its one-shot store. A sequential call costs one
// exec; the run token never travels through the relay (only the bridge token does, in stdin,
// for the gateway), and no exec carries a secret in argv.
func TestRelayServesTheQueue(t *testing.T) {
	up := testsupport.NewUpstream(t, nil)
	var mu sync.Mutex
	var reqs []relaywire.Request
	p := &relayparent.Parent{Exec: func(ctx context.Context, req relaywire.Request) relaywire.Reply {
		mu.Lock()
		reqs = append(reqs, req)
		mu.Unlock()
		return relayparent.Local(ctx, req)
	}}
	child, parent, err := relayparent.Pair()
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { defer close(served); _ = p.Serve(parent) }()
	t.Cleanup(func() { _ = parent.Close(); <-served })
	dir := filepath.Join(t.TempDir(), "paperclip-bridge", "queue")
	s := startSidecarWith(t, baseEnv(up.URL), []*os.File{child}, "serve", "--queue-dir", dir, "--runner", "relay",
		"--start-gateway", "--one-shot-poll", "2s")
	if s.ready.Env.URL == "" || s.ready.Env.Key == "" {
		t.Fatalf("ready env %+v\n%s", s.ready.Env, s.stderr.String())
	}
	if resp, body := agentGet(t, s, "/api/agents/me"); resp.StatusCode != 200 || body != `{"ok":true}` {
		t.Fatalf("first call: %d %s\n%s", resp.StatusCode, body, s.stderr.String())
	}
	const calls = 5
	before := p.Execs()
	for range calls {
		if resp, body := agentGet(t, s, "/api/agents/me"); resp.StatusCode != 200 {
			t.Fatalf("got %d %s", resp.StatusCode, body)
		}
	}
	if n := p.Execs() - before; n > calls {
		t.Errorf("%d sequential calls cost %d execs, want at most one each", calls, n)
	}
	if r := up.Requests(); len(r) != calls+1 || r[0].Header.Get("Authorization") != "Bearer "+runJWT {
		t.Fatalf("upstream saw %d requests", len(r))
	}
	sendSignal(t, s, syscall.SIGTERM)
	if code := s.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("exit %d\n%s", code, s.stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "ready.json")); !os.IsNotExist(err) {
		t.Error("the detached gateway outlived the sidecar's stop")
	}
	mu.Lock()
	defer mu.Unlock()
	for _, req := range reqs {
		argv := strings.Join(append([]string{req.Command}, req.Args...), " ")
		if strings.Contains(argv, s.ready.Env.Key) || strings.Contains(argv, runJWT) {
			t.Errorf("a secret in an exec's argv: %q", argv)
		}
		if strings.Contains(req.Stdin, runJWT) {
			t.Errorf("the run token went through the relay to the sandbox")
		}
	}
}
