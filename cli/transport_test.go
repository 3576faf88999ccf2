package cli

import (
	"net/http"
	"os"
	"os/exec"
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

// sshEnv points the sidecar at a real loopback sshd with its pinned host
// key and the authorized client key, given as files like a launcher would.
func sshEnv(t *testing.T, srv *realsshd.Server) []string {
	dir := t.TempDir()
	key := filepath.Join(dir, "id")
	kh := filepath.Join(dir, "known_hosts")
	must(t, os.WriteFile(key, srv.ClientKeyPEM, 0o600))
	must(t, os.WriteFile(kh, []byte(srv.KnownHostsLine()+"\n"), 0o600))
	return []string{
		"CLIPBRIDGE_SSH_HOST=" + srv.Host,
		"CLIPBRIDGE_SSH_PORT=" + strconv.Itoa(srv.Port),
		"CLIPBRIDGE_SSH_USER=" + srv.User,
		"CLIPBRIDGE_SSH_KEY_FILE=" + key,
		"CLIPBRIDGE_SSH_KNOWN_HOSTS_FILE=" + kh,
	}
}

// The agent on the execution host calls its URL with the real curl, over
// the SSH remote forward, and upstream sees the swapped credential.
func TestSSHModeEndToEnd(t *testing.T) {
	srv := realsshd.StartT(t, realsshd.Config{})
	up := testsupport.NewUpstream(t, nil)
	s := startSidecar(t, append(baseEnv(up.URL), sshEnv(t, srv)...), "serve")
	if !regexp.MustCompile(`^http://127\.0\.0\.1:\d+$`).MatchString(s.ready.Env.URL) {
		t.Fatalf("URL %q", s.ready.Env.URL)
	}
	// "On the execution host" is this machine's loopback: the port is
	// sshd's, not ours.
	out, err := exec.Command("curl", "-sS", "-H", "Authorization: Bearer "+s.ready.Env.Key, s.ready.Env.URL+"/api/agents/me").CombinedOutput()
	if err != nil || string(out) != `{"ok":true}` {
		t.Fatalf("curl through the tunnel: %v %s\nsidecar:\n%s", err, out, s.stderr.String())
	}
	reqs := up.Requests()
	if len(reqs) != 1 || reqs[0].Header.Get("Authorization") != "Bearer "+runJWT {
		t.Fatalf("upstream saw %d requests", len(reqs))
	}
	if code, _ := adminGet(t, s, "/readyz"); code != 200 {
		t.Fatalf("readyz %d", code)
	}
	_, metrics := adminGet(t, s, "/metrics")
	mustContainAll(t, metrics, "clipbridge_tunnel_up 1", "clipbridge_tunnel_reconnects_total 0",
		"clipbridge_tunnel_connect_duration_seconds", "clipbridge_tunnel_keepalive_rtt_seconds")
	// The admin endpoints are not reachable through the tunnel.
	resp, _ := agentGet(t, s, "/metrics")
	if resp.StatusCode != 403 {
		t.Fatalf("/metrics through the tunnel: %d", resp.StatusCode)
	}
	sendSignal(t, s, syscall.SIGTERM)
	if code := s.wait(t, 15*time.Second); code != 0 {
		t.Fatalf("exit %d\n%s", code, s.stderr.String())
	}
	if strings.Contains(s.stderr.String()+srv.Logs(), runJWT) {
		t.Fatal("run token in logs")
	}
}

// Start-up failures of the SSH transport exit 2 with a message that says
// what to fix.
func TestSSHModeStartupErrors(t *testing.T) {
	srv := realsshd.StartT(t, realsshd.Config{})
	env := append(baseEnv("http://127.0.0.1:1"), sshEnv(t, srv)...)
	t.Run("unknown host key", func(t *testing.T) {
		empty := filepath.Join(t.TempDir(), "empty")
		must(t, os.WriteFile(empty, nil, 0o600))
		e := append(append([]string{}, env...), "CLIPBRIDGE_SSH_KNOWN_HOSTS_FILE="+empty)
		_, stderr, code := runBinary(t, e, "serve")
		if code != 2 || !strings.Contains(stderr, "SHA256:") || !strings.Contains(stderr, "known_hosts") {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		e := append(append([]string{}, env...), "CLIPBRIDGE_SSH_PORT=1")
		if _, stderr, code := runBinary(t, e, "serve"); code != 2 {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
	})
	t.Run("forwarding disabled", func(t *testing.T) {
		off := realsshd.StartT(t, realsshd.Config{AllowTCPForwarding: "no"})
		e := append(baseEnv("http://127.0.0.1:1"), sshEnv(t, off)...)
		_, stderr, code := runBinary(t, e, "serve")
		if code != 2 || !strings.Contains(stderr, "AllowTcpForwarding") {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
	})
}

// "-- command" runs the agent on the execution host with the agent env,
// after the ready line, and the sidecar exits with its status.
func TestSSHModeCommand(t *testing.T) {
	srv := realsshd.StartT(t, realsshd.Config{})
	up := testsupport.NewUpstream(t, nil)
	stdout, stderr, code := runBinary(t, append(baseEnv(up.URL), sshEnv(t, srv)...), "serve", "--",
		"sh", "-c", `curl -sS -H "Authorization: Bearer $PAPERCLIP_API_KEY" "$PAPERCLIP_API_URL/api/agents/me"; echo; echo "mode=$PAPERCLIP_API_BRIDGE_MODE"; exit 7`)
	if code != 7 {
		t.Fatalf("exit %d, want the command's 7\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], `{"event":"ready"`) || lines[1] != `{"ok":true}` || lines[2] != "mode=queue_v1" {
		t.Fatalf("stdout:\n%s", stdout)
	}
}

// queue mode with the local runner and our own gateway: the agent env has
// a URL and key again, and a call goes through the files.
func TestQueueModeWithGateway(t *testing.T) {
	up := testsupport.NewUpstream(t, nil)
	dir := filepath.Join(t.TempDir(), "queue")
	s := startSidecar(t, baseEnv(up.URL), "serve", "--queue-dir", dir, "--start-gateway")
	if s.ready.Env.QueueDir != dir || s.ready.Env.URL == "" || s.ready.Env.Key == "" {
		t.Fatalf("ready env %+v\n%s", s.ready.Env, s.stderr.String())
	}
	resp, body := agentGet(t, s, "/api/agents/me")
	if resp.StatusCode != 200 || body != `{"ok":true}` {
		t.Fatalf("got %d %s", resp.StatusCode, body)
	}
	if r := up.Requests(); len(r) != 1 || r[0].Header.Get("Authorization") != "Bearer "+runJWT {
		t.Fatalf("upstream %d", len(r))
	}
	_, metrics := adminGet(t, s, "/metrics")
	mustContainAll(t, metrics, "clipbridge_queue_requests_total", "clipbridge_queue_pickup_seconds", "clipbridge_queue_depth")
	sendSignal(t, s, syscall.SIGTERM)
	if code := s.wait(t, 15*time.Second); code != 0 {
		t.Fatalf("exit %d\n%s", code, s.stderr.String())
	}
}

// Without --start-gateway the ready line carries only the mode and the
// queue dir: the URL and key belong to whichever gateway serves it.
func TestQueueModeWithoutGateway(t *testing.T) {
	up := testsupport.NewUpstream(t, nil)
	dir := filepath.Join(t.TempDir(), "queue")
	s := startSidecar(t, baseEnv(up.URL), "serve", "--queue-dir", dir)
	if s.ready.Env.URL != "" || s.ready.Env.Key != "" || s.ready.Env.QueueDir != dir || s.ready.Env.Mode != "queue_v1" {
		t.Fatalf("ready env %+v", s.ready.Env)
	}
	if code, _ := adminGet(t, s, "/readyz"); code != 200 {
		t.Fatalf("readyz %d", code)
	}
	_ = http.StatusOK
}

// The demo runs the real sidecar through the real tunnel code, into its
// in-process SSH server, in front of the stand-in control plane.
func TestDemo(t *testing.T) {
	s := startSidecar(t, nil, "demo")
	resp, body := agentGet(t, s, "/api/agents/me")
	if resp.StatusCode != 200 || !strings.Contains(body, `"runId":"run-demo"`) {
		t.Fatalf("demo /api/agents/me: %d %s\n%s", resp.StatusCode, body, s.stderr.String())
	}
	_, metrics := adminGet(t, s, "/metrics")
	mustContainAll(t, metrics, "clipbridge_tunnel_up 1")
	sendSignal(t, s, syscall.SIGINT)
	if code := s.wait(t, 15*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	mustContainAll(t, s.stderr.String(), "curl -s -H", "/metrics", "SSH remote forward")
}

// Drain through the tunnel: in-flight requests finish (exit 0), or the
// drain times out (exit 1), as on the local listener.
func TestSSHModeDrain(t *testing.T) {
	srv := realsshd.StartT(t, realsshd.Config{})
	for _, tc := range []struct {
		name  string
		sleep time.Duration
		drain string
		code  int
	}{
		{"drained", 500 * time.Millisecond, "5s", 0},
		{"timed out", 5 * time.Second, "300ms", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			arrived := make(chan struct{})
			up := testsupport.NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				close(arrived)
				select {
				case <-time.After(tc.sleep):
				case <-r.Context().Done():
				}
				_, _ = w.Write([]byte(`{"ok":true}`))
			})
			s := startSidecar(t, append(baseEnv(up.URL), sshEnv(t, srv)...), "serve", "--drain-timeout", tc.drain)
			got := make(chan int, 1)
			go func() {
				req, _ := http.NewRequest("GET", s.ready.Env.URL+"/api/agents/me", nil)
				req.Header.Set("Authorization", "Bearer "+s.ready.Env.Key)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					got <- 0
					return
				}
				resp.Body.Close()
				got <- resp.StatusCode
			}()
			<-arrived
			sendSignal(t, s, syscall.SIGTERM)
			if code := s.wait(t, 10*time.Second); code != tc.code {
				t.Fatalf("exit %d, want %d\n%s", code, tc.code, s.stderr.String())
			}
			if status := <-got; tc.code == 0 && status != 200 {
				t.Fatalf("in-flight request got %d", status)
			}
		})
	}
}

// queue_v1 over the ssh runner with our gateway started on the "execution
// host" (this machine, through a real sshd): the whole sandbox path.
func TestQueueModeOverSSH(t *testing.T) {
	srv := realsshd.StartT(t, realsshd.Config{})
	up := testsupport.NewUpstream(t, nil)
	dir := filepath.Join(t.TempDir(), "queue")
	s := startSidecar(t, append(baseEnv(up.URL), sshEnv(t, srv)...), "serve", "--queue-dir", dir, "--start-gateway")
	if s.ready.Env.URL == "" || s.ready.Env.QueueDir != dir {
		t.Fatalf("ready env %+v\n%s", s.ready.Env, s.stderr.String())
	}
	for i := 0; i < 3; i++ {
		resp, body := agentGet(t, s, "/api/agents/me")
		if resp.StatusCode != 200 || body != `{"ok":true}` {
			t.Fatalf("call %d: %d %s\n%s", i, resp.StatusCode, body, s.stderr.String())
		}
	}
	resp, body := agentGet(t, s, "/api/secrets")
	if resp.StatusCode != 403 || body != `{"error":"Route not allowed: GET /api/secrets"}` {
		t.Fatalf("denied route: %d %s", resp.StatusCode, body)
	}
	_, metrics := adminGet(t, s, "/metrics")
	mustContainAll(t, metrics, `clipbridge_runner_execs_total{runner="ssh"}`, `clipbridge_queue_requests_total{outcome="forwarded"}`)
	sendSignal(t, s, syscall.SIGTERM)
	if code := s.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("exit %d\n%s", code, s.stderr.String())
	}
	// Nothing of the run token reached the execution host's files.
	_ = filepath.Walk(filepath.Dir(dir), func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			if b, _ := os.ReadFile(p); strings.Contains(string(b), runJWT) {
				t.Errorf("run token in %s", p)
			}
		}
		return nil
	})
}
