package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

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
	e           agentEnv
	w           *worker.Worker
	gw          *gateway.Launched // nil without --start-gateway
	closeRunner func()
	// watchRunner, for the relay runner, returns an error once the parent
	// process is gone: nothing can reach the execution host then.
	watchRunner func(context.Context) error
	ready       chan struct{}
	log         *slog.Logger
}

// newQueue reaches the execution host, launches the gateway there if
// asked to (copying this binary), and builds the worker; Run serves.
func newQueue(ctx context.Context, cfg *config.Config, h *proxy.Handler, b *budget.Budget, reg prometheus.Registerer,
	getenv func(string) string, log *slog.Logger) (*queueTransport, error) {
	rn, closeRunner, err := newRunner(cfg, reg, getenv, log)
	if err != nil {
		return nil, failedAs(codeQueue, err)
	}
	qt := &queueTransport{e: agentEnv{Mode: "queue_v1", QueueDir: cfg.Queue.Dir}, closeRunner: closeRunner,
		ready: make(chan struct{}), log: log}
	if rl, ok := rn.(*runner.Relay); ok {
		qt.watchRunner = rl.Watch
	}
	if cfg.Queue.StartGateway {
		bin := cfg.Queue.GatewayBinary
		if bin == "" {
			if bin, err = os.Executable(); err != nil {
				closeRunner()
				return nil, failedAs(codeGateway, fmt.Errorf("--start-gateway: cannot find this binary to copy: %w", err))
			}
		}
		qt.gw, err = gateway.Launch(ctx, gateway.LaunchOptions{
			Runner:        rn,
			Binary:        bin,
			QueueDir:      cfg.Queue.Dir,
			BridgeToken:   cfg.BridgeToken.Reveal(),
			MaxBodyBytes:  cfg.MaxBodyBytes,
			UploadTimeout: cfg.Queue.GatewayUploadTimeout,
			Lease:         max(2*time.Minute, 4*cfg.Queue.OneShotPoll), // detached gateways only
			Logger:        log,                                         // the gateway package names its components
		})
		if err != nil {
			closeRunner()
			return nil, failedAs(codeGateway, config.Usagef("--start-gateway: %v", err))
		}
		ae := qt.gw.AgentEnv()
		qt.e.URL, qt.e.Key = ae["PAPERCLIP_API_URL"], ae["PAPERCLIP_API_KEY"]
	}

	wo := worker.Options{
		Dir:          cfg.Queue.Dir,
		Runner:       rn,
		Handler:      h.Trusted(),
		MaxBodyBytes: cfg.MaxBodyBytes,
		Budget:       b,
		DrainTimeout: cfg.DrainTimeout,
		OneShotPoll:  cfg.Queue.OneShotPoll,
		Logger:       log,
		Registerer:   reg,
	}
	// A worker that knows the bridge token requires our gateway's envelope
	// MAC, closing Paperclip's gap where anything able to write requests/
	// skips the token. A generated token nobody else has seen cannot be in
	// a Paperclip gateway, so then plain envelopes are accepted, unless we
	// started the gateway ourselves.
	if !cfg.BridgeGenerated || qt.gw != nil {
		wo.BridgeToken = []byte(cfg.BridgeToken.Reveal())
	}
	if qt.gw != nil {
		wo.AgentBinary = qt.gw.RemoteBinary()
	}
	if qt.w, err = worker.New(wo); err != nil {
		if qt.gw != nil {
			qt.gw.Stop()
		}
		closeRunner()
		return nil, failedAs(codeQueue, config.Usage(err))
	}
	return qt, nil
}

// queueReadyWait bounds how long the ready line waits for the first
// successful listing of the queue.
const queueReadyWait = 10 * time.Second

func (q *queueTransport) Ready() <-chan struct{} { return q.ready }
func (q *queueTransport) Env() agentEnv          { return q.e }
func (q *queueTransport) Up() bool               { return q.w.Healthy() }

// Run implements transport: the worker (which drains at ctx's end) and
// the gateway it serves, together; the runner closes after both.
func (q *queueTransport) Run(ctx context.Context) error {
	defer q.closeRunner()
	g, gctx := errgroup.WithContext(ctx)
	// The worker stops with ctx (then drains), or when the relay's parent
	// is gone: no command can reach the execution host after that.
	workerCtx, stopWorker := context.WithCancel(ctx)
	defer stopWorker()
	workerDone := make(chan struct{})
	g.Go(func() error {
		defer close(workerDone)
		if err := q.w.Run(workerCtx); err != nil {
			return failedAs(codeQueue, config.Usagef("--queue-dir %s: %v", q.e.QueueDir, err))
		}
		return nil
	})
	if q.gw != nil {
		g.Go(func() error { return q.gw.Run(gctx) })
	}
	if q.watchRunner != nil {
		g.Go(func() error {
			if err := q.watchRunner(gctx); err != nil {
				q.log.Error("relay parent gone; stopping", "error", err)
				stopWorker()
				return failedAs(codeQueue, err)
			}
			return nil
		})
	}
	g.Go(func() error { q.signalReady(workerDone); return nil })
	return g.Wait()
}

// signalReady closes Ready once the worker has prepared the queue and
// listed it once, or after queueReadyWait (a slow runner still gets its
// ready line, and /readyz tells the rest), or never if the worker ends
// first.
func (q *queueTransport) signalReady(workerDone <-chan struct{}) {
	deadline := time.NewTimer(queueReadyWait)
	defer deadline.Stop()
	select {
	case <-q.w.Ready():
	case <-workerDone:
		return
	case <-deadline.C:
		q.log.Warn("queue not listed yet; reporting ready anyway (see /readyz)", "waited", queueReadyWait.String())
	}
	close(q.ready)
}

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
		r, err := runner.NewExec(runner.ExecOptions{Prefix: prefix, PassEnv: cfg.Queue.RunnerExecEnv, OneShot: cfg.Queue.RunnerExecOneShot,
			Logger: rlog, Registerer: reg})
		if err != nil {
			return nil, nil, config.Usage(err)
		}
		return r, func() {}, nil
	case "relay":
		conn, err := runner.OpenRelayFD(cfg.Queue.RelayFD)
		if err != nil {
			return nil, nil, config.Usagef("--runner relay: %v", err)
		}
		r, err := runner.NewRelay(runner.RelayOptions{Conn: conn, Logger: rlog, Registerer: reg})
		if err != nil {
			_ = conn.Close()
			return nil, nil, err
		}
		return r, func() { _ = r.Close() }, nil
	}
	return runner.NewLocal(runner.LocalOptions{Logger: rlog, Registerer: reg}), func() {}, nil
}
