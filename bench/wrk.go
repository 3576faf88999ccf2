package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// wrkScript makes wrk send the case's credential (read from the
// environment, so it is in neither argv nor a file), optionally a JSON
// upload body, and print its summary as one JSON line after the run.
const wrkScript = `
wrk.method = os.getenv("BENCH_METHOD") or "GET"
wrk.headers["Authorization"] = os.getenv("BENCH_AUTH")
local runid = os.getenv("BENCH_RUN_ID") or ""
if runid ~= "" then wrk.headers["X-Paperclip-Run-Id"] = runid end
local upload = tonumber(os.getenv("BENCH_UPLOAD") or "0")
if upload > 0 then
  wrk.headers["Content-Type"] = "application/json"
  wrk.body = '{"body":"' .. string.rep("x", upload - 11) .. '"}'
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,"errors":%d,"status_errors":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50.0), latency:percentile(99.0)))
end
`

// load is one wrk invocation.
type load struct {
	conns    int
	duration time.Duration
	method   string
	path     string
	upload   int // body bytes for POST uploads, 0 for none
}

// loadResult is wrk's summary.
type loadResult struct {
	Requests     int64 `json:"requests"`
	DurationUS   int64 `json:"duration_us"`
	Bytes        int64 `json:"bytes"`
	Errors       int64 `json:"errors"`
	StatusErrors int64 `json:"status_errors"`
	P50US        int64 `json:"p50_us"`
	P99US        int64 `json:"p99_us"`
}

func (r loadResult) seconds() float64 { return float64(r.DurationUS) / 1e6 }

// wrk runs one load against base with the given Authorization value
// (and run id header, for the direct case).
type wrk struct {
	script string
}

func newWrk(dir string) (*wrk, error) {
	if _, err := exec.LookPath("wrk"); err != nil {
		return nil, fmt.Errorf("wrk not found (apt-get install wrk): %w", err)
	}
	script := filepath.Join(dir, "bench.lua")
	if err := os.WriteFile(script, []byte(wrkScript), 0o600); err != nil {
		return nil, err
	}
	return &wrk{script: script}, nil
}

func (w *wrk) run(ctx context.Context, base, auth, runID string, l load) (loadResult, error) {
	threads := min(l.conns, 2) // two cores: more wrk threads only contend
	secs := max(1, int(l.duration.Round(time.Second)/time.Second))
	args := []string{
		"-t", strconv.Itoa(threads), "-c", strconv.Itoa(l.conns), "-d", strconv.Itoa(secs) + "s",
		// Long enough for a 10 MiB upload queued behind 63 others.
		"--timeout", "60s", "-s", w.script, base + l.path,
	}
	cmd := exec.CommandContext(ctx, "wrk", args...)
	method := l.method
	if method == "" {
		method = "GET"
	}
	cmd.Env = append(os.Environ(), "BENCH_AUTH="+auth, "BENCH_RUN_ID="+runID,
		"BENCH_METHOD="+method, "BENCH_UPLOAD="+strconv.Itoa(l.upload))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return loadResult{}, fmt.Errorf("wrk %s: %w: %s", strings.Join(args[:6], " "), err, errb.String())
	}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		if js, ok := strings.CutPrefix(sc.Text(), "BENCHJSON "); ok {
			var r loadResult
			if err := json.Unmarshal([]byte(js), &r); err != nil {
				return loadResult{}, fmt.Errorf("wrk summary %q: %w", js, err)
			}
			return r, nil
		}
	}
	return loadResult{}, fmt.Errorf("wrk printed no summary: %s", out.String())
}
