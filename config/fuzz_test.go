package config

import (
	"strings"
	"testing"
)

// FuzzParseUpstream checks that an accepted --upstream is exactly what
// the proxy relies on: an http(s) origin with a host, no credentials, no
// query or fragment, and a form that parses back to itself.
func FuzzParseUpstream(f *testing.F) {
	for _, s := range []string{
		"http://127.0.0.1:3100", "https://paperclip.example/api-prefix", "http://u:p@h",
		"http://h/?q", "http://h/#f", "http://h//x", "ftp://h", "http://", "http://[::1]:80/a%2Fb",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		u, err := parseUpstream(in)
		if err != nil {
			return
		}
		switch {
		case u.Scheme != "http" && u.Scheme != "https", u.Host == "", u.User != nil,
			u.RawQuery != "" || u.Fragment != "" || u.ForceQuery, strings.Contains(u.EscapedPath(), "//"):
			t.Fatalf("accepted %q as %#v", in, u)
		}
		again, err := parseUpstream(u.String())
		if err != nil || again.String() != u.String() {
			t.Fatalf("%q -> %q does not parse back (%v)", in, u.String(), err)
		}
	})
}

func FuzzParseCount(f *testing.F) {
	for _, s := range []string{"64", " 1 ", "0", "-3", "1e3", "99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if n, err := ParseCount(in); err == nil && n <= 0 {
			t.Fatalf("%q gave %d", in, n)
		}
	})
}
