package proxy

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/clipbridge/clipbridge/proxy/policy"
)

// exchange is the per-request state the middlewares fill in as they
// decide: the canonical target, the matched route, and what was written.
type exchange struct {
	http.ResponseWriter
	path      string
	rawQuery  string
	hasQuery  bool
	route     string
	reason    string // rejection reason, when the bridge refused
	status    int
	bytes     int64
	wroteHead bool
	aborted   bool // the response was cut off after its head was sent
	// bodyPending: the request has a body not yet read to its end. An
	// answer then closes the connection (see WriteHeader). The upload
	// runs on the Transport's goroutine, hence atomic.
	bodyPending atomic.Bool
}

type exchangeKey struct{}

// exchangeOf returns the state observe attached to r.
func exchangeOf(r *http.Request) *exchange {
	return r.Context().Value(exchangeKey{}).(*exchange)
}

func (e *exchange) WriteHeader(code int) {
	if !e.wroteHead {
		e.wroteHead = true
		e.status = code
		if e.bodyPending.Load() {
			// net/http would read up to 256 KiB of an unread body to keep
			// the connection reusable, before answering and again when
			// the handler returns: a client trickling its body would hold
			// the answer, and then the goroutine, hostage. Connection:
			// close skips the first read; a read deadline already passed
			// makes the second fail at once, so the connection closes as
			// soon as the answer is out.
			e.ResponseWriter.Header().Set("Connection", "close")
			_ = http.NewResponseController(e.ResponseWriter).SetReadDeadline(time.Unix(1, 0))
		}
	}
	e.ResponseWriter.WriteHeader(code)
}

func (e *exchange) Write(b []byte) (int, error) {
	if !e.wroteHead {
		e.WriteHeader(http.StatusOK)
	}
	n, err := e.ResponseWriter.Write(b)
	e.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection's deadlines.
func (e *exchange) Unwrap() http.ResponseWriter { return e.ResponseWriter }

// reject counts a refusal under its reason label.
func (rec *recorder) reject(r *http.Request, reason string) {
	exchangeOf(r).reason = reason
	rec.rejected.WithLabelValues(reason).Inc()
}

// observe is the outermost middleware: it creates the exchange, and when
// the request ends records its metrics and writes the one access-log line.
// The log line names the route pattern, never the raw path or query, so
// no identifier or query value leaks into logs.
func observe(rec *recorder, log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			ex := &exchange{ResponseWriter: w, route: routeNone}
			ex.bodyPending.Store(policy.HasBody(r))
			rec.inFlight.Inc()
			defer func() {
				rec.inFlight.Dec()
				status := ex.status
				if !ex.wroteHead {
					status = http.StatusOK // what net/http sends for an empty handler
				}
				elapsed := time.Since(start)
				m := methodLabel(r.Method)
				rec.requests.WithLabelValues(ex.route, m, codeLabel(status)).Inc()
				rec.duration.WithLabelValues(ex.route, m).Observe(elapsed.Seconds())
				logAccess(r.Context(), log.Handler(), start.Add(elapsed), m, ex, status, elapsed)
			}()
			next.ServeHTTP(ex, r.WithContext(context.WithValue(r.Context(), exchangeKey{}, ex)))
		})
	}
}

// logAccess writes the request's access-log line. It builds the record
// itself rather than calling Logger.LogAttrs: that captures the caller's
// program counter (runtime.Callers) on every call, for a source location
// the access log never shows, and under load the capture alone was about
// a sixth of the line's cost. The duration is whole microseconds, an
// integer: slog's JSON handler formats a float through encoding/json,
// with an allocation, on every line.
func logAccess(ctx context.Context, h slog.Handler, end time.Time, method string, ex *exchange, status int, elapsed time.Duration) {
	if !h.Enabled(ctx, slog.LevelInfo) {
		return
	}
	rec := slog.NewRecord(end, slog.LevelInfo, "request", 0)
	rec.AddAttrs(
		slog.String("method", method),
		slog.String("route", ex.route),
		slog.Int("status", status),
		slog.Int64("duration_us", elapsed.Microseconds()),
		slog.Int64("bytes", ex.bytes),
	)
	if ex.aborted {
		rec.AddAttrs(slog.Bool("aborted", true))
	}
	if ex.reason != "" {
		rec.AddAttrs(slog.String("reason", ex.reason))
	}
	_ = h.Handle(ctx, rec)
}
