package deploy

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clipbridge/clipbridge/internal/testsupport"
)

// TestMetricNamesExist cross-checks every metric name, label name and label
// value used by the alert rules, their unit tests, the Prometheus
// configuration and the dashboard against a live /metrics of the built
// binary, in every mode it has: plain serve, SSH (against a real sshd) and
// queue. Names of a transport the binary does not have yet are reported,
// not failed.
func TestMetricNamesExist(t *testing.T) {
	live, pending := liveMetrics(t)
	allLabels := map[string]map[string]bool{}
	for _, byLabel := range live.samples {
		for l, vals := range byLabel {
			if allLabels[l] == nil {
				allLabels[l] = map[string]bool{}
			}
			for v := range vals {
				allLabels[l][v] = true
			}
		}
	}
	var deferred []string
	checkNames := func(where string, names []string) bool {
		ok := true
		for _, n := range names {
			switch {
			case live.has(n):
			case pending(n):
				deferred = append(deferred, n)
				ok = false
			default:
				t.Errorf("%s uses %s, which the binary does not export", where, n)
			}
		}
		return ok
	}
	// checkLabels checks an expression's labels, unless it uses a metric of
	// a transport that is not there yet.
	checkLabels := func(where, expr, templates string) {
		if !checkNames(where, metricRefs(expr)) {
			return
		}
		for _, l := range append(promqlLabelRefs(expr), templateLabelRefs(templates)...) {
			if l != "job" && l != "instance" && allLabels[l] == nil {
				t.Errorf("%s uses label %q, which no exported metric has", where, l)
			}
		}
		for l, vals := range labelValueRefs(expr + "\n" + templates) {
			for _, v := range vals {
				if l != "job" && l != "instance" && !allLabels[l][v] {
					t.Errorf("%s compares label %s with %q, a value the binary never exports", where, l, v)
				}
			}
		}
	}

	for _, f := range []string{"prometheus/alerts.yml", "prometheus/alerts_test.yml", "prometheus/prometheus.yml", "grafana/clipbridge.json"} {
		checkNames(f, metricRefs(readFile(t, f)))
	}
	var rules ruleFile
	loadYAML(t, "prometheus/alerts.yml", &rules)
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			var tmpl strings.Builder
			for _, m := range []map[string]string{r.Labels, r.Annotations} {
				for _, v := range m {
					tmpl.WriteString(v + "\n")
				}
			}
			checkLabels("alerts.yml "+r.Alert+r.Record, r.Expr, tmpl.String())
		}
	}
	exprs, legends := dashboardExprs(loadDashboard(t))
	for i := range exprs {
		checkLabels(fmt.Sprintf("dashboard query %q", exprs[i]), exprs[i], legends[i])
	}
	checkTestSeries(t, live, pending)

	t.Run("deferred", func(t *testing.T) {
		if len(deferred) > 0 {
			t.Skipf("not checked, their transport is not running in this build or on this host: %v", uniq(deferred))
		}
	})
}

// scrapeSeries are the series Prometheus writes itself for every target it
// scrapes; the binary never exports them, and they carry only the target's
// labels (the ones here: job and instance).
var scrapeSeries = map[string]bool{"up": true}

// checkTestSeries checks the input series of alerts_test.yml: a unit test
// of a series the binary never exports would prove nothing.
func checkTestSeries(t *testing.T, live *exposition, pending func(string) bool) {
	var tests ruleTestFile
	loadYAML(t, "prometheus/alerts_test.yml", &tests)
	for _, tc := range tests.Tests {
		for _, in := range tc.InputSeries {
			name, labels, err := parseSample(in.Series + " 0")
			if err != nil {
				t.Errorf("alerts_test.yml series %q: %v", in.Series, err)
				continue
			}
			if pending(name) {
				continue
			}
			if scrapeSeries[name] {
				for l := range labels {
					if l != "job" && l != "instance" {
						t.Errorf("alerts_test.yml series %s: label %q, but Prometheus gives it only job and instance", name, l)
					}
				}
				continue
			}
			byLabel, ok := live.samples[name]
			if !ok {
				t.Errorf("alerts_test.yml series %s: not exported", name)
				continue
			}
			for l, v := range labels {
				switch {
				case l == "job" || l == "instance":
				case byLabel[l] == nil:
					t.Errorf("alerts_test.yml series %s: no label %q", name, l)
				case l == "route" || l == "method" || l == "code":
					// Values follow the traffic.
				case !byLabel[l][v]:
					t.Errorf("alerts_test.yml series %s: %s=%q is never exported", name, l, v)
				}
			}
		}
	}
}

// liveMetrics scrapes the binary in each mode it has, after one request in
// each so that labelled families have series, and says which names belong
// to a mode that could not run.
func liveMetrics(t *testing.T) (*exposition, func(string) bool) {
	live := newExposition()
	live.merge(plainInstanceMetrics(t))
	w := wired(t)
	sshRan, queueRan, h2Ran := false, false, false
	if w.ssh {
		t.Run("ssh", func(t *testing.T) {
			s := startSSHStack(t)
			if resp, body := testsupport.Get(t, s.ready.Env["PAPERCLIP_API_URL"]+"/api/agents/me", testsupport.Bearer(s.ready.Env["PAPERCLIP_API_KEY"])); resp.StatusCode != http.StatusOK {
				t.Fatalf("through the tunnel: %d %s", resp.StatusCode, body)
			}
			live.merge(scrape(t, s.ready.AdminURL))
			sshRan = true
		})
	}
	if w.queue {
		t.Run("queue", func(t *testing.T) {
			p := startClipbridge(t, plainEnv(t, "http://127.0.0.1:9"), "serve", "--queue-dir="+filepath.Join(t.TempDir(), "queue"))
			live.merge(scrape(t, p.ready(t).AdminURL))
			queueRan = true
		})
	}
	if w.queue {
		t.Run("http2_v1", func(t *testing.T) {
			p := startClipbridge(t, plainEnv(t, "http://127.0.0.1:9"), "serve", "--queue-dir="+filepath.Join(t.TempDir(), "queue"),
				"--runner", "local", "--bridge-mode", "http2_v1")
			live.merge(scrape(t, p.ready(t).AdminURL))
			h2Ran = true
		})
	}
	return live, func(name string) bool {
		switch {
		case strings.HasPrefix(name, "clipbridge_tunnel_"):
			return !sshRan
		case strings.HasPrefix(name, "clipbridge_h2bridge_"):
			return !h2Ran
		case strings.HasPrefix(name, "clipbridge_queue_"), strings.HasPrefix(name, "clipbridge_runner_"):
			return !queueRan
		}
		return false
	}
}

// plainInstanceMetrics runs `clipbridge serve` in front of a loopback
// upstream and scrapes it after one agent request.
func plainInstanceMetrics(t *testing.T) *exposition {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"agent-1"}`)
	}))
	defer up.Close()
	p := startClipbridge(t, plainEnv(t, up.URL), "serve")
	r := p.ready(t)
	if resp, body := testsupport.Get(t, r.Env["PAPERCLIP_API_URL"]+"/api/agents/me", testsupport.Bearer(r.Env["PAPERCLIP_API_KEY"])); resp.StatusCode != http.StatusOK {
		t.Fatalf("agent request: %d %s", resp.StatusCode, body)
	}
	return scrape(t, r.AdminURL)
}

// plainEnv is a complete serve environment with a random run token.
func plainEnv(t *testing.T, upstream string) []string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"CLIPBRIDGE_RUN_TOKEN=" + base64.RawURLEncoding.EncodeToString(b),
		"CLIPBRIDGE_RUN_ID=run-metrics",
		"CLIPBRIDGE_UPSTREAM=" + upstream,
		"CLIPBRIDGE_ADMIN_LISTEN=127.0.0.1:0",
		"CLIPBRIDGE_LOG_FORMAT=json",
	}
}

func uniq(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}
