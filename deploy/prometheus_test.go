package deploy

import (
	"testing"

	"go.yaml.in/yaml/v3"
)

// ruleFile is the part of a Prometheus rule file these tests read.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// ruleTestFile is the part of a promtool test file these tests read.
type ruleTestFile struct {
	Tests []struct {
		Name        string `yaml:"name"`
		InputSeries []struct {
			Series string `yaml:"series"`
		} `yaml:"input_series"`
		AlertRuleTest []struct {
			Alertname string `yaml:"alertname"`
			ExpAlerts []any  `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

func loadYAML(t *testing.T, path string, v any) {
	t.Helper()
	if err := yaml.Unmarshal([]byte(readFile(t, path)), v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func TestPrometheusConfig(t *testing.T) {
	promtool := requireTool(t, "promtool", "prometheus")
	// check config also loads and checks the rule files it names.
	t.Log(runTool(t, "prometheus", nil, promtool, "check", "config", "prometheus.yml"))
}

func TestAlertRules(t *testing.T) {
	promtool := requireTool(t, "promtool", "prometheus")
	t.Log(runTool(t, "prometheus", nil, promtool, "check", "rules", "alerts.yml"))
	t.Log(runTool(t, "prometheus", nil, promtool, "test", "rules", "alerts_test.yml"))
}

// TestEveryAlertIsTested wants, for every alert, a unit test where it fires
// and one where it stays quiet, and the labels and annotations a receiver
// routes and renders on.
func TestEveryAlertIsTested(t *testing.T) {
	var rules ruleFile
	var tests ruleTestFile
	loadYAML(t, "prometheus/alerts.yml", &rules)
	loadYAML(t, "prometheus/alerts_test.yml", &tests)
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			n++
			if !fires[r.Alert] {
				t.Errorf("%s: no test where it fires", r.Alert)
			}
			if !quiet[r.Alert] {
				t.Errorf("%s: no test where it stays quiet", r.Alert)
			}
			if s := r.Labels["severity"]; s != "critical" && s != "warning" {
				t.Errorf("%s: severity %q, want critical or warning", r.Alert, s)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" || r.Annotations["runbook_url"] == "" {
				t.Errorf("%s: wants summary, description and runbook_url annotations", r.Alert)
			}
		}
	}
	want := []string{
		// issue 6
		"ClipbridgeTunnelDown", "ClipbridgeTunnelReconnectStorm", "ClipbridgeHTTP2SessionDown", "ClipbridgeRejectionSpike",
		"ClipbridgeUpstreamErrors", "ClipbridgeHighLatency",
		// issue 15: queue mode, and a sidecar that is gone
		"ClipbridgeQueueRequestsFailed", "ClipbridgeQueueIndeterminate", "ClipbridgeQueueBacklog",
		"ClipbridgeQueueDepthGrowing", "ClipbridgeQueuePickupSlow", "ClipbridgeDown", "ClipbridgeAbsent",
	}
	for _, a := range want {
		if !fires[a] {
			t.Errorf("alert %s missing or untested", a)
		}
	}
	if n < len(want) {
		t.Errorf("%d alerts, want at least %d", n, len(want))
	}
}
