package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// caseSpec describes one case the harness knows.
type caseSpec struct {
	name    string
	label   string // as printed in the report
	queue   bool   // a queue_v1 case (per-call latency and idle execs)
	ssh     bool   // needs a loopback sshd
	startup bool   // start-up is measured repeatedly
	uploads bool   // the 64 × 10 MiB upload figure applies
	before  bool   // runs the -before binary (an earlier commit), for a side-by-side
}

// beforeSuffix marks the cases that run the -before binary: the same case
// as the name before it, on the earlier build.
const beforeSuffix = "@before"

// baseName is the case a before case repeats ("clipbridge@before" ->
// "clipbridge").
func baseName(name string) string { return strings.TrimSuffix(name, beforeSuffix) }

// knownCases are the cases -cases accepts, in report order.
var knownCases = []caseSpec{
	{name: "direct", label: "direct (floor)", uploads: true},
	{name: "clipbridge", label: "clipbridge, local listener", startup: true, uploads: true},
	{name: "clipbridge@before", label: "clipbridge before, local listener", startup: true, uploads: true, before: true},
	{name: "nginx", label: "nginx", startup: true, uploads: true},
	{name: "go-floor", label: "bare Go proxy (no checks; not a product)"},
	{name: "go-raw", label: "raw Go proxy (hand-written parser, no checks; not a product)"},
	{name: "clipbridge-ssh", label: "clipbridge, SSH remote forward", ssh: true, startup: true},
	{name: "clipbridge-ssh@before", label: "clipbridge before, SSH remote forward", ssh: true, startup: true, before: true},
	{name: "ssh-R", label: "ssh -N -R (OpenSSH) + clipbridge", ssh: true},
	{name: "h2-ssh", label: "clipbridge http2_v1, ssh runner", ssh: true},
	{name: "h2-local", label: "clipbridge http2_v1, local runner"},
	{name: "queue-local", label: "clipbridge queue_v1, local runner", queue: true},
	{name: "queue-local@before", label: "clipbridge before queue_v1, local runner", queue: true, before: true},
	{name: "baseline-local", label: "exec-per-operation baseline, local", queue: true},
	{name: "queue-exec", label: "clipbridge queue_v1, exec runner", queue: true},
	{name: "baseline-exec", label: "exec-per-operation baseline, exec", queue: true},
	{name: "queue-ssh", label: "clipbridge queue_v1, ssh runner", queue: true, ssh: true},
	{name: "baseline-ssh", label: "exec-per-operation baseline, ssh", queue: true, ssh: true},
	{name: "queue-relay", label: "clipbridge queue_v1, relay runner (one-shot)", queue: true},
	{name: "baseline-relay", label: "exec-per-operation baseline, relay", queue: true},
}

func spec(name string) (caseSpec, bool) {
	i := slices.IndexFunc(knownCases, func(c caseSpec) bool { return c.name == name })
	if i < 0 {
		return caseSpec{}, false
	}
	return knownCases[i], true
}

func label(name string) string {
	if c, ok := spec(name); ok {
		return c.label
	}
	return name
}

// environment starts and stops the cases' processes.
type environment struct {
	dir, bin, upstream string
	before             string // the -before binary; "" without one
	sec                secrets
	started            []*target
	hosts              map[string]*sshHost
	runs               int
	// relayDelay is added to every exec of the relay cases: a sandbox provider's round trip.
	relayDelay time.Duration
}

func newEnvironment(dir, bin, before, upstream string, sec secrets) *environment {
	return &environment{dir: dir, bin: bin, before: before, upstream: upstream, sec: sec, hosts: map[string]*sshHost{}}
}

// binFor is the clipbridge binary a case runs.
func (e *environment) binFor(c caseSpec) string {
	if c.before {
		return e.before
	}
	return e.bin
}

// selectCases validates -cases and splits it into HTTP and queue cases,
// in report order.
func selectCases(names []string) (httpCases, queueCases []caseSpec, err error) {
	for _, n := range names {
		if _, ok := spec(n); !ok {
			var known []string
			for _, c := range knownCases {
				known = append(known, c.name)
			}
			return nil, nil, fmt.Errorf("unknown case %q (known: %v)", n, known)
		}
	}
	for _, c := range knownCases {
		if !slices.Contains(names, c.name) {
			continue
		}
		if c.queue {
			queueCases = append(queueCases, c)
		} else {
			httpCases = append(httpCases, c)
		}
	}
	return httpCases, queueCases, nil
}

// start brings up every HTTP case and measures its idle memory. They
// stay up for the whole measurement.
func (e *environment) start(cases []caseSpec) ([]*target, error) {
	var out []*target
	for _, c := range cases {
		progress("starting %s", c.name)
		t, err := e.startOne(c, e.runDir(c.name))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
		e.started = append(e.started, t)
		if err := probe(t); err != nil {
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
		// Let the first request's lazy set-up settle before reading RSS.
		time.Sleep(200 * time.Millisecond)
		if !t.proc.empty() {
			t.idleRSS = t.proc.memory("VmRSS")
		}
		out = append(out, t)
	}
	return out, nil
}

// runDir is a fresh directory for one start of a case.
func (e *environment) runDir(name string) string {
	e.runs++
	d := filepath.Join(e.dir, fmt.Sprintf("%s-%d", name, e.runs))
	_ = os.MkdirAll(d, 0o700)
	return d
}

// sshHost returns the case's own sshd, so its per-connection processes
// are counted for that case only.
func (e *environment) sshHost(name string) (*sshHost, error) {
	if h, ok := e.hosts[name]; ok {
		return h, nil
	}
	h, err := startSSHHost(filepath.Join(e.dir, "sshd-"+name))
	if err != nil {
		return nil, err
	}
	e.hosts[name] = h
	return h, nil
}

func (e *environment) startOne(c caseSpec, dir string) (*target, error) {
	var h *sshHost
	if c.ssh {
		var err error
		if h, err = e.sshHost(c.name); err != nil {
			return nil, err
		}
	}
	var t *target
	var err error
	bin := e.binFor(c)
	switch baseName(c.name) {
	case "direct":
		t = &target{base: "http://" + e.upstream, auth: "Bearer " + e.sec.runToken, runID: e.sec.runID, stop: func() {}}
	case "clipbridge":
		t, err = startClipbridge(bin, dir, e.upstream, e.sec, nil)
	case "nginx":
		t, err = startNginx(dir, e.upstream, e.sec)
	case "go-floor":
		t, err = startBareProxy(e.upstream, e.sec, "net/http")
	case "go-raw":
		t, err = startBareProxy(e.upstream, e.sec, "raw")
	case "clipbridge-ssh":
		t, err = startClipbridgeSSH(bin, dir, e.upstream, e.sec, h)
	case "ssh-R":
		t, err = startSSHReference(e.bin, dir, e.upstream, e.sec, h)
	case "h2-ssh":
		t, err = startClipbridgeH2SSH(e.bin, dir, e.upstream, e.sec, h)
	case "h2-local":
		t, err = startClipbridgeH2Local(e.bin, dir, e.upstream, e.sec)
	default:
		return nil, fmt.Errorf("%s is not an HTTP case", c.name)
	}
	if err != nil {
		return nil, err
	}
	t.name, t.uploads = c.name, c.uploads
	return t, nil
}

// startQueue starts a queue case afresh (each measurement gets its own
// queue directory and processes, so one case's polling never taxes
// another's).
func (e *environment) startQueue(c caseSpec) (*queueTarget, error) {
	var h *sshHost
	if c.ssh {
		var err error
		if h, err = e.sshHost(c.name); err != nil {
			return nil, err
		}
	}
	dir := e.runDir(c.name)
	var kind string
	switch {
	case c.name == "queue-exec" || c.name == "baseline-exec":
		kind = "exec"
	case c.ssh:
		kind = "ssh"
	default:
		kind = "local"
	}
	var qt *queueTarget
	var err error
	if c.name == "queue-relay" {
		qt, err = startQueueRelayOurs(e.binFor(c), dir, e.upstream, e.sec, e.relayDelay)
	} else if c.name == "baseline-relay" {
		qt, err = startQueueBaseline(e.bin, dir, e.upstream, e.sec, "relay", nil, e.relayDelay)
	} else if strings.HasPrefix(c.name, "queue-") {
		qt, err = startQueueOurs(e.binFor(c), dir, e.upstream, e.sec, kind, h)
	} else {
		qt, err = startQueueBaseline(e.bin, dir, e.upstream, e.sec, kind, h, 0)
	}
	if err != nil {
		return nil, err
	}
	qt.name = c.name
	return qt, nil
}

// probe makes one request and insists on a 200: a misconfigured case
// must fail loudly, not benchmark its error path.
func probe(t *target) error {
	req, err := http.NewRequest("GET", t.base+smallPath, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", t.auth)
	if t.runID != "" {
		req.Header.Set("X-Paperclip-Run-Id", t.runID)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("probe answered %s", resp.Status)
	}
	c.CloseIdleConnections()
	return nil
}

// startups starts and stops each case that has a start-up figure n
// times, alternating, and returns the durations per case.
func (e *environment) startups(ctx context.Context, cases []caseSpec, n int) (map[string][]time.Duration, error) {
	out := map[string][]time.Duration{}
	var sel []caseSpec
	for _, c := range cases {
		if c.startup {
			sel = append(sel, c)
		}
	}
	if len(sel) == 0 || n == 0 {
		return out, nil
	}
	progress("measuring start-up (%d runs each)", n)
	for i := range n {
		for j := range sel {
			c := sel[(i+j)%len(sel)]
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			t, err := e.startOne(c, e.runDir(c.name))
			if err != nil {
				return nil, fmt.Errorf("start-up run of %s: %w", c.name, err)
			}
			out[c.name] = append(out[c.name], t.startup)
			t.stop()
		}
	}
	return out, nil
}

func (e *environment) close() {
	for _, t := range e.started {
		t.stop()
	}
	for _, h := range e.hosts {
		h.close()
	}
}
