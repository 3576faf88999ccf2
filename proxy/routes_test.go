package proxy

import (
	"strings"
	"testing"

	"github.com/clipbridge/clipbridge/proxy/policy"
)

func TestDefaultRules(t *testing.T) {
	rules := DefaultRules()
	if len(rules) != 68 {
		t.Fatalf("%d default rules, want Paperclip's 68", len(rules))
	}
	a := newAllowlist(rules)
	for _, tc := range []struct {
		method, path string
		allowed      bool
	}{
		{"GET", "/api/agents/me", true},
		{"GET", "/api/agents/me/inbox-lite", true},
		{"GET", "/api/issues/issue-1/heartbeat-context", true},
		{"PATCH", "/api/issues/issue-1", true},
		{"POST", "/api/issues/i/interactions/x/withdraw", true},
		{"GET", "/api/openapi.json", true},
		{"GET", "/llms/agent-configuration/claude.txt", true},
		{"POST", "/api/companies/c/issues/i/attachments", true},
		{"POST", "/runtime-tools/github/credentials", true},
		{"DELETE", "/api/routine-triggers/t1", true},
		// Paperclip's own deny table (reference §9.3 case 12).
		{"POST", "/api/execution-workspaces/ws-1/runtime-services/delete", false},
		{"POST", "/api/companies/co-1/agents", false},
		{"POST", "/api/agents/agent-1/pause", false},
		{"POST", "/api/agents/agent-1/terminate", false},
		{"POST", "/api/agents/agent-1/keys", false},
		{"POST", "/api/companies/co-1/exports", false},
		{"POST", "/api/companies/co-1/imports/apply", false},
		{"POST", "/api/companies/co-1/archive", false},
		{"POST", "/api/companies/co-1/logo", false},
		{"DELETE", "/api/issues/issue-1/documents/plan", false},
		{"DELETE", "/api/issues/issue-1/approvals/ap-1", false},
		{"POST", "/api/approvals/ap-1/approve", false},
		{"POST", "/api/approvals/ap-1/reject", false},
		{"GET", "/api/companies/co-1/secrets", false},
		{"PATCH", "/api/secrets/secret-1", false},
		{"DELETE", "/api/secrets", false},
		{"POST", "/api/openapi.json", false},
		{"GET", "/api/openapi.json/extra", false},
		{"GET", "/api/openapiXjson", false},
		{"GET", "/api/agents/me/", false},
		{"GET", "/api/issues/a/b", false},
		{"get", "/api/agents/me", false},
	} {
		_, ok := a.Match(tc.method, tc.path)
		if ok != tc.allowed {
			t.Errorf("%s %s: allowed=%v, want %v", tc.method, tc.path, ok, tc.allowed)
		}
	}
}

func TestParseRoutes(t *testing.T) {
	rules, err := ParseRoutes(strings.NewReader("# comment\n\n  GET   /api/x  \nPOST ^/api/y/[^/]+$\n"))
	if err != nil {
		t.Fatal(err)
	}
	a := newAllowlist(rules)
	if p, ok := a.Match("GET", "/api/x"); !ok || p != "/api/x" {
		t.Fatalf("match %q %v", p, ok)
	}
	// Anchored for you: no prefix or suffix matches.
	for _, path := range []string{"/api/x/y", "/pre/api/x", "/api/xx"} {
		if _, ok := a.Match("GET", path); ok {
			t.Errorf("%s matched an anchored rule", path)
		}
	}
	for name, in := range map[string]string{
		"bad regex":   "GET /api/(x\n",
		"one field":   "GET\n",
		"three":       "GET /a /b\n",
		"bad method":  "G:T /a\n",
		"empty":       "# nothing\n",
		"alternation": "",
	} {
		if name == "alternation" {
			// An alternation must not escape the anchors.
			rules, err := ParseRoutes(strings.NewReader("GET /api/a|/api/b\n"))
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := newAllowlist(rules).Match("GET", "/api/b/extra"); ok {
				t.Error("alternation escaped the anchors")
			}
			continue
		}
		if _, err := ParseRoutes(strings.NewReader(in)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// FuzzParseRoutes: whatever the file, parsing never panics, and every
// accepted rule only matches whole paths.
func FuzzParseRoutes(f *testing.F) {
	f.Add(defaultRoutes)
	f.Add("GET /api/(x\n")
	f.Add("GET /a|/b\n# c\n")
	f.Add("POST ^/api/[^/]+$\n")
	f.Fuzz(func(t *testing.T, in string) {
		rules, err := ParseRoutes(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, r := range rules {
			if !policy.ValidMethod(r.Method) {
				t.Fatalf("accepted method %q", r.Method)
			}
			loc := r.re.FindStringIndex("/zz/" + r.Pattern)
			if loc != nil && (loc[0] != 0 || loc[1] != len("/zz/"+r.Pattern)) {
				t.Fatalf("rule %q matched a substring", r.Pattern)
			}
		}
	})
}

func TestLiteralSuffix(t *testing.T) {
	for pattern, want := range map[string]string{
		"/api/issues/[^/]+/comments":        "/comments",
		"/api/agents/me":                    "/api/agents/me",
		"/api/issues/[^/]+":                 "",
		"/api/issues/[^/]+/comments(?:/x)?": "",
		"/api/openapi\\.json":               "/api/openapi.json",
		"/a/(?:start|stop)":                 "",
		"(?i)/api/x":                        "",
		"/api/x|/api/y":                     "",
	} {
		if got := literalSuffix(pattern); got != want {
			t.Errorf("literalSuffix(%q) = %q, want %q", pattern, got, want)
		}
	}
}

func BenchmarkAllowlistMatch(b *testing.B) {
	a := newAllowlist(DefaultRules())
	paths := []struct{ m, p string }{
		{"GET", "/api/agents/me"},
		{"POST", "/api/issues/issue-123/comments"},
		{"GET", "/api/companies/co-1/email/deliveries/d-9"},
		{"DELETE", "/api/secrets"},
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		p := paths[i%len(paths)]
		a.Match(p.m, p.p)
	}
}
