package h1

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
)

// FuzzServe feeds arbitrary bytes to a live server, as a hostile agent
// could, and checks what must hold whatever the bytes:
//   - the process survives (a panic outside the handler would end it);
//   - the handler only ever sees valid header names and values;
//   - the output is a sequence of well-formed HTTP/1.1 responses with
//     nothing after the last one, and the server closes the connection
//     once the client has stopped sending (no hang).
func FuzzServe(f *testing.F) {
	for _, seed := range []string{
		"GET /a?x=%2f HTTP/1.1\r\nHost: h\r\n\r\n",
		"POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nHost: h\r\n\r\n",
		"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc",
		"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n",
		"HEAD / HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\n X: folded\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}

	var (
		mu       sync.Mutex
		violated string
	)
	strict := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, vv := range r.Header {
			for _, v := range vv {
				if !validFieldName(k) || !validFieldValue(v) {
					mu.Lock()
					violated = fmt.Sprintf("handler saw header %q: %q", k, v)
					mu.Unlock()
				}
			}
		}
		if strings.ContainsAny(r.Host, " \t\r\n/") {
			mu.Lock()
			violated = fmt.Sprintf("handler saw host %q", r.Host)
			mu.Unlock()
		}
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "%s %d", r.Method, n)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	s := &Server{Handler: strict, MaxHeaderBytes: 4096, ReadHeaderTimeout: time.Second}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	f.Cleanup(func() {
		s.Close()
		<-done
	})
	addr := ln.Addr().String()

	f.Fuzz(func(t *testing.T, raw []byte) {
		c := dial(t, addr)
		// The server may answer and close before reading everything: a
		// failed write is the server's right, not a finding.
		go func() {
			_, _ = c.Write(raw)
			_ = c.(*net.TCPConn).CloseWrite()
		}()
		out, err := io.ReadAll(c)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("no EOF 5 s after the client stopped sending; got %q", out)
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
		// A 400 or 431 refuses a head the server would not accept, so it
		// always carries its text, whatever the method looked like.
		head, _ := br.Peek(13)
		if n < len(methods) && !bytes.HasPrefix(head, []byte("HTTP/1.1 400 ")) && !bytes.HasPrefix(head, []byte("HTTP/1.1 431 ")) {
			req.Method = methods[n]
		}
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			t.Fatalf("response %d does not parse: %v\ninput %q\noutput %q", i, err, raw, out)
		}
		switch resp.StatusCode {
		case 100:
			continue // interim: the same request's final answer follows
		case 200, 400, 417, 431:
		default:
			t.Fatalf("response %d: unexpected status %d\ninput %q", i, resp.StatusCode, raw)
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
