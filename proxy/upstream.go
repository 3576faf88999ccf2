package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"syscall"
	"time"
)

// upstreamClient is a minimal HTTP/1.1 client for the one upstream host,
// with a pool of keep-alive connections.
//
// Why not http.Transport: profiling showed the Transport's per-connection
// reader and writer goroutines (two goroutine hand-offs per request) cost
// as much as everything else in the bridge together, and held it to about
// 0.5× nginx on the same job. Here the handler goroutine writes the
// request and reads the response itself. It also knows exactly whether a
// byte of the request left, which is what decides 502 versus the
// indeterminate 409, with no tracing hooks.
type upstreamClient struct {
	addr      string      // host:port to dial
	tlsConfig *tls.Config // nil for http://
	dialer    net.Dialer
	maxIdle   int

	mu     sync.Mutex
	idle   []*upConn   // LIFO: the most recently used connection is the warmest
	reaper *time.Timer // armed while idle is not empty
	closed bool
}

// upConn is one pooled connection.
type upConn struct {
	net.Conn
	br        *bufio.Reader
	bw        *bufio.Writer
	idleSince time.Time
	reused    bool
	wrote     bool // a byte of the current request may have left
	// readBy and writeBy are the deadlines set on the connection (see
	// stall.go); zero when none is.
	readBy, writeBy time.Time
}

// sentWriter marks the connection as written to before each write, so
// "nothing was sent" is known exactly, whatever bufio decides to flush.
type sentWriter struct{ pc *upConn }

func (w sentWriter) Write(p []byte) (int, error) {
	w.pc.wrote = true
	return w.pc.Conn.Write(p)
}

// Pool limits. idleTimeout is below the 5 s keep-alive timeout of Node's
// HTTP server (Paperclip's), so a pooled connection is rarely one the
// server is about to close; livenessAfter is when a pooled connection is
// probed before reuse, so one the server did close is never used for a
// mutation.
const (
	idleTimeout   = 4 * time.Second
	livenessAfter = 500 * time.Millisecond
	dialTimeout   = 10 * time.Second
)

func newUpstreamClient(scheme, host string, maxIdle int) *upstreamClient {
	addr := host
	if _, _, err := net.SplitHostPort(host); err != nil {
		if scheme == "https" {
			addr = net.JoinHostPort(host, "443")
		} else {
			addr = net.JoinHostPort(host, "80")
		}
	}
	c := &upstreamClient{addr: addr, maxIdle: maxIdle}
	c.dialer.Timeout = dialTimeout
	c.dialer.KeepAlive = 30 * time.Second
	if scheme == "https" {
		h, _, _ := net.SplitHostPort(addr)
		c.tlsConfig = &tls.Config{ServerName: h, NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12}
	}
	return c
}

// get returns a live pooled connection or dials a new one. A dial error
// means nothing was sent.
func (c *upstreamClient) get(ctx context.Context) (*upConn, error) {
	now := time.Now()
	for {
		c.mu.Lock()
		n := len(c.idle)
		if n == 0 {
			c.mu.Unlock()
			break
		}
		pc := c.idle[n-1]
		c.idle[n-1] = nil
		c.idle = c.idle[:n-1]
		c.mu.Unlock()
		pc.clearExpiredRead(now)
		idleFor := now.Sub(pc.idleSince)
		if idleFor > idleTimeout || (idleFor > livenessAfter && !alive(pc.Conn)) {
			pc.Close()
			continue
		}
		pc.reused, pc.wrote = true, false
		return pc, nil
	}
	conn, err := c.dialer.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return nil, err
	}
	if c.tlsConfig != nil {
		tc := tls.Client(conn, c.tlsConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, err
		}
		conn = tc
	}
	pc := &upConn{Conn: conn, br: bufio.NewReaderSize(conn, copyBufSize)}
	pc.bw = bufio.NewWriterSize(sentWriter{pc}, copyBufSize)
	return pc, nil
}

// put returns a connection whose last response was read to its end.
func (c *upstreamClient) put(pc *upConn) {
	if pc.br.Buffered() > 0 {
		pc.Close() // bytes nobody asked for: the stream is out of step
		return
	}
	// The stall deadlines stay: the next request pushes them forward if
	// they are due (stall.go), and get clears an expired one.
	pc.idleSince = time.Now()
	c.mu.Lock()
	if !c.closed && len(c.idle) < c.maxIdle {
		c.idle = append(c.idle, pc)
		pc = nil
		if c.reaper == nil {
			c.reaper = time.AfterFunc(idleTimeout, c.reap)
		}
	}
	c.mu.Unlock()
	if pc != nil {
		pc.Close()
	}
}

// reap closes connections idle past idleTimeout. Without it, a burst of
// traffic would leave its connections open (and, once upstream closes its
// end, in CLOSE_WAIT) until the next burst. The oldest connections sit at
// the bottom of the LIFO stack, so the expired ones are a prefix.
func (c *upstreamClient) reap() {
	now := time.Now()
	c.mu.Lock()
	n := 0
	for n < len(c.idle) && now.Sub(c.idle[n].idleSince) >= idleTimeout {
		n++
	}
	expired := append([]*upConn(nil), c.idle[:n]...)
	c.idle = append(c.idle[:0], c.idle[n:]...)
	clear(c.idle[len(c.idle):cap(c.idle)])
	c.reaper = nil
	if len(c.idle) > 0 && !c.closed {
		// Next expiry: the new oldest connection's.
		c.reaper = time.AfterFunc(idleTimeout-now.Sub(c.idle[0].idleSince), c.reap)
	}
	c.mu.Unlock()
	for _, pc := range expired {
		pc.Close()
	}
}

// closeIdle closes every pooled connection and stops pooling.
func (c *upstreamClient) closeIdle() {
	c.mu.Lock()
	idle := c.idle
	c.idle = nil
	c.closed = true
	if c.reaper != nil {
		c.reaper.Stop()
		c.reaper = nil
	}
	c.mu.Unlock()
	for _, pc := range idle {
		pc.Close()
	}
}

// alive reports whether an idle connection is still open, by peeking
// without blocking: EOF or an error means the server closed it; "would
// block" means it is open and quiet, as it should be.
func alive(conn net.Conn) bool {
	if tc, ok := conn.(*tls.Conn); ok {
		conn = tc.NetConn()
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return true
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	ok = false
	var buf [1]byte
	rerr := raw.Read(func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		ok = errors.Is(err, syscall.EAGAIN)
		return true // never wait: one look is the answer
	})
	return rerr == nil && ok
}
