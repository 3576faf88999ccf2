package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clipbridge/clipbridge/internal/relayparent"
)

// startRelaySidecar starts `serve --runner relay` with a relay socket on fd 3, as the npm
// launcher does, and returns the parent's end; the sidecar is not waited for (no ready line).
func startRelaySidecar(t *testing.T, p *relayparent.Parent, args ...string) (*exec.Cmd, chan struct{}, *lockedBuffer, func()) {
	t.Helper()
	child, parent, err := relayparent.Pair()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binPath, append([]string{"serve", "--runner", "relay"}, args...)...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, baseEnv("http://127.0.0.1:9")...)
	cmd.ExtraFiles = []*os.File{child}
	stderr := &lockedBuffer{}
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
	time.Sleep(300 * time.Millisecond) // let it come up and start using the relay
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
