package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/clipbridge/clipbridge/config"
	"github.com/clipbridge/clipbridge/internal/harden"
	"github.com/clipbridge/clipbridge/logging"
	"github.com/clipbridge/clipbridge/metrics"
	"github.com/clipbridge/clipbridge/proxy"
	"github.com/clipbridge/clipbridge/proxy/budget"
	"golang.org/x/sync/errgroup"
)

// exitStatus carries the exit status of the command run with "-- cmd".
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("command exited with status %d", int(e)) }

// runServe runs the sidecar until ctx ends (a signal), then drains.
func runServe(ctx context.Context, cfg *config.Config, b Build, getenv func(string) string, stdout, stderr io.Writer) int {
	log := logging.New(cfg.LogFormat, cfg.LogLevel, stderr)
	// Libraries that write through the standard log package (net/http's
	// Transport notes an unsolicited response that way) land in the same
	// stream, in the same format.
	slog.SetDefault(log.With("component", "stdlib"))
	if err := harden.NoDump(); err != nil {
		log.Warn("could not mark the process undumpable; same-user processes can read its environment", "error", err)
	}
	return exitCode(serve(ctx, cfg, b, getenv, log, stdout, stderr, nil), cfg, stdout, stderr)
}

// exitCode reports how serve ended and picks the exit status: the agent
// command's own, 0 after a clean stop, and for a failure the error line
// (on stdout too, before the ready line) and 1 or 2.
func exitCode(err error, cfg *config.Config, stdout, stderr io.Writer) int {
	var status exitStatus
	var early *startupError
	switch {
	case errors.As(err, &status):
		return int(status)
	case errors.Is(err, errStoppedBeforeReady):
		return exitOK
	case errors.As(err, &early):
		return reportStartup(stdout, stderr, cfg.LogFormat, err)
	case err != nil:
		return reportFatal(stderr, cfg.LogFormat, "", err)
	}
	return exitOK
}

// serve wires the pieces together and runs them as one: the callback
// handler, the transport the settings select, the admin listener, the
// token-file watcher, and the agent command. Each is built first (so a
// bad setting fails before anything runs), then each long-running part
// runs in one errgroup: the first to fail ends the run with its error,
// and every part drains. onReady, if set, is called with the agent env
// once the ready line is out (demo prints its human block).
func serve(ctx context.Context, cfg *config.Config, b Build, getenv func(string) string, log *slog.Logger,
	stdout, stderr io.Writer, onReady func(agentEnv, string)) error {
	started := time.Now()
	// Every warning or error is also kept, the last one, for /status.
	tap := newErrorTap(log.Handler())
	log = slog.New(tap)
	reg := metrics.NewRegistry(b.Version, b.commitOrVCS())
	rules, err := loadRules(cfg.RoutesFile)
	if err != nil {
		return failedAs(codeConfig, err)
	}
	// In command mode a signal goes to the command, and the tunnel stays
	// up until the command has ended; so the run does not end with ctx.
	runCtx := ctx
	if len(cfg.Command) > 0 {
		runCtx = context.WithoutCancel(ctx)
	}
	runCtx, abort := context.WithCancelCause(runCtx)
	defer abort(nil)

	var tf *config.TokenFile
	runToken := cfg.RunToken.Reveal
	if cfg.RunTokenFile != "" {
		tf = config.NewTokenFile(cfg.RunTokenFile, cfg.RunToken, config.PollInterval, log.With("component", "run_token"))
		runToken = tf.Token
	}
	// One body budget for the whole process: the handler's held responses
	// and the queue worker's envelopes draw on it alike.
	bodyBudget := budget.New(cfg.BodyBudgetBytes)
	if cfg.BodyBudgetBytes == 0 {
		bodyBudget = budget.New(budget.DefaultSize(cfg.MaxBodyBytes))
	}
	handler, err := proxy.New(proxy.Options{
		Upstream:        cfg.Upstream,
		RunToken:        runToken,
		RunID:           cfg.RunID,
		BridgeToken:     cfg.BridgeToken.Reveal(),
		Rules:           rules,
		MaxBodyBytes:    cfg.MaxBodyBytes,
		Budget:          bodyBudget,
		UpstreamTimeout: cfg.UpstreamTimeout,
		MaxInFlight:     cfg.MaxInFlight,
		Version:         b.Version,
		Logger:          log,
		Registerer:      reg,
	})
	if err != nil {
		return failedAs(codeInternal, err)
	}
	defer handler.CloseIdle()

	// Listen first, then serve: a bind error surfaces here.
	adminLn, err := net.Listen("tcp", cfg.AdminListen)
	if err != nil {
		return failedAs(codeListen, fmt.Errorf("--admin-listen %s: %w", cfg.AdminListen, err))
	}
	var tr transport
	switch cfg.Mode() {
	case config.ModeSSH:
		tr, err = newSSH(cfg, handler, reg, getenv, log)
	case config.ModeQueue:
		tr, err = newSandboxBridge(runCtx, cfg, handler, bodyBudget, reg, getenv, log)
	default:
		tr, err = newLocal(cfg, handler, log)
	}
	if err != nil {
		adminLn.Close()
		return failedAs(startupCode(err), err)
	}
	ready := &readiness{checks: []func() bool{tr.Up}}
	status := &statusSource{mode: string(cfg.Mode()), version: b.Version, commit: b.commitOrVCS(),
		upstream: cfg.Upstream.Redacted(), started: started, ready: ready, tr: tr, reg: reg, errs: tap}
	if tf != nil {
		status.tokenPath, status.tokenSince = cfg.RunTokenFile, tf.Since
	}

	g, gctx := errgroup.WithContext(runCtx)
	// Readiness goes false the moment the run starts to end.
	context.AfterFunc(gctx, func() { ready.serving.Store(false) })
	if tf != nil {
		g.Go(func() error { return tf.Run(gctx) })
	}
	drained := make(chan struct{})
	g.Go(func() error { defer close(drained); return tr.Run(gctx) })
	// The admin listener outlives the drain, so /metrics and /readyz
	// answer until the transport has stopped.
	g.Go(func() error { return runAdmin(adminServer(reg, ready, status), adminLn, drained) })

	select {
	case <-tr.Ready():
	case <-gctx.Done():
		if err := g.Wait(); err != nil {
			return failedAs(startupCode(err), err)
		}
		return errStoppedBeforeReady
	}
	env := tr.Env()
	adminURL := httpURL(adminLn.Addr())
	if cfg.EnvFile != "" {
		if err := writeEnvFile(cfg.EnvFile, env); err != nil {
			abort(err)
			_ = g.Wait()
			return failedAs(codeEnvFile, err)
		}
	}
	ready.serving.Store(gctx.Err() == nil)
	if err := writeReadyLine(stdout, env, adminURL); err != nil {
		log.Warn("ready line not written", "error", err)
	}
	log.Info("serving", "mode", string(cfg.Mode()), "bridge_mode", env.Mode, "agent_url", env.URL, "admin", adminLn.Addr().String(),
		"upstream", cfg.Upstream.Redacted(), "routes", len(rules))
	if onReady != nil {
		onReady(env, adminURL)
	}
	if len(cfg.Command) > 0 {
		// Its exit status ends the run, whatever it is (exitStatus is an error).
		g.Go(func() error { return runCommand(gctx, cfg, tr.(*sshTransport), stdout, stderr, log) })
	}
	context.AfterFunc(gctx, func() { log.Info("draining", "timeout", cfg.DrainTimeout.String()) })
	err = g.Wait()
	if err == nil || errors.As(err, new(exitStatus)) {
		log.Info("drained")
	}
	return err
}

// runAdmin serves /metrics, /healthz and /readyz until the transport has
// drained. Its failure ends the run like any other part's.
func runAdmin(srv *http.Server, ln net.Listener, until <-chan struct{}) error {
	served := make(chan error, 1)
	go func() { served <- serveUntilClosed(srv, ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("admin listener: %w", cmp.Or(err, errors.New("stopped serving")))
	case <-until:
	}
	_ = srv.Close() // scrapes and probes are short: nothing to drain
	<-served
	return nil
}

// runCommand runs "-- cmd args" on the execution host over the tunnel,
// relaying SIGINT/SIGTERM to it, and returns its exit status.
func runCommand(ctx context.Context, cfg *config.Config, st *sshTransport, stdout, stderr io.Writer, log *slog.Logger) error {
	sigs := make(chan os.Signal, 4)
	notifySignals(sigs)
	defer stopSignals(sigs)
	log.Info("command starting", "argv0", cfg.Command[0])
	code, err := st.t.RunCommand(ctx, commandFor(cfg, sigs, stdout, stderr))
	if err != nil {
		log.Error("command failed", "error", err, "status", code)
	} else {
		log.Info("command exited", "status", code)
	}
	return exitStatus(code)
}

// loadRules reads the --routes file, or returns the built-in allowlist.
func loadRules(path string) ([]proxy.Rule, error) {
	if path == "" {
		return proxy.DefaultRules(), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, config.Usagef("--routes %q: %v", path, err)
	}
	defer f.Close()
	rules, err := proxy.ParseRoutes(f)
	if err != nil {
		return nil, config.Usagef("--routes %q:\n%w", path, err)
	}
	return rules, nil
}
