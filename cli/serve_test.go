package cli

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clipbridge/clipbridge/internal/testsupport"
)

const runJWT = "real-run-jwt"

func baseEnv(upstream string) []string {
	return []string{"CLIPBRIDGE_RUN_TOKEN=" + runJWT, "CLIPBRIDGE_RUN_ID=run-bridge", "CLIPBRIDGE_UPSTREAM=" + upstream}
}

// Paperclip's first acceptance case, black-box against the binary, with
// the real curl as the agent when it is installed.
func TestAcceptanceAgentsMe(t *testing.T) {
	up := testsupport.NewUpstream(t, nil)
	s := startSidecar(t, baseEnv(up.URL), "serve")
	if !regexp.MustCompile(`^http://127\.0\.0\.1:\d+$`).MatchString(s.ready.Env.URL) {
		t.Fatalf("PAPERCLIP_API_URL %q", s.ready.Env.URL)
	}
	if s.ready.Env.Key == "" || s.ready.Env.Key == runJWT || len(s.ready.Env.Key) != 32 {
		t.Fatalf("PAPERCLIP_API_KEY %q", s.ready.Env.Key)
	}
	if s.ready.Event != "ready" || s.ready.Env.Mode != "queue_v1" || !strings.HasPrefix(s.ready.AdminURL, "http://127.0.0.1:") {
		t.Fatalf("ready line %+v", s.ready)
	}
	var status int
	var body string
	if curl, err := exec.LookPath("curl"); err == nil {
		out, err := exec.Command(curl, "-sS", "-w", "\n%{http_code}", "-H", "Authorization: Bearer "+s.ready.Env.Key,
			s.ready.Env.URL+"/api/agents/me").Output()
		if err != nil {
			t.Fatalf("curl: %v", err)
		}
		b, code, _ := strings.Cut(string(out), "\n")
		body = b
		if code == "200" {
			status = 200
		}
	} else {
		t.Log("curl not installed; using Go's client as the agent")
		resp, b := agentGet(t, s, "/api/agents/me")
		status, body = resp.StatusCode, b
	}
	if status != 200 || body != `{"ok":true}` {
		t.Fatalf("agent got %d %q", status, body)
	}
	reqs := up.Requests()
	if len(reqs) != 1 {
		t.Fatalf("upstream saw %d requests", len(reqs))
	}
	r := reqs[0]
	if r.Method != "GET" || r.RequestURI != "/api/agents/me" || r.Header.Get("Authorization") != "Bearer "+runJWT ||
		r.Header.Get("X-Paperclip-Run-Id") != "run-bridge" {
		t.Fatalf("upstream saw %s %s auth=%q run=%q", r.Method, r.RequestURI, r.Header.Get("Authorization"), r.Header.Get("X-Paperclip-Run-Id"))
	}
}

// Paperclip's second acceptance case.
func TestAcceptanceResponseCap(t *testing.T) {
	up := testsupport.NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"payload":"` + strings.Repeat("x", 64-14) + `"}`))
	})
	s := startSidecar(t, baseEnv(up.URL), "serve", "--max-body-bytes", "32")
	resp, body := agentGet(t, s, "/api/agents/me")
	if resp.StatusCode != 502 || body != `{"error":"Bridge response body exceeded the configured size limit of 32 bytes."}` {
		t.Fatalf("got %d %s", resp.StatusCode, body)
	}
}

// On SIGTERM the listener closes at once, /readyz turns 503, the request
// in flight completes, and the exit status is 0.
func TestDrainOnSIGTERM(t *testing.T) {
	arrived := make(chan struct{})
	up := testsupport.NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		time.Sleep(800 * time.Millisecond)
		_, _ = w.Write([]byte(`{"ok":true}`))
	})
	s := startSidecar(t, baseEnv(up.URL), "serve")
	result := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("GET", s.ready.Env.URL+"/api/agents/me", nil)
		req.Header.Set("Authorization", "Bearer "+s.ready.Env.Key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			result <- 0
			return
		}
		resp.Body.Close()
		result <- resp.StatusCode
	}()
	<-arrived
	sendSignal(t, s, syscall.SIGTERM)
	deadline := time.Now().Add(400 * time.Millisecond)
	refused, notReady := false, false
	for time.Now().Before(deadline) && !(refused && notReady) {
		if c, err := net.Dial("tcp", strings.TrimPrefix(s.ready.Env.URL, "http://")); err != nil {
			refused = true
		} else {
			c.Close()
		}
		if code, _ := adminGet(t, s, "/readyz"); code == 503 {
			notReady = true
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !refused || !notReady {
		t.Fatalf("during drain: new connections refused=%v, readyz 503=%v", refused, notReady)
	}
	if got := <-result; got != 200 {
		t.Fatalf("in-flight request got %d", got)
	}
	if code := s.wait(t, 5*time.Second); code != 0 {
		t.Fatalf("exit %d after a clean drain; stderr:\n%s", code, s.stderr.String())
	}
}

func TestDrainTimeoutExitsOne(t *testing.T) {
	arrived := make(chan struct{})
	up := testsupport.NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	s := startSidecar(t, baseEnv(up.URL), "serve", "--drain-timeout", "200ms")
	go func() {
		req, _ := http.NewRequest("GET", s.ready.Env.URL+"/api/agents/me", nil)
		req.Header.Set("Authorization", "Bearer "+s.ready.Env.Key)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	<-arrived
	sendSignal(t, s, syscall.SIGINT)
	if code := s.wait(t, 3*time.Second); code != 1 {
		t.Fatalf("exit %d, want 1 when the drain times out", code)
	}
}

// serve prints nothing but the ready line on stdout; logs go to stderr.
func TestStdoutIsOnlyTheReadyLine(t *testing.T) {
	up := testsupport.NewUpstream(t, nil)
	s := startSidecar(t, baseEnv(up.URL), "serve", "--log-level", "debug")
	agentGet(t, s, "/api/agents/me")
	agentGet(t, s, "/api/secrets")
	sendSignal(t, s, syscall.SIGTERM)
	s.wait(t, 5*time.Second)
	if out := s.stdout.String(); out != "" {
		t.Fatalf("stdout after the ready line: %q", out)
	}
	mustContainAll(t, s.stderr.String(), `"msg":"request"`, `"route":"^/api/agents/me$"`, `"status":403`)
}

// The real run token appears nowhere the execution host or an operator's
// log pipeline could see it: not in responses, logs or metrics.
func TestRunTokenNeverLeaks(t *testing.T) {
	up := testsupport.NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/issues/broken" {
			conn, _, _ := http.NewResponseController(w).Hijack()
			conn.Close()
			return
		}
		w.WriteHeader(401)
		_, _ = w.Write([]byte(`{"error":"nope"}`))
	})
	s := startSidecar(t, baseEnv(up.URL), "serve", "--log-level", "debug")
	var bodies strings.Builder
	for _, p := range []string{"/api/agents/me", "/api/issues/broken", "/api/secrets", "/api/../x"} {
		resp, body := agentGet(t, s, p)
		bodies.WriteString(body)
		for _, vv := range resp.Header {
			bodies.WriteString(strings.Join(vv, ","))
		}
	}
	_, metrics := adminGet(t, s, "/metrics")
	sendSignal(t, s, syscall.SIGTERM)
	s.wait(t, 5*time.Second)
	for name, text := range map[string]string{"responses": bodies.String(), "metrics": metrics, "logs": s.stderr.String(), "stdout": s.stdout.String()} {
		if strings.Contains(text, runJWT) {
			t.Errorf("run token found in %s", name)
		}
	}
}

func TestAdminEndpoints(t *testing.T) {
	up := testsupport.NewUpstream(t, nil)
	s := startSidecar(t, baseEnv(up.URL), "serve")
	agentGet(t, s, "/api/agents/me")
	if code, body := adminGet(t, s, "/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("healthz %d %q", code, body)
	}
	if code, _ := adminGet(t, s, "/readyz"); code != 200 {
		t.Fatalf("readyz %d", code)
	}
	code, metrics := adminGet(t, s, "/metrics")
	if code != 200 {
		t.Fatalf("metrics %d", code)
	}
	mustContainAll(t, metrics,
		`clipbridge_build_info{`,
		`clipbridge_http_requests_total{code="200",method="GET",route="^/api/agents/me$"} 1`,
		`clipbridge_http_request_duration_seconds_bucket{method="GET",route="^/api/agents/me$"`,
		`clipbridge_http_requests_in_flight 0`,
		`clipbridge_proxy_rejected_total{reason="body_budget"} 0`,
		`clipbridge_upstream_errors_total{kind="connect"} 0`,
		`clipbridge_upstream_request_duration_seconds_count 1`,
		`go_goroutines`, `process_resident_memory_bytes`,
	)
	// The admin endpoints are not on the callback listener.
	resp, _ := agentGet(t, s, "/metrics")
	if resp.StatusCode != 403 {
		t.Fatalf("/metrics on the callback listener: %d", resp.StatusCode)
	}
	if promtool, err := exec.LookPath("promtool"); err == nil {
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader(metrics)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("promtool check metrics: %v\n%s", err, out)
		}
	} else if os.Getenv("CLIPBRIDGE_REQUIRE_TOOLS") == "1" {
		t.Fatal("promtool not installed and CLIPBRIDGE_REQUIRE_TOOLS=1")
	} else {
		t.Log("SKIPPED promtool check: promtool not installed (apt-get install prometheus)")
	}
}

func TestEnvFile(t *testing.T) {
	up := testsupport.NewUpstream(t, nil)
	path := filepath.Join(t.TempDir(), "agent.env")
	s := startSidecar(t, baseEnv(up.URL), "serve", "--env-file", path)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	b, _ := os.ReadFile(path)
	want := "PAPERCLIP_API_URL=" + s.ready.Env.URL + "\nPAPERCLIP_API_KEY=" + s.ready.Env.Key + "\nPAPERCLIP_API_BRIDGE_MODE=queue_v1\n"
	if string(b) != want {
		t.Fatalf("env file:\n%s\nwant:\n%s", b, want)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("temp files left behind: %v", entries)
	}
}

// A launcher rotates the run JWT by replacing the file: by rename, by an
// in-place write, and by a Kubernetes-style symlink swap.
func TestRunTokenFileRotation(t *testing.T) {
	up := testsupport.NewUpstream(t, nil)
	dir := t.TempDir()
	// Kubernetes layout: token -> ..data/token, ..data -> ..v1
	for _, d := range []string{"..v1", "..v2"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, v string) {
		if err := os.WriteFile(p, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dir, "..v1", "token"), "jwt-1\n")
	must(t, os.Symlink("..v1", filepath.Join(dir, "..data")))
	must(t, os.Symlink("..data/token", filepath.Join(dir, "token")))
	tokenPath := filepath.Join(dir, "token")

	s := startSidecar(t, []string{"CLIPBRIDGE_RUN_ID=run-bridge", "CLIPBRIDGE_UPSTREAM=" + up.URL}, "serve", "--run-token-file", tokenPath)
	waitFor := func(want string) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Second)
		for {
			agentGet(t, s, "/api/agents/me")
			reqs := up.Requests()
			if reqs[len(reqs)-1].Header.Get("Authorization") == "Bearer "+want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("upstream still sees %q, want %q within 2 s", reqs[len(reqs)-1].Header.Get("Authorization"), want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitFor("jwt-1")

	// Kubernetes swap: new dir, new ..data link renamed over the old one.
	write(filepath.Join(dir, "..v2", "token"), "jwt-2\n")
	must(t, os.Symlink("..v2", filepath.Join(dir, "..data_tmp")))
	must(t, os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
	waitFor("jwt-2")

	// Rename over the path itself (replaces the symlink with a file).
	write(filepath.Join(dir, "token.new"), "jwt-3")
	must(t, os.Rename(filepath.Join(dir, "token.new"), tokenPath))
	waitFor("jwt-3")

	// In-place write.
	write(tokenPath, "jwt-4\r\n")
	waitFor("jwt-4")

	// A rewrite that is not a valid token (here a line break that would
	// have become a header line upstream) is refused: calls go on with
	// the last good token, and a warning names the file, not the value.
	write(tokenPath, "jwt-5\nX-Injected: yes\n")
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(s.stderr.String(), "run token file holds an invalid token") {
		if time.Now().After(deadline) {
			t.Fatalf("no warning for the invalid token\n%s", s.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitFor("jwt-4")
	for _, r := range up.Requests() {
		if r.Header.Get("X-Injected") != "" || strings.Contains(r.Header.Get("Authorization"), "jwt-5") {
			t.Fatalf("the invalid token reached upstream: %q", r.Header)
		}
	}
	if strings.Contains(s.stderr.String(), "jwt-") {
		t.Fatal("a token value reached the log")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
