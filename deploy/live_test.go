package deploy

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os/exec"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/clipbridge/clipbridge/internal/testsupport"
)

// readyLine is the JSON line `clipbridge serve` prints on stdout once it
// serves.
type readyLine struct {
	Event    string            `json:"event"`
	Env      map[string]string `json:"env"`
	AdminURL string            `json:"admin_url"`
}

// process is a clipbridge child process whose output the test reads.
type process struct {
	cmd    *exec.Cmd
	lines  chan string // stdout, line by line
	stderr *testsupport.LockedBuffer
	done   chan struct{}
}

// startClipbridge runs the binary with exactly env (no inherited
// CLIPBRIDGE_* settings). At cleanup it gets SIGTERM, then SIGKILL after a
// bound.
func startClipbridge(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(clipbridgeBinary(t), args...)
	cmd.Env = env
	p := &process{cmd: cmd, lines: make(chan string, 64), stderr: &testsupport.LockedBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case p.lines <- sc.Text():
			default: // nobody reads past the ready line
			}
		}
		_ = cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("clipbridge %v stderr:\n%s", args, p.stderr.String())
		}
	})
	return p
}

// ready waits for the ready line.
func (p *process) ready(t *testing.T) readyLine {
	t.Helper()
	select {
	case line := <-p.lines:
		var r readyLine
		if err := json.Unmarshal([]byte(line), &r); err != nil || r.Event != "ready" {
			t.Fatalf("first stdout line %q is not the ready line (%v); stderr:\n%s", line, err, p.stderr.String())
		}
		return r
	case <-p.done:
		t.Fatalf("clipbridge exited with %v before its ready line; stderr:\n%s", p.cmd.ProcessState, p.stderr.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("no ready line within 20s; stderr:\n%s", p.stderr.String())
	}
	return readyLine{}
}

var standinAddrRE = regexp.MustCompile(`serving a stand-in Paperclip API on (http://\S+)`)

// standinURL waits for `clipbridge standin` to say where it listens.
func (p *process) standinURL(t *testing.T) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if m := standinAddrRE.FindStringSubmatch(p.stderr.String()); m != nil {
			return m[1]
		}
		select {
		case <-p.done:
			t.Fatalf("standin exited: %s", p.stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("standin did not start: %s", p.stderr.String())
	return ""
}

// scrape reads and parses an instance's /metrics.
func scrape(t *testing.T, adminURL string) *exposition {
	t.Helper()
	resp, body := testsupport.Get(t, adminURL+"/metrics", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s/metrics: %d %s", adminURL, resp.StatusCode, body)
	}
	e, err := parseExposition(body)
	if err != nil {
		t.Fatalf("parsing %s/metrics: %v", adminURL, err)
	}
	return e
}
