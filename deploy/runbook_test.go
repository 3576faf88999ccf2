package deploy

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"unicode"

	"go.yaml.in/yaml/v3"
)

// runbookBase is where alerts' runbook_url annotations point: README.md as
// GitHub renders it, so a receiver can link it as it is.
const runbookBase = "https://github.com/clipbridge/clipbridge/blob/main/README.md#"

// markdownSection is one heading of a Markdown file and the text under it,
// up to the next heading of the same or a higher level.
type markdownSection struct {
	anchor, title, body string
}

// markdownSections returns a file's sections by anchor, as GitHub names
// them: the heading lower-cased, punctuation dropped, spaces turned into
// hyphens, "-1", "-2"… appended to repeats. Lines in fenced code blocks are
// not headings.
func markdownSections(text string) map[string]markdownSection {
	type heading struct {
		level       int
		anchor, txt string
		line        int
	}
	lines := strings.Split(text, "\n")
	var hs []heading
	seen := map[string]int{}
	fenced := false
	for i, l := range lines {
		if strings.HasPrefix(l, "```") {
			fenced = !fenced
			continue
		}
		level := len(l) - len(strings.TrimLeft(l, "#"))
		if fenced || level == 0 || level > 6 || !strings.HasPrefix(l[level:], " ") {
			continue
		}
		title := strings.TrimSpace(l[level:])
		a := githubAnchor(title)
		if n := seen[a]; n > 0 {
			seen[a]++
			a = fmt.Sprintf("%s-%d", a, n)
		} else {
			seen[a] = 1
		}
		hs = append(hs, heading{level, a, title, i})
	}
	out := map[string]markdownSection{}
	for i, h := range hs {
		end := len(lines)
		for _, next := range hs[i+1:] {
			if next.level <= h.level {
				end = next.line
				break
			}
		}
		out[h.anchor] = markdownSection{h.anchor, h.txt, strings.Join(lines[h.line+1:end], "\n")}
	}
	return out
}

// githubAnchor is the fragment GitHub gives a heading.
func githubAnchor(title string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(title) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func TestGithubAnchor(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Runbook: SSH tunnel", "runbook-ssh-tunnel"},
		{"queue_v1 (`--queue-dir`)", "queue_v1---queue-dir"},
		{"Endpoints (admin listener only; never reachable through a tunnel)", "endpoints-admin-listener-only-never-reachable-through-a-tunnel"},
		{"Preflight: `clipbridge check`", "preflight-clipbridge-check"},
	} {
		if got := githubAnchor(tc.in); got != tc.want {
			t.Errorf("githubAnchor(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestAlertRunbooks wants every alert's runbook_url to point at a section of
// README.md that exists and names the alert, so the link an on-call engineer
// follows lands on what to check and what to do for that very alert.
func TestAlertRunbooks(t *testing.T) {
	sections := markdownSections(readFile(t, repoRoot+"/README.md"))
	var rules ruleFile
	loadYAML(t, "prometheus/alerts.yml", &rules)
	linked := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			u := r.Annotations["runbook_url"]
			anchor, ok := strings.CutPrefix(u, runbookBase)
			if !ok {
				t.Errorf("%s: runbook_url %q does not start with %s", r.Alert, u, runbookBase)
				continue
			}
			s, ok := sections[anchor]
			switch {
			case !ok:
				t.Errorf("%s: runbook_url #%s: README.md has no such heading", r.Alert, anchor)
			case !strings.Contains(s.body, "`"+r.Alert+"`"):
				t.Errorf("%s: README.md %q does not name `%s`", r.Alert, s.title, r.Alert)
			}
			linked[anchor] = true
		}
	}
	// And the other way: no runbook section that no alert links to.
	for a, s := range sections {
		if strings.HasPrefix(a, "runbook-") && !linked[a] {
			t.Errorf("README.md %q: no alert links to it", s.title)
		}
	}
}

var jobMatcherRE = regexp.MustCompile(`\bjob\s*=\s*"([^"]*)"`)

// TestAlertJobsScraped wants every job="…" an alert matches to be a job
// prometheus.yml scrapes: absent(up{job="clipbridge"}) on a misspelt job
// would fire for ever, and up{job=…} == 0 would never fire.
func TestAlertJobsScraped(t *testing.T) {
	var cfg struct {
		ScrapeConfigs []struct {
			JobName string `yaml:"job_name"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal([]byte(readFile(t, "prometheus/prometheus.yml")), &cfg); err != nil {
		t.Fatal(err)
	}
	jobs := map[string]bool{}
	for _, sc := range cfg.ScrapeConfigs {
		jobs[sc.JobName] = true
	}
	var rules ruleFile
	loadYAML(t, "prometheus/alerts.yml", &rules)
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			for _, m := range jobMatcherRE.FindAllStringSubmatch(r.Expr, -1) {
				n++
				if !jobs[m[1]] {
					t.Errorf("%s%s matches job=%q, which prometheus.yml does not scrape", r.Alert, r.Record, m[1])
				}
			}
		}
	}
	if n == 0 {
		t.Error("no alert matches a job: the sidecar-gone alerts are missing")
	}
}
