package h1

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// countingListener counts read-deadline changes on the connections it
// accepts.
type countingListener struct {
	net.Listener
	reads atomic.Int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, reads: &l.reads}, nil
}

type countingConn struct {
	net.Conn
	reads *atomic.Int32
}

func (c *countingConn) SetReadDeadline(t time.Time) error {
	c.reads.Add(1)
	return c.Conn.SetReadDeadline(t)
}

// A request head that arrives whole needs no deadline of its own, and a
// body-less request needs none lifted: one read-deadline change per
// request (the idle wait) instead of three.
func TestWholeHeadsCostOneReadDeadline(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln}
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = w.Write([]byte("ok"))
	})}
	done := make(chan error, 1)
	go func() { done <- s.Serve(cl) }()
	defer func() { s.Close(); <-done }()

	c := dial(t, ln.Addr().String())
	br := bufio.NewReader(c)
	call := func(raw string) {
		t.Helper()
		if _, err := io.WriteString(c, raw); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	const n = 10
	for range n {
		call("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	}
	// The server may already have set the idle deadline for the next one.
	if got := cl.reads.Load(); got > n+1 {
		t.Fatalf("%d read-deadline changes for %d whole, body-less requests; want at most %d", got, n, n+1)
	}
	// A body still lifts the bound, and a head in pieces still gets one.
	before := cl.reads.Load()
	call("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\n"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	call("Host: x\r\n\r\n")
	if got := cl.reads.Load() - before; got < 4 || got > 6 {
		t.Fatalf("%d read-deadline changes for a body and a split head; want 4-6", got)
	}
}
