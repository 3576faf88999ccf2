package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// median returns the median of xs (the mean of the middle two for an
// even count), or 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// stat extracts one number per round from a case's samples of a figure.
func (b *bench) stat(name, fig string, f func(sample) float64) []float64 {
	var out []float64
	for _, s := range b.results[name][fig] {
		out = append(out, f(s))
	}
	return out
}

func rps(s sample) float64   { return float64(s.res.Requests) / s.res.seconds() }
func p50(s sample) float64   { return float64(s.res.P50US) }
func p99(s sample) float64   { return float64(s.res.P99US) }
func mibps(s sample) float64 { return float64(s.res.Bytes) / s.res.seconds() / (1 << 20) }
func upMiBps(s sample) float64 {
	return float64(s.res.Requests) * largeSize / s.res.seconds() / (1 << 20)
}
func cpuPer1k(s sample) float64 {
	return float64(s.cpu) / float64(time.Millisecond) / float64(s.res.Requests) * 1000
}

// pairedDelta is the median over rounds of a case's figure minus the
// same round's figure for base: both ran back to back, so noise that
// drifts over minutes cancels out.
func (b *bench) pairedDelta(name, base, fig string, f func(sample) float64) float64 {
	a, c := b.stat(name, fig, f), b.stat(base, fig, f)
	var d []float64
	for i := range min(len(a), len(c)) {
		d = append(d, a[i]-c[i])
	}
	return median(d)
}

// pairedRatio is the median over rounds of name/base for one figure.
func (b *bench) pairedRatio(name, base, fig string, f func(sample) float64) float64 {
	a, c := b.stat(name, fig, f), b.stat(base, fig, f)
	var r []float64
	for i := range min(len(a), len(c)) {
		if c[i] > 0 {
			r = append(r, a[i]/c[i])
		}
	}
	return median(r)
}

func (b *bench) has(name string) bool {
	_, ok := b.results[name]
	return ok
}

func writeReport(w *strings.Builder, o options, b *bench, startups map[string][]time.Duration) {
	fmt.Fprintf(w, "### Results (%s)\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(w, "Command: `go run ./bench -duration %s -rounds %d -startup-runs %d -queue-calls %d -queue-idle %s -relay-delay %s -cases %s`  \n",
		o.duration, o.rounds, o.startupRuns, o.queueCalls, o.queueIdle, o.relayDelay, o.cases)
	fmt.Fprintf(w, "Machine: %s, %d CPUs, %s, %s; load average at the end: %s  \n",
		cpuModel(), runtime.NumCPU(), kernel(), runtime.Version(), loadAvg())
	fmt.Fprintf(w, "Medians of %d alternating rounds; wrk %s.\n\n", o.rounds, wrkVersion())
	if len(b.targets) > 0 {
		b.writeHTTP(w, startups)
	}
	if len(b.queueOrder) > 0 {
		b.writeQueue(w)
	}
	b.writeGoals(w, startups)
}

func (b *bench) writeHTTP(w *strings.Builder, startups map[string][]time.Duration) {
	w.WriteString("| case | req/s 1 conn | req/s 16 conns | req/s 64 conns | p50 1 conn | p99 1 conn | p50 added over direct | 10 MiB download, 1 conn | 10 MiB uploads, 64 conns | errors |\n")
	w.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, t := range b.targets {
		n := t.name
		added, up := "—", "—"
		if n != "direct" && b.has("direct") {
			added = fmt.Sprintf("%.0f µs", b.pairedDelta(n, "direct", "c1", p50))
		}
		if t.uploads {
			up = fmt.Sprintf("%.0f MiB/s", median(b.stat(n, "up", upMiBps)))
		}
		fmt.Fprintf(w, "| %s | %.0f | %.0f | %.0f | %.0f µs | %.0f µs | %s | %.0f MiB/s | %s | %d |\n", label(n),
			median(b.stat(n, "c1", rps)), median(b.stat(n, "c16", rps)), median(b.stat(n, "c64", rps)),
			median(b.stat(n, "c1", p50)), median(b.stat(n, "c1", p99)), added,
			median(b.stat(n, "down", mibps)), up, b.errors(n))
	}
	w.WriteString("\n| case | CPU per 1,000 requests (64 conns) | RSS idle | RSS peak (VmHWM) | start-up to serving (median, max) |\n")
	w.WriteString("|---|---:|---:|---:|---:|\n")
	for _, t := range b.targets {
		if t.proc.empty() {
			continue
		}
		su := "—"
		if ds := startups[t.name]; len(ds) > 0 {
			su = fmtDur(medianDur(ds)) + ", " + fmtDur(slices.Max(ds))
		}
		fmt.Fprintf(w, "| %s | %.1f ms | %.1f MiB | %.1f MiB | %s |\n", label(t.name),
			median(b.stat(t.name, "c64", cpuPer1k)), mib(t.idleRSS), mib(t.proc.memory("VmHWM")), su)
	}
	w.WriteString("\n")
}

func (b *bench) writeQueue(w *strings.Builder) {
	w.WriteString("| queue_v1 case | p50 per call | p90 per call | calls | execs per call | idle execs/s | errors |\n")
	w.WriteString("|---|---:|---:|---:|---:|---:|---:|\n")
	for _, n := range b.queueOrder {
		r := b.queue[n]
		errs := strconv.Itoa(r.errors)
		if r.first != "" {
			errs += " (" + r.first + ")"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %d | %.2f | %.2f | %s |\n", label(n),
			fmtDur(quantile(r.calls, 0.5)), fmtDur(quantile(r.calls, 0.9)), len(r.calls), r.perCall(), r.idle, errs)
	}
	w.WriteString("\n")
}

func (b *bench) writeGoals(w *strings.Builder, startups map[string][]time.Duration) {
	var goals []string
	add := func(format string, args ...any) { goals = append(goals, fmt.Sprintf(format, args...)) }
	for _, ref := range []string{"nginx", "go-floor", "go-raw"} {
		if b.has("clipbridge") && b.has(ref) {
			r := b.pairedRatio("clipbridge", ref, "c64", rps)
			add("(for reference, not a goal) local listener req/s at 64 conns vs %s: %.2f×", label(ref), r)
		}
	}
	if b.has("clipbridge") && b.has("direct") && b.has("nginx") {
		d := b.pairedDelta("clipbridge", "direct", "c1", p50)
		n := b.pairedDelta("nginx", "direct", "c1", p50)
		add("local listener p50 added over direct at 1 conn: %.0f µs, %.2f× what nginx adds (%.0f µs) (goal ≤ 2×) %s",
			d, d/n, n, verdict(d <= 2*n))
	}
	// Before and after, paired in the same rounds: what the change cost.
	for _, n := range []string{"clipbridge", "clipbridge-ssh"} {
		if b.has(n) && b.has(n+beforeSuffix) {
			r := b.pairedRatio(n, n+beforeSuffix, "c16", rps)
			l := b.pairedRatio(n, n+beforeSuffix, "c1", p50)
			add("(before/after) %s vs the -before build: req/s at 16 conns %.2f×, p50 at 1 conn %.2f×", label(n), r, l)
		}
	}
	for _, ref := range []string{"nginx", "go-floor", "go-raw"} {
		if b.has(ref) && b.has("direct") {
			d := b.pairedDelta(ref, "direct", "c1", p50)
			add("(for reference, not a goal) %s p50 added over direct at 1 conn: %.0f µs", label(ref), d)
		}
	}
	if t, before := b.target("clipbridge"), b.target("clipbridge"+beforeSuffix); t != nil && before != nil {
		add("(before/after) local listener idle RSS %.1f MiB vs %.1f MiB before; peak %.1f MiB vs %.1f MiB before",
			mib(t.idleRSS), mib(before.idleRSS), mib(t.proc.memory("VmHWM")), mib(before.proc.memory("VmHWM")))
	}
	if r, before := b.queue["queue-local"], b.queue["queue-local"+beforeSuffix]; r != nil && before != nil && len(r.calls) > 0 && len(before.calls) > 0 {
		add("(before/after) queue_v1 local runner p50 per call %s vs %s before",
			fmtDur(quantile(r.calls, 0.5)), fmtDur(quantile(before.calls, 0.5)))
	}
	if t := b.target("clipbridge"); t != nil {
		peak := mib(t.proc.memory("VmHWM"))
		add("clipbridge peak RSS, 64 concurrent 10 MiB uploads included: %.1f MiB (goal ≤ 150 MiB) %s", peak, verdict(peak <= 150))
		idle := mib(t.idleRSS)
		add("clipbridge idle RSS: %.1f MiB (goal ≤ 20 MiB) %s", idle, verdict(idle <= 20))
		if ds := startups["clipbridge"]; len(ds) > 0 {
			su := medianDur(ds)
			add("clipbridge start-up to ready line: %s (goal ≤ 50 ms) %s", fmtDur(su), verdict(su <= 50*time.Millisecond))
		}
	}
	if b.has("clipbridge-ssh") && b.has("ssh-R") {
		r := b.pairedRatio("clipbridge-ssh", "ssh-R", "c16", rps)
		add("SSH forward req/s at 16 conns vs ssh -R: %.2f× (goal ≥ 1.0×) %s", r, verdict(r >= 1))
		l := b.pairedRatio("clipbridge-ssh", "ssh-R", "c1", p50)
		add("SSH forward p50 at 1 conn vs ssh -R: %.2f× (goal ≤ 1.2×) %s", l, verdict(l <= 1.2))
		m := b.pairedRatio("clipbridge-ssh", "ssh-R", "down", mibps)
		add("SSH forward MiB/s vs ssh -R: %.2f× (goal ≥ 0.8×) %s", m, verdict(m >= 0.8))
	}
	if b.has("h2-ssh") && b.has("clipbridge-ssh") {
		l := b.pairedRatio("h2-ssh", "clipbridge-ssh", "c1", p50)
		add("http2_v1 over SSH p50 at 1 conn vs the SSH remote forward: %.2f× (goal ≤ 1.2×) %s", l, verdict(l <= 1.2))
	}
	// Where the http2_v1 time goes: the gateway and its pipes (h2-local
	// over the local listener), and SSH (each over its local form).
	if b.has("h2-local") && b.has("clipbridge") {
		d := b.pairedDelta("h2-local", "clipbridge", "c1", p50)
		add("(for reference, not a goal) http2_v1 local runner p50 added over the local listener at 1 conn (the gateway hop): %.0f µs", d)
		if b.has("h2-ssh") && b.has("clipbridge-ssh") {
			s := b.pairedDelta("h2-ssh", "h2-local", "c1", p50)
			f := b.pairedDelta("clipbridge-ssh", "clipbridge", "c1", p50)
			add("(for reference, not a goal) p50 SSH adds at 1 conn: %.0f µs to http2_v1, %.0f µs to the listener (the remote forward)", s, f)
		}
	}
	if r := b.queue["queue-local"]; r != nil && len(r.calls) > 0 {
		p := quantile(r.calls, 0.5)
		add("queue_v1 local runner p50 per call: %s (goal ≤ 5 ms) %s", fmtDur(p), verdict(p <= 5*time.Millisecond))
	}
	if r := b.queue["queue-ssh"]; r != nil && len(r.calls) > 0 {
		p := quantile(r.calls, 0.5)
		add("queue_v1 ssh runner p50 per call: %s (goal ≤ 10 ms) %s", fmtDur(p), verdict(p <= 10*time.Millisecond))
		if base := b.queue["baseline-ssh"]; base != nil && len(base.calls) > 0 {
			x := float64(quantile(base.calls, 0.5)) / float64(p)
			add("queue_v1 ssh runner vs the exec-per-operation baseline over the same sshd: %.0f× lower p50 (goal ≥ 300×) %s", x, verdict(x >= 300))
		}
	}
	for _, n := range []string{"queue-local", "queue-exec", "queue-ssh"} {
		if r := b.queue[n]; r != nil {
			add("%s idle cost: %.2f execs/s (goal ≤ 0.2, one per 5 s) %s", label(n), r.idle, verdict(r.idle <= 0.2))
		}
	}
	if r := b.queue["queue-relay"]; r != nil && len(r.calls) > 0 {
		add("queue_v1 relay runner: %.2f execs per call (goal ≤ 1) %s", r.perCall(), verdict(r.perCall() <= 1))
		// One long poll per 25 s; a window shorter than that may hold one whole exec.
		limit := max(1/25.0, 1/b.o.queueIdle.Seconds())
		add("queue_v1 relay runner idle cost: %.3f execs/s (goal ≤ one per 25 s long poll) %s", r.idle, verdict(r.idle <= limit))
		if base := b.queue["baseline-relay"]; base != nil && len(base.calls) > 0 {
			x := float64(quantile(base.calls, 0.5)) / float64(quantile(r.calls, 0.5))
			add("(for reference) queue_v1 relay runner vs the exec-per-operation baseline over the same relay (%s per exec): %.1f× lower p50, %.2f vs %.2f execs per call, %.3f vs %.2f idle execs/s",
				b.o.relayDelay, x, r.perCall(), base.perCall(), r.idle, base.idle)
		}
	}
	if len(goals) == 0 {
		return
	}
	w.WriteString("Goals (ratios paired per round, then the median):\n\n")
	for _, g := range goals {
		w.WriteString("- " + g + "\n")
	}
	w.WriteString("\n")
}

// quantile returns the q-quantile of ds (nearest rank), or 0 for none.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s)) + 0.5)
	return s[min(max(i-1, 0), len(s)-1)]
}

func (b *bench) target(name string) *target {
	for _, t := range b.targets {
		if t.name == name {
			return t
		}
	}
	return nil
}

// errors counts failed requests of every run of a case: socket errors,
// timeouts and non-2xx/3xx answers.
func (b *bench) errors(name string) int64 {
	var n int64
	for _, ss := range b.results[name] {
		for _, s := range ss {
			n += s.res.Errors + s.res.StatusErrors
		}
	}
	return n
}

func verdict(ok bool) string {
	if ok {
		return "— met"
	}
	return "— **not met**"
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func medianDur(ds []time.Duration) time.Duration {
	var xs []float64
	for _, d := range ds {
		xs = append(xs, float64(d))
	}
	return time.Duration(median(xs))
}

func fmtDur(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func kernel() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return "Linux " + strings.TrimSpace(string(b))
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func wrkVersion() string {
	out, _ := exec.Command("wrk", "--version").CombinedOutput()
	f := strings.Fields(string(out))
	if len(f) < 2 {
		return "?"
	}
	return f[1]
}
