package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"

	"github.com/clipbridge/clipbridge/config"
	"github.com/clipbridge/clipbridge/internal/harden"
	"github.com/clipbridge/clipbridge/logging"
	"github.com/clipbridge/clipbridge/metrics"
	"github.com/clipbridge/clipbridge/proxy"
	"github.com/clipbridge/clipbridge/proxy/budget"
)

// errDrainTimeout reports in-flight requests still running when
// --drain-timeout ran out: exit status 1.
var errDrainTimeout = errors.New("drain timed out with requests still in flight")

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
	err := serve(ctx, cfg, b, getenv, log, stdout, stderr, nil)
	var status exitStatus
	switch {
	case errors.As(err, &status):
		return int(status)
	case errors.Is(err, errStoppedBeforeReady):
		return exitOK
	case err != nil:
		return reportError(stderr, err)
	}
	return exitOK
}

// serve wires the pieces together: one callback handler, the transport
// the settings select, and the admin listener. onReady, if set, is called
// with the agent env once the ready line is out (demo prints its human
// block).
func serve(ctx context.Context, cfg *config.Config, b Build, getenv func(string) string, log *slog.Logger,
	stdout, stderr io.Writer, onReady func(agentEnv, string)) error {
	reg := metrics.NewRegistry(b.Version, b.commitOrVCS())
	rules, err := loadRules(cfg.RoutesFile)
	if err != nil {
		return err
	}
	// The transport and the token watcher live on their own context: in
	// command mode a signal goes to the command, and the tunnel stays up
	// until the command has ended.
	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRun()
	if len(cfg.Command) == 0 {
		stop := context.AfterFunc(ctx, stopRun)
		defer stop()
	}

	runToken := cfg.RunToken.Reveal
	if cfg.RunTokenFile != "" {
		tf := config.NewTokenFile(cfg.RunTokenFile, cfg.RunToken, config.PollInterval, log.With("component", "run_token"))
		runToken = tf.Token
		tokenDone := make(chan struct{})
		go func() { _ = tf.Run(runCtx); close(tokenDone) }()
		defer func() { stopRun(); <-tokenDone }()
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
		return err
	}
	defer handler.CloseIdle()

	adminLn, err := net.Listen("tcp", cfg.AdminListen)
	if err != nil {
		return fmt.Errorf("--admin-listen %s: %w", cfg.AdminListen, err)
	}
	ready := &readiness{}
	admin := adminServer(reg, ready)
	adminDone := make(chan error, 1)
	go func() { adminDone <- serveUntilClosed(admin, adminLn) }()
	defer func() { admin.Close(); <-adminDone }()

	var tr transport
	switch cfg.Mode() {
	case config.ModeSSH:
		tr, err = startSSH(runCtx, cfg, handler, reg, getenv, log)
	case config.ModeQueue:
		tr, err = startSandboxBridge(runCtx, cfg, handler, bodyBudget, reg, getenv, log)
	default:
		tr, err = startLocal(runCtx, cfg, handler, log)
	}
	if err != nil {
		return err
	}
	ready.checks = append(ready.checks, tr.up)
	env := tr.env()
	adminURL := httpURL(adminLn.Addr())
	if cfg.EnvFile != "" {
		if err := writeEnvFile(cfg.EnvFile, env); err != nil {
			stopRun()
			_ = tr.wait()
			return err
		}
	}
	ready.serving.Store(true)
	if err := writeReadyLine(stdout, env, adminURL); err != nil {
		log.Warn("ready line not written", "error", err)
	}
	log.Info("serving", "mode", string(cfg.Mode()), "bridge_mode", env.Mode, "agent_url", env.URL, "admin", adminLn.Addr().String(),
		"upstream", cfg.Upstream.Redacted(), "routes", len(rules))
	if onReady != nil {
		onReady(env, adminURL)
	}

	var cmdErr error
	if len(cfg.Command) > 0 {
		cmdErr = runCommand(runCtx, cfg, tr.(*sshTransport), stdout, stderr, log)
		stopRun()
	}
	<-runCtx.Done()
	ready.serving.Store(false)
	log.Info("draining", "timeout", cfg.DrainTimeout.String())
	err = tr.wait()
	if err == nil {
		log.Info("drained")
	}
	if cmdErr != nil {
		return cmdErr
	}
	return err
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
