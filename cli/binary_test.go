package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/clipbridge/clipbridge/internal/testsupport"
)

// binPath is the clipbridge binary built once for the black-box tests.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "clipbridge-bin-")
	if err != nil {
		panic(err)
	}
	binPath = filepath.Join(dir, "clipbridge")
	build := exec.Command("go", "build", "-o", binPath, "..")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		panic("building clipbridge: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		// Helpers here start goroutines (output scanners, stand-in
		// upstreams, sshd harnesses): all must be gone after the tests.
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// sidecar is a running clipbridge process.
type sidecar struct {
	cmd    *exec.Cmd
	ready  readyLine
	stdout *testsupport.LockedBuffer // everything after the ready line
	stderr *testsupport.LockedBuffer
	done   chan struct{}
	code   int
}

// startSidecar runs the binary with args and env and waits for its ready
// line.
func startSidecar(t *testing.T, env []string, args ...string) *sidecar {
	t.Helper()
	return startSidecarWith(t, env, nil, args...)
}

// startSidecarWith is startSidecar with extra descriptors for the child (fd 3 on).
func startSidecarWith(t *testing.T, env []string, extra []*os.File, args ...string) *sidecar {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	cmd.ExtraFiles = extra
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &sidecar{cmd: cmd, stdout: &testsupport.LockedBuffer{}, stderr: &testsupport.LockedBuffer{}, done: make(chan struct{})}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for _, f := range extra {
		_ = f.Close() // the child has its copy
	}
	lines := make(chan string, 1)
	go func() {
		br := bufio.NewReader(stdout)
		line, _ := br.ReadString('\n')
		lines <- line
		_, _ = io.Copy(s.stdout, br)
	}()
	go func() {
		_ = cmd.Wait()
		s.code = cmd.ProcessState.ExitCode()
		close(s.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-s.done
	})
	select {
	case line := <-lines:
		if err := json.Unmarshal([]byte(line), &s.ready); err != nil {
			t.Fatalf("ready line %q: %v\nstderr:\n%s", line, err, s.stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no ready line; stderr:\n%s", s.stderr.String())
	}
	return s
}

// wait returns the exit status, failing the test after a bound.
func (s *sidecar) wait(t *testing.T, bound time.Duration) int {
	t.Helper()
	select {
	case <-s.done:
		return s.code
	case <-time.After(bound):
		t.Fatalf("still running after %v; stderr:\n%s", bound, s.stderr.String())
		return -1
	}
}

// runBinary runs clipbridge to completion.
func runBinary(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	_ = cmd.Run()
	return o.String(), e.String(), cmd.ProcessState.ExitCode()
}

// agentGet is the agent's GET of path, with its bridge token.
func agentGet(t *testing.T, s *sidecar, path string) (*http.Response, string) {
	t.Helper()
	return testsupport.Get(t, s.ready.Env.URL+path, testsupport.Bearer(s.ready.Env.Key))
}

func sendSignal(t *testing.T, s *sidecar, sig syscall.Signal) {
	t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// adminGet fetches path from the admin listener; a transport error comes
// back as status 0 with the error as the body, for polls during shutdown.
func adminGet(t *testing.T, s *sidecar, path string) (int, string) {
	t.Helper()
	resp, body, err := testsupport.TryGet(t.Context(), s.ready.AdminURL+path, nil, testsupport.GetTimeout)
	if resp == nil {
		return 0, err.Error()
	}
	return resp.StatusCode, body
}

func mustContainAll(t *testing.T, text string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(text, p) {
			t.Errorf("missing %q in:\n%s", p, text)
		}
	}
}

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }
