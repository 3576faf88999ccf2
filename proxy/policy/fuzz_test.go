package policy

import (
	"bufio"
	"net/http"
	"net/textproto"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"
)

// FuzzCheckAgainstNetHTTP holds Check to net/http's own request parser.
// For a method, target and one header field, it writes the request line
// and head a client would send and parses them with http.ReadRequest plus
// the header checks net/http's server adds on top:
//   - whatever Check accepts parses into exactly those fields (the value
//     without the surrounding blanks the parser trims), and the bytes
//     hold exactly one request (nothing left over to become a second);
//   - whatever parses into exactly those fields, and would reach a
//     handler, Check accepts (it refuses nothing net/http would serve,
//     but for targets not in origin form).
func FuzzCheckAgainstNetHTTP(f *testing.F) {
	f.Add("GET", "/api/agents/me", "Accept", "application/json")
	f.Add("POST", "/api/issues/1/comments?x=1", "content-type", "application/json; charset=utf-8")
	f.Add("GET", "/api/x", "Accept", "a\r\n\r\nGET /evil HTTP/1.1\r\nHost: x\r\nX: ")
	f.Add("GET", "/api/x?\r\nGET /evil HTTP/1.1", "Accept", "x")
	f.Add("GET /evil HTTP/1.1\r\n", "/api/x", "Accept", "x")
	f.Add("GET", "/api/%zz", "X-Paperclip-Github-Capability", "tok\tsecond")
	f.Add("PATCH", "/a?b=\x80", "If-Match", "\"etag\"")
	f.Fuzz(func(t *testing.T, method, target, name, value string) {
		switch textproto.CanonicalMIMEHeaderKey(name) {
		case "Host", "Content-Length", "Transfer-Encoding":
			// Framing fields: the wire form would not mean one header.
			return
		}
		r := &http.Request{Method: method, RequestURI: target, Header: http.Header{name: {value}}}
		err := Check(r)
		wire := method + " " + target + " HTTP/1.1\r\nHost: bridge\r\n" + name + ": " + value + "\r\n\r\n"
		br := bufio.NewReader(strings.NewReader(wire))
		parsed, perr := http.ReadRequest(br)
		served := perr == nil && serverAccepts(parsed)
		same := served && parsed.Method == method && parsed.RequestURI == target &&
			len(parsed.Header) == 1 && len(parsed.Header.Values(name)) == 1 &&
			parsed.Header.Get(name) == strings.Trim(value, " \t") && br.Buffered() == 0
		if err == nil && !same {
			t.Fatalf("Check accepted %q %q %q: %q, which net/http reads otherwise (parse error %v)", method, target, name, value, perr)
		}
		// The bridge takes origin form only: net/http also serves the
		// absolute and asterisk forms, which Check refuses on purpose.
		if err != nil && same && strings.HasPrefix(target, "/") {
			t.Fatalf("Check refused (%v) %q %q %q: %q, which net/http serves as is", err, method, target, name, value)
		}
	})
}

// serverAccepts applies the checks net/http's server makes after
// ReadRequest and before calling a handler.
func serverAccepts(r *http.Request) bool {
	for k, vv := range r.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return false
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return false
			}
		}
	}
	return true
}
