package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// wireUpstream records the raw bytes of every connection the bridge opens
// to it. It reads one request per connection, answers it with Connection:
// close, then keeps whatever else the bridge sent until it closes: a
// smuggled second request would be there.
type wireUpstream struct {
	ln net.Listener
	wg sync.WaitGroup
	mu sync.Mutex
	// conns holds, per connection, the request read and the bytes after it.
	conns []wireConn
}

type wireConn struct {
	req      *http.Request // nil if no request could be read
	leftover []byte
}

func newWireUpstream(t testing.TB) *wireUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &wireUpstream{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u.wg.Add(1)
			go u.serve(c)
		}
	}()
	t.Cleanup(func() { ln.Close(); u.wg.Wait() })
	return u
}

func (u *wireUpstream) serve(c net.Conn) {
	defer u.wg.Done()
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	var wc wireConn
	if req, err := http.ReadRequest(br); err == nil {
		_, _ = io.Copy(io.Discard, req.Body)
		wc.req = req
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
	}
	wc.leftover, _ = io.ReadAll(br)
	u.mu.Lock()
	u.conns = append(u.conns, wc)
	u.mu.Unlock()
}

func (u *wireUpstream) URL() string { return "http://" + u.ln.Addr().String() }

// settled waits for every connection the bridge opened to be read to its
// end, and returns what each held. Call it after the handler returned: by
// then every connection it opened has been accepted (its answer, or its
// timeout, came from serve), so the wait group covers them all.
func (u *wireUpstream) settled() []wireConn {
	u.wg.Wait()
	u.mu.Lock()
	defer u.mu.Unlock()
	out := u.conns
	u.conns = nil
	return out
}

// inProcess builds a request the way a transport that does not use
// net/http's parser would: fields set directly, nothing validated.
func inProcess(method, target string, h http.Header) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Method, r.RequestURI, r.Header = method, target, h
	return r
}

// TestMalformedRequestsNeverReachUpstream is the queue_v1 smuggling attack
// at the handler: requests built in-process with a line break in a header
// value, in the query or in the method. Each is refused with 400, and the
// upstream receives not one byte.
func TestMalformedRequestsNeverReachUpstream(t *testing.T) {
	up := newWireUpstream(t)
	b := newBridge(t, up.URL(), nil)
	smuggled := "\r\n\r\nDELETE /api/companies/c1 HTTP/1.1\r\nHost: upstream\r\nX-Pad: "
	cases := []struct {
		name, method, target string
		header               http.Header
		msg                  string
	}{
		{"CRLF in Accept", "GET", "/api/agents/me", http.Header{"Accept": {"application/json" + smuggled}}, msgMalformed},
		{"LF in Content-Type", "GET", "/api/agents/me", http.Header{"Content-Type": {"a\nb"}}, msgMalformed},
		{"NUL in If-Match", "GET", "/api/agents/me", http.Header{"If-Match": {"a\x00"}}, msgMalformed},
		{"bad header name", "GET", "/api/agents/me", http.Header{"Accept\r\nX": {"a"}}, msgMalformed},
		{"CRLF in the query", "GET", "/api/agents/me?x=1 HTTP/1.1" + smuggled, nil, msgInvalidPath},
		{"space in the query", "GET", "/api/agents/me?a b", nil, msgInvalidPath},
		{"CRLF in the method", "GET /api/agents/me HTTP/1.1" + smuggled, "/api/agents/me", nil, msgMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := c.header
			if h == nil {
				h = http.Header{}
			}
			h.Set("Authorization", "Bearer "+testBridgeToken)
			for name, handler := range map[string]http.Handler{"public": b.h, "trusted": b.h.Trusted()} {
				rec := httptest.NewRecorder()
				handler.ServeHTTP(rec, inProcess(c.method, c.target, h.Clone()))
				if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), c.msg) {
					t.Errorf("%s: got %d %s, want 400 %q", name, rec.Code, rec.Body, c.msg)
				}
			}
			if conns := up.settled(); len(conns) != 0 {
				t.Fatalf("upstream saw %d connections; first: %+v", len(conns), conns[0])
			}
		})
	}
	// The same bridge still forwards a good request, exactly once.
	rec := httptest.NewRecorder()
	b.h.Trusted().ServeHTTP(rec, inProcess("GET", "/api/agents/me", http.Header{"Accept": {"application/json"}}))
	conns := up.settled()
	if rec.Code != 200 || len(conns) != 1 || conns[0].req == nil || len(conns[0].leftover) != 0 {
		t.Fatalf("good request: %d %s; upstream %+v", rec.Code, rec.Body, conns)
	}
}

// TestForwarderRefusesMalformedCredential: a run token with a line break
// (a broken rotation, say) is never written; the agent gets the "not
// sent" 502, and upstream no byte.
func TestForwarderRefusesMalformedCredential(t *testing.T) {
	up := newWireUpstream(t)
	for name, mod := range map[string]func(*Options){
		"run token":       func(o *Options) { o.RunToken = func() string { return "jwt\r\nX-Evil: 1" } },
		"empty run token": func(o *Options) { o.RunToken = func() string { return "" } },
		"run id":          func(o *Options) { o.RunID = "run\r\n\r\nGET /x HTTP/1.1" },
	} {
		t.Run(name, func(t *testing.T) {
			b := newBridge(t, up.URL(), mod)
			resp := b.do(t, "GET", "/api/agents/me", nil, nil)
			if body := readBody(t, resp); resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, msgUnreachable) {
				t.Fatalf("got %d %s, want 502 %q", resp.StatusCode, body, msgUnreachable)
			}
			if conns := up.settled(); len(conns) != 0 {
				t.Fatalf("upstream saw %d connections", len(conns))
			}
		})
	}
}

// TestCheckOutgoing covers the forwarder's own last check directly, past
// requireWellFormed, as a transport that skipped the middleware would
// reach it.
func TestCheckOutgoing(t *testing.T) {
	f := &forwarder{prefix: "/base", runID: testRunID}
	ok := &exchange{path: "/api/x", rawQuery: "a=1", hasQuery: true}
	cases := []struct {
		name   string
		method string
		ex     *exchange
		h      http.Header
		token  string
		good   bool
	}{
		{"good", "GET", ok, http.Header{"Accept": {"a\tb"}}, "tok", true},
		{"method", "GET /x HTTP/1.1\r\n", ok, nil, "tok", false},
		{"path", "GET", &exchange{path: "/api/x\r\n"}, nil, "tok", false},
		{"query", "GET", &exchange{path: "/api/x", rawQuery: "a\r\nb", hasQuery: true}, nil, "tok", false},
		{"allowed header value", "GET", ok, http.Header{"If-None-Match": {"a\r\nb"}}, "tok", false},
		{"token", "GET", ok, nil, "t\nX: y", false},
		// A header the allowlist drops is not written, so it is not checked.
		{"dropped header", "GET", ok, http.Header{"Cookie": {"a\r\nb"}}, "tok", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := f.checkOutgoing(&http.Request{Method: c.method, Header: c.h}, c.ex, c.token)
			if (err == nil) != c.good {
				t.Fatalf("checkOutgoing = %v, want good=%v", err, c.good)
			}
		})
	}
}

// FuzzNoSecondUpstreamRequest drives the handler with requests built
// in-process from arbitrary method, target and header values, the way the
// queue worker builds them, and checks what reached upstream: nothing, or
// exactly one request whose method and target are the agent's, with the
// bridge's credential, and not one byte after it.
func FuzzNoSecondUpstreamRequest(f *testing.F) {
	f.Add("GET", "/api/agents/me", "application/json", "")
	f.Add("GET", "/api/agents/me?x=1", "application/json\r\n\r\nGET /api/x HTTP/1.1\r\nHost: x\r\n", "")
	f.Add("GET", "/api/agents/me?x=1\r\nGET /evil HTTP/1.1\r\n", "a", "")
	f.Add("POST", "/api/issues/i1/comments", "application/json", "application/json\r\nContent-Length: 0")
	f.Add("GET\r\n", "/api/agents/me", "a", "b")
	up := newWireUpstream(f)
	b := newBridge(f, up.URL(), nil)
	f.Fuzz(func(t *testing.T, method, target, accept, contentType string) {
		h := http.Header{"Accept": {accept}, "Content-Type": {contentType}}
		r := inProcess(method, target, h)
		if method == "POST" {
			r.Body, r.ContentLength = io.NopCloser(strings.NewReader("{}")), 2
		}
		rec := httptest.NewRecorder()
		b.h.Trusted().ServeHTTP(rec, r)
		conns := up.settled()
		if len(conns) > 1 {
			t.Fatalf("one call opened %d upstream connections", len(conns))
		}
		if len(conns) == 0 {
			return
		}
		c := conns[0]
		if c.req == nil || len(c.leftover) != 0 {
			t.Fatalf("upstream got an unreadable request or bytes after it: %+v %q", c.req, c.leftover)
		}
		if c.req.Method != method || c.req.RequestURI != target {
			t.Fatalf("upstream got %s %s for %q %q", c.req.Method, c.req.RequestURI, method, target)
		}
		if got := c.req.Header.Values("Authorization"); len(got) != 1 || got[0] != "Bearer "+testRunToken {
			t.Fatalf("upstream credential %q", got)
		}
		if got := c.req.Header.Get("Accept"); got != strings.Trim(accept, " \t") {
			t.Fatalf("upstream Accept %q, agent sent %q", got, accept)
		}
	})
}
