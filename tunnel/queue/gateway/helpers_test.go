package gateway

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clipbridge/clipbridge/tunnel/queue"
	"github.com/clipbridge/clipbridge/tunnel/queue/internal/queuetest"
)

// TestMain lets this test binary double as `clipbridge gateway` on the "execution host": the
// launcher tests copy it there and start it.
func TestMain(m *testing.M) { queuetest.Main(m, map[string]queuetest.Program{"gateway": Run}) }

// testGateway is Run in-process on a fresh queue directory, with its ready line parsed.
type testGateway struct {
	*queuetest.Gateway
	ready ReadyInfo
}

// startGateway runs Run with env (plus the queue dir and token unless given) and waits for its
// ready line.
func startGateway(t *testing.T, env map[string]string) *testGateway {
	t.Helper()
	g := &testGateway{Gateway: queuetest.StartGateway(t, Run, env)}
	if err := json.Unmarshal([]byte(g.ReadyLine), &g.ready); err != nil {
		t.Fatal(err)
	}
	return g
}

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// fixtureHost plays Paperclip's host worker against a gateway's queue: it reads each request
// file, checks every field the way a strict reader would (fixtureCheck), and answers with fn.
// fn returning nil leaves the request unanswered.
type fixtureHost struct {
	t    *testing.T
	dir  string
	fn   func(env map[string]any) []byte
	mu   sync.Mutex
	seen []map[string]any
	stop chan struct{}
	done chan struct{}
}

func startFixtureHost(t *testing.T, dir string, fn func(env map[string]any) []byte) *fixtureHost {
	h := &fixtureHost{t: t, dir: dir, fn: fn, stop: make(chan struct{}), done: make(chan struct{})}
	go h.run()
	t.Cleanup(func() { close(h.stop); <-h.done })
	return h
}

func (h *fixtureHost) run() {
	defer close(h.done)
	handled := map[string]bool{}
	for {
		select {
		case <-h.stop:
			return
		case <-time.After(2 * time.Millisecond):
		}
		entries, _ := os.ReadDir(filepath.Join(h.dir, "requests"))
		for _, e := range entries {
			name := e.Name()
			if !strings.HasSuffix(name, ".json") || handled[name] {
				continue
			}
			handled[name] = true
			data, err := os.ReadFile(filepath.Join(h.dir, "requests", name))
			if err != nil {
				continue
			}
			env := fixtureCheck(h.t, name, data)
			h.mu.Lock()
			h.seen = append(h.seen, env)
			h.mu.Unlock()
			out := h.fn(env)
			if out == nil {
				continue
			}
			resp := filepath.Join(h.dir, "responses", name)
			_ = os.WriteFile(resp+".tmp", out, 0o644)
			_ = os.Rename(resp+".tmp", resp)
			_ = os.Remove(filepath.Join(h.dir, "requests", name))
		}
	}
}

func (h *fixtureHost) envelopes() []map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]map[string]any(nil), h.seen...)
}

// fixtureCheck verifies a request envelope written by our gateway field by field.
func fixtureCheck(t *testing.T, name string, data []byte) map[string]any {
	if !strings.HasSuffix(string(data), "\n") || strings.Count(string(data), "\n") != 1 {
		t.Errorf("%s: not one JSON line plus newline", name)
	}
	var env map[string]any
	if err := json.Unmarshal(data, &env); err != nil {
		t.Errorf("%s: %v", name, err)
		return nil
	}
	allowed := map[string]bool{"id": true, "method": true, "path": true, "query": true, "headers": true, "body": true,
		"bodyEncoding": true, "createdAt": true, "hmac": true}
	for k := range env {
		if !allowed[k] {
			t.Errorf("%s: unexpected field %q", name, k)
		}
	}
	for _, k := range []string{"id", "method", "path", "query", "headers", "body", "createdAt", "hmac"} {
		if _, ok := env[k]; !ok {
			t.Errorf("%s: missing field %q", name, k)
		}
	}
	id, _ := env["id"].(string)
	if !uuidV4.MatchString(id) || id+".json" != name {
		t.Errorf("%s: id %q", name, id)
	}
	if q, _ := env["query"].(string); q != "" && (!strings.HasPrefix(q, "?") || q == "?") {
		t.Errorf("%s: query %q", name, q)
	}
	if c, _ := env["createdAt"].(string); !queuetest.ISOMillis.MatchString(c) {
		t.Errorf("%s: createdAt %q", name, c)
	}
	hdrs, _ := env["headers"].(map[string]any)
	for k, v := range hdrs {
		if _, isStr := v.(string); !isStr || !strings.Contains(" "+strings.Join(forwardedHeaders, " ")+" ", " "+k+" ") {
			t.Errorf("%s: header %q=%v", name, k, v)
		}
	}
	if enc, ok := env["bodyEncoding"]; ok && enc != "base64" {
		t.Errorf("%s: bodyEncoding %v", name, enc)
	}
	req, err := queue.DecodeRequest(data)
	if err != nil || !req.VerifyMAC([]byte(queuetest.Token)) {
		t.Errorf("%s: MAC does not verify (%v)", name, err)
	}
	return env
}

// respondJSON renders a Paperclip-style response envelope.
func respondJSON(env map[string]any, status int, headers map[string]string, body string) []byte {
	b, _ := json.Marshal(map[string]any{"id": env["id"], "status": status, "headers": headers, "body": body,
		"completedAt": queue.FormatTime(time.Now())})
	return append(b, '\n')
}
