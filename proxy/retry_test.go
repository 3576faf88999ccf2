package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// closesReused is an upstream that answers the first request on each
// connection (keep-alive), and reads the second in full, records it, and
// closes the connection without answering: a server that may have acted
// on a request and then died. It reports every request it read.
func closesReused(t *testing.T) (url string, seen func() []string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var mu sync.Mutex
	var reqs []string
	go acceptEach(ln, func(c net.Conn) {
		br := bufio.NewReader(c)
		for i := 0; ; i++ {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, req.Body)
			mu.Lock()
			reqs = append(reqs, req.Method+" "+req.URL.RawQuery)
			mu.Unlock()
			if i == 1 {
				return // read, maybe acted on, never answered
			}
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
		}
	})
	return "http://" + ln.Addr().String(), func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), reqs...)
	}
}

// TestMutationNeverSentTwice: a mutation on a reused connection that
// upstream reads and then closes is not retried by the Transport (that
// could apply it twice): the agent gets the indeterminate 409, and
// upstream read it exactly once.
func TestMutationNeverSentTwice(t *testing.T) {
	for _, method := range []string{"POST", "PATCH", "DELETE", "PUT"} {
		t.Run(method, func(t *testing.T) {
			url, seen := closesReused(t)
			b := newBridge(t, url, func(o *Options) {
				rule, err := newRule(method, "/api/x")
				if err != nil {
					t.Fatal(err)
				}
				o.Rules = []Rule{rule}
			})
			send := func(id string, body io.Reader) (int, string) {
				var h map[string]string
				if body != nil {
					h = map[string]string{"Content-Type": "application/json"}
				}
				resp := b.do(t, method, "/api/x?"+id, body, h)
				return resp.StatusCode, readBody(t, resp)
			}
			if code, body := send("first", strings.NewReader("{}")); code != 200 {
				t.Fatalf("first: %d %s", code, body)
			}
			// A body-less mutation is the one the Transport could replay.
			code, body := send("second", nil)
			if code != http.StatusConflict || !strings.Contains(body, `"outcome":"indeterminate"`) {
				t.Fatalf("second: %d %s, want the indeterminate 409", code, body)
			}
			n := 0
			for _, r := range seen() {
				if r == method+" second" {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("upstream read the second %s %d times (%q), want exactly once", method, n, seen())
			}
		})
	}
}
