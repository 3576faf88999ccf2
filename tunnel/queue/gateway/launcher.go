package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/clipbridge/clipbridge/internal/retry"
	"github.com/clipbridge/clipbridge/runner"
	"github.com/clipbridge/clipbridge/tunnel/queue"
)

// Launcher defaults.
const (
	// defaultReadyTimeout bounds a gateway start, from exec to ready line (Paperclip: ~10 s).
	defaultReadyTimeout = 10 * time.Second
	// DefaultOpTimeout bounds the check of the binary on the host (the worker's bound on a
	// queue operation).
	DefaultOpTimeout = 30 * time.Second
	// DefaultUploadTimeout bounds the upload of the binary: about 17 MB, so 2 minutes fit any
	// link of 1.2 Mbit/s or more.
	DefaultUploadTimeout = 2 * time.Minute
	// gatewayStopGrace is how long a gateway gets to exit after its stdin closes.
	gatewayStopGrace = 3 * time.Second
	// defaultLease: four 25 s one-shot polls, and some room for a slow exec.
	defaultLease = 2 * time.Minute
	// maxRestartDelay caps the wait between restarts of a gateway that keeps exiting.
	maxRestartDelay = 5 * time.Second
)

// LaunchOptions configures Launch.
type LaunchOptions struct {
	// Runner reaches the execution host. Required.
	Runner runner.Runner
	// Binary is the local clipbridge binary to copy (os.Executable(), or --gateway-binary for
	// another architecture). Required.
	Binary string
	// RemoteBinary is where the binary goes on the execution host; empty means
	// <parent of QueueDir>/server/clipbridge, beside Paperclip's own gateway asset.
	RemoteBinary string
	// QueueDir is PAPERCLIP_BRIDGE_QUEUE_DIR on the execution host. Required.
	QueueDir string
	// BridgeToken is the per-run token agents present. Secret; it reaches the gateway through
	// the runner's environment channel, never argv. Required.
	BridgeToken string
	// Host and Port are where the gateway listens on the execution host (default 127.0.0.1:0).
	Host string
	Port int
	// ResponseTimeout, MaxQueueDepth, MaxBodyBytes and PollInterval become the gateway's
	// PAPERCLIP_BRIDGE_* settings; zero keeps the gateway's defaults. Use the worker's values.
	ResponseTimeout time.Duration
	MaxQueueDepth   int
	MaxBodyBytes    int64
	PollInterval    time.Duration
	// Lease, for a gateway started through a one-shot runner (detached), is how long it serves
	// on without the worker renewing queue.LeaseFile (every one-shot poll does); zero means
	// defaultLease. Make it a few times the worker's OneShotPoll.
	Lease time.Duration
	// ReadyTimeout bounds each start; OpTimeout the check of the binary already there (default
	// DefaultOpTimeout); UploadTimeout the upload of a new one (default DefaultUploadTimeout).
	ReadyTimeout  time.Duration
	OpTimeout     time.Duration
	UploadTimeout time.Duration
	// Logger is required.
	Logger *slog.Logger
}

// Launched is a gateway started on the execution host by Launch.
type Launched struct {
	o     LaunchOptions
	log   *slog.Logger
	ready ReadyInfo
	// Uploaded reports whether the binary had to be copied (false: the sha256 already matched).
	Uploaded bool

	mu   sync.Mutex
	proc *gatewayProc
	// detached: the runner is one-shot, so the gateway runs in the background on the host
	// (detached.go) and no process here holds it.
	detached bool
}

// gatewayProc is one running gateway process.
type gatewayProc struct {
	p    runner.Process
	done chan struct{}
}

// Launch copies the binary to the execution host when its sha256 differs, starts
// `<bin> gateway` there with its env delivered through the runner (never argv), and waits for
// its ready line. Call Run to supervise it and Stop (or cancel Run's ctx) to end it.
func Launch(ctx context.Context, o LaunchOptions) (*Launched, error) {
	if o.Runner == nil || o.Binary == "" || o.QueueDir == "" || o.BridgeToken == "" || o.Logger == nil {
		return nil, errors.New("gateway: Launch needs Runner, Binary, QueueDir, BridgeToken and Logger")
	}
	if o.RemoteBinary == "" {
		o.RemoteBinary = DefaultRemoteBinary(o.QueueDir)
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = defaultReadyTimeout
	}
	if o.OpTimeout <= 0 {
		o.OpTimeout = DefaultOpTimeout
	}
	if o.UploadTimeout <= 0 {
		o.UploadTimeout = DefaultUploadTimeout
	}
	g := &Launched{o: o, log: o.Logger.With("component", "queue_launcher")}
	uploaded, err := SyncBinaryWith(ctx, o.Runner, o.Binary, o.RemoteBinary,
		SyncOptions{Timeout: o.OpTimeout, UploadTimeout: o.UploadTimeout, Logger: o.Logger.With("component", "gateway_upload")})
	if err != nil {
		return nil, err
	}
	g.Uploaded = uploaded
	g.log.Info("gateway binary ready", "path", o.RemoteBinary, "uploaded", uploaded)
	if runner.IsOneShot(o.Runner) {
		g.detached = true
		if err := g.startDetached(ctx, o.Port); err != nil {
			return nil, err
		}
		return g, nil
	}
	if err := g.start(ctx, o.Port); err != nil {
		return nil, err
	}
	return g, nil
}

// AgentEnv is what the agent needs (reference §2.2): the gateway's URL, the bridge token as
// its API key, the mode and the queue dir.
func (g *Launched) AgentEnv() map[string]string {
	return map[string]string{
		"PAPERCLIP_API_URL":          g.Ready().BaseURL,
		"PAPERCLIP_API_KEY":          g.o.BridgeToken,
		"PAPERCLIP_API_BRIDGE_MODE":  queue.ModeQueueV1,
		"PAPERCLIP_BRIDGE_QUEUE_DIR": g.o.QueueDir,
	}
}

// RemoteBinary is the path of the clipbridge binary on the execution host (for
// worker.Options.AgentBinary).
func (g *Launched) RemoteBinary() string { return g.o.RemoteBinary }

// Ready returns the gateway's current ready.json contents.
func (g *Launched) Ready() ReadyInfo {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.ready
}

func (g *Launched) env(port int) map[string]string {
	env := map[string]string{
		queue.EnvBridgeMode:              queue.ModeQueueV1,
		queue.EnvQueueDir:                g.o.QueueDir,
		queue.EnvBridgeToken:             g.o.BridgeToken,
		queue.EnvBridgeHost:              g.o.Host,
		queue.EnvBridgePort:              strconv.Itoa(port),
		queue.EnvExitOnStdinEOF:          "1",
		"PAPERCLIP_SANDBOX_EXEC_CHANNEL": "bridge",
		"CB_BIN":                         g.o.RemoteBinary,
	}
	if g.o.ResponseTimeout > 0 {
		env[queue.EnvResponseTimeout] = strconv.FormatInt(g.o.ResponseTimeout.Milliseconds(), 10)
	}
	if g.o.PollInterval > 0 {
		env[queue.EnvPollIntervalMS] = strconv.FormatInt(g.o.PollInterval.Milliseconds(), 10)
	}
	if g.o.MaxQueueDepth > 0 {
		env[queue.EnvMaxQueueDepth] = strconv.Itoa(g.o.MaxQueueDepth)
	}
	if g.o.MaxBodyBytes > 0 {
		env[queue.EnvMaxBodyBytes] = strconv.FormatInt(g.o.MaxBodyBytes, 10)
	}
	return env
}

// start runs the gateway and reads its ready line. The process keeps its stdin open to us: when
// we close it, or the connection to the host dies, the gateway exits.
func (g *Launched) start(ctx context.Context, port int) error {
	p, err := g.o.Runner.Start(context.WithoutCancel(ctx), runner.Command{Script: `exec "$CB_BIN" gateway`, Env: g.env(port)})
	if err != nil {
		return fmt.Errorf("start gateway: %w", err)
	}
	gp := &gatewayProc{p: p, done: make(chan struct{})}
	stderr := runner.NewTail(4096)
	go func() { g.logLines(io.TeeReader(p.Stderr(), stderr)) }()
	lines := make(chan string, 1)
	out := bufio.NewReader(p.Stdout())
	go func() {
		line, _ := out.ReadString('\n')
		lines <- line
		g.logLines(out)
	}()
	go func() { _, _ = p.Wait(); close(gp.done) }()

	t := time.NewTimer(g.o.ReadyTimeout)
	defer t.Stop()
	var line string
	select {
	case line = <-lines:
	case <-t.C:
	case <-ctx.Done():
	}
	var ready ReadyInfo
	if err := json.Unmarshal([]byte(strings.TrimSpace(line)), &ready); err != nil || ready.Port == 0 {
		_ = p.Stdin().Close()
		_ = p.Kill()
		<-gp.done
		if line == "" {
			return fmt.Errorf("wait for gateway readiness failed%s", stderr.Suffix())
		}
		return fmt.Errorf("gateway wrote invalid readiness JSON%s", stderr.Suffix())
	}
	g.mu.Lock()
	g.ready, g.proc = ready, gp
	g.mu.Unlock()
	g.log.Info("gateway started", "base_url", ready.BaseURL, "pid", ready.PID)
	return nil
}

// logLines forwards the gateway's output to the log, line by line, until EOF.
func (g *Launched) logLines(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 64<<10)
	for sc.Scan() {
		g.log.Debug("gateway output", "line", sc.Text())
	}
	_, _ = io.Copy(io.Discard, r)
}

// Run supervises the gateway until ctx ends, then stops it. If the gateway exits on its own (a
// dropped SSH connection ends it through its stdin), it is restarted on the same port so the
// agent's PAPERCLIP_API_URL stays valid. A detached gateway (one-shot runner) is not watched:
// that would cost execs while idle.
func (g *Launched) Run(ctx context.Context) error {
	if g.detached {
		<-ctx.Done()
		g.Stop()
		return nil
	}
	attempt := 0
	restarts := retry.Backoff{Initial: 100 * time.Millisecond, Max: maxRestartDelay}
	for {
		g.mu.Lock()
		gp := g.proc
		g.mu.Unlock()
		if gp != nil {
			select {
			case <-ctx.Done():
				g.Stop()
				return nil
			case <-gp.done:
				g.log.Warn("gateway exited; restarting")
			}
		}
		if !retry.Sleep(ctx, restarts.Next()) {
			g.Stop()
			return nil
		}
		attempt++
		if err := g.start(ctx, g.Ready().Port); err != nil {
			g.log.Warn("gateway restart failed", "error", err, "attempt", attempt)
			g.mu.Lock()
			g.proc = nil
			g.mu.Unlock()
			continue
		}
		attempt = 0
	}
}

// Stop closes the gateway's stdin (it exits and removes ready.json) and kills it if it has not
// exited within a few seconds.
func (g *Launched) Stop() {
	if g.detached {
		g.stopDetached()
		return
	}
	g.mu.Lock()
	gp := g.proc
	g.proc = nil
	g.mu.Unlock()
	if gp == nil {
		return
	}
	_ = gp.p.Stdin().Close()
	select {
	case <-gp.done:
	case <-time.After(gatewayStopGrace):
		_ = gp.p.Kill()
		<-gp.done
	}
	g.log.Info("gateway stopped")
}
