package policy

import (
	"net/http"
	"testing"
)

func TestCheck(t *testing.T) {
	ok := func(r *http.Request) *http.Request { return r }
	req := func(method, target string, h http.Header) *http.Request {
		return &http.Request{Method: method, RequestURI: target, Header: h}
	}
	cases := []struct {
		name string
		r    *http.Request
		want error
	}{
		{"plain GET", ok(req("GET", "/api/agents/me", http.Header{"Accept": {"application/json"}})), nil},
		{"query and tab in a value", req("GET", "/api/x?a=1&b=%20", http.Header{"Accept": {"a\tb"}}), nil},
		{"obs-text value", req("GET", "/api/x", http.Header{"Accept": {"caf\xc3\xa9"}}), nil},
		{"method with a space", req("GET /x HTTP/1.1\r\n", "/api/x", nil), ErrMethod},
		{"empty method", req("", "/api/x", nil), ErrMethod},
		{"CRLF in the query", req("GET", "/api/x?a\r\nGET /evil HTTP/1.1", nil), ErrTarget},
		{"space in the target", req("GET", "/api/x y", nil), ErrTarget},
		{"NUL in the path", req("GET", "/api/\x00", nil), ErrTarget},
		{"DEL in the query", req("GET", "/api/x?\x7f", nil), ErrTarget},
		{"absolute form", req("GET", "http://evil/api/x", nil), ErrTarget},
		{"asterisk form", req("OPTIONS", "*", nil), ErrTarget},
		{"bad escape", req("GET", "/api/%zz", nil), ErrTarget},
		{"CRLF in a value", req("GET", "/api/x", http.Header{"Accept": {"a\r\n\r\nGET /evil HTTP/1.1"}}), ErrHeader},
		{"LF in a value", req("GET", "/api/x", http.Header{"Accept": {"a\nb"}}), ErrHeader},
		{"NUL in a value", req("GET", "/api/x", http.Header{"Accept": {"a\x00"}}), ErrHeader},
		{"colon in a name", req("GET", "/api/x", http.Header{"Acc:ept": {"a"}}), ErrHeader},
		{"empty name", req("GET", "/api/x", http.Header{"": {"a"}}), ErrHeader},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Check(c.r); got != c.want {
				t.Fatalf("Check = %v, want %v", got, c.want)
			}
		})
	}
}

func TestCheckUsesURLWhenNoRequestURI(t *testing.T) {
	r, err := http.NewRequest("GET", "http://127.0.0.1/api/x?y=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(r); err != nil {
		t.Fatalf("Check = %v", err)
	}
}

func TestValidCredential(t *testing.T) {
	for s, want := range map[string]bool{
		"eyJhbGciOi.J9-_": true,
		"":                false,
		"a b":             false,
		"a\r\nX-Evil: 1":  false,
		"a\n":             false,
		"caf\xc3\xa9":     false,
	} {
		if got := ValidCredential(s); got != want {
			t.Errorf("ValidCredential(%q) = %v, want %v", s, got, want)
		}
	}
}
