package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// queueTarget is a queue_v1 case: an agent-facing gateway URL, and a way
// to count the execs the host worker has run so far.
type queueTarget struct {
	*target
	execs func() (float64, error)
}

// startQueueOurs runs `clipbridge serve --queue-dir` with the given
// runner and --start-gateway, so clipbridge also starts its gateway on
// the execution host and the ready line carries the gateway's URL.
func startQueueOurs(bin, dir, upstream string, s secrets, runnerKind string, h *sshHost) (*queueTarget, error) {
	qdir := filepath.Join(dir, "queue")
	args := []string{"--queue-dir", qdir, "--runner", runnerKind, "--start-gateway"}
	var env []string
	switch runnerKind {
	case "exec":
		args = append(args, "--runner-exec", `sh -c 'exec "$@"' sh`)
	case "ssh":
		env = h.clipbridgeEnv()
	}
	t, err := startClipbridge(bin, dir, upstream, s, env, args...)
	if err != nil {
		return nil, err
	}
	t.name = "clipbridge queue, " + runnerKind
	admin := t.admin
	return &queueTarget{target: t, execs: func() (float64, error) { return metricSum(admin, "clipbridge_runner_execs_total") }}, nil
}

// startQueueBaseline runs clipbridge's gateway (the agent side, in place
// of Paperclip's Node gateway, which is not available here) with the
// exec-per-operation baseline worker on the host side.
func startQueueBaseline(bin, dir, upstream string, s secrets, runnerKind string, h *sshHost, relayDelay time.Duration) (*queueTarget, error) {
	qdir := filepath.Join(dir, "queue")
	if err := os.MkdirAll(filepath.Join(qdir, "requests"), 0o700); err != nil {
		return nil, err
	}
	gw := exec.Command(bin, "gateway")
	gw.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"PAPERCLIP_BRIDGE_QUEUE_DIR=" + qdir,
		"PAPERCLIP_BRIDGE_TOKEN=" + s.bridgeToken,
		"PAPERCLIP_API_BRIDGE_MODE=queue_v1",
	}
	logf, err := os.Create(filepath.Join(dir, "gateway.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	gw.Stderr = logf
	out, err := gw.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := gw.Start(); err != nil {
		return nil, err
	}
	stopGW := func() { stopProcess(gw) }
	line, err := bufio.NewReader(out).ReadString('\n')
	var ready struct {
		BaseURL string `json:"baseUrl"`
	}
	if err != nil || json.Unmarshal([]byte(line), &ready) != nil || ready.BaseURL == "" {
		stopGW()
		return nil, fmt.Errorf("gateway gave no ready line (see %s): %q %v", logf.Name(), line, err)
	}

	self, err := os.Executable()
	if err != nil {
		stopGW()
		return nil, err
	}
	cfg := baselineConfig{QueueDir: qdir, Upstream: upstream, RunToken: s.runToken, RunID: s.runID, Runner: runnerKind,
		RelayDelayMS: relayDelay.Milliseconds()}
	if runnerKind == "ssh" {
		cfg.SSH = append(h.sshArgs(), h.login())
	}
	cfgJSON, _ := json.Marshal(cfg)
	wk := exec.Command(self)
	wk.Env = append(os.Environ(), upstreamRoleEnv+"="+baselineRole, baselineConfigEnv+"="+string(cfgJSON))
	wk.Stderr = logf
	wout, err := wk.StdoutPipe()
	if err != nil {
		stopGW()
		return nil, err
	}
	if err := wk.Start(); err != nil {
		stopGW()
		return nil, err
	}
	var execs atomic.Int64
	go func() {
		sc := bufio.NewScanner(wout)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "execs "); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				execs.Store(n)
			}
		}
	}()
	t := &target{
		name: "baseline queue, " + runnerKind, base: ready.BaseURL, auth: "Bearer " + s.bridgeToken,
		proc: tree(gw.Process.Pid, wk.Process.Pid),
		stop: func() { stopProcess(wk); stopGW() },
	}
	return &queueTarget{target: t, execs: func() (float64, error) { return float64(execs.Load()), nil }}, nil
}

// stopProcess ends a child with SIGTERM, then SIGKILL.
func stopProcess(cmd *exec.Cmd) {
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// metricSum scrapes an admin /metrics and sums every sample of name.
func metricSum(admin, name string) (float64, error) {
	resp, err := http.Get(admin + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	total, found := sumMetric(string(b), name)
	if !found {
		return 0, fmt.Errorf("no %s in %s/metrics", name, admin)
	}
	return total, nil
}

// sumMetric sums every sample of name (any labels) in Prometheus text
// exposition, and reports whether there was one.
func sumMetric(text, name string) (float64, bool) {
	total, found := 0.0, false
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			total, found = total+v, true
		}
	}
	return total, found
}

// callClient makes sequential agent calls on one keep-alive connection.
type callClient struct {
	c          *http.Client
	base, auth string
}

func newCallClient(t *target) *callClient {
	return &callClient{c: &http.Client{Timeout: 60 * time.Second}, base: t.base, auth: t.auth}
}

// call makes one GET of the small route and returns how long it took.
func (c *callClient) call() (time.Duration, error) {
	req, err := http.NewRequest("GET", c.base+smallPath, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", c.auth)
	start := time.Now()
	resp, err := c.c.Do(req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	if err == nil && resp.StatusCode != 200 {
		err = fmt.Errorf("answered %s", resp.Status)
	}
	return took, err
}

func (c *callClient) close() { c.c.CloseIdleConnections() }
