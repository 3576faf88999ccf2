package h2bridge

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clipbridge/clipbridge/internal/testsupport"
	"github.com/clipbridge/clipbridge/runner"
)

// Interop with Paperclip's own pieces, both ways, as far as they can run
// here: Paperclip's sources cannot be fetched at test time (no network)
// and must not be copied into this repository, so each side is a fixture
// written for these tests from the wire facts of Paperclip's code
// (testdata/paperclip-gateway.mjs, testdata/paperclip-host.mjs), run
// under Node as Paperclip runs them.

// nodePath finds node, or skips (fails with CLIPBRIDGE_REQUIRE_TOOLS=1).
func nodePath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CLIPBRIDGE_REQUIRE_TOOLS") == "1" {
			t.Fatal("node not found and CLIPBRIDGE_REQUIRE_TOOLS=1")
		}
		t.Skip("interop test skipped: node not found (apt-get install nodejs)")
	}
	return p
}

func fixture(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Our host, Paperclip's gateway: the host starts the Node gateway through
// the local runner, accepts its READY line and preface, and serves the
// callback API on its session; a killed gateway is replaced.
func TestInteropPaperclipGateway(t *testing.T) {
	node := nodePath(t)
	gw := fixture(t, "paperclip-gateway.mjs")
	st := startStack(t, stackOptions{
		runner: runner.NewLocal(runner.LocalOptions{}),
		upH: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("ETag", `"e9"`)
			_, _ = io.WriteString(w, `{"ok":true}`)
		},
		opts: func(o *Options) {
			o.Script = `exec "$CB_NODE" "$CB_FIXTURE"`
			o.Env = map[string]string{"CB_NODE": node, "CB_FIXTURE": gw}
		},
	})
	resp, body := st.agent(t, "GET", "/api/agents/me?view=compact", "", map[string]string{"If-None-Match": `"e1"`})
	if resp.StatusCode != 200 || body != `{"ok":true}` || resp.Header.Get("Etag") != `"e9"` {
		t.Fatalf("GET: %d %s %v", resp.StatusCode, body, resp.Header)
	}
	raw := "{\"x\":\"\xff\xfe\"}"
	if resp, _ := st.agent(t, "POST", "/api/issues/i-1/comments", raw, map[string]string{"Content-Type": "application/json"}); resp.StatusCode != 200 {
		t.Fatalf("POST: %d", resp.StatusCode)
	}
	if resp, body := st.agent(t, "DELETE", "/api/secrets", "", nil); resp.StatusCode != 403 || body != errJSON("Route not allowed: DELETE /api/secrets") {
		t.Fatalf("denied: %d %s", resp.StatusCode, body)
	}
	if resp, body := st.agent(t, "GET", "/api/agents/me", "", map[string]string{"Authorization": "Bearer no"}); resp.StatusCode != 401 || body != errJSON("Invalid bridge token.") {
		t.Fatalf("token: %d %s", resp.StatusCode, body)
	}
	reqs := st.up.Requests()
	if len(reqs) != 2 || reqs[0].RequestURI != "/api/agents/me?view=compact" || reqs[0].Header.Get("If-None-Match") != `"e1"` ||
		reqs[0].Header.Get("Authorization") != "Bearer "+testRunToken || string(reqs[1].Body) != raw {
		t.Fatalf("upstream saw %+v", reqs)
	}

	// Paperclip's gateway never gives up its port on its own; the host
	// kills a gateway whose session it lost, then starts the next.
	pid := processWith(t, gw)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if resp, _ := st.agentMaybe(t, "GET", "/api/agents/me"); resp != nil && resp.StatusCode == 200 && processWith(t, gw) != pid {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("no new session after the gateway was killed")
}

// processWith is the pid of the process whose argv holds s, or 0.
func processWith(t *testing.T, s string) int {
	t.Helper()
	files, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil && strings.Contains(string(b), s) && !strings.HasPrefix(string(b), "sh\x00") {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
			return pid
		}
	}
	return 0
}

// Paperclip's host, our gateway: the Node host starts this binary as the
// gateway, accepts its READY line and preface, and serves each stream;
// the agent's calls go through our gateway to it and on to upstream.
func TestInteropPaperclipHost(t *testing.T) {
	node := nodePath(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	up := testsupport.NewUpstream(t, nil)
	port := freePort(t)
	cmd := exec.Command(node, fixture(t, "paperclip-host.mjs"), self, "gateway")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "FIXTURE_UPSTREAM=" + up.URL, "FIXTURE_RUN_TOKEN=" + testRunToken,
		"FIXTURE_RUN_ID=" + testRunID, "PAPERCLIP_BRIDGE_TOKEN=" + testBridgeToken, "PAPERCLIP_BRIDGE_PORT=" + strconv.Itoa(port)}
	cmd.Stderr = testWriter{t}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() })
	lines := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(out).ReadString('\n')
		lines <- l
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case l := <-lines:
		if l != "HOST READY\n" {
			t.Fatalf("Paperclip's host did not bind our gateway: %q", l)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no word from the host")
	}
	call := func(method, target, body, token string) (int, string) {
		req, _ := http.NewRequestWithContext(t.Context(), method, "http://127.0.0.1:"+strconv.Itoa(port)+target, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, b := do(t, req)
		return resp.StatusCode, b
	}
	if status, body := call("GET", "/api/agents/me", "", testBridgeToken); status != 200 || body != `{"ok":true}` {
		t.Fatalf("GET: %d %s", status, body)
	}
	raw := "{\"x\":\"\xff\"}"
	if status, _ := call("POST", "/api/issues/i-1/comments", raw, testBridgeToken); status != 200 {
		t.Fatalf("POST: %d", status)
	}
	if status, body := call("DELETE", "/api/secrets", "", testBridgeToken); status != 403 || body != errJSON("Route not allowed: DELETE /api/secrets") {
		t.Fatalf("denied: %d %s", status, body)
	}
	if status, body := call("GET", "/api/agents%2fme", "", testBridgeToken); status != 400 || body != errJSON("Invalid request path: encoded_slash") {
		t.Fatalf("path: %d %s", status, body)
	}
	if status, body := call("GET", "/api/agents/me", "", "wrong"); status != 401 || body != errJSON("Invalid bridge token.") {
		t.Fatalf("token: %d %s", status, body)
	}
	reqs := up.Requests()
	if len(reqs) != 2 || reqs[0].Header.Get("Authorization") != "Bearer "+testRunToken || reqs[0].Header.Get("X-Paperclip-Run-Id") != testRunID ||
		string(reqs[1].Body) != raw {
		t.Fatalf("upstream saw %+v", reqs)
	}
	for _, r := range reqs {
		for k, vv := range r.Header {
			if strings.Contains(strings.Join(vv, ","), testBridgeToken) {
				t.Fatalf("bridge token upstream in %s", k)
			}
		}
	}
}
