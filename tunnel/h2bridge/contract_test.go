package h2bridge

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The callback API's contract cases (proxy/handler_test.go), driven end
// to end over http2_v1: agent -> our gateway -> one HTTP/2 session ->
// the callback handler -> upstream. Every answer must be the one the
// local listener gives.
func TestContractOverHTTP2(t *testing.T) {
	const small = 1 << 10
	slow := func(w http.ResponseWriter, r *http.Request) { time.Sleep(800 * time.Millisecond) }
	huge := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`"` + strings.Repeat("x", 2*small) + `"`))
	}
	for _, tc := range []struct {
		name      string
		proxy     func(*proxyOptions)
		upstreamH http.HandlerFunc
		raw       string // a raw HTTP/1.1 request head (the target exactly as sent), else:
		method    string
		target    string
		body      string
		hdr       map[string]string
		status    int
		want      string            // exact body, when set
		wantHdr   map[string]string // response headers
		upstream  int               // requests upstream must have seen
		// incomplete: upstream may have seen requests, none complete
		// (the cap cut the body while it streamed).
		incomplete bool
	}{
		{name: "credential swap", method: "GET", target: "/api/agents/me", status: 200, want: `{"ok":true}`, upstream: 1},
		{name: "missing token", method: "GET", target: "/api/agents/me", hdr: map[string]string{"Authorization": ""},
			status: 401, want: errJSON("Invalid bridge token.")},
		{name: "wrong token", method: "GET", target: "/api/agents/me", hdr: map[string]string{"Authorization": "Bearer nope"},
			status: 401, want: errJSON("Invalid bridge token.")},
		{name: "run token is not the bridge token", method: "GET", target: "/api/agents/me",
			hdr: map[string]string{"Authorization": "Bearer " + testRunToken}, status: 401, want: errJSON("Invalid bridge token.")},
		{name: "encoded slash", raw: "GET /api/agents%2fme", status: 400, want: errJSON("Invalid request path.")},
		{name: "encoded dot segment", raw: "GET /api/%2e%2e/secrets", status: 400, want: errJSON("Invalid request path.")},
		{name: "dot segment", raw: "GET /api/issues/../agents/me", status: 400, want: errJSON("Invalid request path.")},
		{name: "empty segment", raw: "GET /api//agents/me", status: 400, want: errJSON("Invalid request path.")},
		{name: "network-path form", raw: "GET //api/agents/me", status: 400, want: errJSON("Invalid request path.")},
		{name: "backslash", raw: "GET /api/agents\\me", status: 400, want: errJSON("Invalid request path.")},
		{name: "encoded NUL", raw: "GET /api/agents/me%00", status: 400, want: errJSON("Invalid request path.")},
		{name: "absolute form", raw: "GET http://127.0.0.1/api/agents/me", status: 400, want: errJSON("Invalid request path.")},
		{name: "denied route", method: "DELETE", target: "/api/secrets", status: 403, want: errJSON("Route not allowed: DELETE /api/secrets")},
		{name: "lower-case method", raw: "get /api/agents/me", status: 403, want: errJSON("Route not allowed: get /api/agents/me")},
		{name: "trailing slash", method: "GET", target: "/api/agents/me/", status: 403, want: errJSON("Route not allowed: GET /api/agents/me/")},
		{name: "query never matched", method: "GET", target: "/api/secrets?next=/api/agents/me", status: 403,
			want: errJSON("Route not allowed: GET /api/secrets")},
		{name: "not JSON", method: "POST", target: "/api/issues/i-1/comments", body: "hello", hdr: map[string]string{"Content-Type": "text/plain"},
			status: 415, want: errJSON("Bridge only accepts JSON request bodies.")},
		{name: "declared body over the cap", proxy: func(o *proxyOptions) { o.MaxBodyBytes = small },
			method: "POST", target: "/api/issues/i-1/comments", body: `"` + strings.Repeat("b", small) + `"`,
			hdr: map[string]string{"Content-Type": "application/json"}, status: 413,
			want: errJSON("Bridge request body exceeded the configured size limit.")},
		{name: "chunked body over the cap", proxy: func(o *proxyOptions) { o.MaxBodyBytes = small },
			raw: "POST /api/issues/i-1/comments", body: `"` + strings.Repeat("c", 2*small) + `"`, status: 413,
			want: errJSON("Bridge request body exceeded the configured size limit."), incomplete: true},
		{name: "raw query forwarded byte for byte", method: "GET", target: "/api/agents/me?a=%41&b=%2f&c", status: 200, upstream: 1},
		{name: "exact body bytes", method: "POST", target: "/api/issues/i-1/comments", body: "{\"x\":\"\xff\xfe\"}",
			hdr: map[string]string{"Content-Type": "application/json"}, status: 200, upstream: 1},
		{name: "headers both ways", method: "GET", target: "/api/agents/me",
			hdr:      map[string]string{"If-None-Match": `"e1"`, "X-Paperclip-Run-Id": "evil", "X-Forwarded-For": "1.2.3.4", "Cookie": "a=b"},
			upstream: 1, status: 200,
			wantHdr: map[string]string{"Etag": `"e2"`, "Last-Modified": "Mon, 02 Jan 2006 15:04:05 GMT", "X-Upstream-Secret": ""},
			upstreamH: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("ETag", `"e2"`)
				w.Header().Set("Last-Modified", "Mon, 02 Jan 2006 15:04:05 GMT")
				w.Header().Set("X-Upstream-Secret", "s")
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{}`))
			}},
		{name: "upstream unreachable", proxy: func(o *proxyOptions) { o.Upstream.Host = deadAddr(t) },
			method: "POST", target: "/api/issues/i-1/comments", body: `{}`, hdr: map[string]string{"Content-Type": "application/json"},
			status: 502, want: errJSON("Bridge could not reach the Paperclip API; the request was not sent.")},
		{name: "upstream timeout, safe method", proxy: func(o *proxyOptions) { o.UpstreamTimeout = 200 * time.Millisecond },
			upstreamH: slow, method: "GET", target: "/api/agents/me", status: 504, upstream: 1,
			want: errJSON("Bridge timed out waiting for the Paperclip API.")},
		{name: "upstream timeout, mutation: 409 indeterminate", proxy: func(o *proxyOptions) { o.UpstreamTimeout = 200 * time.Millisecond },
			upstreamH: slow, method: "POST", target: "/api/issues/i-1/comments", body: `{}`, hdr: map[string]string{"Content-Type": "application/json"},
			status: 409, upstream: 1, wantHdr: map[string]string{"X-Paperclip-Bridge-Outcome": "indeterminate"},
			want: `{"error":"Bridge timed out waiting for the Paperclip API.","outcome":"indeterminate","retryable":false}`},
		{name: "response over the cap, safe method", proxy: func(o *proxyOptions) { o.MaxBodyBytes = small }, upstreamH: huge,
			method: "GET", target: "/api/agents/me", status: 502, upstream: 1,
			want: errJSON("Bridge response body exceeded the configured size limit of 1024 bytes.")},
		{name: "response over the cap, mutation", proxy: func(o *proxyOptions) { o.MaxBodyBytes = small }, upstreamH: huge,
			method: "POST", target: "/api/issues/i-1/comments", body: `{}`, hdr: map[string]string{"Content-Type": "application/json"},
			status: 409, upstream: 1,
			want: `{"error":"Bridge response body exceeded the configured size limit of 1024 bytes.","outcome":"indeterminate","retryable":false}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Parallel: each case's stop waits out x/net's one-second
			// GOAWAY grace (see Host.drain), idle time worth sharing.
			t.Parallel()
			st := startStack(t, stackOptions{proxy: tc.proxy, upH: tc.upstreamH})
			var resp *http.Response
			var body string
			if tc.raw != "" {
				resp, body = st.raw(t, tc.raw, tc.body)
			} else {
				resp, body = st.agent(t, tc.method, tc.target, tc.body, tc.hdr)
			}
			if resp.StatusCode != tc.status || (tc.want != "" && body != tc.want) {
				t.Fatalf("got %d %s, want %d %s", resp.StatusCode, body, tc.status, tc.want)
			}
			for k, v := range tc.wantHdr {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("response header %s = %q, want %q", k, got, v)
				}
			}
			reqs := st.up.Requests()
			if tc.incomplete {
				for _, r := range reqs {
					if r.BodyErr == nil {
						t.Fatalf("upstream saw a complete %d-byte body", len(r.Body))
					}
				}
				return
			}
			if len(reqs) != tc.upstream {
				t.Fatalf("upstream saw %d requests, want %d", len(reqs), tc.upstream)
			}
			for _, r := range reqs {
				if r.Header.Get("Authorization") != "Bearer "+testRunToken || r.Header.Get("X-Paperclip-Run-Id") != testRunID {
					t.Fatalf("upstream credentials %v", r.Header)
				}
				for _, k := range []string{"X-Forwarded-For", "Cookie", "Via", "Forwarded"} {
					if r.Header.Get(k) != "" {
						t.Fatalf("%s reached upstream", k)
					}
				}
				if tc.target != "" && r.RequestURI != tc.target {
					t.Fatalf("upstream target %q, want %q", r.RequestURI, tc.target)
				}
				if tc.body != "" && string(r.Body) != tc.body {
					t.Fatalf("upstream body %q, want %q", r.Body, tc.body)
				}
				if tc.hdr["If-None-Match"] != "" && r.Header.Get("If-None-Match") != tc.hdr["If-None-Match"] {
					t.Fatalf("If-None-Match did not pass: %v", r.Header)
				}
			}
		})
	}
}

// raw writes one HTTP/1.1 request to the gateway with the target exactly
// as given ("METHOD TARGET"), chunked when there is a body.
func (st *stack) raw(t *testing.T, line, body string) (*http.Response, string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(st.host.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	req := line + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + testBridgeToken + "\r\nConnection: close\r\n"
	if body != "" {
		req += "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
		for i := 0; i < len(body); i += 100 {
			chunk := body[i:min(i+100, len(body))]
			req += strconv.FormatInt(int64(len(chunk)), 16) + "\r\n" + chunk + "\r\n"
		}
		req += "0\r\n\r\n"
	} else {
		req += "\r\n"
	}
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer to %q: %v", line, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// deadAddr is a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// More contract cases that need timing: the in-flight cap answers 503
// with Retry-After while a call holds the one slot, and an agent that
// stops sending its body is cut off with 408, over the shared session.
func TestContractOverHTTP2Timing(t *testing.T) {
	t.Run("queue full", func(t *testing.T) {
		release := make(chan struct{})
		arrived := make(chan struct{}, 1)
		st := startStack(t, stackOptions{proxy: func(o *proxyOptions) { o.MaxInFlight = 1 },
			upH: func(w http.ResponseWriter, r *http.Request) {
				arrived <- struct{}{}
				<-release
				_, _ = w.Write([]byte(`{}`))
			}})
		first := make(chan int, 1)
		go func() {
			resp, _ := st.agentMaybe(t, "GET", "/api/agents/me")
			if resp == nil {
				first <- 0
				return
			}
			first <- resp.StatusCode
		}()
		<-arrived
		resp, body := st.agent(t, "GET", "/api/agents/me", "", nil)
		close(release)
		if resp.StatusCode != 503 || body != errJSON("Bridge request queue is full.") || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("second call: %d %s %v", resp.StatusCode, body, resp.Header)
		}
		if s := <-first; s != 200 {
			t.Fatalf("first call: %d", s)
		}
	})
	t.Run("stalled body", func(t *testing.T) {
		st := startStack(t, stackOptions{proxy: func(o *proxyOptions) { o.UpstreamTimeout = 300 * time.Millisecond }})
		conn, err := net.Dial("tcp", strings.TrimPrefix(st.host.URL(), "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		_, _ = io.WriteString(conn, "POST /api/issues/i-1/comments HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+testBridgeToken+
			"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"half\":")
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 408 || string(b) != errJSON("Bridge stopped waiting for the rest of the request body.") {
			t.Fatalf("got %d %s", resp.StatusCode, b)
		}
		if n := len(st.up.Requests()); n > 1 {
			t.Fatalf("upstream saw %d", n)
		}
	})
}
