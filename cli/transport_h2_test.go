package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clipbridge/clipbridge/internal/realsshd"
	"github.com/clipbridge/clipbridge/internal/testsupport"
)

// http2_v1 with the local runner: the sidecar copies itself beside the
// queue dir, starts its gateway there, and the agent env is the gateway's
// URL, the key and mode http2_v1; calls go over the one session.
func TestHTTP2Mode(t *testing.T) {
	up := testsupport.NewUpstream(t, nil)
	dir := filepath.Join(t.TempDir(), "queue")
	s := startSidecar(t, baseEnv(up.URL), "serve", "--queue-dir", dir, "--bridge-mode", "http2_v1")
	if s.ready.Env.Mode != "http2_v1" || !strings.HasPrefix(s.ready.Env.URL, "http://127.0.0.1:") || s.ready.Env.Key == "" ||
		s.ready.Env.QueueDir != "" {
		t.Fatalf("ready env %+v\n%s", s.ready.Env, s.stderr.String())
	}
	for i := range 3 {
		if resp, body := agentGet(t, s, "/api/agents/me"); resp.StatusCode != 200 || body != `{"ok":true}` {
			t.Fatalf("call %d: %d %s\n%s", i, resp.StatusCode, body, s.stderr.String())
		}
	}
	if r := up.Requests(); len(r) != 3 || r[0].Header.Get("Authorization") != "Bearer "+runJWT {
		t.Fatalf("upstream %d", len(r))
	}
	if code, _ := adminGet(t, s, "/readyz"); code != 200 {
		t.Fatalf("readyz %d", code)
	}
	_, metrics := adminGet(t, s, "/metrics")
	mustContainAll(t, metrics, "clipbridge_h2bridge_up 1", `clipbridge_h2bridge_session_opens_total{result="ok"} 1`,
		`clipbridge_http_requests_total{code="200",method="GET",route="^/api/agents/me$"} 3`)
	sendSignal(t, s, syscall.SIGTERM)
	if code := s.wait(t, 15*time.Second); code != 0 {
		t.Fatalf("exit %d\n%s", code, s.stderr.String())
	}
}

// Over a real sshd: one SSH connection, a fixed handful of execs (hash,
// maybe upload, the gateway) however many calls follow.
func TestHTTP2ModeOverSSH(t *testing.T) {
	srv := realsshd.StartT(t, realsshd.Config{})
	up := testsupport.NewUpstream(t, nil)
	dir := filepath.Join(t.TempDir(), "queue")
	s := startSidecar(t, append(baseEnv(up.URL), sshEnv(t, srv)...), "serve", "--queue-dir", dir, "--bridge-mode", "http2_v1")
	if s.ready.Env.Mode != "http2_v1" {
		t.Fatalf("ready env %+v\n%s", s.ready.Env, s.stderr.String())
	}
	execs := func() int {
		_, m := adminGet(t, s, "/metrics")
		got := regexp.MustCompile(`clipbridge_runner_execs_total\{runner="ssh"\} (\d+)`).FindStringSubmatch(m)
		if got == nil {
			t.Fatalf("no ssh exec count in\n%s", m)
		}
		n, _ := strconv.Atoi(got[1])
		return n
	}
	before := execs()
	for i := range 10 {
		if resp, body := agentGet(t, s, "/api/agents/me"); resp.StatusCode != 200 || body != `{"ok":true}` {
			t.Fatalf("call %d: %d %s\n%s", i, resp.StatusCode, body, s.stderr.String())
		}
	}
	if resp, body := agentGet(t, s, "/api/secrets"); resp.StatusCode != 403 || body != `{"error":"Route not allowed: GET /api/secrets"}` {
		t.Fatalf("denied: %d %s", resp.StatusCode, body)
	}
	if after := execs(); after != before || before > 3 {
		t.Fatalf("execs %d before the calls, %d after", before, after)
	}
	sendSignal(t, s, syscall.SIGTERM)
	if code := s.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("exit %d\n%s", code, s.stderr.String())
	}
}

// When the http2_v1 READY check fails, the sidecar says why and falls
// back to queue_v1 with our gateway, as Paperclip's host does.
func TestHTTP2FallsBackToQueue(t *testing.T) {
	up := testsupport.NewUpstream(t, nil)
	root := t.TempDir()
	dir := filepath.Join(root, "queue")
	// A "gateway binary" that answers http2_v1 with someone else's
	// READY line, and is the real clipbridge for queue_v1.
	fake := filepath.Join(root, "fake-gateway")
	script := "#!/bin/sh\nif [ \"$PAPERCLIP_API_BRIDGE_MODE\" = http2_v1 ]; then\n" +
		"  echo '{\"version\":2,\"type\":\"ready\",\"nonce\":\"not-yours\"}'; sleep 30; exit 1\nfi\n" +
		"exec " + binPath + " \"$@\"\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	s := startSidecar(t, baseEnv(up.URL), "serve", "--queue-dir", dir, "--bridge-mode", "http2_v1", "--gateway-binary", fake)
	if s.ready.Env.Mode != "queue_v1" || s.ready.Env.URL == "" || s.ready.Env.QueueDir != dir {
		t.Fatalf("ready env %+v\n%s", s.ready.Env, s.stderr.String())
	}
	mustContainAll(t, s.stderr.String(), "http2_v1 unavailable; falling back to queue_v1", "ready_nonce_mismatch")
	if resp, body := agentGet(t, s, "/api/agents/me"); resp.StatusCode != 200 || body != `{"ok":true}` {
		t.Fatalf("call: %d %s\n%s", resp.StatusCode, body, s.stderr.String())
	}
	_, metrics := adminGet(t, s, "/metrics")
	mustContainAll(t, metrics, `clipbridge_h2bridge_session_opens_total{result="ready_nonce_mismatch"} 1`)
	sendSignal(t, s, syscall.SIGTERM)
	if code := s.wait(t, 15*time.Second); code != 0 {
		t.Fatalf("exit %d\n%s", code, s.stderr.String())
	}
}

// The gateway command's http2_v1 start-up errors are Paperclip's, exit 1.
func TestGatewayHTTP2StartErrors(t *testing.T) {
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{[]string{"PAPERCLIP_API_BRIDGE_MODE=http2_v1", "PAPERCLIP_BRIDGE_TOKEN=t"},
			"http2 gateway requires a positive assigned PAPERCLIP_BRIDGE_PORT; got 0"},
		{[]string{"PAPERCLIP_API_BRIDGE_MODE=http2_v1", "PAPERCLIP_BRIDGE_PORT=4100"}, "PAPERCLIP_BRIDGE_TOKEN is required."},
		{[]string{"PAPERCLIP_API_BRIDGE_MODE=duplex_v1", "PAPERCLIP_BRIDGE_TOKEN=t"}, "Unsupported PAPERCLIP_API_BRIDGE_MODE: duplex_v1"},
	} {
		stdout, stderr, code := runBinary(t, tc.env, "gateway")
		// A configuration error exits 2, as every command's does (Paperclip's gateway exits 1).
		if code != 2 || !strings.Contains(stderr, "[paperclip-bridge] server error: "+tc.want) || stdout != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", tc.env, code, stdout, stderr)
		}
	}
}
