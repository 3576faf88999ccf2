package h1

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// start serves h on loopback and returns the address.
func start(t *testing.T, h http.Handler, mod func(*Server)) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Handler: h}
	if mod != nil {
		mod(s)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; err != ErrServerClosed {
			t.Errorf("Serve returned %v", err)
		}
		deadline := time.Now().Add(2 * time.Second)
		for time.Now().Before(deadline) {
			s.mu.Lock()
			n := len(s.conns)
			s.mu.Unlock()
			if n == 0 {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	return s, ln.Addr().String()
}

// dial connects to addr with a 5 s deadline on everything that follows;
// the connection is closed when the test ends.
func dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	return c
}

// exchange writes raw bytes and reads n responses.
func exchange(t *testing.T, addr, raw string, n int) ([]*http.Response, []string, net.Conn) {
	t.Helper()
	c := dial(t, addr)
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var resps []*http.Response
	var bodies []string
	for i := 0; i < n; i++ {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("body %d: %v", i, err)
		}
		resps = append(resps, resp)
		bodies = append(bodies, string(b))
	}
	return resps, bodies, c
}

var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	w.Header().Set("X-Uri", r.RequestURI)
	fmt.Fprintf(w, "%s %s %d %s", r.Method, r.Host, len(b), b)
})

func TestKeepAliveAndPipelining(t *testing.T) {
	_, addr := start(t, echo, nil)
	raw := "GET /a?x=%2f HTTP/1.1\r\nHost: h\r\n\r\n" +
		"POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc" +
		"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n"
	resps, bodies, _ := exchange(t, addr, raw, 3)
	want := []string{"GET h 0 ", "POST h 3 abc", "POST h 2 xy"}
	for i := range want {
		if bodies[i] != want[i] || resps[i].StatusCode != 200 || resps[i].Close {
			t.Errorf("%d: %d %q close=%v", i, resps[i].StatusCode, bodies[i], resps[i].Close)
		}
	}
	if resps[0].Header.Get("X-Uri") != "/a?x=%2f" || resps[0].Header.Get("Date") == "" {
		t.Errorf("headers %v", resps[0].Header)
	}
}

func TestLargeBodyOfUnknownLengthIsChunked(t *testing.T) {
	_, addr := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < 10; i++ {
			_, _ = w.Write([]byte(strings.Repeat("z", 1000)))
		}
	}), nil)
	resps, bodies, _ := exchange(t, addr, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", 1)
	if len(bodies[0]) != 10000 || resps[0].ContentLength != -1 {
		t.Fatalf("len %d, content-length %d", len(bodies[0]), resps[0].ContentLength)
	}
}

func TestHeadAndNoContent(t *testing.T) {
	_, addr := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/204" {
			w.WriteHeader(204)
			return
		}
		w.Header().Set("Content-Length", "5")
		_, _ = w.Write([]byte("hello"))
	}), nil)
	c := dial(t, addr)
	_, _ = io.WriteString(c, "HEAD / HTTP/1.1\r\nHost: h\r\n\r\nGET /204 HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n")
	br := bufio.NewReader(c)
	head, err := http.ReadResponse(br, &http.Request{Method: "HEAD"})
	if err != nil || head.ContentLength != 5 {
		t.Fatalf("HEAD: %v %d", err, head.ContentLength)
	}
	nc, err := http.ReadResponse(br, nil)
	if err != nil || nc.StatusCode != 204 {
		t.Fatalf("204: %v", err)
	}
	get, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(get.Body); string(b) != "hello" {
		t.Fatalf("GET after HEAD and 204: %q", b)
	}
}

func TestBadRequests(t *testing.T) {
	_, addr := start(t, echo, func(s *Server) { s.MaxHeaderBytes = 1024 })
	for name, raw := range map[string]string{
		"no host":          "GET / HTTP/1.1\r\n\r\n",
		"two hosts":        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
		"bad header name":  "GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n",
		"control in value": "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n",
		"garbage":          "HELLO\r\n\r\n",
		"http2 preface":    "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"cl and te":        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc",
		"bad expect":       "POST / HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\nContent-Length: 1\r\n\r\nx",
	} {
		t.Run(name, func(t *testing.T) {
			resps, _, _ := exchange(t, addr, raw, 1)
			if resps[0].StatusCode != 400 && resps[0].StatusCode != 417 {
				t.Fatalf("status %d", resps[0].StatusCode)
			}
			if !resps[0].Close {
				t.Fatal("connection not closed after a bad request")
			}
		})
	}
	t.Run("head too large", func(t *testing.T) {
		resps, _, _ := exchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\nX: "+strings.Repeat("a", 8000)+"\r\n\r\n", 1)
		if resps[0].StatusCode != 431 {
			t.Fatalf("status %d", resps[0].StatusCode)
		}
	})
}

func TestExpectContinue(t *testing.T) {
	_, addr := start(t, echo, nil)
	c := dial(t, addr)
	_, _ = io.WriteString(c, "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
	br := bufio.NewReader(c)
	line, _ := br.ReadString('\n')
	if !strings.HasPrefix(line, "HTTP/1.1 100 Continue") {
		t.Fatalf("got %q", line)
	}
	_, _ = br.ReadString('\n')
	_, _ = io.WriteString(c, "ok")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(resp.Body); string(b) != "POST h 2 ok" {
		t.Fatalf("%q", b)
	}
}

func TestConnectionClose(t *testing.T) {
	_, addr := start(t, echo, nil)
	for _, raw := range []string{
		"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
		"GET / HTTP/1.0\r\n\r\n",
	} {
		resps, _, c := exchange(t, addr, raw, 1)
		if !resps[0].Close {
			t.Fatalf("%q: not closing", raw)
		}
		if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
			t.Fatalf("%q: connection still open", raw)
		}
	}
	// An HTTP/1.0 client asking for keep-alive gets it, and is told so.
	resps, _, _ := exchange(t, addr, "GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 2)
	if resps[0].Close || resps[0].Header.Get("Connection") != "keep-alive" {
		t.Fatalf("HTTP/1.0 keep-alive: close=%v %q", resps[0].Close, resps[0].Header.Get("Connection"))
	}
	// An unread body is not drained: the answer goes out and the
	// connection closes.
	_, addr2 := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(401) }), nil)
	resps, _, _ = exchange(t, addr2, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\npartial", 1)
	if resps[0].StatusCode != 401 || !resps[0].Close {
		t.Fatalf("%d close=%v", resps[0].StatusCode, resps[0].Close)
	}
}

func TestAbortAndPanic(t *testing.T) {
	_, addr := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/abort" {
			w.Header().Set("Content-Length", "100")
			_, _ = w.Write([]byte("short"))
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
		if r.URL.Path == "/badcode" {
			w.WriteHeader(0) // must not go out as an implicit 200
			return
		}
		panic("boom")
	}), nil)
	c := dial(t, addr)
	_, _ = io.WriteString(c, "GET /abort HTTP/1.1\r\nHost: h\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Fatal("a short body read as complete")
	}
	c2 := dial(t, addr)
	_, _ = io.WriteString(c2, "GET /panic HTTP/1.1\r\nHost: h\r\n\r\n")
	if _, err := http.ReadResponse(bufio.NewReader(c2), nil); err == nil {
		t.Fatal("a panicking handler produced a response")
	}
	c3 := dial(t, addr)
	_, _ = io.WriteString(c3, "GET /badcode HTTP/1.1\r\nHost: h\r\n\r\n")
	if resp, err := http.ReadResponse(bufio.NewReader(c3), nil); err == nil {
		t.Fatalf("WriteHeader(0) produced a %d", resp.StatusCode)
	}
}

func TestTimeouts(t *testing.T) {
	_, addr := start(t, echo, func(s *Server) {
		s.ReadHeaderTimeout = 200 * time.Millisecond
		s.IdleTimeout = 300 * time.Millisecond
	})
	// A head trickled past ReadHeaderTimeout is cut off.
	c, _ := net.Dial("tcp", addr)
	defer c.Close()
	_, _ = io.WriteString(c, "GET / HTTP/1.1\r\n")
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	start := time.Now()
	if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatal("trickled head not cut off")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("cut off after %v", d)
	}
	// An idle keep-alive connection is closed after IdleTimeout.
	_, _, c2 := exchange(t, addr, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", 1)
	_ = c2.SetReadDeadline(time.Now().Add(3 * time.Second))
	if n, err := c2.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatal("idle connection kept")
	}
}

func TestShutdownDrains(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{})
	s, addr := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(arrived)
			<-release
		}
		_, _ = w.Write([]byte("done"))
	}), nil)
	idle, _, _ := exchange(t, addr, "GET /fast HTTP/1.1\r\nHost: h\r\n\r\n", 1) // leaves an idle keep-alive conn
	_ = idle
	busy := dial(t, addr)
	_, _ = io.WriteString(busy, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
	<-arrived
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	// New connections are refused at once.
	time.Sleep(50 * time.Millisecond)
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("accepting during shutdown")
	}
	close(release)
	resp, err := http.ReadResponse(bufio.NewReader(busy), nil)
	if err != nil || !resp.Close {
		t.Fatalf("in-flight request: %v", err)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	// Shutdown with a request that never ends returns ctx's error.
	s2, addr2 := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }), nil)
	c, _ := net.Dial("tcp", addr2)
	defer c.Close()
	_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	time.Sleep(50 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s2.Shutdown(ctx); err != context.DeadlineExceeded {
		t.Fatalf("Shutdown with a stuck request: %v", err)
	}
}
