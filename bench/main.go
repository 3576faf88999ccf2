// Command bench measures clipbridge against the floor (the stand-in
// upstream called directly) and against the alternatives a user would
// otherwise deploy (nginx), on loopback, and prints a Markdown table.
//
// Every comparison alternates the cases inside one invocation (A B C,
// B C A, ...) and quotes medians, because the machine is shared and
// numbers from different runs are not comparable. The stand-in upstream
// runs as a separate process (this binary re-executed), so it never
// shares a Go runtime with a proxy. Load comes from wrk.
//
// Run from the repository root:
//
//	go run ./bench                      # about 5 minutes
//	go run ./bench -duration 1s -rounds 3
//	go run ./bench -before-rev d2884e4  # also the same cases on an earlier commit
package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// options are the harness's flags.
type options struct {
	duration    time.Duration
	rounds      int
	queueCalls  int
	queueIdle   time.Duration
	relayDelay  time.Duration
	startupRuns int
	cases       string
	clipbridge  string
	before      string
	beforeRev   string
	out         string
	keep        bool
}

func main() {
	switch os.Getenv(upstreamRoleEnv) {
	case "upstream":
		if err := runUpstream(); err != nil {
			fmt.Fprintln(os.Stderr, "bench upstream:", err)
			os.Exit(1)
		}
		return
	case bareProxyRole:
		if err := runBareProxy(); err != nil {
			fmt.Fprintln(os.Stderr, "bench bare proxy:", err)
			os.Exit(1)
		}
		return
	case baselineRole:
		if err := runBaselineWorker(); err != nil {
			fmt.Fprintln(os.Stderr, "bench baseline worker:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	flag.DurationVar(&o.duration, "duration", 2*time.Second, "length of each load run (whole seconds; uploads run twice as long)")
	flag.IntVar(&o.rounds, "rounds", 5, "alternating rounds per figure; medians are over rounds")
	flag.IntVar(&o.startupRuns, "startup-runs", 10, "start-up measurements per proxy")
	flag.IntVar(&o.queueCalls, "queue-calls", 10, "sequential calls per queue_v1 case and round")
	flag.DurationVar(&o.queueIdle, "queue-idle", 10*time.Second, "idle window over which queue_v1 execs are counted")
	flag.DurationVar(&o.relayDelay, "relay-delay", 50*time.Millisecond, "added to every exec of the relay cases, standing in for a sandbox provider's execute round trip")
	flag.StringVar(&o.cases, "cases", "", "comma-separated cases to run (default: all; the *@before ones only with -before or -before-rev)")
	flag.StringVar(&o.clipbridge, "clipbridge", "", "prebuilt clipbridge binary (default: go build the repository)")
	flag.StringVar(&o.before, "before", "", "an earlier clipbridge binary: adds the *@before cases, run side by side with the current ones")
	flag.StringVar(&o.beforeRev, "before-rev", "", "a git revision to build as the -before binary (git archive, then go build)")
	flag.StringVar(&o.out, "out", "", "also write the Markdown report to this file")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (configs, logs)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, stdout io.Writer) error {
	dir, err := os.MkdirTemp("", "clipbridge-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		progress("keeping %s", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	if o.clipbridge == "" {
		o.clipbridge = filepath.Join(dir, "clipbridge")
		progress("building clipbridge")
		build := exec.CommandContext(ctx, "go", "build", "-o", o.clipbridge, ".")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("go build (run from the repository root): %w", err)
		}
	}
	if o.beforeRev != "" && o.before == "" {
		progress("building clipbridge at %s for the @before cases", o.beforeRev)
		if o.before, err = buildRevision(ctx, dir, o.beforeRev); err != nil {
			return err
		}
	}
	if o.cases == "" {
		o.cases = allCases(o.before != "")
	}
	w, err := newWrk(dir)
	if err != nil {
		return err
	}
	sec := secrets{runToken: "run-" + rand.Text(), runID: "run-bench", bridgeToken: rand.Text()}
	up, err := startUpstream(sec.runToken, sec.runID)
	if err != nil {
		return err
	}
	defer up.stop()

	httpCases, queueCases, err := selectCases(strings.Split(o.cases, ","))
	if err != nil {
		return err
	}
	for _, c := range append(append([]caseSpec(nil), httpCases...), queueCases...) {
		if c.before && o.before == "" {
			return fmt.Errorf("case %s needs -before BIN or -before-rev REV", c.name)
		}
	}
	env := newEnvironment(dir, o.clipbridge, o.before, up.addr, sec)
	env.relayDelay = o.relayDelay
	defer env.close()
	targets, err := env.start(httpCases)
	if err != nil {
		return err
	}
	b := &bench{o: o, wrk: w, targets: targets, results: map[string]map[string][]sample{}}
	if err := b.measure(ctx); err != nil {
		return err
	}
	// The HTTP cases stay up (idle) through the rest.
	if err := b.measureQueue(ctx, env, queueCases); err != nil {
		return err
	}
	startups, err := env.startups(ctx, httpCases, o.startupRuns)
	if err != nil {
		return err
	}
	var report strings.Builder
	writeReport(&report, o, b, startups)
	fmt.Fprint(stdout, report.String())
	if o.out != "" {
		return os.WriteFile(o.out, []byte(report.String()), 0o644)
	}
	return nil
}

// allCases lists every case, the @before ones only when there is an
// earlier binary to run them with.
func allCases(withBefore bool) string {
	var names []string
	for _, c := range knownCases {
		if !c.before || withBefore {
			names = append(names, c.name)
		}
	}
	return strings.Join(names, ",")
}

// buildRevision builds clipbridge as it was at rev (git archive into a
// scratch directory, then go build), for the @before cases.
func buildRevision(ctx context.Context, dir, rev string) (string, error) {
	src := filepath.Join(dir, "before-src")
	if err := os.MkdirAll(src, 0o700); err != nil {
		return "", err
	}
	archive := exec.CommandContext(ctx, "sh", "-c", `git archive --format=tar "$1" | tar -x -C "$2"`, "sh", rev, src)
	archive.Stderr = os.Stderr
	if err := archive.Run(); err != nil {
		return "", fmt.Errorf("git archive %s (run from the repository): %w", rev, err)
	}
	bin := filepath.Join(dir, "clipbridge-before")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	build.Dir, build.Stdout, build.Stderr = src, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("go build at %s: %w", rev, err)
	}
	return bin, nil
}

// progressOut receives progress lines: stderr, keeping stdout for the
// report (tests send them to the test log).
var progressOut io.Writer = os.Stderr

// progress reports what the harness is doing.
func progress(format string, args ...any) {
	fmt.Fprintf(progressOut, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}
