package reliability

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// roleEnv turns the test binary, re-executed, into an upstream process
// that the fault tests can SIGKILL: a killed process is what a crashed
// control plane looks like (connections reset by the kernel, nothing
// closed politely).
const roleEnv = "CLIPBRIDGE_RELIABILITY_ROLE"

// runUpstreamRole serves upstreamHandler on $..._ADDR and appends
// "METHOD id" to $..._LOG for every arrival, before answering. Each line
// is one write(2) on an O_APPEND file, so it survives the SIGKILL.
func runUpstreamRole() int {
	addr := os.Getenv("CLIPBRIDGE_RELIABILITY_ADDR")
	f, err := os.OpenFile(os.Getenv("CLIPBRIDGE_RELIABILITY_LOG"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var mu sync.Mutex
	record := func(method, id string) {
		mu.Lock()
		defer mu.Unlock()
		_, _ = f.WriteString(method + " " + id + "\n")
	}
	var ln net.Listener
	for range 100 {
		// The previous incarnation's port can take a moment to free.
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	delay, _ := time.ParseDuration(os.Getenv("CLIPBRIDGE_RELIABILITY_DELAY"))
	srv := &http.Server{
		Handler:           upstreamHandler(os.Getenv("CLIPBRIDGE_RELIABILITY_TOKEN"), delay, record),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       5 * time.Second,
	}
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// upstreamProc is the upstream in its own process, on a fixed port so it
// can come back where the bridge expects it.
type upstreamProc struct {
	t                    testing.TB
	addr, logPath, token string
	delay                time.Duration

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

func startUpstreamProc(t testing.TB, token string, delay time.Duration) *upstreamProc {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	u := &upstreamProc{t: t, addr: addr, logPath: t.TempDir() + "/arrivals", token: token, delay: delay}
	u.start()
	t.Cleanup(u.kill)
	return u
}

// start launches the process and waits until it listens.
func (u *upstreamProc) start() {
	u.t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), roleEnv+"=upstream",
		"CLIPBRIDGE_RELIABILITY_ADDR="+u.addr,
		"CLIPBRIDGE_RELIABILITY_LOG="+u.logPath,
		"CLIPBRIDGE_RELIABILITY_TOKEN="+u.token,
		"CLIPBRIDGE_RELIABILITY_DELAY="+u.delay.String())
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		u.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		u.t.Fatal(err)
	}
	done := make(chan struct{})
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(out).ReadString('\n')
		line <- s
	}()
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	select {
	case s := <-line:
		if strings.TrimSpace(s) != "ready" {
			u.t.Fatalf("upstream process: %q", s)
		}
	case <-time.After(10 * time.Second):
		u.t.Fatal("upstream process did not start")
	}
	u.mu.Lock()
	u.cmd, u.done = cmd, done
	u.mu.Unlock()
}

// kill SIGKILLs the process and waits for it.
func (u *upstreamProc) kill() {
	u.mu.Lock()
	cmd, done := u.cmd, u.done
	u.cmd = nil
	u.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// arrivals reads back what reached the upstream over all incarnations.
func (u *upstreamProc) arrivals() *arrivals {
	u.t.Helper()
	b, err := os.ReadFile(u.logPath)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		u.t.Fatal(err)
	}
	a := newArrivals()
	for _, line := range strings.Split(string(b), "\n") {
		if m, id, ok := strings.Cut(line, " "); ok {
			a.record(m, id)
		}
	}
	return a
}
