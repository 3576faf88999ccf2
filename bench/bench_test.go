package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain lets the test binary play the harness's subprocess roles, as
// the real binary does from main.
func TestMain(m *testing.M) {
	switch os.Getenv(upstreamRoleEnv) {
	case "upstream":
		if err := runUpstream(); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	case bareProxyRole:
		if err := runBareProxy(); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	case baselineRole:
		if err := runBaselineWorker(); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	if code == 0 {
		// The harness starts goroutines per subprocess (pipes, waits):
		// all must be gone once every case has stopped.
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

var statCases = []struct {
	name, line string
	state      string
	utime      string
	ok         bool
}{
	{"plain", "42 (clipbridge) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 5 0 100 0 0", "S", "7", true},
	{"spaces and parens in the name", "7 (a) b (c)) R 1 7 7 0 -1 0 0 0 0 0 11 12 0 0", "R", "11", true},
	{"no name", "garbage", "", "", false},
}

func TestParseStat(t *testing.T) {
	for _, tc := range statCases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := parseStat(tc.line)
			if (err == nil) != tc.ok {
				t.Fatalf("err %v, want ok=%v", err, tc.ok)
			}
			if !tc.ok {
				return
			}
			// state(0) ... utime(11), as procTree.cpu reads them.
			if f[0] != tc.state || len(f) < 12 || f[11] != tc.utime {
				t.Fatalf("fields %q", f)
			}
		})
	}
}

func FuzzParseStat(f *testing.F) {
	for _, tc := range statCases {
		f.Add(tc.line)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fields, err := parseStat(s)
		if err == nil && strings.LastIndexByte(s, ')') < 0 {
			t.Fatalf("accepted %q without a command name", s)
		}
		for _, x := range fields {
			if x == "" || strings.ContainsAny(x, " \t\n") {
				t.Fatalf("bad field %q", x)
			}
		}
	})
}

var statusCases = []struct {
	name, text, field string
	want              int64
}{
	{"VmHWM", "Name:\tclipbridge\nVmPeak:\t  1234 kB\nVmHWM:\t   13312 kB\nVmRSS:\t   12000 kB\n", "VmHWM", 13312},
	{"VmRSS", "VmHWM:\t   13312 kB\nVmRSS:\t   12000 kB\n", "VmRSS", 12000},
	{"missing", "Name:\tx\n", "VmRSS", 0},
	{"prefix is not the field", "VmRSSx:\t5 kB\n", "VmRSS", 0},
	{"garbage value", "VmRSS:\tlots\n", "VmRSS", 0},
	{"negative", "VmRSS:\t-5 kB\n", "VmRSS", 0},
}

func TestParseStatusKB(t *testing.T) {
	for _, tc := range statusCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseStatusKB(tc.text, tc.field); got != tc.want {
				t.Fatalf("got %d, want %d", got, tc.want)
			}
		})
	}
}

func FuzzParseStatusKB(f *testing.F) {
	for _, tc := range statusCases {
		f.Add(tc.text, tc.field)
	}
	f.Fuzz(func(t *testing.T, text, field string) {
		if got := parseStatusKB(text, field); got < 0 {
			t.Fatalf("negative %d", got)
		}
	})
}

var metricCases = []struct {
	name, text string
	want       float64
	found      bool
}{
	{"labelled", "# HELP x\nclipbridge_runner_execs_total{kind=\"ssh\"} 3\nclipbridge_runner_execs_total{kind=\"local\"} 2\n", 5, true},
	{"unlabelled", "clipbridge_runner_execs_total 7\n", 7, true},
	{"longer name is another metric", "clipbridge_runner_execs_total_bucket{le=\"1\"} 9\n", 0, false},
	{"missing", "go_goroutines 12\n", 0, false},
	{"unparsable value", "clipbridge_runner_execs_total x\n", 0, false},
}

func TestSumMetric(t *testing.T) {
	for _, tc := range metricCases {
		t.Run(tc.name, func(t *testing.T) {
			got, found := sumMetric(tc.text, "clipbridge_runner_execs_total")
			if got != tc.want || found != tc.found {
				t.Fatalf("got %v %v, want %v %v", got, found, tc.want, tc.found)
			}
		})
	}
}

func FuzzSumMetric(f *testing.F) {
	for _, tc := range metricCases {
		f.Add(tc.text)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if v, found := sumMetric(text, "clipbridge_runner_execs_total"); !found && v != 0 {
			t.Fatalf("not found but %v", v)
		}
	})
}

func TestMedianAndQuantile(t *testing.T) {
	for _, tc := range []struct {
		xs   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(tc.xs); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.xs, got, tc.want)
		}
	}
	ds := []time.Duration{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	if q := quantile(ds, 0.5); q != 5 {
		t.Errorf("p50 = %v", q)
	}
	if q := quantile(ds, 0.9); q != 9 {
		t.Errorf("p90 = %v", q)
	}
	if q := quantile(nil, 0.5); q != 0 {
		t.Errorf("empty p50 = %v", q)
	}
}

// The baseline's scripts go through sh (and over ssh, through a second
// sh): quoting must survive any path.
func TestShellQuote(t *testing.T) {
	for _, s := range []string{"plain", "with space", "it's", `"double"`, "$HOME", "`x`", "a\nb", ""} {
		out, err := exec.Command("sh", "-c", "printf %s "+shellQuote(s)).Output()
		if err != nil || string(out) != s {
			t.Errorf("%q came back as %q (%v)", s, out, err)
		}
	}
}

// The nginx configuration the comparison uses must be one nginx accepts.
func TestNginxConfigValid(t *testing.T) {
	if _, err := os.Stat(nginxBinary); err != nil {
		skipOrFail(t, "nginx not installed (apt-get install nginx-light)")
	}
	dir := t.TempDir()
	conf := renderNginxConfig(dir, "127.0.0.1:1", 8080, secrets{runToken: "run-token", runID: "run-1", bridgeToken: "bridge-token"})
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(nginxBinary, "-t", "-p", dir, "-c", path, "-e", filepath.Join(dir, "error.log")).CombinedOutput()
	if err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
}

// A short run of the real harness, so that changes to the binary's
// command line or ready line cannot silently break the benchmarks.
func TestHarnessSmoke(t *testing.T) {
	if _, err := exec.LookPath("wrk"); err != nil {
		skipOrFail(t, "wrk not installed (apt-get install wrk)")
	}
	if testing.Short() {
		t.Skip("builds clipbridge and runs load for about 10 s")
	}
	wd, _ := os.Getwd()
	if err := os.Chdir(".."); err != nil { // the harness builds "." from the repository root
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chdir(wd) })
	progressOut = testLog{t}
	t.Cleanup(func() { progressOut = os.Stderr })
	var out strings.Builder
	o := options{duration: time.Second, rounds: 1, startupRuns: 1, queueCalls: 2, queueIdle: time.Second,
		cases: "clipbridge,go-floor,go-raw,queue-local,baseline-local"}
	if err := run(t.Context(), o, &out); err != nil {
		t.Fatal(err)
	}
	report := out.String()
	for _, want := range []string{"| clipbridge, local listener |", "| bare Go proxy (no checks; not a product) |", "| raw Go proxy (hand-written parser, no checks; not a product) |", "| clipbridge queue_v1, local runner |", "| exec-per-operation baseline, local |", "start-up to ready line"} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}
	for _, line := range strings.Split(report, "\n") {
		if (strings.HasPrefix(line, "| clipbridge, local listener |") || strings.HasPrefix(line, "| bare Go proxy") ||
			strings.HasPrefix(line, "| raw Go proxy")) &&
			strings.Contains(line, "MiB/s") && !strings.HasSuffix(line, "| 0 |") {
			t.Errorf("errors under load: %s", line)
		}
	}
}

// skipOrFail skips when a tool is missing, unless CI asked for every tool.
func skipOrFail(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CLIPBRIDGE_REQUIRE_TOOLS") == "1" {
		t.Fatal(why)
	}
	t.Skip(why)
}

// testLog sends the harness's progress lines to the test log.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
