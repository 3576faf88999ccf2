package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clipbridge/clipbridge/config"
	"github.com/clipbridge/clipbridge/proxy"
	"github.com/clipbridge/clipbridge/proxy/budget"
	"github.com/clipbridge/clipbridge/tunnel/h2bridge"
	"github.com/clipbridge/clipbridge/tunnel/queue/gateway"
)

// h2Transport serves the callback API over one http2_v1 session to our
// gateway in the sandbox, on the runner's duplex exec. It opens no local
// callback listener.
type h2Transport struct {
	h           *h2bridge.Host
	e           agentEnv
	closeRunner func()
}

// newSandboxBridge builds the bridge the settings name for a queue dir:
// queue_v1, or http2_v1 with Paperclip's fallback to queue_v1 (and our
// gateway) when the channel cannot be opened or its READY check fails.
func newSandboxBridge(ctx context.Context, cfg *config.Config, h *proxy.Handler, b *budget.Budget, reg prometheus.Registerer,
	getenv func(string) string, log *slog.Logger) (transport, error) {
	if cfg.Queue.BridgeMode != config.BridgeHTTP2V1 {
		return newQueue(ctx, cfg, h, b, reg, getenv, log)
	}
	t, err := newH2(ctx, cfg, h, reg, getenv, log)
	if err == nil {
		return t, nil
	}
	if ctx.Err() != nil {
		return nil, errStoppedBeforeReady
	}
	log.Warn("http2_v1 unavailable; falling back to queue_v1", "reason", h2bridge.Reason(err), "error", err)
	fallback := *cfg
	fallback.Queue.StartGateway = true // the agent needs a URL either way
	return newQueue(ctx, &fallback, h, b, reg, getenv, log)
}

// newH2 copies our binary to the execution host when its sha256 differs,
// starts its gateway there through the runner, and returns once the first
// session is bound; Run serves it and re-opens lost sessions.
func newH2(ctx context.Context, cfg *config.Config, h *proxy.Handler, reg prometheus.Registerer,
	getenv func(string) string, log *slog.Logger) (*h2Transport, error) {
	rn, closeRunner, err := newRunner(cfg, reg, getenv, log)
	if err != nil {
		return nil, err
	}
	bin := cfg.Queue.GatewayBinary
	if bin == "" {
		if bin, err = os.Executable(); err != nil {
			closeRunner()
			return nil, fmt.Errorf("cannot find this binary to copy: %w", err)
		}
	}
	remote := gateway.DefaultRemoteBinary(cfg.Queue.Dir)
	uploaded, err := gateway.SyncBinaryWith(ctx, rn, bin, remote, gateway.SyncOptions{Timeout: gateway.DefaultOpTimeout,
		UploadTimeout: cfg.Queue.GatewayUploadTimeout, Logger: log.With("component", "gateway_upload")})
	if err != nil {
		closeRunner()
		return nil, err
	}
	log.Info("gateway binary ready", "component", "h2_host", "path", remote, "uploaded", uploaded)
	host, err := h2bridge.Open(ctx, h2bridge.Options{
		Runner:       rn,
		Server:       h.NewServer(log.With("component", "http")),
		Env:          map[string]string{"CB_BIN": remote},
		BridgeToken:  cfg.BridgeToken.Reveal(),
		MaxBodyBytes: cfg.MaxBodyBytes,
		DrainTimeout: cfg.DrainTimeout,
		Logger:       log, // h2bridge names its component
		Registerer:   reg,
	})
	if err != nil {
		closeRunner()
		return nil, err
	}
	return &h2Transport{h: host, closeRunner: closeRunner,
		e: agentEnv{URL: host.URL(), Key: cfg.BridgeToken.Reveal(), Mode: config.BridgeHTTP2V1}}, nil
}

func (t *h2Transport) Ready() <-chan struct{} { return closedChan } // Open returned with a session bound
func (t *h2Transport) Env() agentEnv          { return t.e }
func (t *h2Transport) Up() bool               { return t.h.Up() }

// Run implements transport: it serves the session, re-opening lost ones,
// until ctx ends, then drains.
func (t *h2Transport) Run(ctx context.Context) error {
	defer t.closeRunner()
	err := t.h.Run(ctx)
	if errors.Is(err, h2bridge.ErrDrainTimeout) {
		return errDrainTimeout
	}
	return err
}
