package worker

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Worker outcomes, the values of clipbridge_queue_requests_total{outcome}. Every one is
// initialised at zero so dashboards see the full set from the start.
const (
	outcomeForwarded       = "forwarded"       // the callback handler answered
	outcomeInvalid         = "invalid"         // 400 Invalid bridge request payload.
	outcomeTooLarge        = "too_large"       // 413 envelope or body over the limit
	outcomeUnauthenticated = "unauthenticated" // 401: missing or bad envelope MAC, or a replay
	outcomeExpired         = "expired"         // older than its gateway's wait: removed unanswered
	outcomeVanished        = "vanished"        // the gateway removed it before we read it
	outcomeStopped         = "stopped"         // 503 worker stopped before handling it
	outcomeIndeterminate   = "indeterminate"   // 409 backstop for a mutation cut short
	outcomeFailed          = "failed"          // 503 Sandbox callback bridge worker failed: …
	outcomeBusy            = "busy"            // 503 the body budget could not hold it now (nothing forwarded)
)

var allOutcomes = []string{outcomeForwarded, outcomeInvalid, outcomeTooLarge, outcomeUnauthenticated,
	outcomeExpired, outcomeVanished, outcomeStopped, outcomeIndeterminate, outcomeFailed, outcomeBusy}

type workerMetrics struct {
	requests *prometheus.CounterVec
	pickup   prometheus.Histogram
	depth    prometheus.Gauge
}

func newWorkerMetrics(reg prometheus.Registerer) (*workerMetrics, error) {
	m := &workerMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clipbridge_queue_requests_total",
			Help: "Request envelopes the queue worker finished, by outcome.",
		}, []string{"outcome"}),
		pickup: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "clipbridge_queue_pickup_seconds",
			Help:    "Time from a request envelope's createdAt to the worker handing it to the callback handler (includes clock skew with the execution host).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		depth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "clipbridge_queue_depth",
			Help: "Request files in the queue at the last listing.",
		}),
	}
	for _, o := range allOutcomes {
		m.requests.WithLabelValues(o)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.requests, m.pickup, m.depth} {
			if err := reg.Register(c); err != nil {
				return nil, errors.Join(errors.New("register queue metrics"), err)
			}
		}
	}
	return m, nil
}
