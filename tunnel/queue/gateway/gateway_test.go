package gateway

import (
	"encoding/base64"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clipbridge/clipbridge/tunnel/queue"
	"github.com/clipbridge/clipbridge/tunnel/queue/internal/queuetest"
)

// §9.3 #1 (gateway half): the envelope holds the canonical path, the query with its "?", only
// allowlisted lower-case headers; the answer's status, body, etag and last-modified come back.
func TestGatewayRoundTrip(t *testing.T) {
	g := startGateway(t, nil)
	host := startFixtureHost(t, g.Dir, func(env map[string]any) []byte {
		return respondJSON(env, 200, map[string]string{"content-type": "application/json", "etag": `"e1"`,
			"last-modified": "Wed, 01 May 2026 10:00:00 GMT", "content-length": "999"}, `{"ok":true}`)
	})
	resp, body := g.Do(t, "GET", "/api/agents/me?view=compact", map[string]string{"Accept": "application/json",
		"If-None-Match": `"x"`, "Cookie": "c=1", "X-Paperclip-Run-Id": "spoof", "X-Other": "1"}, "")
	if resp.StatusCode != 200 || body != `{"ok":true}` || resp.Header.Get("ETag") != `"e1"` ||
		resp.Header.Get("Last-Modified") == "" || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %q %v", resp.StatusCode, body, resp.Header)
	}
	envs := host.envelopes()
	if len(envs) != 1 {
		t.Fatalf("%d envelopes", len(envs))
	}
	e := envs[0]
	hdrs := e["headers"].(map[string]any)
	if e["method"] != "GET" || e["path"] != "/api/agents/me" || e["query"] != "?view=compact" || e["body"] != "" ||
		len(hdrs) != 2 || hdrs["accept"] != "application/json" || hdrs["if-none-match"] != `"x"` {
		t.Fatalf("envelope %v", e)
	}
	if _, ok := e["bodyEncoding"]; ok {
		t.Fatal("bodyEncoding written for a text body")
	}
}

// The gateway's own answers (reference §5, with our listener's stricter rules).
func TestGatewayRejects(t *testing.T) {
	g := startGateway(t, map[string]string{queue.EnvMaxBodyBytes: "64"})
	host := startFixtureHost(t, g.Dir, func(env map[string]any) []byte {
		return respondJSON(env, 200, map[string]string{"content-type": "application/json"}, `{}`)
	})
	big := strings.Repeat("x", 65)
	cases := []struct {
		name, method, target string
		header               map[string]string
		body                 string
		status               int
		errMsg               string
	}{
		{"no token", "GET", "/api/agents/me", map[string]string{"Authorization": ""}, "", 401, msgInvalidToken},
		{"wrong token", "GET", "/api/agents/me", map[string]string{"Authorization": "Bearer nope"}, "", 401, msgInvalidToken},
		{"wrong scheme", "GET", "/api/agents/me", map[string]string{"Authorization": "bearer " + queuetest.Token}, "", 401, msgInvalidToken},
		{"dot segments", "GET", "/api/agents/x/../me", nil, "", 400, msgInvalidPath},
		{"double slash", "GET", "/api//agents/me", nil, "", 400, msgInvalidPath},
		{"text body", "POST", "/api/issues/i/comments", map[string]string{"Content-Type": "text/plain"}, "hi", 415, msgUnsupportedMedia},
		{"octet attachment", "POST", "/api/companies/c/issues/i/attachments", map[string]string{"Content-Type": "application/octet-stream"}, "x", 415, msgUnsupportedMedia},
		{"body over cap", "POST", "/api/issues/i/comments", map[string]string{"Content-Type": "application/json"}, big, 413, msgBodyTooLarge},
		{"bodyless post passes", "POST", "/api/issues/i/checkout", nil, "", 200, ""},
		{"json post passes", "POST", "/api/issues/i/comments", map[string]string{"Content-Type": "application/json; charset=utf-8"}, `{"a":1}`, 200, ""},
		{"multipart attachment passes", "POST", "/api/companies/c/issues/i/attachments", map[string]string{"Content-Type": "multipart/form-data; boundary=b"}, "--b--", 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(host.envelopes())
			resp, body := g.Do(t, tc.method, tc.target, tc.header, tc.body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d body %s", resp.StatusCode, body)
			}
			if tc.errMsg != "" {
				if body != `{"error":"`+tc.errMsg+`"}` || resp.Header.Get("Content-Type") != "application/json" {
					t.Fatalf("body %s", body)
				}
				time.Sleep(10 * time.Millisecond)
				if len(host.envelopes()) != before {
					t.Fatal("a rejected request was queued")
				}
			}
		})
	}
}

// The worker's own answers are short JSON that can be longer than a tiny body cap, since they
// name the cap: with PAPERCLIP_BRIDGE_MAX_BODY_BYTES=32, Paperclip's own execution-target test
// expects the over-cap 502 verbatim, and a mutation must still get its indeterminate 409.
func TestGatewayReplaysWorkerAnswersOverATinyCap(t *testing.T) {
	g := startGateway(t, map[string]string{queue.EnvMaxBodyBytes: "32"})
	msg := "Bridge response body exceeded the configured size limit of 32 bytes."
	// The envelopes the worker writes for an over-cap answer (worker/replies.go).
	startFixtureHost(t, g.Dir, func(env map[string]any) []byte {
		if env["method"] != "GET" {
			return respondJSON(env, 409, map[string]string{"content-type": "application/json", queue.OutcomeHeader: "indeterminate"},
				`{"error":"`+msg+`","outcome":"indeterminate","retryable":false}`)
		}
		return respondJSON(env, 502, map[string]string{"content-type": "application/json"}, `{"error":"`+msg+`"}`)
	})
	resp, body := g.Do(t, "GET", "/api/agents/me", nil, "")
	if resp.StatusCode != 502 || body != `{"error":"`+msg+`"}` {
		t.Fatalf("GET: %d %s", resp.StatusCode, body)
	}
	resp, body = g.Do(t, "POST", "/api/issues/i/checkout", nil, "")
	if resp.StatusCode != 409 || resp.Header.Get(queue.OutcomeHeader) != "indeterminate" ||
		body != `{"error":"`+msg+`","outcome":"indeterminate","retryable":false}` {
		t.Fatalf("POST: %d %v %s", resp.StatusCode, resp.Header, body)
	}
}

// §9.3 #7 and E2's stale sweep: a full queue is refused after orphans are swept.
func TestGatewayQueueDepth(t *testing.T) {
	g := startGateway(t, map[string]string{queue.EnvMaxQueueDepth: "1", queue.EnvResponseTimeout: "300"})
	planted := filepath.Join(g.Dir, "requests", "planted.json")
	if err := os.WriteFile(planted, []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	resp, body := g.Do(t, "GET", "/api/agents/me", nil, "")
	if resp.StatusCode != 503 || body != `{"error":"`+msgQueueFull+`"}` {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	old := time.Now().Add(-time.Minute)
	if err := os.Chtimes(planted, old, old); err != nil {
		t.Fatal(err)
	}
	resp, body = g.Do(t, "GET", "/api/agents/me", nil, "")
	if resp.StatusCode != 502 || !strings.Contains(body, "Timed out") {
		t.Fatalf("after sweep: %d %s", resp.StatusCode, body)
	}
	if _, err := os.Stat(planted); !os.IsNotExist(err) {
		t.Fatal("stale request not swept")
	}
}

// §9.3 #8 and E2: a timeout is 502 for a safe method and 409 indeterminate for a mutation, and
// the gateway removes its own request file.
func TestGatewayTimeout(t *testing.T) {
	g := startGateway(t, map[string]string{queue.EnvResponseTimeout: "75"})
	resp, body := g.Do(t, "GET", "/api/agents/me", nil, "")
	if resp.StatusCode != 502 || body != `{"error":"`+msgTimedOut+`"}` {
		t.Fatalf("GET: %d %s", resp.StatusCode, body)
	}
	resp, body = g.Do(t, "POST", "/api/issues/i/comments", map[string]string{"Content-Type": "application/json"}, `{}`)
	if resp.StatusCode != 409 || resp.Header.Get("X-Paperclip-Bridge-Outcome") != "indeterminate" ||
		body != `{"error":"`+msgTimedOut+`","outcome":"indeterminate","retryable":false}` {
		t.Fatalf("POST: %d %s", resp.StatusCode, body)
	}
	if left := queuetest.DirEntries(t, filepath.Join(g.Dir, "requests")); len(left) != 0 {
		t.Fatalf("requests left: %v", left)
	}
}

// §9.3 #9, E2's indeterminate mapping and the body codec on the way back.
func TestGatewayReplaysResponses(t *testing.T) {
	cases := []struct {
		name       string
		method     string
		response   func(env map[string]any) []byte
		wantStatus int
		wantBody   string
		contains   string
	}{
		{"truncated json get", "GET", func(env map[string]any) []byte { return []byte(`{"id":"x","status":200,`) }, 502, "", "Unexpected end of JSON input"},
		{"truncated json post", "POST", func(env map[string]any) []byte { return []byte(`{"id":"x"`) }, 409, "", `"outcome":"indeterminate"`},
		{"marker maps to 409", "POST", func(env map[string]any) []byte {
			return respondJSON(env, 504, map[string]string{"content-type": "application/json", queue.OutcomeHeader: "indeterminate"}, `{"error":"cut"}`)
		}, 409, `{"error":"cut"}`, ""},
		{"plain 503 passes through", "GET", func(env map[string]any) []byte {
			return respondJSON(env, 503, map[string]string{"content-type": "application/json"}, `{"error":"x"}`)
		}, 503, `{"error":"x"}`, ""},
		{"base64 body", "GET", func(env map[string]any) []byte {
			b, _ := json.Marshal(map[string]any{"id": env["id"], "status": 200, "headers": map[string]string{}, "body": base64.StdEncoding.EncodeToString([]byte{0xff, 0}), "bodyEncoding": "base64", "completedAt": "x"})
			return b
		}, 200, "\xff\x00", ""},
		{"bad base64 get", "GET", func(env map[string]any) []byte {
			b, _ := json.Marshal(map[string]any{"id": env["id"], "status": 200, "body": "YR==", "bodyEncoding": "base64"})
			return b
		}, 502, "", queue.ErrInvalidBase64.Error()},
		{"status not a number", "GET", func(env map[string]any) []byte {
			b, _ := json.Marshal(map[string]any{"id": env["id"], "status": "201", "body": "ok"})
			return b
		}, 200, "ok", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := startGateway(t, nil)
			startFixtureHost(t, g.Dir, tc.response)
			hdr := map[string]string{}
			body := ""
			if tc.method == "POST" {
				hdr["Content-Type"], body = "application/json", "{}"
			}
			resp, got := g.Do(t, tc.method, "/api/issues/i/comments", hdr, body)
			if resp.StatusCode != tc.wantStatus || (tc.wantBody != "" && got != tc.wantBody) || !strings.Contains(got, tc.contains) {
				t.Fatalf("%d %q", resp.StatusCode, got)
			}
			queuetest.Eventually(t, "response consumed", func() bool { return len(queuetest.DirEntries(t, filepath.Join(g.Dir, "responses"))) == 0 })
		})
	}
}

// Binary uploads travel base64-encoded; text stays plain.
func TestGatewayBinaryBody(t *testing.T) {
	g := startGateway(t, nil)
	host := startFixtureHost(t, g.Dir, func(env map[string]any) []byte { return respondJSON(env, 200, nil, "") })
	resp, _ := g.Do(t, "POST", "/api/companies/c/issues/i/attachments", map[string]string{"Content-Type": "multipart/form-data; boundary=b"}, "\xff\x00bin")
	if resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	e := host.envelopes()[0]
	if e["bodyEncoding"] != "base64" || e["body"] != base64.StdEncoding.EncodeToString([]byte("\xff\x00bin")) {
		t.Fatalf("%v", e)
	}
}

// ready.json is Paperclip's shape, written atomically, equal to the stdout line, removed at exit.
func TestGatewayReadyFile(t *testing.T) {
	g := startGateway(t, nil)
	data, err := os.ReadFile(filepath.Join(g.Dir, "ready.json"))
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != g.ReadyLine {
		t.Fatalf("ready.json %s vs stdout %s", data, g.ReadyLine)
	}
	var fields map[string]any
	_ = json.Unmarshal(data, &fields)
	if len(fields) != 5 || g.ready.PID != os.Getpid() || g.ready.Host != "127.0.0.1" || g.ready.Port == 0 ||
		!queuetest.ISOMillis.MatchString(g.ready.StartedAt) || !strings.HasPrefix(g.BaseURL, "http://127.0.0.1:") {
		t.Fatalf("%s", data)
	}
	if _, err := os.Stat(filepath.Join(g.Dir, "ready.json.tmp")); !os.IsNotExist(err) {
		t.Fatal("temp file left")
	}
	if err := g.Stop(t); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(g.Dir, "ready.json")); !os.IsNotExist(err) {
		t.Fatal("ready.json left after exit")
	}
}

// The gateway exits when its stdin closes (the launcher's lease).
func TestGatewayExitsOnStdinEOF(t *testing.T) {
	g := startGateway(t, map[string]string{queue.EnvExitOnStdinEOF: "1"})
	_ = g.Stdin.Close()
	select {
	case err := <-g.Done:
		if err != nil {
			t.Fatal(err)
		}
		g.Done <- nil
	case <-time.After(5 * time.Second):
		t.Fatal("gateway kept running after stdin EOF")
	}
}

// Start-up failures are errors (exit 1) with clear messages.
func TestGatewayStartErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := ln.Addr().(*net.TCPAddr).Port
	dir := t.TempDir()
	cases := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"bind failure", map[string]string{queue.EnvQueueDir: dir, queue.EnvBridgeToken: queuetest.Token, queue.EnvBridgePort: strconv.Itoa(busy)}, "address already in use"},
		{"duplex mode", map[string]string{queue.EnvQueueDir: dir, queue.EnvBridgeToken: queuetest.Token, queue.EnvBridgeMode: "duplex_v1"}, "Unsupported PAPERCLIP_API_BRIDGE_MODE: duplex_v1"},
		{"unknown mode", map[string]string{queue.EnvQueueDir: dir, queue.EnvBridgeToken: queuetest.Token, queue.EnvBridgeMode: "carrier_pigeon"}, "Unsupported PAPERCLIP_API_BRIDGE_MODE: carrier_pigeon"},
		{"no token", map[string]string{queue.EnvQueueDir: dir}, "PAPERCLIP_BRIDGE_TOKEN is required."},
		{"no queue dir", map[string]string{queue.EnvBridgeToken: queuetest.Token}, "PAPERCLIP_BRIDGE_QUEUE_DIR and PAPERCLIP_BRIDGE_TOKEN are required."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Run(t.Context(), func(k string) string { return tc.env[k] }, nil, queuetest.Writer(t), queuetest.Writer(t))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestEnvNumber(t *testing.T) {
	cases := map[string]int64{"": 7, "abc": 7, "0": 7, "-5": 7, "12.9": 12, "1e3": 1000, "Infinity": 7, "NaN": 7, " 42 ": 42}
	for in, want := range cases {
		if got := envNumber(in, 7); got != want {
			t.Errorf("envNumber(%q) = %d, want %d", in, got, want)
		}
	}
}
