package worker

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"

	"github.com/clipbridge/clipbridge/tunnel/queue"
)

func TestEnvelopeRequestRefusesWhatNetHTTPWould(t *testing.T) {
	smuggled := "\r\n\r\nDELETE /api/companies/c1 HTTP/1.1\r\nHost: upstream\r\nX-Pad: "
	cases := []struct {
		name string
		req  queue.Request
		want error
	}{
		{"good", queue.Request{Method: "GET", Path: "/api/agents/me", Query: "a=1", Headers: map[string]string{"accept": " application/json\t"}}, nil},
		{"CRLF in accept", queue.Request{Method: "GET", Path: "/api/agents/me", Headers: map[string]string{"accept": "application/json" + smuggled}}, errEnvelopeHead},
		{"LF in a header", queue.Request{Method: "GET", Path: "/api/x", Headers: map[string]string{"if-match": "a\nb"}}, errEnvelopeHead},
		{"NUL in a header", queue.Request{Method: "GET", Path: "/api/x", Headers: map[string]string{"accept": "a\x00"}}, errEnvelopeHead},
		{"bad header name", queue.Request{Method: "GET", Path: "/api/x", Headers: map[string]string{"x y": "a"}}, errEnvelopeHead},
		{"method with CRLF", queue.Request{Method: "GET /x HTTP/1.1\r\n", Path: "/api/x"}, errEnvelopeHead},
		{"CRLF in the query", queue.Request{Method: "GET", Path: "/api/x", Query: "?a=1 HTTP/1.1" + smuggled}, errEnvelopeTarget},
		{"space in the query", queue.Request{Method: "GET", Path: "/api/x", Query: "a b"}, errEnvelopeTarget},
		{"CRLF in the path", queue.Request{Method: "GET", Path: "/api/x\r\n"}, errEnvelopeTarget},
		{"no leading slash", queue.Request{Method: "GET", Path: "api/x"}, errEnvelopeTarget},
		{"absolute form", queue.Request{Method: "GET", Path: "http://evil/api/x"}, errEnvelopeTarget},
		{"bad escape", queue.Request{Method: "GET", Path: "/api/%zz"}, errEnvelopeTarget},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := envelopeRequest(t.Context(), &c.req, nil, 0)
			if err != c.want {
				t.Fatalf("envelopeRequest = %v, want %v", err, c.want)
			}
			if err == nil && r.Header.Get("Accept") != strings.Trim(c.req.Headers["accept"], " \t") {
				t.Fatalf("accept %q", r.Header.Get("Accept"))
			}
		})
	}
}

func TestDecodeRequestRefusesAHeaderNamedTwice(t *testing.T) {
	_, err := queue.DecodeRequest([]byte(`{"method":"GET","path":"/api/x","headers":{"Accept":"a","accept":"b"},"body":""}`))
	if err == nil {
		t.Fatal("decoded an envelope naming accept twice")
	}
}

// wireForm is the request on the wire that an envelope stands for: its request line, a Host,
// its headers as written (minus the framing ones and the blank values the worker drops), and
// its body with a Content-Length.
func wireForm(req *queue.Request, body []byte) string {
	var b strings.Builder
	b.WriteString(req.Method + " " + envelopeTarget(req) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n")
	names := make([]string, 0, len(req.Headers))
	for k := range req.Headers {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		v := req.Headers[k]
		if strings.Trim(v, " \t") == "" || envelopeFraming[k] {
			continue
		}
		b.WriteString(k + ": " + v + "\r\n")
	}
	if len(body) > 0 {
		b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n")
	}
	b.WriteString("\r\n")
	b.Write(body)
	return b.String()
}

// FuzzEnvelopeRequest is the differential check of the envelope-to-request conversion: for any
// envelope file, the request the handler is given is either refused, or exactly what
// http.ReadRequest (plus net/http's server's header checks) parses from the envelope's wire
// form: same method, target, URL, header fields and body, with no byte left over that could be
// read as a second request.
func FuzzEnvelopeRequest(f *testing.F) {
	for _, s := range []string{
		`{"id":"a","method":"GET","path":"/api/agents/me","query":"","headers":{"accept":"application/json"},"body":"","createdAt":"2026-01-01T00:00:00.000Z"}`,
		`{"method":"post","path":"/api/issues/i/comments","query":"?x=1","headers":{"content-type":"application/json","content-length":"999"},"body":"{\"a\":1}"}`,
		`{"method":"GET","path":"/api/agents/me","headers":{"accept":"a\r\n\r\nGET /evil HTTP/1.1\r\nHost: x\r\n"},"body":""}`,
		`{"method":"GET","path":"/api/agents/me","query":"a=1 HTTP/1.1\r\nX: y","headers":{},"body":""}`,
		`{"method":"GET","path":"/api/agents/me","headers":{"host":"evil","transfer-encoding":"chunked","x-a":" \t"},"body":""}`,
		`{"method":"PATCH","path":"/a","headers":{"if-match":"\"e\"\tx"},"body":"aGk=","bodyEncoding":"base64"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := queue.DecodeRequest(data)
		if err != nil {
			return
		}
		body, err := req.DecodedBody(1 << 16)
		if err != nil {
			return
		}
		got, err := envelopeRequest(t.Context(), req, bytes.NewReader(body), int64(len(body)))
		if err != nil {
			return
		}
		wire := wireForm(req, body)
		br := bufio.NewReader(strings.NewReader(wire))
		want, err := http.ReadRequest(br)
		if err != nil {
			t.Fatalf("accepted an envelope whose wire form net/http refuses (%v):\n%q", err, wire)
		}
		for k, vv := range want.Header {
			if !httpguts.ValidHeaderFieldName(k) || slices.ContainsFunc(vv, func(v string) bool { return !httpguts.ValidHeaderFieldValue(v) }) {
				t.Fatalf("accepted a header net/http's server refuses: %q: %q", k, vv)
			}
		}
		wantBody, err := io.ReadAll(want.Body)
		if err != nil {
			t.Fatalf("wire body: %v", err)
		}
		if br.Buffered() != 0 {
			t.Fatalf("the wire form holds bytes after the request: %q", wire)
		}
		gotBody, _ := io.ReadAll(got.Body)
		switch {
		case got.Method != want.Method, got.RequestURI != want.RequestURI, got.URL.String() != want.URL.String():
			t.Fatalf("line: got %s %s (%s), net/http %s %s (%s)", got.Method, got.RequestURI, got.URL, want.Method, want.RequestURI, want.URL)
		case !headersEqual(got.Header, want.Header):
			t.Fatalf("headers: got %q, net/http %q", got.Header, want.Header)
		case !bytes.Equal(gotBody, wantBody), got.ContentLength != want.ContentLength:
			t.Fatalf("body: got %d %q, net/http %d %q", got.ContentLength, gotBody, want.ContentLength, wantBody)
		}
	})
}

func headersEqual(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, va := range a {
		if !slices.Equal(va, b[k]) {
			return false
		}
	}
	return true
}
