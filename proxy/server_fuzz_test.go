package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clipbridge/clipbridge/internal/testsupport"
	"github.com/clipbridge/clipbridge/proxy/policy"
)

// FuzzServe feeds arbitrary bytes, as a hostile agent could, to the
// callback API's own server (NewServer) in front of the real handler and
// a stand-in upstream, and checks what must hold whatever the bytes:
//   - every origin-form request the handler is handed passes policy.Check
//     (net/http's parser and the bridge agree on what a request is);
//   - the output is a sequence of well-formed HTTP/1.1 responses with
//     nothing after the last, and the server closes the connection once
//     the client has stopped sending (no hang);
//   - the process survives (a panic outside a handler would end it).
func FuzzServe(f *testing.F) {
	auth := "Authorization: Bearer " + testBridgeToken + "\r\n"
	for _, seed := range []string{
		"GET /api/agents/me HTTP/1.1\r\nHost: h\r\n" + auth + "\r\n",
		"POST /api/issues/i1/comments HTTP/1.1\r\nHost: h\r\n" + auth + "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}GET /api/agents/me HTTP/1.1\r\nHost: h\r\n" + auth + "\r\n",
		"POST /api/issues/i1/comments HTTP/1.1\r\nHost: h\r\n" + auth + "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
		"POST /api/issues/i1/comments HTTP/1.1\r\nHost: h\r\n" + auth + "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc",
		"GET /api/agents/me HTTP/1.0\r\nConnection: keep-alive\r\n" + auth + "Transfer-Encoding: chunked\r\n\r\nGET / HTTP/1.0\r\n\r\n",
		"HEAD /api/agents/me HTTP/1.1\r\nHost: h\r\n" + auth + "\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET /api/agents/me HTTP/1.1\r\nHost: a\r\nAccept: a\x01b\r\n" + auth + "\r\n",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /api/agents/me?x=1 HTTP/1.1\r\nHost: a\r\n X: folded\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	up := testsupport.NewUpstream(f, nil)
	var (
		mu       sync.Mutex
		violated string
	)
	b := newBridge(f, up.URL, nil)
	checked := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Absolute and asterisk forms do reach a handler (net/http serves
		// them); requireWellFormed refuses them itself, with its 400.
		if err := policy.Check(r); err != nil && strings.HasPrefix(r.RequestURI, "/") {
			mu.Lock()
			violated = fmt.Sprintf("the handler was handed %s %q %q: %v", r.Method, r.RequestURI, r.Header, err)
			mu.Unlock()
		}
		b.h.ServeHTTP(w, r)
	})
	srv := b.h.NewServer(b.h.fwd.log)
	srv.Handler = checked
	srv.ReadHeaderTimeout = time.Second // the client below never trickles
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	f.Cleanup(func() {
		srv.Close()
		<-done
	})
	addr := ln.Addr().String()

	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		// The server may answer and close before reading everything: a
		// failed write is the server's right, not a finding.
		go func() {
			_, _ = c.Write(raw)
			_ = c.(*net.TCPConn).CloseWrite()
		}()
		out, err := io.ReadAll(c)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("no EOF 10 s after the client stopped sending; got %q", out)
		}
		mu.Lock()
		v := violated
		violated = ""
		mu.Unlock()
		if v != "" {
			t.Fatal(v)
		}
		checkResponses(t, raw, out)
	})
}

// checkResponses parses out as consecutive responses, to its very end.
// Whether an answer has a body depends on its request's method (HEAD), so
// the requests are read back from raw the way the server reads them.
func checkResponses(t *testing.T, raw, out []byte) {
	methods := requestMethods(raw)
	br := bufio.NewReader(bytes.NewReader(out))
	for i, n := 0, 0; ; i++ {
		if _, err := br.Peek(1); err == io.EOF {
			return
		}
		req := &http.Request{Method: http.MethodGet}
		// net/http's own refusals (400, 431, 501, 505: plain text, before
		// any handler) carry their text whatever the method looked like.
		if n < len(methods) && !refusedByServer(br) {
			req.Method = methods[n]
		}
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			t.Fatalf("response %d does not parse: %v\ninput %q\noutput %q", i, err, raw, out)
		}
		if resp.StatusCode == 100 {
			continue // interim: the same request's final answer follows
		}
		if resp.StatusCode < 200 || resp.StatusCode > 599 {
			t.Fatalf("response %d: status %d\ninput %q", i, resp.StatusCode, raw)
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			t.Fatalf("response %d body: %v\ninput %q\noutput %q", i, err, raw, out)
		}
		n++
	}
}

// requestMethods lists the methods of the requests net/http can read from
// raw, in order, stopping at the first it cannot.
func requestMethods(raw []byte) []string {
	br := bufio.NewReader(bytes.NewReader(raw))
	var methods []string
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return methods
		}
		methods = append(methods, req.Method)
		if _, err := io.Copy(io.Discard, req.Body); err != nil {
			return methods
		}
	}
}

// refusedByServer reports whether the next response is one net/http's
// server wrote itself, refusing a request before any handler: those are
// plain text with a status line's worth of body, the bridge's are JSON.
func refusedByServer(br *bufio.Reader) bool {
	for n := 64; n <= 4096; n *= 2 {
		b, _ := br.Peek(n)
		if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
			return bytes.Contains(b[:i], []byte("\r\nContent-Type: text/plain"))
		}
		if len(b) < n {
			return false
		}
	}
	return false
}
