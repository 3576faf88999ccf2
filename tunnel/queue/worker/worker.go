package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clipbridge/clipbridge/internal/retry"
	"github.com/clipbridge/clipbridge/proxy/budget"
	"github.com/clipbridge/clipbridge/runner"
	"github.com/clipbridge/clipbridge/tunnel/queue"
	"github.com/clipbridge/clipbridge/tunnel/queue/queuedir"
)

// Worker defaults. Paperclip's E2 values where it has them (reference §6.3).
const (
	// DefaultResponseTimeout is how long a gateway waits for an answer (PAPERCLIP_BRIDGE_RESPONSE_TIMEOUT_MS).
	DefaultResponseTimeout = 30 * time.Second
	// DefaultDrainTimeout is how long a stopping worker keeps handling queued requests.
	DefaultDrainTimeout = 2 * time.Second
	// DefaultAbortGrace is how long a cancelled handler may take to answer before the backstop.
	DefaultAbortGrace = 5 * time.Second
	// DefaultListWait is the longest single idle wait for a request file.
	DefaultListWait = 5 * time.Second
	// DefaultOpTimeout bounds each queue operation on the execution host (E2's control cap).
	DefaultOpTimeout = 30 * time.Second
	// DefaultWatchdogTimeout: no successful listing for this long restarts the store.
	DefaultWatchdogTimeout = 20 * time.Second
	// DefaultMaxConcurrent bounds requests handled at once.
	DefaultMaxConcurrent = 16
)

const (
	sweepEvery = time.Minute
	// readAttempts: a request file that cannot be read this many times is answered with 503.
	readAttempts = 3
)

// failureBackoff paces the retries of a failed queue listing or preparation: 100 ms doubling
// up to 5 s. A listing is cheap and the agent may be waiting, so it starts faster than an SSH
// reconnect.
func failureBackoff() retry.Backoff {
	return retry.Backoff{Initial: 100 * time.Millisecond, Max: 5 * time.Second}
}

// Options configures New. Zero values take the defaults above.
type Options struct {
	// Dir is the queue directory on the execution host (PAPERCLIP_BRIDGE_QUEUE_DIR). Required.
	Dir string
	// Runner reaches the execution host. Nil or a *runner.Local means this machine: the
	// directory is then used directly and watched with fsnotify. A one-shot runner (the relay,
	// an exec prefix that cannot stream) gets the one-shot store: at most one exec per call.
	// Others get a long-lived co-process.
	Runner runner.Runner
	// AgentBinary, for ssh, exec and relay runners, is the path of a clipbridge binary on the
	// execution host (gateway.Launched.RemoteBinary() after gateway.Launch): the co-process then
	// runs as `<bin> queue-agent` (with --once for a one-shot runner; agent.Run: inotify, no
	// forks) instead of a shell script, falling back to the shell whenever the agent cannot
	// start. Empty: always the shell.
	AgentBinary string
	// Handler answers every envelope: the callback API's trusted handler (no bearer check; the
	// envelope MAC or the queue directory authenticates). Required.
	Handler http.Handler
	// BridgeToken, when set, makes the worker require our gateway's envelope MAC: envelopes
	// without a valid one get 401 "Invalid bridge token." and are never forwarded. Leave it empty
	// to serve Paperclip's gateway, which sends plain envelopes. Secret.
	BridgeToken []byte
	// MaxBodyBytes is the body cap; the envelope limit is 6×MaxBodyBytes+64 KiB.
	MaxBodyBytes int64
	// Budget is the process-wide ceiling on body bytes held in memory, shared with the callback
	// handler. Nil means a budget of the worker's own, of budget.DefaultSize(MaxBodyBytes).
	Budget *budget.Budget
	// ResponseTimeout is the gateways' wait. A request older than this plus 2 s is removed
	// unanswered (its caller has given up: forwarding it would apply a mutation the agent was
	// told failed), and it bounds each handler call.
	ResponseTimeout time.Duration
	// DrainTimeout is how long Run keeps handling queued requests after ctx is cancelled;
	// requests still unstarted then get the retryable 503.
	DrainTimeout time.Duration
	// AbortGrace is how long a handler cancelled at the drain deadline may take to answer
	// before a mutation gets the 409 indeterminate backstop.
	AbortGrace time.Duration
	// ListWait is the longest single wait for new request files while idle.
	ListWait time.Duration
	// OpTimeout bounds each operation on the execution host.
	OpTimeout time.Duration
	// WatchdogTimeout restarts the store when no listing has succeeded for this long.
	WatchdogTimeout time.Duration
	// MaxConcurrent bounds requests handled at once.
	MaxConcurrent int
	// OneShotPoll, for a one-shot runner (runner.IsOneShot), is how long each exec waits for
	// the next request: the idle cost is one exec per OneShotPoll. Zero: DefaultOneShotPoll.
	OneShotPoll time.Duration
	// Logger is required; Registerer may be nil (no metrics exported).
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

func (o *Options) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = queue.DefaultMaxBodyBytes
	}
	if o.Budget == nil {
		o.Budget = budget.New(budget.DefaultSize(o.MaxBodyBytes))
	}
	def(&o.ResponseTimeout, DefaultResponseTimeout)
	def(&o.DrainTimeout, DefaultDrainTimeout)
	def(&o.AbortGrace, DefaultAbortGrace)
	def(&o.ListWait, DefaultListWait)
	def(&o.OpTimeout, DefaultOpTimeout)
	def(&o.WatchdogTimeout, DefaultWatchdogTimeout)
	def(&o.OneShotPoll, DefaultOneShotPoll)
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = DefaultMaxConcurrent
	}
}

// Worker is the host side of queue_v1: it serves one queue directory with one handler.
type Worker struct {
	o   Options
	st  store
	log *slog.Logger
	m   *workerMetrics

	mu        sync.Mutex
	jobs      map[string]*job      // claimed and not finished
	answered  map[string]time.Time // answered, but the request file may still exist
	seen      map[string]time.Time // signed ids already handled (replay guard)
	readFails map[string]int
	final     bool               // past the drain deadline: unstarted jobs answer 503
	wakeLoop  context.CancelFunc // ends the loop's current wait
	wg        sync.WaitGroup
	lastOK    atomic.Int64  // unix nanos of the last successful listing
	ready     chan struct{} // closed by the first successful listing
}

// New checks o and returns a worker; Run starts it.
func New(o Options) (*Worker, error) {
	if o.Dir == "" || o.Handler == nil || o.Logger == nil {
		return nil, errors.New("queue: worker needs Dir, Handler and Logger")
	}
	o.setDefaults()
	m, err := newWorkerMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	log := o.Logger.With("component", "queue_worker")
	var st store
	if _, local := o.Runner.(*runner.Local); o.Runner == nil || local {
		st = queuedir.New(o.Dir, log)
	} else if runner.IsOneShot(o.Runner) {
		once := newOnceStore(o.Runner, o.Dir, o.OpTimeout, o.OneShotPoll, log)
		once.agentBin = o.AgentBinary
		st = once
	} else {
		rs := newRemoteStore(o.Runner, o.Dir, o.OpTimeout, log)
		rs.agentBin = o.AgentBinary
		st = rs
	}
	return &Worker{o: o, st: st, log: log, m: m, jobs: map[string]*job{}, answered: map[string]time.Time{},
		seen: map[string]time.Time{}, readFails: map[string]int{}, ready: make(chan struct{})}, nil
}

// job is one claimed request file.
type job struct {
	name     string
	mu       sync.Mutex
	method   string
	started  bool // the handler has been called: never answer it with a retryable status
	answered bool // someone has taken the right to write its response
	cancel   context.CancelFunc
	gone     bool // the request file is known to be removed
}

// Run serves the queue until ctx is cancelled, then drains (see Options.DrainTimeout) and
// returns. It returns an error only when the queue could never be prepared before ctx ended.
func (w *Worker) Run(ctx context.Context) error {
	jobsCtx, stopJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer func() {
		stopJobs()
		w.waitJobs(w.o.AbortGrace)
		_ = w.st.Close()
	}()
	if err := w.prepare(ctx); err != nil {
		return err
	}
	w.lastOK.Store(time.Now().UnixNano())
	watchCtx, stopWatch := context.WithCancel(jobsCtx)
	defer stopWatch()
	go w.watchdog(watchCtx)
	w.log.Info("queue worker started", "dir", w.o.Dir, "authenticated", len(w.o.BridgeToken) > 0)

	w.loop(ctx, jobsCtx)
	w.finalize(jobsCtx)
	return nil
}

// prepare creates the queue directories, retrying transient failures until ctx ends.
func (w *Worker) prepare(ctx context.Context) error {
	var attempt int
	b := failureBackoff()
	for {
		// The first attempt runs even when ctx is already cancelled: requests queued before a
		// quick stop still deserve their drain.
		opCtx := ctx
		if attempt == 0 {
			opCtx = context.WithoutCancel(ctx)
		}
		err := w.st.Prepare(opCtx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("prepare queue %s: %w", w.o.Dir, err)
		}
		w.log.Warn("queue prepare failed", "error", err, "attempt", attempt+1)
		if !retry.Sleep(ctx, b.Next()) {
			return fmt.Errorf("prepare queue %s: %w", w.o.Dir, err)
		}
		attempt++
	}
}
