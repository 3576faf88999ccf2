package deploy

import (
	"regexp"
	"slices"
	"strings"
)

// metricPrefixes are the families the binary exports: its own, and the Go
// runtime and process collectors'.
var metricPrefixes = []string{"clipbridge_", "go_", "process_"}

// metricRefs returns, sorted and unique, every identifier in text that names
// one of clipbridge's metrics (prefix clipbridge_, go_ or process_).
// Recording-rule names (with a colon) are not metric names and are skipped.
// It reads any text: PromQL, YAML, JSON, comments and prose alike.
func metricRefs(text string) []string {
	var out []string
	for i := 0; i < len(text); {
		if !isIdentStart(text[i]) || i > 0 && isIdentByte(text[i-1]) {
			i++
			continue
		}
		j := i
		for j < len(text) && isIdentByte(text[j]) {
			j++
		}
		tok := text[i:j]
		i = j
		if strings.Contains(tok, ":") {
			continue
		}
		for _, p := range metricPrefixes {
			if strings.HasPrefix(tok, p) && len(tok) > len(p) {
				out = append(out, tok)
				break
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isIdentByte(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }

var (
	groupingRE = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)`)
	selectorRE = regexp.MustCompile(`\{([^{}]*)\}`)
	matcherRE  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"`)
	templateRE = regexp.MustCompile(`\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)`)
	legendRE   = regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`)
	eqValueRE  = regexp.MustCompile(`eq\s+\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)\s+"([^"]*)"`)
)

// promqlLabelRefs returns the label names a PromQL expression uses in
// grouping clauses and selector matchers.
func promqlLabelRefs(expr string) []string {
	var out []string
	for _, m := range groupingRE.FindAllStringSubmatch(expr, -1) {
		for _, l := range strings.Split(m[1], ",") {
			if l = strings.TrimSpace(l); l != "" {
				out = append(out, l)
			}
		}
	}
	for _, sel := range selectorRE.FindAllStringSubmatch(expr, -1) {
		for _, m := range matcherRE.FindAllStringSubmatch(sel[1], -1) {
			out = append(out, m[1])
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// templateLabelRefs returns the label names an alert template ($labels.x)
// or a Grafana legend ({{x}}) uses.
func templateLabelRefs(text string) []string {
	var out []string
	for _, re := range []*regexp.Regexp{templateRE, legendRE} {
		for _, m := range re.FindAllStringSubmatch(text, -1) {
			if m[1] != "end" && m[1] != "else" { // template keywords
				out = append(out, m[1])
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// labelValueRefs returns the label values an alert template compares with
// (`eq $labels.reason "unauthorized"`) and literal equality matchers use
// (`{kind="connect"}`), as label -> values.
func labelValueRefs(text string) map[string][]string {
	out := map[string][]string{}
	for _, m := range eqValueRE.FindAllStringSubmatch(text, -1) {
		out[m[1]] = append(out[m[1]], m[2])
	}
	for _, sel := range selectorRE.FindAllStringSubmatch(text, -1) {
		for _, m := range matcherRE.FindAllStringSubmatch(sel[1], -1) {
			if m[2] == "=" && !strings.Contains(m[3], "$") {
				out[m[1]] = append(out[m[1]], m[3])
			}
		}
	}
	return out
}
