package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/clipbridge/clipbridge/config"
	"github.com/clipbridge/clipbridge/metrics"
	"github.com/clipbridge/clipbridge/proxy"
)

// errDrainTimeout reports in-flight requests still running when
// --drain-timeout ran out: exit status 1.
var errDrainTimeout = errors.New("drain timed out with requests still in flight")

// runServe runs the sidecar until ctx ends (a signal), then drains.
func runServe(ctx context.Context, cfg *config.Config, _ func(string) string, stdout, stderr io.Writer) int {
	log, closeLog := newLogger(cfg.LogFormat, cfg.LogLevel, stderr)
	defer closeLog()
	if err := serve(ctx, cfg, log, stdout, nil); err != nil {
		return reportError(stderr, err)
	}
	return exitOK
}

// serve wires the pieces together. onReady, if set, is called with the
// agent env once the ready line is out (demo prints its human block).
func serve(ctx context.Context, cfg *config.Config, log *slog.Logger, stdout io.Writer, onReady func(agentEnv, string)) error {
	reg := metrics.NewRegistry(version, buildCommit())
	rules, err := loadRules(cfg.RoutesFile)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)

	runToken := cfg.RunToken.Reveal
	if cfg.RunTokenFile != "" {
		tf := config.NewTokenFile(cfg.RunTokenFile, cfg.RunToken, config.PollInterval, log.With("component", "run_token"))
		runToken = tf.Token
		g.Go(func() error { return tf.Run(gctx) })
	}
	handler, err := proxy.New(proxy.Options{
		Upstream:        cfg.Upstream,
		RunToken:        runToken,
		RunID:           cfg.RunID,
		BridgeToken:     cfg.BridgeToken.Reveal(),
		Rules:           rules,
		MaxBodyBytes:    cfg.MaxBodyBytes,
		BodyBudgetBytes: cfg.BodyBudgetBytes,
		UpstreamTimeout: cfg.UpstreamTimeout,
		MaxInFlight:     cfg.MaxInFlight,
		Version:         version,
		Logger:          log,
		Registerer:      reg,
	})
	if err != nil {
		return err
	}

	// Listen first, then serve: a bind error surfaces here, before any
	// ready line, and port 0 is resolved for the ready line.
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", cfg.Listen, err)
	}
	adminLn, err := net.Listen("tcp", cfg.AdminListen)
	if err != nil {
		ln.Close()
		return fmt.Errorf("--admin-listen %s: %w", cfg.AdminListen, err)
	}
	ready := &readiness{}
	api := callbackServer(handler, cfg, log)
	admin := adminServer(reg, ready)
	g.Go(func() error { return serveUntilClosed(api, ln) })
	g.Go(func() error { return serveUntilClosed(admin, adminLn) })

	env := agentEnv{URL: httpURL(ln.Addr()), Key: cfg.BridgeToken.Reveal(), Mode: "queue_v1"}
	adminURL := httpURL(adminLn.Addr())
	if cfg.EnvFile != "" {
		if err := writeEnvFile(cfg.EnvFile, env); err != nil {
			api.Close()
			admin.Close()
			return err
		}
	}
	ready.serving.Store(true)
	if err := writeReadyLine(stdout, env, adminURL); err != nil {
		log.Warn("ready line not written", "error", err)
	}
	log.Info("serving", "listen", ln.Addr().String(), "admin", adminLn.Addr().String(),
		"upstream", cfg.Upstream.Redacted(), "routes", len(rules))
	if onReady != nil {
		onReady(env, adminURL)
	}

	g.Go(func() error {
		<-gctx.Done()
		return shutdown(api, admin, ready, cfg.DrainTimeout, log)
	})
	return g.Wait()
}

// shutdown stops taking connections at once and turns /readyz to 503,
// then lets in-flight requests finish within the drain timeout.
func shutdown(api, admin *http.Server, ready *readiness, drain time.Duration, log *slog.Logger) error {
	ready.serving.Store(false)
	log.Info("draining", "timeout", drain.String())
	ctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	err := api.Shutdown(ctx)
	admin.Close()
	if err != nil {
		api.Close()
		log.Error("drain timed out; closing the remaining connections")
		return errDrainTimeout
	}
	log.Info("drained")
	return nil
}

func serveUntilClosed(s *http.Server, ln net.Listener) error {
	if err := s.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// callbackServer is the http.Server of the callback API.
func callbackServer(h http.Handler, cfg *config.Config, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler: h,
		// Slow or never-finished request heads (slowloris) are cut off.
		ReadHeaderTimeout: 10 * time.Second,
		// No whole-request ReadTimeout: a large upload may legitimately
		// take long. The handler instead sets a read deadline per body
		// chunk (stall = --upstream-timeout), which bounds a trickled body.
		ReadTimeout: 0,
		// A backstop from the start of each request; the handler extends
		// it per chunk while a response streams, and resets it once
		// upstream has answered.
		WriteTimeout: cfg.UpstreamTimeout + 30*time.Second,
		// Agents keep connections alive between calls; an idle one is
		// closed after this.
		IdleTimeout: 120 * time.Second,
		// "OPTIONS *" must reach the handler, which refuses it (400) like
		// every other non-origin-form target.
		DisableGeneralOptionsHandler: true,
		MaxHeaderBytes:               64 << 10,
		ErrorLog:                     slog.NewLogLogger(log.With("component", "http").Handler(), slog.LevelWarn),
	}
}

// loadRules reads the --routes file, or returns the built-in allowlist.
func loadRules(path string) ([]proxy.Rule, error) {
	if path == "" {
		return proxy.DefaultRules(), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: --routes %q: %v", config.ErrUsage, path, err)
	}
	defer f.Close()
	rules, err := proxy.ParseRoutes(f)
	if err != nil {
		return nil, fmt.Errorf("%w: --routes %q:\n%w", config.ErrUsage, path, err)
	}
	return rules, nil
}
