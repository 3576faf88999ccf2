package h2bridge

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clipbridge/clipbridge/internal/retry"
	"github.com/clipbridge/clipbridge/runner"
)

// Host defaults.
const (
	// DefaultReadyTimeout bounds one open, from exec to READY and preface
	// (Paperclip's control execs have the same order of bound).
	DefaultReadyTimeout = 10 * time.Second
	// DefaultDrainTimeout bounds the wait for streams in flight at stop.
	DefaultDrainTimeout = 10 * time.Second
	// DefaultScript runs our gateway binary, whose path the caller gives
	// in Env["CB_BIN"]. exec: the gateway is the session's process, so
	// killing it (or losing the SSH session) ends it.
	DefaultScript = `exec "$CB_BIN" gateway`
	// portPicks is how many random ports an open tries when the gateway
	// reports the one it was given in use.
	portPicks = 5
	// portMin and portMax bound the picked port: below the usual Linux
	// ephemeral range (32768-60999), so outgoing connections on the
	// execution host do not collide with it.
	portMin, portMax = 20000, 32000
)

// ErrDrainTimeout reports streams still in flight when the drain timeout
// ran out at stop; they were cut.
var ErrDrainTimeout = errors.New("http2 bridge drain timed out with requests in flight")

// Options configures Open.
type Options struct {
	// Runner reaches the execution host; its Start is the duplex channel.
	// Required.
	Runner runner.Runner
	// Server is the callback API's server (proxy.Handler.NewServer): its
	// Handler serves every stream, with the bridge token checked there,
	// and its WriteTimeout and ErrorLog apply to every session. Required.
	Server *http.Server
	// Script is the command started on the execution host; empty means
	// DefaultScript. Env is added to its environment (CB_BIN for the
	// default script); the PAPERCLIP_BRIDGE_* variables are set here.
	Script string
	Env    map[string]string
	// BridgeToken is PAPERCLIP_BRIDGE_TOKEN: the gateway checks agents
	// against it and presents it on every stream. Secret; the runner
	// delivers it outside argv. Required.
	BridgeToken string
	// MaxBodyBytes is PAPERCLIP_BRIDGE_MAX_BODY_BYTES; zero keeps the
	// gateway's default.
	MaxBodyBytes int64
	// Port is the gateway's port on the execution host; zero picks one
	// (see Open).
	Port int
	// ReadyTimeout bounds each open; DrainTimeout the stop. Zero means the
	// defaults above.
	ReadyTimeout, DrainTimeout time.Duration
	// Backoff paces re-opens after a lost session; nil means the SSH
	// tunnel's policy (250 ms doubling to 30 s, jittered).
	Backoff *retry.Backoff
	// Logger is required; Registerer may be nil.
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Host is the host end of the http2_v1 bridge: one session at a time to
// a gateway it started, re-opened on the same port when lost.
type Host struct {
	o       Options
	handler http.Handler // the callback API's, counted
	log     *slog.Logger
	m       *hostMetrics
	port    int

	// inFlight counts handlers running, started counts every handler
	// start: drain closes the session as soon as it is quiet (see drain).
	inFlight atomic.Int64
	started  atomic.Uint64

	mu  sync.Mutex
	cur *session
}

// Open starts the gateway and returns once its first session is bound:
// READY with this open's nonce, the preface, and HTTP/2 served on it. An
// error means the channel could not be opened or the check failed (see
// Reason); the caller then falls back to queue_v1.
//
// The port is the host's choice, as in Paperclip: with Options.Port zero
// it picks a random port in [20000, 32000) and, when the gateway
// reports it in use, tries another, up to five times. A sandbox process
// could still take the port between runs; that is the same exposure as
// any loopback listener in the sandbox.
func Open(ctx context.Context, o Options) (*Host, error) {
	if o.Runner == nil || o.Server == nil || o.Server.Handler == nil || o.BridgeToken == "" || o.Logger == nil {
		return nil, errors.New("h2bridge: Open needs Runner, Server with a Handler, BridgeToken and Logger")
	}
	if o.Script == "" {
		o.Script = DefaultScript
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = DefaultReadyTimeout
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = DefaultDrainTimeout
	}
	if o.Backoff == nil {
		o.Backoff = &retry.Backoff{}
	}
	m, err := newHostMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	h := &Host{o: o, log: o.Logger.With("component", "h2_host"), m: m}
	h.handler = h.count(o.Server.Handler)
	for attempt := 1; ; attempt++ {
		port := o.Port
		if port == 0 {
			port = portMin + rand.IntN(portMax-portMin)
		}
		s, err := h.open(ctx, port)
		if err == nil {
			h.port = port
			h.setCurrent(s)
			return h, nil
		}
		if o.Port != 0 || !errors.Is(err, ErrPortInUse) || attempt == portPicks {
			return nil, err
		}
		h.log.Info("gateway port in use on the execution host; trying another", "port", port)
	}
}

// Port is the gateway's port on the execution host.
func (h *Host) Port() int { return h.port }

// URL is the agent's PAPERCLIP_API_URL.
func (h *Host) URL() string { return "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(h.port)) }

// Up reports whether a session is bound now (/readyz).
func (h *Host) Up() bool {
	s := h.current()
	return s != nil && !s.ended()
}

// Run serves until ctx ends, then drains: GOAWAY, streams in flight get
// DrainTimeout (ErrDrainTimeout if they needed longer). A lost session
// (gateway exited, SSH session dropped, PINGs unanswered) is re-opened
// with backoff on the same port; meanwhile the old gateway, if it lives,
// answers 503 bridge_unavailable until its grace ends and frees the
// port, and the new one keeps failing to bind until then.
func (h *Host) Run(ctx context.Context) error {
	for {
		s := h.current()
		select {
		case <-ctx.Done():
			return h.drain(s)
		case <-s.served:
		}
		h.m.up.Set(0)
		upFor := time.Since(s.started)
		h.log.Warn("http2 session lost; reconnecting", "port", h.port, "up_for", upFor.Round(time.Millisecond).String())
		s.teardown()
		h.o.Backoff.Healthy(upFor)
		for {
			if h.o.Backoff.Wait(ctx) != nil {
				h.setCurrent(nil)
				return nil
			}
			h.m.reconnects.Inc()
			ns, err := h.open(ctx, h.port)
			if err == nil {
				h.setCurrent(ns)
				h.log.Info("http2 session re-established", "port", h.port)
				break
			}
			if ctx.Err() != nil {
				h.setCurrent(nil)
				return nil
			}
			h.log.Warn("http2 session re-open failed; retrying", "reason", Reason(err), "error", err)
		}
	}
}

// drainQuiet is how long no handler may run after GOAWAY before drain
// closes the session. A stream accepted before the GOAWAY has its
// handler started by x/net's serve loop before the GOAWAY is even
// written, so a quiet tenth of a second means no stream is left. Without
// it the stop would wait out x/net's fixed one-second GOAWAY grace.
const drainQuiet = 100 * time.Millisecond

// drain stops the current session gracefully within DrainTimeout.
func (h *Host) drain(s *session) error {
	if s == nil {
		return nil
	}
	defer h.setCurrent(nil)
	defer s.teardown()
	// GOAWAY: the gateway opens no new stream; those in flight finish.
	_ = s.base.Shutdown(context.Background())
	deadline := time.Now().Add(h.o.DrainTimeout)
	lastStarts, quietSince := h.started.Load(), time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-s.served:
			return nil
		case <-tick.C:
		}
		now := time.Now()
		if n := h.started.Load(); n != lastStarts || h.inFlight.Load() > 0 {
			lastStarts, quietSince = n, now
		}
		if now.Sub(quietSince) >= drainQuiet {
			return nil
		}
		if now.After(deadline) {
			h.log.Error("drain timed out; closing the http2 session", "timeout", h.o.DrainTimeout.String(),
				"in_flight", h.inFlight.Load())
			return ErrDrainTimeout
		}
	}
}

// count wraps the callback handler to keep inFlight and started.
func (h *Host) count(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.started.Add(1)
		h.inFlight.Add(1)
		defer h.inFlight.Add(-1)
		next.ServeHTTP(w, r)
	})
}

func (h *Host) current() *session {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.cur
}

func (h *Host) setCurrent(s *session) {
	h.mu.Lock()
	h.cur = s
	h.mu.Unlock()
	if s != nil {
		h.m.up.Set(1)
	} else {
		h.m.up.Set(0)
	}
}
