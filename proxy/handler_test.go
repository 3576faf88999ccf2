package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clipbridge/clipbridge/internal/testsupport"
)

// The acceptance case from Paperclip's own suite: the agent's call reaches
// upstream exactly once, with the real credential and run id swapped in.
func TestForwardSwapsCredential(t *testing.T) {
	up := testsupport.NewUpstream(t, nil)
	b := newBridge(t, up.URL, nil)
	resp := b.do(t, "GET", "/api/agents/me", nil, nil)
	if body := readBody(t, resp); resp.StatusCode != 200 || body != `{"ok":true}` {
		t.Fatalf("got %d %s", resp.StatusCode, body)
	}
	reqs := up.Requests()
	if len(reqs) != 1 {
		t.Fatalf("upstream saw %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Method != "GET" || r.RequestURI != "/api/agents/me" {
		t.Fatalf("upstream saw %s %s", r.Method, r.RequestURI)
	}
	if got := r.Header.Get("Authorization"); got != "Bearer "+testRunToken {
		t.Fatalf("authorization %q", got)
	}
	if got := r.Header.Get("X-Paperclip-Run-Id"); got != testRunID {
		t.Fatalf("run id %q", got)
	}
}

func TestUnauthorized(t *testing.T) {
	up := testsupport.NewUpstream(t, nil)
	b := newBridge(t, up.URL, nil)
	for name, auth := range map[string]string{
		"missing":      "",
		"wrong token":  "Bearer nope",
		"lower scheme": "bearer " + testBridgeToken,
		"two spaces":   "Bearer  " + testBridgeToken,
		"basic":        "Basic " + testBridgeToken,
		"prefix":       "Bearer " + testBridgeToken[:10],
		"longer":       "Bearer " + testBridgeToken + "x",
		"run token":    "Bearer " + testRunToken,
	} {
		t.Run(name, func(t *testing.T) {
			hdr := "Host: x\r\nConnection: close\r\n"
			if auth != "" {
				hdr += "Authorization: " + auth + "\r\n"
			}
			resp := b.raw(t, "GET /api/agents/me HTTP/1.1\r\n"+hdr+"\r\n")
			wantError(t, resp, 401, errJSON("Invalid bridge token."))
		})
	}
	// The token is checked before anything else, even a bad path.
	resp := b.raw(t, "GET /api/../x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	wantError(t, resp, 401, errJSON("Invalid bridge token."))
	if n := len(up.Requests()); n != 0 {
		t.Fatalf("upstream saw %d requests", n)
	}
	if got := b.rejected(t, reasonUnauthorized); got != 9 {
		t.Fatalf("unauthorized count %v, want 9", got)
	}
}

func TestInvalidPath(t *testing.T) {
	up := testsupport.NewUpstream(t, nil)
	b := newBridge(t, up.URL, nil)
	for _, tc := range []struct{ method, target string }{
		{"GET", "http://127.0.0.1/api/agents/me"},
		{"OPTIONS", "*"},
		{"CONNECT", "127.0.0.1:443"},
		{"GET", "/api/agents%2fme"},
		{"GET", "/api/agents%2Fme"},
		{"GET", "/api/agents%5cme"},
		{"GET", "/api/%2e%2e/secrets"},
		{"GET", "/api/agents/%2E"},
		{"GET", "/api/./agents/me"},
		{"GET", "/api/issues/../agents/me"},
		{"GET", "/api//agents/me"},
		{"GET", "/api/agents\\me"},
		{"GET", "/api/agents/me%00"},
		{"GET", "/api/agents/me%0a"},
		{"GET", "/api/agents/me%1b"},
		{"GET", "/api/agents/me%7f"},
	} {
		t.Run(tc.method+" "+tc.target, func(t *testing.T) {
			wantError(t, b.rawGet(t, tc.method, tc.target), 400, errJSON("Invalid request path."))
		})
	}
	// Raw control bytes may be refused by net/http itself, with a plain 400.
	resp := b.raw(t, "GET /api/agents/me\x01 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+testBridgeToken+"\r\n\r\n")
	if resp.StatusCode != 400 {
		t.Fatalf("raw control byte: %d", resp.StatusCode)
	}
	if n := len(up.Requests()); n != 0 {
		t.Fatalf("upstream saw %d requests", n)
	}
}

func TestRouteDenied(t *testing.T) {
	up := testsupport.NewUpstream(t, nil)
	b := newBridge(t, up.URL, nil)
	for _, tc := range []struct{ method, target, shown string }{
		{"DELETE", "/api/secrets", "/api/secrets"},
		{"get", "/api/agents/me", "/api/agents/me"},
		{"HEAD", "/api/agents/me", "/api/agents/me"},
		{"GET", "/api/agents/me/", "/api/agents/me/"},
		{"GET", "/api/%41gents/me", "/api/%41gents/me"},
		{"GET", "/api/secrets?next=/api/agents/me", "/api/secrets"},
		{"PATCH", "/api/secrets/secret-1", "/api/secrets/secret-1"},
		{"POST", "/api/approvals/ap-1/approve", "/api/approvals/ap-1/approve"},
		{"GET", "/api/openapi.json/extra", "/api/openapi.json/extra"},
		{"GET", "/api/openapiXjson", "/api/openapiXjson"},
		{"GET", "/", "/"},
	} {
		t.Run(tc.method+" "+tc.target, func(t *testing.T) {
			resp := b.rawGet(t, tc.method, tc.target)
			if tc.method == "HEAD" {
				if resp.StatusCode != 403 {
					t.Fatalf("HEAD: %d", resp.StatusCode)
				}
				return
			}
			wantError(t, resp, 403, errJSON("Route not allowed: "+tc.method+" "+tc.shown))
		})
	}
	if n := len(up.Requests()); n != 0 {
		t.Fatalf("upstream saw %d requests", n)
	}
}

// Percent-escapes other than the refused ones are matched and forwarded
// as sent; the query goes upstream byte for byte; a base path is kept.
func TestRawPathAndQueryForwarded(t *testing.T) {
	up := testsupport.NewUpstream(t, nil)
	b := newBridge(t, up.URL+"/base/", nil)
	for _, target := range []string{
		"/api/issues/%41BC?view=compact&x=%2f..%2F&y=a+b",
		"/api/issues/a%20b",
		"/api/agents/me?",
		"/api/agents/me?a=1&a=2&;=;",
	} {
		resp := b.rawGet(t, "GET", target)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", target, resp.StatusCode, readBody(t, resp))
		}
		seen := up.Requests()
		if got := seen[len(seen)-1].RequestURI; got != "/base"+target {
			t.Fatalf("upstream saw %q, want %q", got, "/base"+target)
		}
	}
}

func TestQueueFull(t *testing.T) {
	release := make(chan struct{})
	var arrived atomic.Int32
	up := testsupport.NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		arrived.Add(1)
		<-release
		w.WriteHeader(200)
	})
	b := newBridge(t, up.URL, func(o *Options) { o.MaxInFlight = 1 })
	done := make(chan int)
	go func() {
		resp := b.do(t, "GET", "/api/agents/me", nil, nil)
		done <- resp.StatusCode
	}()
	for arrived.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	resp := b.do(t, "GET", "/api/agents/me", nil, nil)
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 {
		t.Fatalf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
	wantError(t, resp, 503, errJSON("Bridge request queue is full."))
	close(release)
	if got := <-done; got != 200 {
		t.Fatalf("first request: %d", got)
	}
	// The slot is free again.
	if resp := b.do(t, "GET", "/api/agents/me", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("after release: %d", resp.StatusCode)
	}
}

func TestJSONBodiesOnly(t *testing.T) {
	up := testsupport.NewUpstream(t, nil)
	b := newBridge(t, up.URL, nil)
	const comments = "/api/issues/i1/comments"
	const attach = "/api/companies/c1/issues/i1/attachments"
	for _, tc := range []struct {
		name, path, ct, body string
		chunked              bool
		want                 int
	}{
		{"text/plain", comments, "text/plain", "hi", false, 415},
		{"missing type", comments, "", `{"a":1}`, false, 415},
		{"chunked missing type", comments, "", `{"a":1}`, true, 415},
		{"form", comments, "application/x-www-form-urlencoded", "a=1", false, 415},
		{"json", comments, "application/json", `{"a":1}`, false, 200},
		{"json upper with charset", comments, "Application/JSON; charset=utf-8", `{"a":1}`, false, 200},
		{"merge-patch", comments, "application/merge-patch+json", `{"a":1}`, false, 200},
		{"json lookalike", comments, "application/jsonx", `{"a":1}`, false, 415},
		{"multipart on comments", comments, "multipart/form-data; boundary=x", "--x--", false, 415},
		{"multipart on attachments", attach, "multipart/form-data; boundary=x", "--x--", false, 200},
		{"octet-stream on attachments", attach, "application/octet-stream", "abc", false, 415},
		{"no body no type", "/api/issues/i1/checkout", "", "", false, 200},
		{"no body text type", "/api/issues/i1/checkout", "text/plain", "", false, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			head := "POST " + tc.path + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + testBridgeToken + "\r\nConnection: close\r\n"
			if tc.ct != "" {
				head += "Content-Type: " + tc.ct + "\r\n"
			}
			var req string
			if tc.chunked {
				req = head + "Transfer-Encoding: chunked\r\n\r\n" + fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(tc.body), tc.body)
			} else {
				req = head + "Content-Length: " + strconv.Itoa(len(tc.body)) + "\r\n\r\n" + tc.body
			}
			resp := b.raw(t, req)
			if tc.want == 415 {
				wantError(t, resp, 415, errJSON("Bridge only accepts JSON request bodies."))
				return
			}
			if resp.StatusCode != tc.want {
				t.Fatalf("got %d %s", resp.StatusCode, readBody(t, resp))
			}
		})
	}
}

func TestRequestTooLarge(t *testing.T) {
	up := testsupport.NewUpstream(t, nil)
	b := newBridge(t, up.URL, func(o *Options) { o.MaxBodyBytes = 64 })
	big := `{"body":"` + strings.Repeat("x", 100) + `"}`
	head := "POST /api/issues/i1/comments HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + testBridgeToken + "\r\nContent-Type: application/json\r\nConnection: close\r\n"

	t.Run("declared", func(t *testing.T) {
		// Only the head is sent: the refusal must not wait for the body.
		resp := b.raw(t, head+"Content-Length: "+strconv.Itoa(len(big))+"\r\n\r\n")
		wantError(t, resp, 413, errJSON("Bridge request body exceeded the configured size limit."))
	})
	t.Run("chunked", func(t *testing.T) {
		chunk := fmt.Sprintf("%x\r\n%s\r\n", 40, big[:40])
		resp := b.raw(t, head+"Transfer-Encoding: chunked\r\n\r\n"+chunk+chunk+chunk+"0\r\n\r\n")
		wantError(t, resp, 413, errJSON("Bridge request body exceeded the configured size limit."))
		// Upstream never received a complete request: either nothing, or
		// a body that failed to read.
		for _, r := range up.Requests() {
			if r.BodyErr == nil {
				t.Fatalf("upstream saw a complete %d-byte body", len(r.Body))
			}
		}
	})
	t.Run("at the cap", func(t *testing.T) {
		body := `{"b":"` + strings.Repeat("y", 64-8) + `"}`
		resp := b.do(t, "POST", "/api/issues/i1/comments", strings.NewReader(body), map[string]string{"Content-Type": "application/json"})
		if resp.StatusCode != 200 {
			t.Fatalf("a body of exactly the cap: %d %s", resp.StatusCode, readBody(t, resp))
		}
	})
	if got := b.rejected(t, reasonRequestTooLarge); got != 2 {
		t.Fatalf("request_too_large = %v", got)
	}
}

// Paperclip's second acceptance case, and its unsafe-method twin.
func TestResponseTooLarge(t *testing.T) {
	for _, tc := range []struct {
		name    string
		chunked bool
	}{{"declared", false}, {"chunked", true}} {
		t.Run(tc.name, func(t *testing.T) {
			up := testsupport.NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				body := `{"data":"` + strings.Repeat("z", 64-11) + `"}`
				if tc.chunked {
					_, _ = w.Write([]byte(body[:10]))
					w.(http.Flusher).Flush()
					_, _ = w.Write([]byte(body[10:]))
					return
				}
				w.Header().Set("Content-Length", strconv.Itoa(len(body)))
				_, _ = w.Write([]byte(body))
			})
			b := newBridge(t, up.URL, func(o *Options) { o.MaxBodyBytes = 32 })
			wantError(t, b.do(t, "GET", "/api/agents/me", nil, nil), 502,
				errJSON("Bridge response body exceeded the configured size limit of 32 bytes."))
			resp := b.do(t, "POST", "/api/issues/i1/checkout", nil, nil)
			wantError(t, resp, 409, `{"error":"Bridge response body exceeded the configured size limit of 32 bytes.","outcome":"indeterminate","retryable":false}`)
			if resp.Header.Get("X-Paperclip-Bridge-Outcome") != "indeterminate" {
				t.Fatal("missing outcome header")
			}
			if n := len(up.Requests()); n != 2 {
				t.Fatalf("upstream saw %d requests, want exactly 2 (no retries)", n)
			}
		})
	}
}

// A body of unknown length under the cap is held and relayed whole, with
// a Content-Length.
func TestChunkedResponseUnderCap(t *testing.T) {
	up := testsupport.NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		for i := 0; i < 100; i++ {
			_, _ = w.Write([]byte(strings.Repeat("a", 1000)))
			w.(http.Flusher).Flush()
		}
	})
	b := newBridge(t, up.URL, nil)
	resp := b.do(t, "GET", "/api/agents/me", nil, nil)
	body := readBody(t, resp)
	if resp.StatusCode != 200 || len(body) != 100000 || resp.ContentLength != 100000 {
		t.Fatalf("got %d, %d bytes, content-length %d", resp.StatusCode, len(body), resp.ContentLength)
	}
}

func TestUpstreamUnreachable(t *testing.T) {
	up := testsupport.NewUpstream(t, nil)
	addr := up.URL
	up.Close() // nothing listens there now
	b := newBridge(t, addr, nil)
	for _, m := range []string{"GET", "POST"} {
		path := "/api/agents/me"
		if m == "POST" {
			path = "/api/issues/i1/checkout"
		}
		resp := b.do(t, m, path, nil, nil)
		wantError(t, resp, 502, errJSON(msgUnreachable))
	}
	if got := b.value(t, "clipbridge_upstream_errors_total", "connect"); got != 2 {
		t.Fatalf("connect errors = %v, want 2", got)
	}
}

func TestUpstreamTimeout(t *testing.T) {
	up := testsupport.NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	b := newBridge(t, up.URL, func(o *Options) { o.UpstreamTimeout = 200 * time.Millisecond })
	wantError(t, b.do(t, "GET", "/api/agents/me", nil, nil), 504, errJSON(msgTimeout))
	resp := b.do(t, "PATCH", "/api/issues/i1", strings.NewReader(`{}`), map[string]string{"Content-Type": "application/json"})
	wantError(t, resp, 409, `{"error":"`+msgTimeout+`","outcome":"indeterminate","retryable":false}`)
	if resp.Header.Get("X-Paperclip-Bridge-Outcome") != "indeterminate" {
		t.Fatal("missing outcome header")
	}
	if n := len(up.Requests()); n != 2 {
		t.Fatalf("upstream saw %d requests, want 2: a mutation is never retried", n)
	}
}

// Upstream takes the request and drops the connection without answering.
func TestUpstreamResetAfterSend(t *testing.T) {
	up := testsupport.NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	b := newBridge(t, up.URL, nil)
	wantError(t, b.do(t, "GET", "/api/agents/me", nil, nil), 504, errJSON(msgUpstreamFailed))
	resp := b.do(t, "POST", "/api/issues/i1/comments", strings.NewReader(`{"body":"x"}`), map[string]string{"Content-Type": "application/json"})
	wantError(t, resp, 409, `{"error":"`+msgUpstreamFailed+`","outcome":"indeterminate","retryable":false}`)
	if n := len(up.Requests()); n != 2 {
		t.Fatalf("upstream saw %d requests, want 2: a mutation is never retried", n)
	}
}

// A streamed body that breaks mid-way aborts the agent's connection
// instead of ending a short body as if it were complete.
func TestStreamAbortsOnUpstreamFailure(t *testing.T) {
	up := testsupport.NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		_, _ = w.Write([]byte(strings.Repeat("a", 500)))
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	b := newBridge(t, up.URL, nil)
	resp := b.do(t, "GET", "/api/agents/me", nil, nil)
	if resp.StatusCode != 200 || resp.ContentLength != 1000 {
		t.Fatalf("head: %d, length %d", resp.StatusCode, resp.ContentLength)
	}
	got, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Fatalf("read %d bytes without error: a short body passed as complete", len(got))
	}
}

// Upstream stalls in the middle of a body: bounded by the timeout.
func TestUpstreamStallsInBody(t *testing.T) {
	up := testsupport.NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("partial"))
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	b := newBridge(t, up.URL, func(o *Options) { o.UpstreamTimeout = 200 * time.Millisecond })
	start := time.Now()
	wantError(t, b.do(t, "GET", "/api/agents/me", nil, nil), 504, errJSON(msgTimeout))
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v", d)
	}
}

func TestPassThrough(t *testing.T) {
	up := testsupport.NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/problem+json")
		h.Set("ETag", `"v1"`)
		h.Set("Last-Modified", "Wed, 21 Oct 2015 07:28:00 GMT")
		h.Set("X-Paperclip-Bridge-Outcome", "indeterminate")
		h.Set("Set-Cookie", "session=secret")
		h.Set("X-Internal", "1")
		h.Set("Location", "http://internal/")
		w.WriteHeader(http.StatusUnprocessableEntity)
		_, _ = w.Write([]byte(`{"error":"nope"}`))
	})
	b := newBridge(t, up.URL, nil)
	resp := b.do(t, "GET", "/api/agents/me", nil, nil)
	if body := readBody(t, resp); resp.StatusCode != 422 || body != `{"error":"nope"}` {
		t.Fatalf("got %d %s", resp.StatusCode, body)
	}
	for k, want := range map[string]string{
		"Content-Type": "application/problem+json", "Etag": `"v1"`,
		"Last-Modified": "Wed, 21 Oct 2015 07:28:00 GMT", "X-Paperclip-Bridge-Outcome": "indeterminate",
		"Set-Cookie": "", "X-Internal": "", "Location": "",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
}

func TestHeadersUpstream(t *testing.T) {
	up := testsupport.NewUpstream(t, nil)
	b := newBridge(t, up.URL, nil)
	req := "GET /api/agents/me HTTP/1.1\r\nHost: sandbox.example\r\n" +
		"Authorization: Bearer " + testBridgeToken + "\r\n" +
		"Accept: application/json\r\nIf-None-Match: \"x\"\r\nIf-Match: \"y\"\r\n" +
		"X-Paperclip-Github-Capability: cap-1\r\n" +
		"X-Paperclip-Run-Id: forged\r\nX-Forwarded-For: 10.0.0.1\r\nForwarded: for=10.0.0.1\r\nVia: 1.1 evil\r\n" +
		"Cookie: a=b\r\nX-Api-Key: k\r\nProxy-Authorization: Basic x\r\n" +
		"Connection: keep-alive, Authorization, If-Match\r\n\r\n"
	resp := b.raw(t, req)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d %s", resp.StatusCode, readBody(t, resp))
	}
	h := up.Requests()[0].Header
	for k, want := range map[string]string{
		"Authorization":                 "Bearer " + testRunToken,
		"X-Paperclip-Run-Id":            testRunID,
		"User-Agent":                    "clipbridge/test",
		"Accept":                        "application/json",
		"If-None-Match":                 `"x"`,
		"If-Match":                      "", // named in Connection: hop-by-hop
		"X-Paperclip-Github-Capability": "cap-1",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("upstream %s = %q, want %q", k, got, want)
		}
	}
	for _, k := range []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded", "Via", "Cookie", "X-Api-Key", "Proxy-Authorization"} {
		if v, ok := h[k]; ok {
			t.Errorf("upstream got %s: %q", k, v)
		}
	}
	if vv := h.Values("Authorization"); len(vv) != 1 {
		t.Errorf("authorization values %q", vv)
	}
}

func TestRunTokenRotation(t *testing.T) {
	up := testsupport.NewUpstream(t, nil)
	var tok atomic.Value
	tok.Store("jwt-one")
	b := newBridge(t, up.URL, func(o *Options) { o.RunToken = func() string { return tok.Load().(string) } })
	b.do(t, "GET", "/api/agents/me", nil, nil)
	tok.Store("jwt-two")
	b.do(t, "GET", "/api/agents/me", nil, nil)
	reqs := up.Requests()
	if reqs[0].Header.Get("Authorization") != "Bearer jwt-one" || reqs[1].Header.Get("Authorization") != "Bearer jwt-two" {
		t.Fatalf("tokens %q, %q", reqs[0].Header.Get("Authorization"), reqs[1].Header.Get("Authorization"))
	}
}

func TestBodyBudget(t *testing.T) {
	const size = 200 << 10
	up := testsupport.NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(make([]byte, 1000))
		w.(http.Flusher).Flush() // unknown length: the bridge must hold it
		_, _ = w.Write(make([]byte, size-1000))
	})
	b := newBridge(t, up.URL, func(o *Options) { o.BodyBudgetBytes = 100 << 10 })
	resp := b.do(t, "GET", "/api/agents/me", nil, nil)
	if resp.Header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	wantError(t, resp, 503, errJSON("Bridge body capacity is busy. Retry later."))
	resp = b.do(t, "POST", "/api/issues/i1/checkout", nil, nil)
	wantError(t, resp, 409, `{"error":"Bridge body capacity is busy. Retry later.","outcome":"indeterminate","retryable":false}`)
	if got := b.rejected(t, reasonBodyBudget); got != 2 {
		t.Fatalf("body_budget = %v", got)
	}
}

// The real token and the bridge token never reach logs or metrics, and
// the bridge token never reaches upstream.
func TestNoTokenLeaks(t *testing.T) {
	up := testsupport.NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(500)
		_, _ = w.Write([]byte("boom"))
	})
	b := newBridge(t, up.URL, nil)
	b.do(t, "GET", "/api/agents/me?token=query-secret", nil, nil)
	b.do(t, "POST", "/api/issues/i1/comments", strings.NewReader(`{"body":"body-secret"}`), map[string]string{"Content-Type": "application/json"})
	b.do(t, "GET", "/api/secrets", nil, nil)
	b.rawGet(t, "GET", "/api/../x")
	text := b.logs.String() + b.metricsText(t)
	for _, secret := range []string{testRunToken, testBridgeToken, "query-secret", "body-secret"} {
		if strings.Contains(text, secret) {
			t.Errorf("%q leaked into logs or metrics", secret)
		}
	}
	for _, r := range up.Requests() {
		for k, vv := range r.Header {
			for _, v := range vv {
				if strings.Contains(v, testBridgeToken) {
					t.Errorf("bridge token went upstream in %s", k)
				}
			}
		}
	}
	if !strings.Contains(b.logs.String(), `"msg":"request"`) {
		t.Fatal("no access log lines")
	}
}

// A client that trickles its body is answered at once when the bridge
// refuses it, and cut off after the stall timeout when it is forwarded.
func TestTrickledBody(t *testing.T) {
	up := testsupport.NewUpstream(t, nil)
	b := newBridge(t, up.URL, func(o *Options) { o.UpstreamTimeout = 300 * time.Millisecond })
	for _, tc := range []struct {
		name, auth string
		want       int
	}{
		{"refused", "Bearer wrong", 401},
		{"forwarded", "Bearer " + testBridgeToken, 408},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", b.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			start := time.Now()
			_, _ = io.WriteString(conn, "POST /api/issues/i1/comments HTTP/1.1\r\nHost: x\r\nAuthorization: "+tc.auth+
				"\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"body\":\"")
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			if resp.StatusCode != tc.want || time.Since(start) > 2*time.Second {
				t.Fatalf("got %d after %v", resp.StatusCode, time.Since(start))
			}
			if !resp.Close {
				t.Fatal("connection kept open with an unread body")
			}
		})
	}
}
