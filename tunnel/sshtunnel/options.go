package sshtunnel

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clipbridge/clipbridge/internal/retry"
	"github.com/clipbridge/clipbridge/sshconn"
)

// Defaults for Options; every one lives here.
const (
	// DefaultRemoteListen lets the execution host's sshd pick a free
	// loopback port; the chosen port is then kept across reconnects.
	DefaultRemoteListen = "127.0.0.1:0"
	// DefaultShutdownTimeout bounds draining in-flight requests when Run's
	// context ends, before the SSH connection is closed under them.
	DefaultShutdownTimeout = 10 * time.Second
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
	// Server serves every request arriving through the tunnel, and only it
	// is reachable through the tunnel; its handler and every timeout are
	// the caller's (clipbridge passes the callback API's own server,
	// proxy.Handler.NewServer). The tunnel owns it: it calls Serve on the
	// forwarded listener and Shutdown when Run ends, so do not share it
	// with another listener. Required.
	Server *http.Server
	// ShutdownTimeout bounds the drain when Run's context ends; 0 means
	// DefaultShutdownTimeout.
	ShutdownTimeout time.Duration

	// Backoff paces reconnects; the zero value is 250 ms doubling to 30 s.
	Backoff retry.Backoff
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
	if o.Server == nil || o.Server.Handler == nil {
		errs = append(errs, errors.New("sshtunnel: a server with a handler is required"))
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
