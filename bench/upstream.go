package main

import (
	"bufio"
	"crypto/subtle"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Paths the load uses: each is on clipbridge's default allowlist, so
// clipbridge runs its full rule set on every request.
const (
	smallPath  = "/api/agents/me"
	largePath  = "/api/attachments/bench/content"
	uploadPath = "/api/issues/bench/comments"
	largeSize  = 10 << 20
)

// smallBody is the shape of Paperclip's /api/agents/me answer.
var smallBody = []byte(`{"id":"agent-bench","name":"Bench Agent","companyId":"company-bench","role":"engineer","status":"running","runId":"run-bench"}` + "\n")

// upstreamRoleEnv names the environment variable that turns the harness
// binary into the stand-in upstream, so the upstream runs in its own
// process and never shares the proxy's (or the harness's) Go runtime.
const upstreamRoleEnv = "CLIPBRIDGE_BENCH_ROLE"

// runUpstream serves the stand-in API on a loopback port and prints
// "listening <addr>" on stdout. The run token comes from the environment.
func runUpstream() error {
	token := []byte("Bearer " + os.Getenv("CLIPBRIDGE_BENCH_RUN_TOKEN"))
	runID := os.Getenv("CLIPBRIDGE_BENCH_RUN_ID")
	large := make([]byte, largeSize)
	for i := range large {
		large[i] = byte('a' + i%26)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+smallPath, func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h["Content-Type"] = []string{"application/json"}
		h["Content-Length"] = []string{strconv.Itoa(len(smallBody))}
		_, _ = w.Write(smallBody)
	})
	mux.HandleFunc("GET "+largePath, func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h["Content-Type"] = []string{"application/octet-stream"}
		h["Content-Length"] = []string{strconv.Itoa(len(large))}
		_, _ = w.Write(large)
	})
	mux.HandleFunc("POST "+uploadPath, func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			http.Error(w, `{"error":"short body"}`, http.StatusBadRequest)
			return
		}
		w.Header()["Content-Type"] = []string{"application/json"}
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"id":"comment-bench","bytes":%d}`+"\n", n)
	})
	auth := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The same check Paperclip makes: a request without the real run
		// credential fails, so a misconfigured proxy shows up as errors.
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), token) != 1 ||
			r.Header.Get("X-Paperclip-Run-Id") != runID {
			http.Error(w, `{"error":"Unauthorized"}`, http.StatusUnauthorized)
			return
		}
		mux.ServeHTTP(w, r)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Printf("listening %s\n", ln.Addr())
	srv := &http.Server{Handler: auth, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 5 * time.Minute}
	return srv.Serve(ln)
}

// upstreamProc is the running stand-in upstream.
type upstreamProc struct {
	cmd  *exec.Cmd
	addr string
}

// startUpstream re-executes this binary in the upstream role.
func startUpstream(runToken, runID string) (*upstreamProc, error) {
	cmd, addr, err := startRole("upstream", "CLIPBRIDGE_BENCH_RUN_TOKEN="+runToken, "CLIPBRIDGE_BENCH_RUN_ID="+runID)
	if err != nil {
		return nil, err
	}
	return &upstreamProc{cmd: cmd, addr: addr}, nil
}

// startRole re-executes this binary in a server role (upstream, bare
// proxy) with extra environment, and waits for its "listening <addr>"
// line on stdout.
func startRole(role string, env ...string) (*exec.Cmd, string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	cmd := exec.Command(self)
	cmd.Env = append(append(os.Environ(), upstreamRoleEnv+"="+role), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if err != nil || !ok {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, "", fmt.Errorf("%s did not start: %q %v", role, line, err)
	}
	return cmd, addr, nil
}

func (u *upstreamProc) stop() {
	_ = u.cmd.Process.Kill()
	_ = u.cmd.Wait()
}
