package reliability

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// sidecar is a running `clipbridge serve`.
type sidecar struct {
	cmd      *exec.Cmd
	addr     string // host:port of the callback API
	key      string // the bridge token
	admin    string // admin base URL
	runToken string
	log      *logSink
	done     chan struct{}
}

// newRunToken generates a run token; the upstream is told it first.
func newRunToken() string { return "run-" + rand.Text() }

// startSidecar runs the binary in front of upstream (host:port) with
// extra flags, waits for the ready line, and at cleanup stops it and
// checks its log for data races, panics and the run token.
func startSidecar(t testing.TB, upstream, runToken string, args ...string) *sidecar {
	t.Helper()
	return startSidecarEnv(t, upstream, runToken, nil, args...)
}

// startSidecarEnv is startSidecar with extra environment (the SSH
// settings, for instance).
func startSidecarEnv(t testing.TB, upstream, runToken string, env []string, args ...string) *sidecar {
	t.Helper()
	return startSidecarBin(t, binPath, upstream, runToken, env, args...)
}

// startSidecarBin is startSidecarEnv with another build of the binary
// (plainBinary, say).
func startSidecarBin(t testing.TB, bin, upstream, runToken string, env []string, args ...string) *sidecar {
	t.Helper()
	s := &sidecar{runToken: runToken, done: make(chan struct{})}
	s.log = newLogSink(runToken)
	cmd := exec.Command(bin, append([]string{"serve", "--log-format", "json"}, args...)...)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"CLIPBRIDGE_UPSTREAM=http://" + upstream,
		"CLIPBRIDGE_RUN_TOKEN=" + runToken,
		"CLIPBRIDGE_RUN_ID=run-reliability",
		// A race report must not wait for exit to be seen; halting makes
		// the child die loudly at the first race.
		"GORACE=halt_on_error=1",
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = s.log
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.cmd = cmd
	lines := make(chan string, 1)
	go func() {
		br := bufio.NewReader(stdout)
		line, _ := br.ReadString('\n')
		lines <- line
		_, _ = io.Copy(io.Discard, br)
	}()
	go func() {
		_ = cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() { s.stop(t) })
	var ready struct {
		Env struct {
			URL string `json:"PAPERCLIP_API_URL"`
			Key string `json:"PAPERCLIP_API_KEY"`
		} `json:"env"`
		AdminURL string `json:"admin_url"`
	}
	select {
	case line := <-lines:
		if err := json.Unmarshal([]byte(line), &ready); err != nil {
			t.Fatalf("ready line %q: %v\nlog:\n%s", line, err, s.log.tail())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("no ready line\nlog:\n%s", s.log.tail())
	}
	s.addr = strings.TrimPrefix(ready.Env.URL, "http://")
	s.key = ready.Env.Key
	s.admin = ready.AdminURL
	return s
}

// stop sends SIGTERM, waits for the drain, and checks the log.
func (s *sidecar) stop(t testing.TB) {
	select {
	case <-s.done:
	default:
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
			t.Errorf("clipbridge did not exit within 30 s of SIGTERM")
		}
	}
	if problem := s.log.problem(); problem != "" {
		t.Errorf("clipbridge log: %s\n%s", problem, s.log.tail())
	}
}

// running reports whether the process is still alive.
func (s *sidecar) running() bool {
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

func (s *sidecar) pid() int { return s.cmd.Process.Pid }

// fds counts the process's open file descriptors.
func (s *sidecar) fds(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", s.pid()))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// rss returns the resident set (VmRSS) in bytes.
func (s *sidecar) rss(t testing.TB) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.pid()))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// metrics scrapes the admin /metrics and returns every sample by its full
// name including labels, e.g. `clipbridge_upstream_errors_total{kind="connect"}`.
func (s *sidecar) metrics(t testing.TB) map[string]float64 {
	t.Helper()
	// No keep-alive: an idle scrape connection would itself be counted
	// as a goroutine and a descriptor.
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(s.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	out := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

// goroutines reads go_goroutines from the child's metrics.
func (s *sidecar) goroutines(t testing.TB) int {
	t.Helper()
	v, ok := s.metrics(t)["go_goroutines"]
	if !ok {
		t.Fatal("no go_goroutines metric")
	}
	return int(v)
}

// logSink takes the child's stderr: it keeps the tail for failure
// messages, and remembers a data race, a panic, or the run token, which
// must never be logged. Soaks produce far too much log to keep.
type logSink struct {
	mu      sync.Mutex
	secret  []byte
	carry   []byte // the end of the previous write, for matches across writes
	buf     []byte
	lines   int
	flagged string
}

const logTail = 64 << 10

func newLogSink(secret string) *logSink { return &logSink{secret: []byte(secret)} }

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines += bytes.Count(p, []byte("\n"))
	scan := append(l.carry, p...)
	if l.flagged == "" {
		switch {
		case bytes.Contains(scan, l.secret):
			l.flagged = "the run token appears in the log"
		case bytes.Contains(scan, []byte("WARNING: DATA RACE")):
			l.flagged = "data race"
		case bytes.Contains(scan, []byte("panic: ")), bytes.Contains(scan, []byte("fatal error: ")):
			l.flagged = "panic"
		}
	}
	keep := max(len(l.secret), 32)
	l.carry = append(l.carry[:0], scan[max(0, len(scan)-keep):]...)
	l.buf = append(l.buf, p...)
	if len(l.buf) > 2*logTail {
		l.buf = append(l.buf[:0], l.buf[len(l.buf)-logTail:]...)
	}
	return len(p), nil
}

func (l *logSink) problem() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.flagged
}

func (l *logSink) tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buf
	if len(b) > 8<<10 {
		b = b[len(b)-8<<10:]
	}
	return string(b)
}

func (l *logSink) lineCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lines
}
