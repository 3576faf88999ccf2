package queue

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/clipbridge/clipbridge/runner"
)

// TestMain doubles as the gateway binary: the launcher tests copy this test executable to the
// "execution host" and run it as `<bin> gateway`.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "queue-agent" {
		if err := RunAgent(context.Background(), os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "clipbridge queue-agent:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if len(os.Args) > 1 && os.Args[1] == "gateway" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		err := RunGateway(ctx, os.Getenv, os.Stdin, os.Stdout, os.Stderr)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "clipbridge gateway:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

func testLoggerQuiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// storeKinds are the ways the worker reaches a queue directory in tests: this machine with
// fsnotify, and the shell co-process under bash, under plain sh, and through an exec prefix.
// "ssh" runs the co-process over a real sshd (skipped visibly when sshd is missing, unless
// CLIPBRIDGE_REQUIRE_SSHD=1).
// "agent" is the Go co-process (this test binary run as `queue-agent`) through an exec prefix.
var storeKinds = []string{"local", "coproc-bash", "coproc-sh", "exec", "ssh", "agent"}

var execPrefix = []string{"sh", "-c", `exec "$@"`, "sh"}

func newTestStore(t *testing.T, kind, dir string) store {
	t.Helper()
	log := testLogger(t)
	switch kind {
	case "local":
		return newLocalStore(dir, log)
	case "coproc-bash", "coproc-sh":
		s := newRemoteStore(runner.NewLocal(runner.LocalOptions{}), dir, 5*time.Second, log)
		s.noBash = kind == "coproc-sh"
		return s
	case "exec", "ssh":
		return newRemoteStore(testRunner(t, kind), dir, 5*time.Second, log)
	case "agent":
		self, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		s := newRemoteStore(testRunner(t, "exec"), dir, 5*time.Second, log)
		s.agentBin = self
		return s
	}
	t.Fatalf("unknown store kind %s", kind)
	return nil
}

// testWorker runs a Worker on dir until stop is called (or the test ends).
type testWorker struct {
	*Worker
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func startWorker(t *testing.T, kind, dir string, o WorkerOptions) *testWorker {
	t.Helper()
	return startWorkerWrapped(t, kind, dir, o, nil)
}

// startWorkerWrapped is startWorker with the store wrapped (fault injection) before Run starts.
func startWorkerWrapped(t *testing.T, kind, dir string, o WorkerOptions, wrap func(store) store) *testWorker {
	t.Helper()
	o.Dir = dir
	if o.Logger == nil {
		o.Logger = testLogger(t)
	}
	if o.DrainTimeout == 0 {
		o.DrainTimeout = time.Second
	}
	if o.AbortGrace == 0 {
		o.AbortGrace = time.Second
	}
	w, err := NewWorker(o)
	if err != nil {
		t.Fatal(err)
	}
	w.st = newTestStore(t, kind, dir)
	if wrap != nil {
		w.st = wrap(w.st)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tw := &testWorker{Worker: w, cancel: cancel, done: make(chan error, 1)}
	go func() { tw.done <- w.Run(ctx) }()
	t.Cleanup(func() { tw.stop(t) })
	return tw
}

// stop cancels the worker and waits for Run to return.
func (tw *testWorker) stop(t *testing.T) {
	tw.once.Do(func() {
		tw.cancel()
		select {
		case err := <-tw.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("worker did not stop")
		}
	})
}

// queueDir makes a queue root with Paperclip's layout.
func queueDir(t *testing.T) string {
	dir := filepath.Join(t.TempDir(), "paperclip-bridge", "queue")
	for _, d := range []string{"requests", "responses", "logs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// paperclipRequest is a request envelope with the field order of Paperclip's gateway
// (JSON.stringify of {id, method, path, query, headers, body, [bodyEncoding,] createdAt}).
type paperclipRequest struct {
	ID           string            `json:"id"`
	Method       string            `json:"method"`
	Path         string            `json:"path"`
	Query        string            `json:"query"`
	Headers      map[string]string `json:"headers"`
	Body         string            `json:"body"`
	BodyEncoding string            `json:"bodyEncoding,omitempty"`
	CreatedAt    string            `json:"createdAt"`
}

// writeFixture publishes an envelope the way Paperclip's gateway does: `<id>.json.tmp` holding
// the JSON plus "\n", then a rename.
func writeFixture(t *testing.T, dir, id string, data []byte) {
	t.Helper()
	p := filepath.Join(dir, "requests", id+".json")
	if err := os.WriteFile(p+".tmp", data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p+".tmp", p); err != nil {
		t.Fatal(err)
	}
}

func writeEnvelope(t *testing.T, dir string, r paperclipRequest) {
	t.Helper()
	if r.CreatedAt == "" {
		r.CreatedAt = formatTime(time.Now())
	}
	if r.Headers == nil {
		r.Headers = map[string]string{}
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	writeFixture(t, dir, r.ID, append(b, '\n'))
}

var isoMillis = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

// awaitResponse waits for responses/<id>.json, checks it the way a strict gateway would (one
// JSON line plus "\n", only Paperclip's field names, lower-case headers, completedAt format),
// deletes it as the gateway does, and returns it.
func awaitResponse(t *testing.T, dir, id string) Response {
	t.Helper()
	p := filepath.Join(dir, "responses", id+".json")
	deadline := time.Now().Add(15 * time.Second)
	for {
		data, err := os.ReadFile(p)
		if err == nil {
			_ = os.Remove(p)
			return checkResponse(t, data)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no response for %s", id)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func checkResponse(t *testing.T, data []byte) Response {
	t.Helper()
	if !bytes.HasSuffix(data, []byte("\n")) || bytes.Count(data, []byte("\n")) != 1 {
		t.Fatalf("response is not one line plus newline: %q", data)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{"id": true, "status": true, "headers": true, "body": true, "bodyEncoding": true, "completedAt": true}
	for k := range fields {
		if !allowed[k] {
			t.Errorf("unexpected response field %q", k)
		}
	}
	for _, k := range []string{"id", "status", "headers", "body", "completedAt"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("response lacks %q", k)
		}
	}
	var r Response
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	if !isoMillis.MatchString(r.CompletedAt) {
		t.Errorf("completedAt %q", r.CompletedAt)
	}
	for k := range r.Headers {
		if k != toLower(k) {
			t.Errorf("header %q not lower-case", k)
		}
	}
	return r
}

func toLower(s string) string { return string(bytes.ToLower([]byte(s))) }

// seenRequest is what the stand-in handler recorded.
type seenRequest struct {
	Method, RequestURI, Path, Query string
	Header                          http.Header
	Body                            string
}

// recorder is a stand-in callback handler that records each request and answers with fn.
type recorder struct {
	mu   sync.Mutex
	seen []seenRequest
	fn   func(w http.ResponseWriter, r *http.Request)
}

func (h *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.seen = append(h.seen, seenRequest{r.Method, r.RequestURI, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), string(b)})
	h.mu.Unlock()
	if h.fn != nil {
		h.fn(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"ok":true}`))
}

func (h *recorder) requests() []seenRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]seenRequest(nil), h.seen...)
}

// dirEntries lists a directory's names (for leftover checks).
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// eventually polls cond for up to 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
