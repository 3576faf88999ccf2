package h1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// conn is one client connection, served by one goroutine.
type conn struct {
	srv *Server
	nc  net.Conn
	lr  limitReader
	br  *bufio.Reader
	bw  *bufio.Writer
	// remote is the peer's address, formatted once per connection rather
	// than once per request.
	remote string

	mu   sync.Mutex
	idle bool // waiting for the next request: Shutdown may close it
}

var (
	readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4<<10) }}
	writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4<<10) }}
)

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{srv: s, nc: nc}
	c.lr.r = nc
	c.br = readerPool.Get().(*bufio.Reader)
	c.br.Reset(&c.lr)
	c.bw = writerPool.Get().(*bufio.Writer)
	c.bw.Reset(nc)
	return c
}

// limitReader caps what one request head may read from the connection;
// the cap is lifted for bodies, which the handler bounds itself.
type limitReader struct {
	r         io.Reader
	remaining int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.remaining <= 0 {
		return 0, errHeadTooLarge
	}
	if int64(len(p)) > l.remaining {
		p = p[:l.remaining]
	}
	n, err := l.r.Read(p)
	l.remaining -= int64(n)
	return n, err
}

var errHeadTooLarge = errors.New("request head too large")

const noLimit = 1<<63 - 1

func (c *conn) setIdle(v bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v && c.srv.shutdown.Load() {
		return false
	}
	c.idle = v
	return true
}

// closeIfIdle ends a connection that is between requests (Shutdown).
func (c *conn) closeIfIdle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.idle {
		// Wake its read; the serve loop then sees the shutdown.
		_ = c.nc.SetReadDeadline(time.Unix(1, 0))
	}
}

func (c *conn) serve() {
	defer func() {
		c.nc.Close()
		c.br.Reset(nil)
		readerPool.Put(c.br)
		c.bw.Reset(nil)
		writerPool.Put(c.bw)
		c.srv.forget(c)
	}()
	for {
		if !c.setIdle(true) {
			return
		}
		// Wait for the first byte of the next request (idle), then give
		// the rest of the head its own bound.
		_ = c.nc.SetReadDeadline(time.Now().Add(c.srv.IdleTimeout))
		c.lr.remaining = int64(c.srv.MaxHeaderBytes) + 4096 // + bufio slack, as net/http
		if c.br.Buffered() == 0 {
			if _, err := c.br.Peek(1); err != nil {
				return
			}
		}
		if !c.setIdle(false) {
			return
		}
		// A head that arrived whole (the usual case: one segment) is
		// parsed from the buffer without reading the socket, so it needs
		// no deadline of its own; one still arriving gets the header
		// bound.
		headBound := !c.headBuffered()
		if headBound {
			_ = c.nc.SetReadDeadline(time.Now().Add(c.srv.ReadHeaderTimeout))
		}
		req, err := c.readRequest()
		if err != nil {
			c.reject(err)
			return
		}
		c.lr.remaining = noLimit
		if headBound || req.ContentLength != 0 {
			// Lift the head's bound (or the idle one) for the body, which
			// the handler bounds itself. A request without a body reads
			// nothing more before the next idle deadline is set.
			_ = c.nc.SetReadDeadline(time.Time{})
		}
		_ = c.nc.SetWriteDeadline(time.Now().Add(c.srv.WriteTimeout))
		if !c.handle(req) {
			return
		}
	}
}

// headBuffered reports whether a complete request head (through its
// blank line) is already in the read buffer.
func (c *conn) headBuffered() bool {
	b, _ := c.br.Peek(c.br.Buffered())
	return bytes.Contains(b, crlfcrlf)
}

var crlfcrlf = []byte("\r\n\r\n")

// readRequest reads and validates one request head: http.ReadRequest,
// plus the checks net/http's server makes on top of it.
func (c *conn) readRequest() (*http.Request, error) {
	req, err := http.ReadRequest(c.br)
	if err != nil {
		return nil, err
	}
	// http.ReadRequest moves the Host header into req.Host.
	switch {
	case req.ProtoMajor != 1:
		return nil, badRequest("unsupported protocol version")
	case req.ProtoAtLeast(1, 1) && req.Host == "" && req.Method != http.MethodConnect:
		return nil, badRequest("missing required Host header")
	case strings.ContainsAny(req.Host, " \t\r\n/"):
		return nil, badRequest("malformed Host header")
	}
	for k, vv := range req.Header {
		if !validFieldName(k) {
			return nil, badRequest("invalid header name")
		}
		for _, v := range vv {
			if !validFieldValue(v) {
				return nil, badRequest("invalid header value")
			}
		}
	}
	if c.remote == "" {
		c.remote = c.nc.RemoteAddr().String()
	}
	req.RemoteAddr = c.remote
	return req.WithContext(c.srv.base), nil
}

type badRequest string

func (e badRequest) Error() string { return string(e) }

// reject answers a request that could not be read, if there is anyone to
// answer: a head too large gets 431, anything malformed a plain 400.
func (c *conn) reject(err error) {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, os.ErrDeadlineExceeded),
		errors.Is(err, net.ErrClosed), errors.As(err, &ne) && ne.Timeout():
		return
	case errors.Is(err, errHeadTooLarge):
		c.plain(http.StatusRequestHeaderFieldsTooLarge, "431 Request Header Fields Too Large")
	default:
		c.plain(http.StatusBadRequest, "400 Bad Request")
	}
}

func (c *conn) plain(code int, text string) {
	_ = c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	c.bw.WriteString("HTTP/1.1 " + text + "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: " +
		itoa(len(text)) + "\r\n\r\n" + text)
	_ = c.bw.Flush()
}

// handle runs the handler for req and finishes its response; it reports
// whether the connection may serve another request.
func (c *conn) handle(req *http.Request) (keep bool) {
	w := newResponse(c, req)
	if req.Header.Get("Expect") != "" {
		if !strings.EqualFold(req.Header.Get("Expect"), "100-continue") || !req.ProtoAtLeast(1, 1) {
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusExpectationFailed)
			w.finish()
			return false
		}
		if req.ContentLength != 0 {
			req.Body = &continueReader{c: c, body: req.Body}
		}
	}
	req.Body = &bodyTracker{rc: req.Body}
	if !c.run(w, req) {
		return false
	}
	if err := w.finish(); err != nil {
		return false
	}
	if w.closeAfter || c.srv.shutdown.Load() || !req.Body.(*bodyTracker).sawEOF && req.ContentLength != 0 {
		return false
	}
	// Pipelined requests already buffered are answered in one write.
	if c.br.Buffered() == 0 {
		if err := c.bw.Flush(); err != nil {
			return false
		}
	}
	return true
}

// run calls the handler, turning a panic into a closed connection. A
// handler aborts a response on purpose with panic(http.ErrAbortHandler).
func (c *conn) run(w *response, req *http.Request) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			if p != http.ErrAbortHandler {
				c.srv.Logger.Error("handler panicked", "panic", p, "remote", c.nc.RemoteAddr().String())
			}
			ok = false
		}
	}()
	c.srv.Handler.ServeHTTP(w, req)
	return true
}

// bodyTracker records whether the request body was read to its end: if
// not, the connection is closed rather than drained.
type bodyTracker struct {
	rc     io.ReadCloser
	sawEOF bool
}

func (b *bodyTracker) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.sawEOF = true
	}
	return n, err
}

func (b *bodyTracker) Close() error { return b.rc.Close() }

// continueReader sends "100 Continue" when the handler first reads a body
// the client is holding back.
type continueReader struct {
	c    *conn
	body io.ReadCloser
	sent bool
}

func (r *continueReader) Read(p []byte) (int, error) {
	if !r.sent {
		r.sent = true
		r.c.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
		if err := r.c.bw.Flush(); err != nil {
			return 0, err
		}
	}
	return r.body.Read(p)
}

func (r *continueReader) Close() error { return r.body.Close() }
