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
// a local listener, the SSH remote forward, or the queue_v1 channel.
type transport interface {
	// env is the agent environment, valid once start has returned.
	env() agentEnv
	// up reports whether the agent can reach the bridge now (/readyz).
	up() bool
	// wait blocks until the transport has stopped after ctx (given to
	// start) ended, having drained in-flight requests, and reports a
	// drain that timed out as errDrainTimeout.
	wait() error
}

// localTransport serves the callback API on a local listener.
type localTransport struct {
	srv   *http.Server
	ln    net.Listener
	e     agentEnv
	done  chan error
	drain time.Duration
	log   *slog.Logger
}

func startLocal(ctx context.Context, cfg *config.Config, h *proxy.Handler, log *slog.Logger) (*localTransport, error) {
	// Listen first, then serve: a bind error surfaces here, before any
	// ready line, and port 0 is resolved for it.
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("--listen %s: %w", cfg.Listen, err)
	}
	t := &localTransport{
		srv: h.NewServer(log.With("component", "http")), ln: ln, done: make(chan error, 1), drain: cfg.DrainTimeout, log: log,
		e: agentEnv{URL: httpURL(ln.Addr()), Key: cfg.BridgeToken.Reveal(), Mode: "queue_v1"},
	}
	served := make(chan error, 1)
	go func() { served <- serveUntilClosed(t.srv, ln) }()
	go func() {
		select {
		case err := <-served:
			t.done <- err
		case <-ctx.Done():
			t.done <- shutdownServer(t.srv, t.drain, log)
			<-served
		}
	}()
	return t, nil
}

func (t *localTransport) env() agentEnv { return t.e }
func (t *localTransport) up() bool      { return true }
func (t *localTransport) wait() error   { return <-t.done }

// shutdownServer closes the listener at once and lets in-flight requests
// finish within the drain timeout.
func shutdownServer(srv *http.Server, drain time.Duration, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		srv.Close()
		log.Error("drain timed out; closing the remaining connections", "timeout", drain.String())
		return errDrainTimeout
	}
	return nil
}

func serveUntilClosed(s interface{ Serve(net.Listener) error }, ln net.Listener) error {
	if err := s.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
