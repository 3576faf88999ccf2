package queue

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clipbridge/clipbridge/runner"
)

// BenchmarkQueueVsBaseline measures the per-request overhead of the queue channel, ours against
// a baseline that works as Paperclip's host worker does (one runner exec per list, read, write
// and remove, and a 100 ms sleep when the list is empty), for the local and exec runners. Each
// iteration sends one request through each, alternating, so both see the same machine state.
// Reported: median round trip (write request file -> response file visible) and runner execs
// per second while idle. Run:
//
//	go test -run '^$' -bench BenchmarkQueueVsBaseline -benchtime 30x ./tunnel/queue/
func BenchmarkQueueVsBaseline(b *testing.B) {
	for _, kind := range []string{"local", "exec"} {
		b.Run(kind, func(b *testing.B) {
			oursDir, baseDir := queueDir(&testing.T{}), queueDir(&testing.T{})
			defer os.RemoveAll(filepath.Dir(filepath.Dir(oursDir)))
			defer os.RemoveAll(filepath.Dir(filepath.Dir(baseDir)))
			oursReg, baseReg := prometheus.NewRegistry(), prometheus.NewRegistry()
			oursRunner := benchRunner(b, kind, oursReg)
			baseRunner := benchRunner(b, kind, baseReg)

			ctx, cancel := context.WithCancel(context.Background())
			w, err := NewWorker(WorkerOptions{Dir: oursDir, Runner: oursRunner, Handler: &recorder{},
				Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			done := make(chan struct{}, 2)
			go func() { _ = w.Run(ctx); done <- struct{}{} }()
			go func() { runBaseline(ctx, baseRunner, baseDir); done <- struct{}{} }()
			defer func() { cancel(); <-done; <-done }()

			// Warm up both (co-process start, first list).
			benchRoundTrip(b, oursDir, "warm")
			benchRoundTrip(b, baseDir, "warm")
			var ours, base []time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				id := fmt.Sprintf("r%06d", i)
				ours = append(ours, benchRoundTrip(b, oursDir, id))
				base = append(base, benchRoundTrip(b, baseDir, id))
			}
			b.StopTimer()
			b.ReportMetric(median(ours).Seconds()*1000, "ours-p50-ms")
			b.ReportMetric(median(base).Seconds()*1000, "baseline-p50-ms")
			b.ReportMetric(idleExecRate(oursReg), "ours-idle-execs/s")
			b.ReportMetric(idleExecRate(baseReg), "baseline-idle-execs/s")
		})
	}
}

func benchRunner(b *testing.B, kind string, reg prometheus.Registerer) runner.Runner {
	if kind == "local" {
		return runner.NewLocal(runner.LocalOptions{Registerer: reg})
	}
	r, err := runner.NewExec(runner.ExecOptions{Prefix: execPrefix, Registerer: reg})
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// benchRoundTrip publishes one request as a gateway would and waits (1 ms polls) for its answer.
func benchRoundTrip(b *testing.B, dir, id string) time.Duration {
	env, _ := json.Marshal(paperclipRequest{ID: id, Method: "GET", Path: "/api/agents/me", Headers: map[string]string{},
		CreatedAt: formatTime(time.Now())})
	start := time.Now()
	p := filepath.Join(dir, "requests", id+".json")
	if err := os.WriteFile(p+".tmp", append(env, '\n'), 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(p+".tmp", p); err != nil {
		b.Fatal(err)
	}
	resp := filepath.Join(dir, "responses", id+".json")
	for {
		if _, err := os.Stat(resp); err == nil {
			d := time.Since(start)
			_ = os.Remove(resp)
			return d
		}
		if time.Since(start) > 30*time.Second {
			b.Fatalf("no response for %s", id)
		}
		time.Sleep(time.Millisecond)
	}
}

// idleExecRate counts runner execs over one idle second.
func idleExecRate(reg *prometheus.Registry) float64 {
	before := execCount(reg)
	time.Sleep(time.Second)
	return execCount(reg) - before
}

func execCount(reg *prometheus.Registry) float64 {
	mfs, _ := reg.Gather()
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() == "clipbridge_runner_execs_total" {
			for _, m := range mf.GetMetric() {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// runBaseline is the one-exec-per-operation worker of Paperclip's E1 (reference §1 step 4,
// §6.3): list exec, then per file a read exec (base64), the handler, a write exec (payload on
// stdin, lock, guard, tmp + mv) and a remove exec; 100 ms sleep when the list is empty.
func runBaseline(ctx context.Context, r runner.Runner, dir string) {
	env := func(extra ...string) map[string]string {
		m := map[string]string{"CB_Q": dir}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i]] = extra[i+1]
		}
		return m
	}
	for ctx.Err() == nil {
		res, err := r.Run(ctx, runner.Command{Script: `for f in "$CB_Q"/requests/*.json; do [ -f "$f" ] && basename "$f"; done; true`, Env: env()})
		if err != nil {
			continue
		}
		names := strings.Fields(string(res.Stdout))
		if len(names) == 0 {
			sleepCtx(ctx, 100*time.Millisecond)
			continue
		}
		for _, n := range names {
			res, err := r.Run(ctx, runner.Command{Script: `base64 < "$CB_Q/requests/$CB_N"`, Env: env("CB_N", n)})
			if err != nil {
				continue
			}
			raw, _ := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(res.Stdout)), ""))
			req, _ := DecodeRequest(raw)
			id := idFromName(n)
			if req != nil && req.ID != "" {
				id = req.ID
			}
			out, _ := marshalLine(Response{ID: id, Status: 200, Headers: map[string]string{"content-type": "application/json"},
				Body: `{"ok":true}`, CompletedAt: formatTime(time.Now())})
			_, _ = r.Run(ctx, runner.Command{Script: putExecScript, Stdin: bytes.NewReader(out),
				Env: env("CB_NAME", n, "CB_GUARD", "1", "CB_REMOVE", "0", "CB_LEN", fmt.Sprint(len(out)))})
			_, _ = r.Run(ctx, runner.Command{Script: `rm -f "$CB_Q/requests/$CB_N"`, Env: env("CB_N", n)})
		}
	}
}
