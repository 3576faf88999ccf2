package worker

import (
	"context"
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clipbridge/clipbridge/proxy/budget"
	"github.com/clipbridge/clipbridge/tunnel/queue"
	"github.com/clipbridge/clipbridge/tunnel/queue/gateway"
	"github.com/clipbridge/clipbridge/tunnel/queue/internal/queuetest"
)

func forEachStore(t *testing.T, fn func(t *testing.T, kind string)) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) { fn(t, kind) })
	}
}

// §9.3 #1: a GET round-trips with its query and allowlisted headers, and etag/last-modified come back.
func TestWorkerRoundTrip(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		dir := queuetest.Dir(t)
		h := &queuetest.Recorder{Fn: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("ETag", `"v1"`)
			w.Header().Set("Last-Modified", "Wed, 01 May 2026 10:00:00 GMT")
			w.Header().Set("Content-Length", "11")
			w.Write([]byte(`{"ok":true}`))
		}}
		reg := prometheus.NewRegistry()
		startWorker(t, kind, dir, Options{Handler: h, Registerer: reg})
		writeEnvelope(t, dir, paperclipRequest{ID: "a1", Method: "GET", Path: "/api/agents/me", Query: "?view=compact",
			Headers: map[string]string{"accept": "application/json", "if-none-match": `"x"`}})
		r := awaitResponse(t, dir, "a1")
		if r.ID != "a1" || r.Status != 200 || r.Body != `{"ok":true}` || r.BodyEncoding != "" ||
			r.Headers["etag"] != `"v1"` || r.Headers["last-modified"] == "" || r.Headers["content-type"] != "application/json" {
			t.Fatalf("response %+v", r)
		}
		if _, ok := r.Headers["content-length"]; ok {
			t.Fatal("content-length copied into the envelope")
		}
		seen := h.Requests()
		if len(seen) != 1 {
			t.Fatalf("handler saw %d requests", len(seen))
		}
		s := seen[0]
		if s.Method != "GET" || s.RequestURI != "/api/agents/me?view=compact" || s.Path != "/api/agents/me" || s.Query != "view=compact" || s.Body != "" {
			t.Fatalf("handler saw %+v", s)
		}
		if s.Header.Get("Accept") != "application/json" || s.Header.Get("If-None-Match") != `"x"` || s.Header.Get("Authorization") != "" {
			t.Fatalf("headers %v", s.Header)
		}
		queuetest.Eventually(t, "request removed", func() bool { return len(queuetest.DirEntries(t, filepath.Join(dir, "requests"))) == 0 })
		queuetest.Eventually(t, "forwarded counted", func() bool { return counterValue(t, reg, outcomeForwarded) == 1 })
	})
}

func counterValue(t *testing.T, reg *prometheus.Registry, outcome string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "clipbridge_queue_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == outcome {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no outcome %s", outcome)
	return 0
}

// E1 and E2 envelope forms, and the worker's own error answers.
func TestWorkerEnvelopes(t *testing.T) {
	const max = 64
	cases := []struct {
		name       string
		raw        string // written verbatim when set
		env        paperclipRequest
		wantStatus int
		wantError  string
		wantBody   string // body the handler must see
		forwarded  bool
	}{
		{name: "e1 post json", env: paperclipRequest{Method: "POST", Path: "/api/issues/i1/comments", Headers: map[string]string{"content-type": "application/json"}, Body: `{"body":"hi"}`},
			wantStatus: 200, wantBody: `{"body":"hi"}`, forwarded: true},
		{name: "e2 base64 multipart", env: paperclipRequest{Method: "POST", Path: "/api/companies/c/issues/i/attachments", Headers: map[string]string{"content-type": "multipart/form-data; boundary=x"},
			Body: base64.StdEncoding.EncodeToString([]byte("\xff\x00bin")), BodyEncoding: "base64"}, wantStatus: 200, wantBody: "\xff\x00bin", forwarded: true},
		{name: "e2 explicit utf8", env: paperclipRequest{Method: "POST", Path: "/x", Body: "{}", BodyEncoding: "utf8"}, wantStatus: 200, wantBody: "{}", forwarded: true},
		{name: "lower-case method", env: paperclipRequest{Method: "get", Path: "/x"}, wantStatus: 200, forwarded: true},
		{name: "not json", raw: `{"id":"x",`, wantStatus: 400, wantError: msgInvalidPayload},
		{name: "body not a string", raw: `{"id":"bad","method":"POST","path":"/x","query":"","headers":{},"body":{"a":1},"createdAt":"2026-01-01T00:00:00.000Z"}`, wantStatus: 400, wantError: msgInvalidPayload},
		{name: "noncanonical base64", env: paperclipRequest{Method: "POST", Path: "/x", Body: "YR==", BodyEncoding: "base64"}, wantStatus: 400, wantError: msgInvalidPayload},
		{name: "hex encoding", env: paperclipRequest{Method: "POST", Path: "/x", Body: "00", BodyEncoding: "hex"}, wantStatus: 400, wantError: msgInvalidPayload},
		{name: "body over max", env: paperclipRequest{Method: "POST", Path: "/x", Body: strings.Repeat("a", max+1)}, wantStatus: 413, wantError: msgBodyTooLarge},
		{name: "envelope over limit", raw: `{"id":"big","body":"` + strings.Repeat("a", int(queue.EnvelopeLimit(max))) + `"}`, wantStatus: 413, wantError: msgEnvelopeTooLarge},
	}
	forEachStore(t, func(t *testing.T, kind string) {
		dir := queuetest.Dir(t)
		h := &queuetest.Recorder{}
		startWorker(t, kind, dir, Options{Handler: h, MaxBodyBytes: max})
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				id := "req-" + string(rune('a'+i))
				before := len(h.Requests())
				if tc.raw != "" {
					writeFixture(t, dir, id, []byte(tc.raw+"\n"))
				} else {
					tc.env.ID = id
					writeEnvelope(t, dir, tc.env)
				}
				r := awaitResponse(t, dir, id)
				if r.ID != id || r.Status != tc.wantStatus {
					t.Fatalf("got %+v", r)
				}
				if tc.wantError != "" && r.Body != `{"error":"`+tc.wantError+`"}` {
					t.Fatalf("body %s", r.Body)
				}
				after := h.Requests()
				if tc.forwarded != (len(after) == before+1) {
					t.Fatalf("forwarded=%v, handler calls %d -> %d", tc.forwarded, before, len(after))
				}
				if tc.forwarded && after[len(after)-1].Body != tc.wantBody {
					t.Fatalf("handler body %q", after[len(after)-1].Body)
				}
			})
		}
	})
}

// Non-UTF-8 answers travel as base64; text stays plain.
func TestWorkerBinaryResponse(t *testing.T) {
	dir := queuetest.Dir(t)
	startWorker(t, "local", dir, Options{Handler: &queuetest.Recorder{Fn: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write([]byte{0xff, 0xfe, 0x00})
	}}})
	writeEnvelope(t, dir, paperclipRequest{ID: "bin", Method: "GET", Path: "/api/attachments/a/content"})
	r := awaitResponse(t, dir, "bin")
	if r.BodyEncoding != "base64" || r.Body != base64.StdEncoding.EncodeToString([]byte{0xff, 0xfe, 0}) {
		t.Fatalf("got %+v", r)
	}
}

// §9.3 #3: stop drains already-queued requests, in order.
func TestWorkerDrainsQueuedInOrder(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		dir := queuetest.Dir(t)
		h := &queuetest.Recorder{}
		writeEnvelope(t, dir, paperclipRequest{ID: "req-a", Method: "GET", Path: "/a"})
		writeEnvelope(t, dir, paperclipRequest{ID: "req-b", Method: "GET", Path: "/b"})
		tw := startWorker(t, kind, dir, Options{Handler: h, MaxConcurrent: 1, DrainTimeout: 5 * time.Second})
		tw.stop(t)
		for _, id := range []string{"req-a", "req-b"} {
			if r := awaitResponse(t, dir, id); r.Status != 200 {
				t.Fatalf("%s: %+v", id, r)
			}
		}
		seen := h.Requests()
		if len(seen) != 2 || seen[0].Path != "/a" || seen[1].Path != "/b" {
			t.Fatalf("order %+v", seen)
		}
	})
}

// §9.3 #4: at the drain deadline, the request in the handler gets its real answer and the one
// still queued gets the fast retryable 503.
func TestWorkerStopAnswersQueuedWith503(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		dir := queuetest.Dir(t)
		release := make(chan struct{})
		var entered atomic.Bool
		h := &queuetest.Recorder{Fn: func(w http.ResponseWriter, r *http.Request) {
			entered.Store(true)
			<-release
			w.Write([]byte(`{"real":true}`))
		}}
		tw := startWorker(t, kind, dir, Options{Handler: h, MaxConcurrent: 1, DrainTimeout: 10 * time.Millisecond, AbortGrace: 10 * time.Second})
		writeEnvelope(t, dir, paperclipRequest{ID: "req-a", Method: "POST", Path: "/a", Body: "{}"})
		queuetest.Eventually(t, "handler entered", entered.Load)
		writeEnvelope(t, dir, paperclipRequest{ID: "req-b", Method: "POST", Path: "/b", Body: "{}"})
		time.Sleep(20 * time.Millisecond)
		go func() { time.Sleep(300 * time.Millisecond); close(release) }()
		tw.stop(t)
		if r := awaitResponse(t, dir, "req-b"); r.Status != 503 || r.Body != `{"error":"`+msgWorkerStopped+`"}` {
			t.Fatalf("req-b %+v", r)
		}
		if r := awaitResponse(t, dir, "req-a"); r.Status != 200 || r.Body != `{"real":true}` {
			t.Fatalf("req-a %+v", r)
		}
		if n := len(h.Requests()); n != 1 {
			t.Fatalf("handler called %d times", n)
		}
	})
}

// §9.3 #6 (E2 form): a GET still in its handler after the grace gets the retryable 503, a
// mutation gets the non-retryable 409, and the late handlers leave no orphaned response,
// temp file or lock behind.
func TestWorkerStopBackstopNoOrphans(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		dir := queuetest.Dir(t)
		var entered atomic.Int32
		late := make(chan struct{}, 2)
		h := &queuetest.Recorder{Fn: func(w http.ResponseWriter, r *http.Request) {
			entered.Add(1)
			time.Sleep(time.Second) // ignores cancellation, like a wedged handler
			w.Write([]byte(`{"late":true}`))
			late <- struct{}{}
		}}
		tw := startWorker(t, kind, dir, Options{Handler: h, DrainTimeout: 10 * time.Millisecond, AbortGrace: 50 * time.Millisecond})
		writeEnvelope(t, dir, paperclipRequest{ID: "get-1", Method: "GET", Path: "/a"})
		writeEnvelope(t, dir, paperclipRequest{ID: "post-1", Method: "POST", Path: "/a", Body: "{}"})
		queuetest.Eventually(t, "handlers entered", func() bool { return entered.Load() == 2 })
		tw.stop(t)
		if r := awaitResponse(t, dir, "get-1"); r.Status != 503 || r.Body != `{"error":"`+msgWorkerStopped+`"}` {
			t.Fatalf("get %+v", r)
		}
		r := awaitResponse(t, dir, "post-1")
		if r.Status != 409 || r.Headers[queue.OutcomeHeader] != "indeterminate" || !strings.Contains(r.Body, `"retryable":false`) {
			t.Fatalf("post %+v", r)
		}
		<-late
		<-late
		time.Sleep(50 * time.Millisecond)
		if left := queuetest.DirEntries(t, filepath.Join(dir, "responses")); len(left) != 0 {
			t.Fatalf("responses left: %v", left)
		}
		if left := queuetest.DirEntries(t, filepath.Join(dir, "requests")); len(left) != 0 {
			t.Fatalf("requests left: %v", left)
		}
	})
}

// E2: a request file that vanished before the read is skipped quietly.
func TestWorkerVanishedRequest(t *testing.T) {
	dir := queuetest.Dir(t)
	h := &queuetest.Recorder{}
	startWorkerWrapped(t, "local", dir, Options{Handler: h}, func(s store) store { return &vanishingStore{store: s} })
	writeEnvelope(t, dir, paperclipRequest{ID: "gone", Method: "GET", Path: "/a"})
	queuetest.Eventually(t, "request removed", func() bool { return len(queuetest.DirEntries(t, filepath.Join(dir, "requests"))) == 0 })
	time.Sleep(50 * time.Millisecond)
	if len(h.Requests()) != 0 || len(queuetest.DirEntries(t, filepath.Join(dir, "responses"))) != 0 {
		t.Fatal("vanished request was answered")
	}
}

// vanishingStore removes each request file just before reading it, as a gateway whose caller
// timed out would.
type vanishingStore struct{ store }

func (s *vanishingStore) Read(ctx context.Context, name string, limit int64, hold *budget.Hold) ([]byte, error) {
	_ = s.store.Remove(ctx, name)
	return s.store.Read(ctx, name, limit, hold)
}

// A request older than the gateways' wait is removed unanswered and never forwarded.
func TestWorkerExpiresStaleRequests(t *testing.T) {
	dir := queuetest.Dir(t)
	h := &queuetest.Recorder{}
	startWorker(t, "local", dir, Options{Handler: h, ResponseTimeout: time.Second})
	writeEnvelope(t, dir, paperclipRequest{ID: "old", Method: "POST", Path: "/a", Body: "{}", CreatedAt: queue.FormatTime(time.Now().Add(-time.Minute))})
	queuetest.Eventually(t, "request removed", func() bool { return len(queuetest.DirEntries(t, filepath.Join(dir, "requests"))) == 0 })
	if len(h.Requests()) != 0 || len(queuetest.DirEntries(t, filepath.Join(dir, "responses"))) != 0 {
		t.Fatal("stale request was forwarded or answered")
	}
}

// With the bridge token, only envelopes with a valid MAC are forwarded; tampering and replays get 401.
func TestWorkerRequiresMAC(t *testing.T) {
	token := []byte("bridge-token-0123456789abcdefghij")
	forEachStore(t, func(t *testing.T, kind string) {
		dir := queuetest.Dir(t)
		h := &queuetest.Recorder{}
		startWorker(t, kind, dir, Options{Handler: h, BridgeToken: token})
		signed := func(id, path string) *queue.Request {
			r := &queue.Request{ID: id, Method: "GET", Path: path, Headers: map[string]string{"accept": "application/json"}, CreatedAt: queue.FormatTime(time.Now())}
			r.Sign(token)
			return r
		}
		write := func(r *queue.Request) {
			b, err := queue.MarshalLine(r)
			if err != nil {
				t.Fatal(err)
			}
			writeFixture(t, dir, r.ID, b)
		}
		write(signed("ok-1", "/a"))
		if r := awaitResponse(t, dir, "ok-1"); r.Status != 200 {
			t.Fatalf("signed: %+v", r)
		}
		writeEnvelope(t, dir, paperclipRequest{ID: "plain-1", Method: "GET", Path: "/a"})
		tampered := signed("tampered-1", "/a")
		tampered.Path = "/api/secrets"
		write(tampered)
		wrongKey := &queue.Request{ID: "wrongkey-1", Method: "GET", Path: "/a", CreatedAt: queue.FormatTime(time.Now())}
		wrongKey.Sign([]byte("other-token"))
		write(wrongKey)
		renamed := signed("orig-1", "/a")
		renamed.ID = "renamed-1" // MAC covers the id: fails
		write(renamed)
		for _, id := range []string{"plain-1", "tampered-1", "wrongkey-1", "renamed-1"} {
			if r := awaitResponse(t, dir, id); r.Status != 401 || r.Body != `{"error":"Invalid bridge token."}` {
				t.Fatalf("%s: %+v", id, r)
			}
		}
		// A replay of an envelope already handled.
		write(signed("ok-1", "/a"))
		if r := awaitResponse(t, dir, "ok-1"); r.Status != 401 {
			t.Fatalf("replay: %+v", r)
		}
		if n := len(h.Requests()); n != 1 {
			t.Fatalf("handler called %d times", n)
		}
	})
}

// E2: transient poll failures are retried and the loop keeps relaying.
func TestWorkerRecoversFromPollFailures(t *testing.T) {
	dir := queuetest.Dir(t)
	h := &queuetest.Recorder{}
	var fs *flakyStore
	startWorkerWrapped(t, "local", dir, Options{Handler: h}, func(s store) store {
		fs = &flakyStore{store: s}
		fs.waitFails.Store(3)
		fs.writeFails.Store(2)
		return fs
	})
	writeEnvelope(t, dir, paperclipRequest{ID: "r1", Method: "POST", Path: "/a", Body: "{}"})
	if r := awaitResponse(t, dir, "r1"); r.Status != 200 || r.Body != `{"ok":true}` {
		t.Fatalf("got %+v", r)
	}
	if fs.waitFails.Load() > 0 || fs.writeFails.Load() > 0 {
		t.Fatal("faults not exercised")
	}
}

// A dead writer's lock is broken; the response still lands.
func TestWorkerBreaksDeadLock(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		dir := queuetest.Dir(t)
		lock := filepath.Join(dir, "responses", "locked.json"+lockSuffix)
		if err := os.Mkdir(lock, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(lock, "pid"), []byte("2147483646\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		startWorker(t, kind, dir, Options{Handler: &queuetest.Recorder{}})
		writeEnvelope(t, dir, paperclipRequest{ID: "locked", Method: "GET", Path: "/a"})
		if r := awaitResponse(t, dir, "locked"); r.Status != 200 {
			t.Fatalf("got %+v", r)
		}
		queuetest.Eventually(t, "lock removed", func() bool { _, err := os.Stat(lock); return os.IsNotExist(err) })
	})
}

// A request file that keeps failing to read is answered with the worker-failed 503.
func TestWorkerUnreadableRequest(t *testing.T) {
	dir := queuetest.Dir(t)
	h := &queuetest.Recorder{}
	startWorkerWrapped(t, "local", dir, Options{Handler: h}, func(s store) store { return &unreadableStore{store: s} })
	writeEnvelope(t, dir, paperclipRequest{ID: "u1", Method: "GET", Path: "/a"})
	r := awaitResponse(t, dir, "u1")
	if r.Status != 503 || !strings.Contains(r.Body, msgWorkerFailedPrefix+"read u1.json: boom") {
		t.Fatalf("got %+v", r)
	}
	if len(h.Requests()) != 0 {
		t.Fatal("forwarded")
	}
}

func TestFileNames(t *testing.T) {
	good := []string{"1325527a-1111-4222-8333-444455556666.json", "req-a.json", "a.b.json"}
	bad := []string{".json", ".hidden.json", "a.json.tmp", "a b.json", "a;b.json", "../a.json", "a.JSON", "x.paperclip-upload", "-"}
	for _, n := range good {
		if !queue.ValidName(n) {
			t.Errorf("%q rejected", n)
		}
	}
	for _, n := range bad {
		if queue.ValidName(n) {
			t.Errorf("%q accepted", n)
		}
	}
	if !slices.Equal([]string{queue.IDFromName("a.json")}, []string{"a"}) {
		t.Error("idFromName")
	}
}

// A co-process that hangs (before its greeting, or mid-operation) is killed at the operation
// timeout and replaced; the loop survives and the request is answered.
func TestWorkerSurvivesHungExec(t *testing.T) {
	dir := queuetest.Dir(t)
	hr := &hangingRunner{Runner: queuetest.Runner(t, "local")}
	startWorkerWrapped(t, "local", dir, Options{Handler: &queuetest.Recorder{}, ListWait: 200 * time.Millisecond},
		func(store) store { return newRemoteStore(hr, dir, 300*time.Millisecond, queuetest.Logger(t)) })
	writeEnvelope(t, dir, paperclipRequest{ID: "h1", Method: "GET", Path: "/a"})
	if r := awaitResponse(t, dir, "h1"); r.Status != 200 {
		t.Fatalf("got %+v", r)
	}
	if n := hr.starts.Load(); n < 3 {
		t.Fatalf("co-process started %d times", n)
	}
}

// The watchdog restarts a store whose listing hangs without ever failing, and the queue moves again.
func TestWorkerWatchdog(t *testing.T) {
	dir := queuetest.Dir(t)
	var hs *hangingWaitStore
	startWorkerWrapped(t, "local", dir, Options{Handler: &queuetest.Recorder{}, WatchdogTimeout: 200 * time.Millisecond},
		func(s store) store {
			hs = &hangingWaitStore{store: s, reset: make(chan struct{})}
			hs.hung.Store(true)
			return hs
		})
	writeEnvelope(t, dir, paperclipRequest{ID: "w1", Method: "GET", Path: "/a"})
	if r := awaitResponse(t, dir, "w1"); r.Status != 200 {
		t.Fatalf("got %+v", r)
	}
	if hs.resets.Load() == 0 {
		t.Fatal("watchdog never reset the store")
	}
}

// Every control command carries PAPERCLIP_SANDBOX_EXEC_CHANNEL=bridge (§9.3 #13), so providers
// can tell bridge plumbing from agent commands.
func TestControlCommandsMarkBridgeChannel(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := queuetest.Dir(t)
	rr := &recordingRunner{Runner: queuetest.Runner(t, "exec")}
	big := &queuetest.Recorder{Fn: func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(strings.Repeat("x", 64<<10))) }}
	startWorkerWrapped(t, "exec", dir, Options{Handler: big}, func(store) store {
		s := newRemoteStore(rr, dir, 5*time.Second, queuetest.Logger(t))
		s.noGNUHead = true // large writes then take their own exec
		return s
	})
	g, err := gateway.Launch(t.Context(), gateway.LaunchOptions{Runner: rr, Binary: self, QueueDir: dir, BridgeToken: queuetest.Token, Logger: queuetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Stop()
	writeEnvelope(t, dir, paperclipRequest{ID: "c1", Method: "GET", Path: "/a"})
	awaitResponse(t, dir, "c1")
	rr.mu.Lock()
	defer rr.mu.Unlock()
	kinds := map[string]bool{}
	for _, env := range rr.envs {
		switch {
		case env["CB_SCRIPT"] != "":
			kinds["co-process"] = true
		case env["CB_REMOVE"] != "":
			kinds["large write"] = true
		case env["CB_SHA"] != "" || env["CB_DST"] != "":
			kinds["binary sync"] = true
		case env[queue.EnvBridgeToken] != "":
			kinds["gateway"] = true
		}
	}
	if len(kinds) != 4 {
		t.Fatalf("commands seen: %v", kinds)
	}
	for i, env := range rr.envs {
		if env["PAPERCLIP_SANDBOX_EXEC_CHANNEL"] != "bridge" {
			t.Errorf("command %d lacks the bridge channel marker: %v", i, keys(env))
		}
	}
}

func keys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// Removing (here: moving away) the queue directories under a running worker does not stop it.
func TestWorkerRecreatesRemovedQueue(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		dir := queuetest.Dir(t)
		startWorker(t, kind, dir, Options{Handler: &queuetest.Recorder{}, ListWait: 100 * time.Millisecond})
		writeEnvelope(t, dir, paperclipRequest{ID: "before", Method: "GET", Path: "/a"})
		awaitResponse(t, dir, "before")
		if err := os.Rename(dir, dir+".gone"); err != nil {
			t.Fatal(err)
		}
		queuetest.Eventually(t, "queue recreated", func() bool { _, err := os.Stat(filepath.Join(dir, "requests")); return err == nil })
		_ = os.MkdirAll(filepath.Join(dir, "responses"), 0o755)
		writeEnvelope(t, dir, paperclipRequest{ID: "after", Method: "GET", Path: "/a"})
		if r := awaitResponse(t, dir, "after"); r.Status != 200 {
			t.Fatalf("got %+v", r)
		}
	})
}
