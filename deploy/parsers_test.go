package deploy

import (
	"slices"
	"strings"
	"testing"
)

var expositionCases = []struct {
	name    string
	text    string
	wantErr bool
	has     []string
	labels  map[string][]string // sample -> label names
}{
	{
		name: "counter with labels",
		text: "# HELP clipbridge_proxy_rejected_total Refused.\n# TYPE clipbridge_proxy_rejected_total counter\n" +
			"clipbridge_proxy_rejected_total{reason=\"unauthorized\"} 0\nclipbridge_proxy_rejected_total{reason=\"queue_full\"} 3\n",
		has:    []string{"clipbridge_proxy_rejected_total"},
		labels: map[string][]string{"clipbridge_proxy_rejected_total": {"reason"}},
	},
	{
		name: "histogram series",
		text: "# TYPE x_seconds histogram\nx_seconds_bucket{le=\"0.5\"} 1\nx_seconds_bucket{le=\"+Inf\"} 1\nx_seconds_sum 0.1\nx_seconds_count 1\n",
		has:  []string{"x_seconds", "x_seconds_bucket", "x_seconds_sum", "x_seconds_count"},
	},
	{
		name:   "escapes and spaces in label values, timestamp",
		text:   "m{a=\"x\\\"y\\\\z\\n\", b = \"q r\"} 1 1700000000000\n",
		has:    []string{"m"},
		labels: map[string][]string{"m": {"a", "b"}},
	},
	{name: "trailing comma", text: "m{a=\"1\",} 1\n", has: []string{"m"}},
	{name: "unquoted value", text: "m{a=1} 1\n", wantErr: true},
	{name: "unterminated value", text: "m{a=\"1} 1\n", wantErr: true},
	{name: "bad escape", text: "m{a=\"\\t\"} 1\n", wantErr: true},
	{name: "repeated label", text: "m{a=\"1\",a=\"2\"} 1\n", wantErr: true},
	{name: "no value", text: "m{a=\"1\"}\n", wantErr: true},
	{name: "bad name", text: "1m 1\n", wantErr: true},
	{name: "bad TYPE", text: "# TYPE m\n", wantErr: true},
}

func TestParseExposition(t *testing.T) {
	for _, tc := range expositionCases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := parseExposition(tc.text)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			for _, n := range tc.has {
				if !e.has(n) {
					t.Errorf("has(%s) = false", n)
				}
			}
			if e.has("absent_metric") {
				t.Error("has(absent_metric) = true")
			}
			for sample, want := range tc.labels {
				var got []string
				for l := range e.samples[sample] {
					got = append(got, l)
				}
				slices.Sort(got)
				if !slices.Equal(got, want) {
					t.Errorf("%s labels = %v, want %v", sample, got, want)
				}
			}
		})
	}
	e, _ := parseExposition("m{a=\"x\\\"y\\\\z\\n\"} 1\n")
	if !e.samples["m"]["a"]["x\"y\\z\n"] {
		t.Errorf("escaped value not decoded: %v", e.samples["m"]["a"])
	}
}

func FuzzParseExposition(f *testing.F) {
	for _, tc := range expositionCases {
		f.Add(tc.text)
	}
	f.Fuzz(func(t *testing.T, text string) {
		e, err := parseExposition(text)
		if err != nil {
			return
		}
		for name, byLabel := range e.samples {
			if !validMetricName(name) || !e.has(name) {
				t.Fatalf("accepted bad sample name %q", name)
			}
			for l := range byLabel {
				if !validLabelName(l) {
					t.Fatalf("accepted bad label name %q", l)
				}
			}
		}
	})
}

var metricRefCases = []struct {
	name, text string
	want       []string
}{
	{"promql", `histogram_quantile(0.99, sum by (le) (rate(clipbridge_http_request_duration_seconds_bucket{job=~"$job"}[5m])))`,
		[]string{"clipbridge_http_request_duration_seconds_bucket"}},
	{"runtime and process", "go_goroutines + process_open_fds - go_", []string{"go_goroutines", "process_open_fds"}},
	{"recording rule names are not metrics", "job:clipbridge_requests:rate5m clipbridge_x:y", nil},
	{"inside JSON and prose", `{"expr": "clipbridge_tunnel_up == 0"} see clipbridge_queue_depth.`, []string{"clipbridge_queue_depth", "clipbridge_tunnel_up"}},
	{"prefix inside a word", "myclipbridge_x NOTgo_x", nil},
	{"environment variables", "CLIPBRIDGE_ADMIN_LISTEN", nil},
	{"sorted, unique", "clipbridge_b clipbridge_a clipbridge_b", []string{"clipbridge_a", "clipbridge_b"}},
}

func TestMetricRefs(t *testing.T) {
	for _, tc := range metricRefCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := metricRefs(tc.text); !slices.Equal(got, tc.want) {
				t.Errorf("metricRefs = %v, want %v", got, tc.want)
			}
		})
	}
}

func FuzzMetricRefs(f *testing.F) {
	for _, tc := range metricRefCases {
		f.Add(tc.text)
	}
	f.Fuzz(func(t *testing.T, text string) {
		refs := metricRefs(text)
		if !slices.IsSorted(refs) || len(slices.Compact(slices.Clone(refs))) != len(refs) {
			t.Fatalf("not sorted and unique: %v", refs)
		}
		for _, r := range refs {
			if !strings.Contains(text, r) || strings.Contains(r, ":") || !validMetricName(r) {
				t.Fatalf("bad ref %q", r)
			}
		}
	})
}

func TestLabelRefs(t *testing.T) {
	for _, tc := range []struct {
		name, expr, templates string
		want                  []string
		values                map[string][]string
	}{
		{
			name:   "grouping and matchers",
			expr:   `sum by (reason, job) (increase(m{kind="connect", instance=~"$instance"}[5m])) > on (job) group_left (pod) x`,
			want:   []string{"instance", "job", "kind", "pod", "reason"},
			values: map[string][]string{"kind": {"connect"}},
		},
		{
			name:      "templates and legends",
			templates: `{{ $labels.instance }} {{ if eq $labels.reason "unauthorized" }}x{{ end }} {{method}} {{ route }}`,
			want:      []string{"instance", "method", "reason", "route"},
			values:    map[string][]string{"reason": {"unauthorized"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := append(promqlLabelRefs(tc.expr), templateLabelRefs(tc.templates)...)
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("labels = %v, want %v", got, tc.want)
			}
			vals := labelValueRefs(tc.expr + "\n" + tc.templates)
			for l, want := range tc.values {
				if !slices.Equal(vals[l], want) {
					t.Errorf("values of %s = %v, want %v", l, vals[l], want)
				}
			}
			if len(vals) != len(tc.values) {
				t.Errorf("values = %v, want %v", vals, tc.values)
			}
		})
	}
}
