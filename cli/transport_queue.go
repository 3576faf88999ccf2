package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clipbridge/clipbridge/config"
	"github.com/clipbridge/clipbridge/proxy"
	"github.com/clipbridge/clipbridge/proxy/budget"
	"github.com/clipbridge/clipbridge/runner"
	"github.com/clipbridge/clipbridge/tunnel/queue/gateway"
	"github.com/clipbridge/clipbridge/tunnel/queue/worker"
)

// queueTransport serves Paperclip's queue_v1 file channel on the
// execution host through a runner, and optionally runs our gateway there.
// It opens no local callback listener.
type queueTransport struct {
	e    agentEnv
	w    *worker.Worker
	done chan error
}

func startQueue(ctx context.Context, cfg *config.Config, h *proxy.Handler, b *budget.Budget, reg prometheus.Registerer,
	getenv func(string) string, log *slog.Logger) (*queueTransport, error) {
	rn, closeRunner, err := newRunner(cfg, reg, getenv, log)
	if err != nil {
		return nil, err
	}
	qt := &queueTransport{done: make(chan error, 1), e: agentEnv{Mode: "queue_v1", QueueDir: cfg.Queue.Dir}}

	var gw *gateway.Launched
	if cfg.Queue.StartGateway {
		bin := cfg.Queue.GatewayBinary
		if bin == "" {
			if bin, err = os.Executable(); err != nil {
				closeRunner()
				return nil, fmt.Errorf("--start-gateway: cannot find this binary to copy: %w", err)
			}
		}
		gw, err = gateway.Launch(ctx, gateway.LaunchOptions{
			Runner:       rn,
			Binary:       bin,
			QueueDir:     cfg.Queue.Dir,
			BridgeToken:  cfg.BridgeToken.Reveal(),
			MaxBodyBytes: cfg.MaxBodyBytes,
			Logger:       log, // the gateway package names its components
		})
		if err != nil {
			closeRunner()
			return nil, config.Usagef("--start-gateway: %v", err)
		}
		ae := gw.AgentEnv()
		qt.e.URL, qt.e.Key = ae["PAPERCLIP_API_URL"], ae["PAPERCLIP_API_KEY"]
	}

	wo := worker.Options{
		Dir:          cfg.Queue.Dir,
		Runner:       rn,
		Handler:      h.Trusted(),
		MaxBodyBytes: cfg.MaxBodyBytes,
		Budget:       b,
		DrainTimeout: cfg.DrainTimeout,
		Logger:       log,
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
	w, err := worker.New(wo)
	qt.w = w
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
	runDone := make(chan struct{})
	go func() {
		defer close(runDone)
		err := w.Run(ctx)
		if gerr := <-gwDone; err == nil {
			err = gerr
		}
		closeRunner()
		qt.done <- err
	}()
	// The ready line means serving: wait until the worker has prepared the
	// queue and listed it once (bounded: a slow runner still gets its
	// ready line, and /readyz tells the rest).
	deadline := time.NewTimer(queueReadyWait)
	defer deadline.Stop()
	select {
	case <-w.Ready():
		return qt, nil
	case <-runDone:
		// The worker ended before it could list the queue once.
		if err := <-qt.done; err != nil {
			return nil, config.Usagef("--queue-dir %s: %v", cfg.Queue.Dir, err)
		}
		return nil, errStoppedBeforeReady
	case <-deadline.C:
		log.Warn("queue not listed yet; reporting ready anyway (see /readyz)", "waited", queueReadyWait.String())
		return qt, nil
	}
}

// queueReadyWait bounds how long the ready line waits for the first
// successful listing of the queue.
const queueReadyWait = 10 * time.Second

func (q *queueTransport) env() agentEnv { return q.e }
func (q *queueTransport) up() bool      { return q.w.Healthy() }
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
		r, err := runner.NewExec(runner.ExecOptions{Prefix: prefix, PassEnv: cfg.Queue.RunnerExecEnv, Logger: rlog, Registerer: reg})
		if err != nil {
			return nil, nil, config.Usage(err)
		}
		return r, func() {}, nil
	}
	return runner.NewLocal(runner.LocalOptions{Logger: rlog, Registerer: reg}), func() {}, nil
}
