package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Pool limits. upstreamIdleTimeout is below the 5 s keep-alive timeout of Node's
// HTTP server (Paperclip's), so a pooled connection is rarely one the
// server is about to close; the Transport's per-connection reader drops
// one the server did close as soon as the close arrives.
const (
	upstreamIdleTimeout = 4 * time.Second
	dialTimeout         = 10 * time.Second
	// maxResponseHead bounds an upstream response head; Paperclip's are
	// a few hundred bytes.
	maxResponseHead = 64 << 10
)

// newTransport is the one http.Transport the forwarder sends every call
// through. What it is configured NOT to do matters as much:
//   - no proxy from the environment (the upstream is named exactly);
//   - no transparent gzip (bodies and their lengths pass as upstream sent
//     them, so the caps see the real size);
//   - no HTTP/2 (the upstream is the control plane on a private network);
//   - no retry of a mutation once a byte of it was written: Transport
//     retries only requests that are replayable (safe methods without a
//     body, and none of ours carries an Idempotency-Key: the header
//     allowlist drops it) or that provably wrote nothing, and never one
//     whose context ended (how the stall bound ends a call);
//   - no response header timeout of its own: the stall bound covers the
//     wait for the head too.
//
// Every connection it dials is a stallConn, which reports progress to
// the call using it (the stall bound) and counts writes (what decides
// "not sent").
func newTransport(maxIdle int) *http.Transport {
	d := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &stallConn{Conn: c}, nil
		},
		TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}},
		TLSHandshakeTimeout: dialTimeout,
		// A non-nil empty map turns HTTP/2 off.
		TLSNextProto:           map[string]func(string, *tls.Conn) http.RoundTripper{},
		DisableCompression:     true,
		MaxIdleConns:           maxIdle,
		MaxIdleConnsPerHost:    maxIdle,
		IdleConnTimeout:        upstreamIdleTimeout,
		MaxResponseHeaderBytes: maxResponseHead,
		WriteBufferSize:        copyBufSize,
		ReadBufferSize:         copyBufSize,
	}
}

// stallConn is an upstream connection that tells the call it is serving
// about every read and write that moved bytes, so the call's stallWatch
// can bound each chunk rather than the whole exchange. written counts
// write calls, made before the bytes leave, so "nothing of this request
// was sent" is known exactly (see sentTracker).
type stallConn struct {
	net.Conn
	written atomic.Int64
	watch   atomic.Pointer[stallWatch]
}

func (c *stallConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.watch.Load().progress()
	}
	return n, err
}

func (c *stallConn) Write(p []byte) (int, error) {
	c.written.Add(1)
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.watch.Load().progress()
	}
	return n, err
}

// errStalled is the cause a call is cancelled with when upstream (or
// the upload) made no progress for the stall timeout.
var errStalled = errors.New("no progress within --upstream-timeout")

// stallWatch is one call's stall bound: it cancels the call once nothing
// has moved for d, counting bytes to and from upstream and bytes read of
// the agent's upload. A cancelled context, unlike a connection deadline,
// is never taken by the Transport for a connection the server closed,
// so a stalled call is not retried.
type stallWatch struct {
	mu     sync.Mutex
	t      *time.Timer
	d      time.Duration
	cancel context.CancelCauseFunc
}

func newStallWatch(ctx context.Context, d time.Duration) (context.Context, *stallWatch) {
	ctx, cancel := context.WithCancelCause(ctx)
	s := &stallWatch{d: d, cancel: cancel}
	s.t = time.AfterFunc(d, func() { cancel(errStalled) })
	return ctx, s
}

// progress restarts the bound. A nil watch (a pooled connection between
// calls) ignores it.
func (s *stallWatch) progress() {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.t.Reset(s.d)
	s.mu.Unlock()
}

// stop ends the watch and releases its context.
func (s *stallWatch) stop() {
	s.mu.Lock()
	s.t.Stop()
	s.mu.Unlock()
	s.cancel(context.Canceled)
}

// sentTracker learns, through httptrace's GotConn, every connection a
// call was given (more than one if Transport retried it on a fresh
// connection) and how many writes each had seen by then, so that after a
// failure sent reports whether any byte of this call may have left. TLS
// handshake writes happen before GotConn and do not count. It also binds
// each connection to the call's stallWatch.
type sentTracker struct {
	watch *stallWatch
	conns []*stallConn
	base  []int64
}

func (s *sentTracker) gotConn(c net.Conn) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if sc, ok := c.(*stallConn); ok {
		sc.watch.Store(s.watch)
		s.conns = append(s.conns, sc)
		s.base = append(s.base, sc.written.Load())
	}
}

// release unbinds the call's connections from its watch, once the call
// is over (its response body closed).
func (s *sentTracker) release() {
	for _, c := range s.conns {
		c.watch.CompareAndSwap(s.watch, nil)
	}
}

// sent reports whether a byte of the call may have reached upstream. A
// connection of unknown kind counts as written to: the safe answer.
func (s *sentTracker) sent(gotAny bool) bool {
	if gotAny && len(s.conns) == 0 {
		return true
	}
	for i, c := range s.conns {
		if c.written.Load() > s.base[i] {
			return true
		}
	}
	return false
}
