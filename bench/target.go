package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// target is one way of reaching the stand-in upstream: directly, or
// through a proxy process the harness started.
type target struct {
	name string
	// base is the URL the load generator hits; auth and runID are the
	// headers it sends (runID only when talking to upstream directly).
	base, auth, runID string
	// proc is the proxy's process tree (root 0: none, the direct case).
	proc procTree
	// startup is how long the proxy took from exec to serving.
	startup time.Duration
	// idleRSS is the resident set after start-up and one request.
	idleRSS int64
	// admin is clipbridge's admin URL, when the case is clipbridge.
	admin string
	// uploads says whether the 64 × 10 MiB upload figure applies.
	uploads bool
	// mode is clipbridge's PAPERCLIP_API_BRIDGE_MODE, when the case is clipbridge.
	mode string
	stop func()
}

// secrets are the credentials of one benchmark run, generated fresh.
type secrets struct {
	runToken, runID, bridgeToken string
}

// startClipbridge starts `clipbridge serve` in front of upstream, with
// extra environment and flags, and waits for its ready line. Secrets go through the environment, as a
// launcher passes them; the access log goes to a file like nginx's.
func startClipbridge(bin, dir, upstream string, s secrets, env []string, extra ...string) (*target, error) {
	return startClipbridgeFiles(bin, dir, upstream, s, env, nil, extra...)
}

// startClipbridgeFiles is startClipbridge with descriptors for the child from fd 3 on (the
// relay socket); they are closed here once the child has its copies.
func startClipbridgeFiles(bin, dir, upstream string, s secrets, env []string, files []*os.File, extra ...string) (*target, error) {
	logf, err := os.Create(filepath.Join(dir, fmt.Sprintf("clipbridge-%d.log", time.Now().UnixNano())))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	args := append([]string{"serve", "--log-format", "json"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"CLIPBRIDGE_UPSTREAM=http://" + upstream,
		"CLIPBRIDGE_RUN_TOKEN=" + s.runToken,
		"CLIPBRIDGE_RUN_ID=" + s.runID,
		"CLIPBRIDGE_BRIDGE_TOKEN=" + s.bridgeToken,
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.ExtraFiles = files
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	err = cmd.Start()
	for _, f := range files {
		_ = f.Close()
	}
	if err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	took := time.Since(start)
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	var ready struct {
		Env struct {
			URL  string `json:"PAPERCLIP_API_URL"`
			Key  string `json:"PAPERCLIP_API_KEY"`
			Mode string `json:"PAPERCLIP_API_BRIDGE_MODE"`
		} `json:"env"`
		AdminURL string `json:"admin_url"`
	}
	if err != nil || json.Unmarshal([]byte(line), &ready) != nil || ready.Env.URL == "" {
		stop()
		return nil, fmt.Errorf("clipbridge gave no ready line (see %s): %v", logf.Name(), err)
	}
	return &target{
		name: "clipbridge", base: ready.Env.URL, auth: "Bearer " + ready.Env.Key,
		proc: tree(cmd.Process.Pid), startup: took, stop: stop, admin: ready.AdminURL, mode: ready.Env.Mode,
	}, nil
}

// reap waits for a started cmd in the background. exited closes once it
// has ended; stop sends SIGTERM, kills it if it is still running after
// grace, and returns when it is gone.
func reap(cmd *exec.Cmd, grace time.Duration) (stop func(), exited <-chan struct{}) {
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	return func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(grace):
			_ = cmd.Process.Kill()
			<-done
		}
	}, done
}

// waitListening polls addr until it accepts a connection: nginx has no
// ready line, and accepting is when it can serve.
func waitListening(addr string, bound time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(bound)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("exited before listening")
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(500 * time.Microsecond)
	}
	return fmt.Errorf("%s not listening after %v", addr, bound)
}
