// Package h1 serves an http.Handler over HTTP/1.1 with one goroutine per
// connection and nothing else: no background read per request, no
// per-request context tree, no response chunking layer unless it is
// needed.
//
// Why not net/http's server: the bridge forwards small JSON calls, and
// profiling showed net/http's per-request machinery (the background read
// that watches for a client hang-up, with its extra read, park and wake,
// and the deadline dance that ends it) roughly doubling the latency a
// bridge adds at one connection and halving its throughput at 64 against
// nginx on the same job. Parsing is still net/http's: http.ReadRequest,
// with the same header validation net/http's server adds on top of it.
//
// What this server does not do, on purpose: HTTP/2, TLS, Upgrade, and
// noticing that a client hung up while its handler runs (the handler
// learns it at its next write; for the bridge that means an upstream call
// runs to its own end rather than being cut halfway).
package h1

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Server is a minimal HTTP/1.1 server. Configure it before Serve; the zero
// timeouts take the defaults below.
type Server struct {
	Handler http.Handler
	// ReadHeaderTimeout bounds reading a request head once its first byte
	// has arrived (slowloris).
	ReadHeaderTimeout time.Duration
	// IdleTimeout bounds the wait for the next request on a keep-alive
	// connection.
	IdleTimeout time.Duration
	// WriteTimeout is a backstop on each response, from the end of its
	// request head; a handler may push it with ResponseController.
	WriteTimeout time.Duration
	// MaxHeaderBytes bounds a request head.
	MaxHeaderBytes int
	// Logger receives handler panics and accept errors; nil discards.
	Logger *slog.Logger

	mu       sync.Mutex
	lns      map[net.Listener]struct{}
	conns    map[*conn]struct{}
	shutdown atomic.Bool
	base     context.Context
	cancel   context.CancelFunc
	connWG   sync.WaitGroup
}

// Defaults for the zero Server fields.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultWriteTimeout      = 5 * time.Minute
	DefaultMaxHeaderBytes    = 64 << 10
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = http.ErrServerClosed

func (s *Server) init() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns != nil {
		return
	}
	s.conns = map[*conn]struct{}{}
	s.lns = map[net.Listener]struct{}{}
	s.base, s.cancel = context.WithCancel(context.Background())
	if s.ReadHeaderTimeout == 0 {
		s.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if s.IdleTimeout == 0 {
		s.IdleTimeout = DefaultIdleTimeout
	}
	if s.WriteTimeout == 0 {
		s.WriteTimeout = DefaultWriteTimeout
	}
	if s.MaxHeaderBytes == 0 {
		s.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
}

// Serve accepts connections on ln until Shutdown or Close, and returns
// ErrServerClosed then. It closes ln.
func (s *Server) Serve(ln net.Listener) error {
	s.init()
	s.mu.Lock()
	if s.shutdown.Load() {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.lns[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.lns, ln)
		s.mu.Unlock()
		ln.Close()
	}()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.shutdown.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Out of file descriptors and similar: wait, as net/http does.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.Logger.Warn("accept failed; retrying", "error", err, "delay", backoff.String())
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		c := newConn(s, nc)
		s.mu.Lock()
		if s.shutdown.Load() {
			s.mu.Unlock()
			nc.Close()
			return ErrServerClosed
		}
		s.conns[c] = struct{}{}
		s.connWG.Add(1)
		s.mu.Unlock()
		go c.serve()
	}
}

// Shutdown stops accepting at once, closes idle connections, lets active
// requests finish (their connections then close), and waits for that
// within ctx. On ctx's end it returns ctx.Err() and leaves the rest to
// Close.
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	s.shutdown.Store(true)
	s.mu.Lock()
	for ln := range s.lns {
		ln.Close()
	}
	for c := range s.conns {
		c.closeIfIdle()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.connWG.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops accepting, closes every connection at once and cancels the
// requests' context. It does not wait for handlers to return.
func (s *Server) Close() error {
	s.init()
	s.shutdown.Store(true)
	s.cancel()
	s.mu.Lock()
	for ln := range s.lns {
		ln.Close()
	}
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
	return nil
}

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.connWG.Done()
}
