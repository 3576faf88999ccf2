package worker

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clipbridge/clipbridge/internal/realsshd"
	"github.com/clipbridge/clipbridge/internal/retry"
	"github.com/clipbridge/clipbridge/runner"
	"github.com/clipbridge/clipbridge/sshconn"
	"github.com/clipbridge/clipbridge/tunnel/queue"
	"github.com/clipbridge/clipbridge/tunnel/queue/internal/queuetest"
)

// BenchmarkQueueVsBaseline measures the per-request overhead of the queue channel, ours against
// a baseline that works as Paperclip's host worker does (one runner exec per list, read, write
// and remove, and a 100 ms sleep when the list is empty), for the local, exec and ssh runners.
// The two run in alternating rounds (A B A B), one at a time, on the same machine.
// Reported: median round trip (write request file -> response file visible) and runner execs
// per second while idle. exec-agent runs our worker with the Go co-process (queue-agent). Run:
//
//	go test -run '^$' -bench BenchmarkQueueVsBaseline -benchtime 30x ./tunnel/queue/worker/
func BenchmarkQueueVsBaseline(b *testing.B) {
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	// *-agent: our worker with the Go co-process (queue-agent) instead of the shell one. ssh:
	// ours holds one connection; the baseline runs a fresh OpenSSH client per exec, as
	// Paperclip does (skipped without sshd).
	for _, kind := range []string{"local", "exec", "exec-agent", "ssh", "ssh-agent"} {
		b.Run(kind, func(b *testing.B) {
			// The testing package calls this function more than once: derive, never reassign.
			kind, agentBin := kind, ""
			if k, ok := strings.CutSuffix(kind, "-agent"); ok {
				kind, agentBin = k, self
			}
			oursDir, baseDir := queuetest.Dir(&testing.T{}), queuetest.Dir(&testing.T{})
			defer os.RemoveAll(filepath.Dir(filepath.Dir(oursDir)))
			defer os.RemoveAll(filepath.Dir(filepath.Dir(baseDir)))
			oursReg, baseReg := prometheus.NewRegistry(), prometheus.NewRegistry()
			oursRunner, baseRunner := benchRunners(b, kind, oursReg, baseReg)

			// Only one side runs at a time (their polling would otherwise tax each other), in
			// alternating rounds: ours, baseline, ours, baseline, …
			runOurs := func() func() {
				ctx, cancel := context.WithCancel(context.Background())
				w, err := New(Options{Dir: oursDir, Runner: oursRunner, Handler: &queuetest.Recorder{}, AgentBinary: agentBin,
					Logger: slog.New(slog.DiscardHandler), DrainTimeout: time.Millisecond})
				if err != nil {
					b.Fatal(err)
				}
				done := make(chan struct{})
				go func() { _ = w.Run(ctx); close(done) }()
				return func() { cancel(); <-done }
			}
			runBase := func() func() {
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				go func() { runBaseline(ctx, baseRunner, baseDir); close(done) }()
				return func() { cancel(); <-done }
			}
			// Few rounds, each warmed up: the co-process lives for the whole run in real use,
			// so its start-up is not part of the per-request cost.
			const rounds, warmups = 2, 3
			var ours, base []time.Duration
			var oursIdle, baseIdle float64
			b.ResetTimer()
			for r := 0; r < rounds; r++ {
				n := b.N / rounds
				if r == rounds-1 {
					n = b.N - len(ours)
				}
				stop := runOurs()
				for i := 0; i < warmups; i++ {
					benchRoundTrip(b, oursDir, fmt.Sprintf("warm%d-%d", r, i))
				}
				for i := 0; i < n; i++ {
					ours = append(ours, benchRoundTrip(b, oursDir, fmt.Sprintf("r%d-%d", r, i)))
				}
				if r == 0 {
					oursIdle = idleExecRate(oursReg)
				}
				stop()
				stop = runBase()
				for i := 0; i < warmups; i++ {
					benchRoundTrip(b, baseDir, fmt.Sprintf("warm%d-%d", r, i))
				}
				for i := 0; i < n; i++ {
					base = append(base, benchRoundTrip(b, baseDir, fmt.Sprintf("r%d-%d", r, i)))
				}
				if r == 0 {
					baseIdle = idleExecRate(baseReg)
				}
				stop()
			}
			b.StopTimer()
			b.ReportMetric(median(ours).Seconds()*1000, "ours-p50-ms")
			b.ReportMetric(median(base).Seconds()*1000, "baseline-p50-ms")
			b.ReportMetric(oursIdle, "ours-idle-execs/s")
			b.ReportMetric(baseIdle, "baseline-idle-execs/s")
		})
	}
}

func benchRunners(b *testing.B, kind string, oursReg, baseReg prometheus.Registerer) (ours, base runner.Runner) {
	switch kind {
	case "local":
		return runner.NewLocal(runner.LocalOptions{Registerer: oursReg}), runner.NewLocal(runner.LocalOptions{Registerer: baseReg})
	case "ssh":
		srv := realsshd.StartT(b, realsshd.Config{})
		dir := b.TempDir()
		key, kh := filepath.Join(dir, "id"), filepath.Join(dir, "known_hosts")
		_ = os.WriteFile(key, srv.ClientKeyPEM, 0o600)
		_ = os.WriteFile(kh, []byte(srv.KnownHostsLine()+"\n"), 0o600)
		o, err := runner.NewSSH(runner.SSHOptions{Conn: sshconn.Options{Host: srv.Host, Port: srv.Port, User: srv.User,
			KeyPEM: srv.ClientKeyPEM, KnownHosts: srv.KnownHostsLine(), NoAgent: true, NoDefaultKeys: true},
			Logger: slog.New(slog.DiscardHandler), Registerer: oursReg})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = o.Close() })
		bs, err := runner.NewExec(runner.ExecOptions{StringCommand: true, Registerer: baseReg, Prefix: []string{"ssh", "-T",
			"-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + kh, "-i", key,
			"-p", strconv.Itoa(srv.Port), srv.User + "@" + srv.Host}})
		if err != nil {
			b.Fatal(err)
		}
		return o, bs
	}
	o, err := runner.NewExec(runner.ExecOptions{Prefix: queuetest.ExecPrefix, Registerer: oursReg})
	if err != nil {
		b.Fatal(err)
	}
	bs, err := runner.NewExec(runner.ExecOptions{Prefix: queuetest.ExecPrefix, Registerer: baseReg})
	if err != nil {
		b.Fatal(err)
	}
	return o, bs
}

// benchRoundTrip publishes one request as a gateway would and waits (0.2 ms polls) for its answer.
// A random pause of up to 100 ms first (not timed) makes arrivals independent of the baseline's
// poll phase, as agent calls are.
func benchRoundTrip(b *testing.B, dir, id string) time.Duration {
	time.Sleep(time.Duration(rand.Int64N(int64(100 * time.Millisecond))))
	env, _ := json.Marshal(paperclipRequest{ID: id, Method: "GET", Path: "/api/agents/me", Headers: map[string]string{},
		CreatedAt: queue.FormatTime(time.Now())})
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
		time.Sleep(200 * time.Microsecond)
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
			retry.Sleep(ctx, 100*time.Millisecond)
			continue
		}
		for _, n := range names {
			res, err := r.Run(ctx, runner.Command{Script: `base64 < "$CB_Q/requests/$CB_N"`, Env: env("CB_N", n)})
			if err != nil {
				continue
			}
			raw, _ := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(res.Stdout)), ""))
			req, _ := queue.DecodeRequest(raw)
			id := queue.IDFromName(n)
			if req != nil && req.ID != "" {
				id = req.ID
			}
			out, _ := queue.MarshalLine(queue.Response{ID: id, Status: 200, Headers: map[string]string{"content-type": "application/json"},
				Body: `{"ok":true}`, CompletedAt: queue.FormatTime(time.Now())})
			_, _ = r.Run(ctx, runner.Command{Script: putExecScript, Stdin: bytes.NewReader(out),
				Env: env("CB_NAME", n, "CB_GUARD", "1", "CB_REMOVE", "0", "CB_LEN", fmt.Sprint(len(out)))})
			_, _ = r.Run(ctx, runner.Command{Script: `rm -f "$CB_Q/requests/$CB_N"`, Env: env("CB_N", n)})
		}
	}
}
