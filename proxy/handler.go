package proxy

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/clipbridge/clipbridge/proxy/budget"
	"github.com/prometheus/client_golang/prometheus"
)

// Options configures the callback API. Every field is required unless
// its comment says otherwise.
type Options struct {
	// Upstream is the control plane's base URL; a path prefix is kept.
	Upstream *url.URL
	// RunToken returns the run's current real JWT. It is called once per
	// forwarded request, so a rotated token takes effect immediately.
	RunToken func() string
	// RunID is sent upstream as X-Paperclip-Run-Id.
	RunID string
	// BridgeToken is the per-run token agents present.
	BridgeToken string
	// Rules is the route allowlist.
	Rules []Rule
	// MaxBodyBytes caps request and response bodies.
	MaxBodyBytes int64
	// Budget is the process-wide ceiling on body bytes held in memory,
	// shared with the queue worker (see package budget). Nil means a
	// budget of its own, of BodyBudgetBytes.
	Budget *budget.Budget
	// BodyBudgetBytes sizes the budget when Budget is nil. Zero means
	// budget.DefaultSize(MaxBodyBytes).
	BodyBudgetBytes int64
	// UpstreamTimeout bounds every wait on upstream (see forwarder).
	UpstreamTimeout time.Duration
	// MaxInFlight caps concurrent requests past the route check.
	MaxInFlight int
	// Version goes into User-Agent: clipbridge/<version>.
	Version string
	// Logger and Registerer receive the access log and the metrics.
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Handler is the callback API.
type Handler struct {
	public  http.Handler
	trusted http.Handler
	fwd     *forwarder
}

// New builds the callback API from o.
func New(o Options) (*Handler, error) {
	if o.Upstream == nil || o.RunToken == nil || o.Logger == nil || o.Registerer == nil ||
		o.MaxBodyBytes <= 0 || o.UpstreamTimeout <= 0 || o.MaxInFlight <= 0 || len(o.Rules) == 0 {
		return nil, errors.New("proxy: incomplete options")
	}
	if o.BodyBudgetBytes == 0 {
		o.BodyBudgetBytes = budget.DefaultSize(o.MaxBodyBytes)
	}
	rec, err := newRecorder(o.Registerer)
	if err != nil {
		return nil, err
	}
	log := o.Logger.With("component", "proxy")
	o.Logger = log
	allow := newAllowlist(o.Rules)
	if o.Budget == nil {
		o.Budget = budget.New(o.BodyBudgetBytes)
	}
	fwd := newForwarder(&o, rec, o.Budget)

	// The order below is the contract's order of checks: 401, 400, 403,
	// 503 (in flight), 415, 413, then forwarding (which may still answer
	// 503 for the body budget, 502, 504 or 409). A request net/http could
	// not have parsed gets its 400 first, as net/http would have answered
	// it before any handler ran.
	after := []func(http.Handler) http.Handler{
		canonicalTarget(rec),
		allowRoute(allow, rec),
		limitInFlight(o.MaxInFlight, rec),
		requireJSONBody(rec),
		limitRequestBody(o.MaxBodyBytes, rec),
	}
	public := append([]func(http.Handler) http.Handler{observe(rec, log), requireWellFormed(rec),
		requireBridgeToken(o.BridgeToken, rec)}, after...)
	trusted := append([]func(http.Handler) http.Handler{observe(rec, log), requireWellFormed(rec)}, after...)
	return &Handler{
		public:  chi.Chain(public...).Handler(fwd),
		trusted: chi.Chain(trusted...).Handler(fwd),
		fwd:     fwd,
	}, nil
}

// ServeHTTP serves the callback API, bridge token required.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.public.ServeHTTP(w, r) }

// Trusted returns the callback API without the bridge-token check, for a
// channel that authenticates callers itself (the queue worker checks each
// envelope's MAC, or trusts the queue directory). Every other rule applies.
func (h *Handler) Trusted() http.Handler { return h.trusted }

// CloseIdle closes the pooled upstream connections (at shutdown).
func (h *Handler) CloseIdle() { h.fwd.transport.CloseIdleConnections() }
