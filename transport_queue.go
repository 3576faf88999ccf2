package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clipbridge/clipbridge/config"
	"github.com/clipbridge/clipbridge/proxy"
	"github.com/clipbridge/clipbridge/runner"
	"github.com/clipbridge/clipbridge/tunnel/queue"
)

// queueTransport serves Paperclip's queue_v1 file channel on the
// execution host through a runner, and optionally runs our gateway there.
// It opens no local callback listener.
type queueTransport struct {
	e    agentEnv
	done chan error
}

func startQueue(ctx context.Context, cfg *config.Config, h *proxy.Handler, reg prometheus.Registerer,
	getenv func(string) string, log *slog.Logger) (*queueTransport, error) {
	rn, closeRunner, err := newRunner(cfg, reg, getenv, log)
	if err != nil {
		return nil, err
	}
	qt := &queueTransport{done: make(chan error, 1), e: agentEnv{Mode: "queue_v1", QueueDir: cfg.Queue.Dir}}

	var gw *queue.LaunchedGateway
	if cfg.Queue.StartGateway {
		bin := cfg.Queue.GatewayBinary
		if bin == "" {
			if bin, err = os.Executable(); err != nil {
				closeRunner()
				return nil, fmt.Errorf("--start-gateway: cannot find this binary to copy: %w", err)
			}
		}
		gw, err = queue.StartGateway(ctx, queue.LaunchOptions{
			Runner:       rn,
			Binary:       bin,
			QueueDir:     cfg.Queue.Dir,
			BridgeToken:  cfg.BridgeToken.Reveal(),
			MaxBodyBytes: cfg.MaxBodyBytes,
			Logger:       log.With("component", "gateway_launcher"),
		})
		if err != nil {
			closeRunner()
			return nil, config.Usagef("--start-gateway: %v", err)
		}
		ae := gw.AgentEnv()
		qt.e.URL, qt.e.Key = ae["PAPERCLIP_API_URL"], ae["PAPERCLIP_API_KEY"]
	}

	wo := queue.WorkerOptions{
		Dir:          cfg.Queue.Dir,
		Runner:       rn,
		Handler:      h.Trusted(),
		MaxBodyBytes: cfg.MaxBodyBytes,
		DrainTimeout: cfg.DrainTimeout,
		Logger:       log.With("component", "queue"),
		Registerer:   reg,
	}
	// A worker that knows the bridge token requires our gateway's envelope
	// MAC, closing Paperclip's gap where anything able to write requests/
	// skips the token. A generated token nobody else has seen cannot be in
	// a Paperclip gateway, so then plain envelopes are accepted, unless we
	// started the gateway ourselves.
	if !cfg.BridgeGenerated || gw != nil {
		wo.BridgeToken = []byte(cfg.BridgeToken.Reveal())
	}
	if gw != nil {
		wo.AgentBinary = gw.RemoteBinary()
	}
	w, err := queue.NewWorker(wo)
	if err != nil {
		if gw != nil {
			gw.Stop()
		}
		closeRunner()
		return nil, config.Usage(err)
	}
	gwDone := make(chan error, 1)
	if gw != nil {
		go func() { gwDone <- gw.Run(ctx) }()
	} else {
		gwDone <- nil
	}
	go func() {
		err := w.Run(ctx)
		if gerr := <-gwDone; err == nil {
			err = gerr
		}
		closeRunner()
		qt.done <- err
	}()
	return qt, nil
}

func (q *queueTransport) env() agentEnv { return q.e }
func (q *queueTransport) up() bool      { return true }
func (q *queueTransport) wait() error   { return <-q.done }

// newRunner builds the runner the settings name.
func newRunner(cfg *config.Config, reg prometheus.Registerer, getenv func(string) string, log *slog.Logger) (runner.Runner, func(), error) {
	rlog := log.With("component", "runner")
	switch cfg.Queue.Runner {
	case "ssh":
		r, err := runner.NewSSH(runner.SSHOptions{Conn: sshOptions(cfg, getenv, log), Logger: rlog, Registerer: reg})
		if err != nil {
			return nil, nil, config.Usage(err)
		}
		return r, func() { _ = r.Close() }, nil
	case "exec":
		prefix, err := runner.ParsePrefix(cfg.Queue.RunnerExec)
		if err != nil {
			return nil, nil, config.Usagef("--runner-exec/CLIPBRIDGE_RUNNER_EXEC %q: %v", cfg.Queue.RunnerExec, err)
		}
		r, err := runner.NewExec(runner.ExecOptions{Prefix: prefix, Logger: rlog, Registerer: reg})
		if err != nil {
			return nil, nil, config.Usage(err)
		}
		return r, func() {}, nil
	}
	return runner.NewLocal(runner.LocalOptions{Logger: rlog, Registerer: reg}), func() {}, nil
}
