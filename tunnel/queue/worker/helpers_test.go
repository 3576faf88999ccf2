package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/clipbridge/clipbridge/runner"
	"github.com/clipbridge/clipbridge/tunnel/queue"
	"github.com/clipbridge/clipbridge/tunnel/queue/agent"
	"github.com/clipbridge/clipbridge/tunnel/queue/gateway"
	"github.com/clipbridge/clipbridge/tunnel/queue/internal/queuetest"
	"github.com/clipbridge/clipbridge/tunnel/queue/queuedir"
)

// TestMain lets this test binary double as `clipbridge queue-agent` (the "agent" store kind)
// and `clipbridge gateway` (the launcher, in TestControlCommandsMarkBridgeChannel) on the
// "execution host".
func TestMain(m *testing.M) {
	queuetest.Main(m, map[string]queuetest.Program{"queue-agent": agent.Run, "queue-agent --once": agent.RunOnce, "gateway": gateway.Run})
}

// lockSuffix is Paperclip's response write mutex suffix, which every store honours.
const lockSuffix = ".paperclip-write.lock"

// storeKinds are the ways the worker reaches a queue directory in tests: this machine with
// fsnotify, and the shell co-process under bash, under plain sh, and through an exec prefix.
// "ssh" runs the co-process over a real sshd (skipped visibly when sshd is missing, unless
// CLIPBRIDGE_REQUIRE_SSHD=1).
// "agent" is the Go co-process (this test binary run as `queue-agent`) through an exec prefix.
// The one-shot kinds: "once-sh" is the one-shot shell script through an exec prefix that
// cannot stream, "once-agent" the same with `queue-agent --once`, and "once-relay" the agent
// through the relay runner, its parent a Go stand-in for the npm launcher.
var storeKinds = []string{"local", "coproc-bash", "coproc-sh", "exec", "ssh", "agent", "once-sh", "once-agent", "once-relay"}

func newTestStore(t *testing.T, kind, dir string) store {
	t.Helper()
	log := queuetest.Logger(t)
	switch kind {
	case "local":
		return queuedir.New(dir, log)
	case "coproc-bash", "coproc-sh":
		s := newRemoteStore(runner.NewLocal(runner.LocalOptions{}), dir, 5*time.Second, log)
		s.noBash = kind == "coproc-sh"
		return s
	case "exec", "ssh":
		return newRemoteStore(queuetest.Runner(t, kind), dir, 5*time.Second, log)
	case "agent":
		s := newRemoteStore(queuetest.Runner(t, "exec"), dir, 5*time.Second, log)
		s.agentBin = self(t)
		return s
	case "once-sh", "once-agent", "once-relay":
		r := queuetest.Runner(t, "exec-one-shot")
		if kind == "once-relay" {
			r = queuetest.Runner(t, "relay")
		}
		s := newOnceStore(r, dir, 5*time.Second, 500*time.Millisecond, log)
		if kind != "once-sh" {
			s.agentBin = self(t)
		}
		return s
	}
	t.Fatalf("unknown store kind %s", kind)
	return nil
}

// self is this test binary, which doubles as `clipbridge queue-agent` (see TestMain).
func self(t *testing.T) string {
	t.Helper()
	p, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// testWorker runs a Worker on dir until stop is called (or the test ends).
type testWorker struct {
	*Worker
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func startWorker(t *testing.T, kind, dir string, o Options) *testWorker {
	t.Helper()
	return startWorkerWrapped(t, kind, dir, o, nil)
}

// startWorkerWrapped is startWorker with the store wrapped (fault injection) before Run starts.
func startWorkerWrapped(t *testing.T, kind, dir string, o Options, wrap func(store) store) *testWorker {
	t.Helper()
	o.Dir = dir
	if o.Logger == nil {
		o.Logger = queuetest.Logger(t)
	}
	if o.DrainTimeout == 0 {
		o.DrainTimeout = time.Second
	}
	if o.AbortGrace == 0 {
		o.AbortGrace = time.Second
	}
	w, err := New(o)
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
		r.CreatedAt = queue.FormatTime(time.Now())
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

// awaitResponse waits for responses/<id>.json, checks it the way a strict gateway would (one
// JSON line plus "\n", only Paperclip's field names, lower-case headers, completedAt format),
// deletes it as the gateway does, and returns it.
func awaitResponse(t *testing.T, dir, id string) queue.Response {
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

func checkResponse(t *testing.T, data []byte) queue.Response {
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
	var r queue.Response
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	if !queuetest.ISOMillis.MatchString(r.CompletedAt) {
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
