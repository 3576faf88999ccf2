package policy

import (
	"strings"
	"testing"
)

var targetCases = []struct {
	target, path, query string
	ok                  bool
}{
	{"/api/agents/me", "/api/agents/me", "", true},
	{"/api/agents/me?view=compact", "/api/agents/me", "view=compact", true},
	{"/api/issues/%41bc", "/api/issues/%41bc", "", true},
	{"/api/issues/a%20b", "/api/issues/a%20b", "", true},
	{"/api/issues/x/", "/api/issues/x/", "", true}, // trailing slash: canonical, matches no rule
	{"/", "/", "", true},
	{"/api/x?a=%2f&b=..//", "/api/x", "a=%2f&b=..//", true}, // the query is not canonicalised
	{"/api/x?a=\xc3\xa9", "/api/x", "a=\xc3\xa9", true},     // nor held to ASCII, as in net/http
	{"/api/x?a\r\nGET /evil HTTP/1.1", "", "", false},       // but holds no line break (smuggling)
	{"/api/x?a b", "", "", false},
	{"/api/x?a\x00", "", "", false},
	{"/api/x?a\tb", "", "", false},
	{"/api/x?\x7f", "", "", false},
	{"/api/x?", "/api/x", "", true},
	{"*", "", "", false},
	{"http://evil/api/agents/me", "", "", false},
	{"evil:443", "", "", false},
	{"", "", "", false},
	{"/api//agents/me", "", "", false},
	{"//api/agents/me", "", "", false},
	{"/api/./agents", "", "", false},
	{"/api/../agents", "", "", false},
	{"/api/agents/..", "", "", false},
	{"/api/agents/.", "", "", false},
	{"/api/%2e%2e/agents", "", "", false},
	{"/api/%2E/agents", "", "", false},
	{"/api/agents%2fme", "", "", false},
	{"/api/agents%2Fme", "", "", false},
	{"/api/agents%5cme", "", "", false},
	{"/api/agents%5Cme", "", "", false},
	{"/api/agents\\me", "", "", false},
	{"/api/agents/me%00", "", "", false},
	{"/api/agents/me%0a", "", "", false},
	{"/api/agents/me%1b", "", "", false},
	{"/api/agents/me%7f", "", "", false},
	{"/api/agents/me%7F", "", "", false},
	{"/api/agents/me\x00", "", "", false},
	{"/api/agents/me\x7f", "", "", false},
	{"/api/agents/%zz", "", "", false},
	{"/api/agents/%4", "", "", false},
	{"/api/agents/me#frag", "", "", false},
	{"/api/agents/\xc3\xa9", "", "", false},
}

func TestParseTarget(t *testing.T) {
	for _, tc := range targetCases {
		t.Run(tc.target, func(t *testing.T) {
			path, query, err := ParseTarget(tc.target)
			if (err == nil) != tc.ok {
				t.Fatalf("ParseTarget(%q) err = %v, want ok=%v", tc.target, err, tc.ok)
			}
			if path != tc.path || query != tc.query {
				t.Fatalf("ParseTarget(%q) = %q, %q; want %q, %q", tc.target, path, query, tc.path, tc.query)
			}
		})
	}
}

// FuzzParseTarget checks the invariants the allowlist relies on: an
// accepted path has no encoded separator or dot, no dot segment, no empty
// inner segment and no control byte, and the split loses no byte.
func FuzzParseTarget(f *testing.F) {
	for _, tc := range targetCases {
		f.Add(tc.target)
	}
	f.Fuzz(func(t *testing.T, target string) {
		path, query, err := ParseTarget(target)
		if err != nil {
			return
		}
		if !strings.HasPrefix(path, "/") {
			t.Fatalf("accepted path %q does not start with /", path)
		}
		rebuilt := path
		if len(target) > len(path) {
			rebuilt += "?" + query
		}
		if rebuilt != target {
			t.Fatalf("split %q into %q + %q", target, path, query)
		}
		lower := strings.ToLower(path)
		for _, bad := range []string{"%2f", "%5c", "%2e", "\\", "//", "%00", "%7f"} {
			if strings.Contains(lower, bad) {
				t.Fatalf("accepted %q containing %q", path, bad)
			}
		}
		for _, seg := range strings.Split(path, "/")[1:] {
			if seg == "." || seg == ".." {
				t.Fatalf("accepted dot segment in %q", path)
			}
		}
		for i := 0; i < len(path); i++ {
			if path[i] < 0x20 || path[i] == 0x7f {
				t.Fatalf("accepted control byte in %q", path)
			}
		}
	})
}
