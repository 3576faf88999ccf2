package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// environment starts and stops the cases' processes.
type environment struct {
	dir, bin, upstream string
	sec                secrets
	started            []*target
}

func newEnvironment(dir, bin, upstream string, sec secrets) *environment {
	return &environment{dir: dir, bin: bin, upstream: upstream, sec: sec}
}

// knownCases are the cases -cases accepts, in report order.
var knownCases = []string{"direct", "clipbridge", "nginx"}

// start brings up every named case and measures its idle memory.
func (e *environment) start(names []string) ([]*target, error) {
	var out []*target
	for _, name := range knownCases {
		if !slices.Contains(names, name) {
			continue
		}
		progress("starting %s", name)
		t, err := e.startOne(name, e.dir)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		e.started = append(e.started, t)
		if err := probe(t); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		// Let the first request's lazy set-up settle before reading RSS.
		time.Sleep(200 * time.Millisecond)
		if t.proc.root != 0 {
			t.idleRSS = t.proc.memory("VmRSS")
		}
		out = append(out, t)
	}
	for _, n := range names {
		if !slices.Contains(knownCases, n) {
			return nil, fmt.Errorf("unknown case %q (known: %v)", n, knownCases)
		}
	}
	return out, nil
}

func (e *environment) startOne(name, dir string) (*target, error) {
	switch name {
	case "direct":
		return &target{name: "direct", base: "http://" + e.upstream, auth: "Bearer " + e.sec.runToken,
			runID: e.sec.runID, stop: func() {}}, nil
	case "clipbridge":
		return startClipbridge(e.bin, dir, e.upstream, e.sec)
	case "nginx":
		return startNginx(dir, e.upstream, e.sec)
	}
	return nil, fmt.Errorf("unknown case %q", name)
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

// startups starts and stops each proxy case n times, alternating, and
// returns the start-up durations per case.
func (e *environment) startups(ctx context.Context, n int) (map[string][]time.Duration, error) {
	out := map[string][]time.Duration{}
	var names []string
	for _, t := range e.started {
		if t.proc.root != 0 {
			names = append(names, t.name)
		}
	}
	progress("measuring start-up (%d runs each)", n)
	for i := range n {
		for j := range names {
			name := names[(i+j)%len(names)]
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			dir := filepath.Join(e.dir, fmt.Sprintf("startup-%s-%d", name, i))
			if err := os.Mkdir(dir, 0o700); err != nil {
				return nil, err
			}
			t, err := e.startOne(name, dir)
			if err != nil {
				return nil, fmt.Errorf("start-up run of %s: %w", name, err)
			}
			out[name] = append(out[name], t.startup)
			t.stop()
		}
	}
	return out, nil
}

func (e *environment) close() {
	for _, t := range e.started {
		t.stop()
	}
}
