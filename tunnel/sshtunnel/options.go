package sshtunnel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clipbridge/clipbridge/sshconn"
)

// Defaults for Options; every one lives here.
const (
	// DefaultRemoteListen lets the execution host's sshd pick a free
	// loopback port; the chosen port is then kept across reconnects.
	DefaultRemoteListen = "127.0.0.1:0"
	// DefaultReadHeaderTimeout cuts off request heads trickled through the
	// tunnel (slowloris); agents send their headers at once.
	DefaultReadHeaderTimeout = 10 * time.Second
	// DefaultIdleTimeout closes idle keep-alive connections: each one pins an
	// SSH channel and its window buffers on both hosts.
	DefaultIdleTimeout = 120 * time.Second
	// DefaultWriteTimeout is a backstop for one response; it exceeds the
	// callback API's own upstream timeouts so the handler's error wins.
	DefaultWriteTimeout = 5 * time.Minute
	// DefaultShutdownTimeout bounds draining in-flight requests when Run's
	// context ends, before the SSH connection is closed under them.
	DefaultShutdownTimeout = 10 * time.Second
	// DefaultMaxHeaderBytes bounds a request head; Paperclip calls are small.
	DefaultMaxHeaderBytes = 64 << 10
)

// Options configure a Tunnel.
type Options struct {
	// SSH is the connection to the execution host. Its KeepaliveRTT is set
	// to the tunnel's histogram unless already set.
	SSH sshconn.Options
	// RemoteListen is the address sshd listens on for us on the execution
	// host, an IP literal with a port; "" means DefaultRemoteListen. With
	// port 0 the first connect picks the port and reconnects ask for the
	// same one.
	RemoteListen string
	// Handler serves every request arriving through the tunnel. Only it is
	// reachable through the tunnel. Required unless Server is set.
	Handler http.Handler
	// Server, if set, is used instead of a net/http server built from
	// Handler and the timeouts below (clipbridge passes its h1.Server). The
	// tunnel owns it: it calls Serve on the forwarded listener and Shutdown
	// when Run ends, so do not share it with another listener.
	Server Server

	// ReadHeaderTimeout, ReadTimeout, WriteTimeout and IdleTimeout configure
	// the built server; 0 means the Default* value (ReadTimeout: none, as a
	// large upload may legitimately take long and the handler bounds stalls
	// per chunk).
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request head; 0 means DefaultMaxHeaderBytes.
	MaxHeaderBytes int
	// ShutdownTimeout bounds the drain when Run's context ends; 0 means
	// DefaultShutdownTimeout.
	ShutdownTimeout time.Duration

	// Backoff paces reconnects; the zero value is 250 ms doubling to 30 s.
	Backoff sshconn.Backoff
	// StaleKillWait is how long to keep retrying the forward after ending a
	// stale session that held the port; 0 means 3 s.
	StaleKillWait time.Duration

	// Logger receives tunnel events; nil discards them.
	Logger *slog.Logger
	// Registerer receives the tunnel metrics; nil means a private registry.
	Registerer prometheus.Registerer
}

func (o Options) validate() (netip.AddrPort, error) {
	var errs []error
	if err := o.SSH.Validate(); err != nil {
		errs = append(errs, err)
	}
	if o.Handler == nil && o.Server == nil {
		errs = append(errs, errors.New("sshtunnel: a handler is required"))
	}
	listen := o.RemoteListen
	if listen == "" {
		listen = DefaultRemoteListen
	}
	ap, err := netip.ParseAddrPort(listen)
	if err != nil {
		errs = append(errs, fmt.Errorf("remote listen address %q: want IP:PORT such as 127.0.0.1:0", listen))
	}
	return ap, errors.Join(errs...)
}

func (o Options) withDefaults() Options {
	if o.ReadHeaderTimeout == 0 {
		o.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.MaxHeaderBytes == 0 {
		o.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = DefaultShutdownTimeout
	}
	if o.StaleKillWait == 0 {
		o.StaleKillWait = 3 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	return o
}

// newServer builds the tunnel's http.Server from the options.
// Server is what the tunnel serves the forwarded listener with:
// *http.Server, or any server with the same three methods.
type Server interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
	Close() error
}

func (o Options) newServer() Server {
	if o.Server != nil {
		return o.Server
	}
	return &http.Server{
		Handler:           o.Handler,
		ReadHeaderTimeout: o.ReadHeaderTimeout,
		ReadTimeout:       o.ReadTimeout,
		WriteTimeout:      o.WriteTimeout,
		IdleTimeout:       o.IdleTimeout,
		MaxHeaderBytes:    o.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn),
	}
}
