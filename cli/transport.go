package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/clipbridge/clipbridge/config"
	"github.com/clipbridge/clipbridge/proxy"
)

// transport brings the execution host's requests to the callback handler:
// a local listener, the SSH remote forward, or the queue_v1 channel. It
// is built (listening, connected or launched enough to fail on a bad
// setting) before the run starts, then run as one part of it.
type transport interface {
	// Run serves until ctx ends, then drains the requests in flight within
	// --drain-timeout and returns, with errDrainTimeout if some were cut
	// off. An error before ctx ends ends the whole run.
	Run(ctx context.Context) error
	// Ready is closed once the agent can reach the bridge: the ready line
	// waits for it.
	Ready() <-chan struct{}
	// Env is the agent environment, valid once Ready is closed.
	Env() agentEnv
	// Up reports whether the agent can reach the bridge now (/readyz).
	Up() bool
}

// errDrainTimeout reports in-flight requests still running when
// --drain-timeout ran out: exit status 1.
var errDrainTimeout = errors.New("drain timed out with requests still in flight")

// closedChan is a Ready for a transport that is ready once built.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// localTransport serves the callback API on a local listener.
type localTransport struct {
	srv   *http.Server
	ln    net.Listener
	e     agentEnv
	drain time.Duration
	log   *slog.Logger
}

// newLocal listens first, so a bind error surfaces before any ready line,
// and port 0 is resolved for the agent's URL.
func newLocal(cfg *config.Config, h *proxy.Handler, log *slog.Logger) (*localTransport, error) {
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, failedAs(codeListen, fmt.Errorf("--listen %s: %w", cfg.Listen, err))
	}
	return &localTransport{
		srv: h.NewServer(log.With("component", "http")), ln: ln, drain: cfg.DrainTimeout, log: log,
		e: agentEnv{URL: httpURL(ln.Addr()), Key: cfg.BridgeToken.Reveal(), Mode: "queue_v1"},
	}, nil
}

func (t *localTransport) Ready() <-chan struct{} { return closedChan }
func (t *localTransport) Env() agentEnv          { return t.e }
func (t *localTransport) Up() bool               { return true }

// Run implements transport.
func (t *localTransport) Run(ctx context.Context) error {
	return serveThenDrain(ctx, t.srv, t.ln, t.drain, t.log)
}

// serveThenDrain serves srv on ln until ctx ends, then stops taking
// connections at once and lets in-flight requests finish within drain.
func serveThenDrain(ctx context.Context, srv *http.Server, ln net.Listener, drain time.Duration, log *slog.Logger) error {
	served := make(chan error, 1)
	go func() { served <- serveUntilClosed(srv, ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		srv.Close()
		log.Error("drain timed out; closing the remaining connections", "timeout", drain.String())
		err = errDrainTimeout
	}
	<-served
	return err
}

func serveUntilClosed(s interface{ Serve(net.Listener) error }, ln net.Listener) error {
	if err := s.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
