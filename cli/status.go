package cli

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// statusReport is what the admin listener's /status says about a running
// sidecar: the few facts an operator asks first. It never holds a
// secret: the upstream URL is redacted, the agent key is left out.
type statusReport struct {
	Mode      string    `json:"mode"`
	Version   string    `json:"version"`
	Commit    string    `json:"commit"`
	StartedAt time.Time `json:"started_at"`
	Uptime    string    `json:"uptime"`
	Ready     bool      `json:"ready"`
	Transport struct {
		Up         bool     `json:"up"`
		AgentURL   string   `json:"agent_url,omitempty"`
		Reconnects *float64 `json:"reconnects,omitempty"` // SSH forward only
	} `json:"transport"`
	Upstream   string          `json:"upstream"`
	InFlight   float64         `json:"in_flight"`
	QueueDepth *float64        `json:"queue_depth,omitempty"` // queue_v1 only
	LastError  *lastError      `json:"last_error,omitempty"`
	TokenFile  *tokenFileState `json:"token_file,omitempty"`
}

type lastError struct {
	Message string    `json:"message"`
	Error   string    `json:"error,omitempty"`
	At      time.Time `json:"at"`
}

type tokenFileState struct {
	Path string `json:"path"`
	// Age is how long the current token has been in use: since start-up
	// or the last rotation.
	Age string `json:"age"`
}

// statusSource gathers a statusReport from the run's parts.
type statusSource struct {
	mode, version, commit, upstream string
	started                         time.Time
	ready                           *readiness
	tr                              transport
	reg                             prometheus.Gatherer
	errs                            *errorTap
	tokenPath                       string
	tokenSince                      func() time.Time
}

func (s *statusSource) report() statusReport {
	var r statusReport
	r.Mode, r.Version, r.Commit, r.Upstream = s.mode, s.version, s.commit, s.upstream
	r.StartedAt = s.started.UTC().Truncate(time.Second)
	r.Uptime = time.Since(s.started).Round(time.Second).String()
	r.Ready = s.ready.ready()
	r.Transport.Up = s.tr.Up()
	if isClosed(s.tr.Ready()) {
		r.Transport.AgentURL = s.tr.Env().URL
	}
	gauges := gather(s.reg)
	r.InFlight = gauges["clipbridge_http_requests_in_flight"]
	if v, ok := gauges["clipbridge_tunnel_reconnects_total"]; ok {
		r.Transport.Reconnects = &v
	}
	if v, ok := gauges["clipbridge_queue_depth"]; ok {
		r.QueueDepth = &v
	}
	r.LastError = s.errs.last()
	if s.tokenPath != "" {
		r.TokenFile = &tokenFileState{Path: s.tokenPath, Age: time.Since(s.tokenSince()).Round(time.Second).String()}
	}
	return r
}

// gather reads every unlabelled gauge and counter of reg by name: the
// status page shows what the metrics already count, no second tally.
func gather(reg prometheus.Gatherer) map[string]float64 {
	out := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		return out
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) > 0 {
				continue
			}
			switch mf.GetType() {
			case dto.MetricType_GAUGE:
				out[mf.GetName()] = m.GetGauge().GetValue()
			case dto.MetricType_COUNTER:
				out[mf.GetName()] = m.GetCounter().GetValue()
			}
		}
	}
	return out
}

// statusHandler serves /status as JSON.
func statusHandler(s *statusSource) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(s.report())
	})
}

// errorTap is a slog handler in front of the real one that remembers the
// last record at warning level or above, for /status. Its records were
// written to the log already; nothing secret goes into one.
type errorTap struct {
	slog.Handler
	mu  *sync.Mutex // shared by every handler derived with WithAttrs/WithGroup
	rec *lastError
}

func newErrorTap(h slog.Handler) *errorTap {
	return &errorTap{Handler: h, mu: &sync.Mutex{}, rec: &lastError{}}
}

func (t *errorTap) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		le := lastError{Message: r.Message, At: r.Time.UTC()}
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "error" {
				le.Error = a.Value.String()
				return false
			}
			return true
		})
		t.mu.Lock()
		*t.rec = le
		t.mu.Unlock()
	}
	return t.Handler.Handle(ctx, r)
}

func (t *errorTap) WithAttrs(as []slog.Attr) slog.Handler {
	c := *t
	c.Handler = t.Handler.WithAttrs(as)
	return &c
}

func (t *errorTap) WithGroup(name string) slog.Handler {
	c := *t
	c.Handler = t.Handler.WithGroup(name)
	return &c
}

// last is the last warning or error, or nil if there was none.
func (t *errorTap) last() *lastError {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.rec.At.IsZero() {
		return nil
	}
	le := *t.rec
	return &le
}
