package h2bridge

import (
	"github.com/prometheus/client_golang/prometheus"
)

// hostMetrics are the http2_v1 host's own series; requests are counted
// by the callback API like on every transport.
type hostMetrics struct {
	up         prometheus.Gauge
	opens      *prometheus.CounterVec
	reconnects prometheus.Counter
	protocol   *prometheus.CounterVec
}

// openResults are the bounded values of the result label: ok, or why an
// open failed (Reason).
var openResults = []string{"ok", "ready_invalid", "ready_nonce_mismatch", "preface_missing", "contaminated",
	"gateway_exited", "ready_timeout", "port_in_use", "channel_open_failed"}

func newHostMetrics(reg prometheus.Registerer) (*hostMetrics, error) {
	m := &hostMetrics{
		up: prometheus.NewGauge(prometheus.GaugeOpts{Name: "clipbridge_h2bridge_up",
			Help: "1 while an http2_v1 session to the sandbox gateway is bound."}),
		opens: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clipbridge_h2bridge_session_opens_total",
			Help: "http2_v1 session opens, by result: ok, or why the channel or its READY/preface check failed."}, []string{"result"}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{Name: "clipbridge_h2bridge_reconnects_total",
			Help: "Attempts to re-open a lost http2_v1 session."}),
		protocol: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clipbridge_h2bridge_protocol_errors_total",
			Help: "HTTP/2 protocol errors x/net counted on http2_v1 sessions, by x/net's error type."}, []string{"type"}),
	}
	for _, r := range openResults {
		m.opens.WithLabelValues(r)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.up, m.opens, m.reconnects, m.protocol} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *hostMetrics) opened(result string) { m.opens.WithLabelValues(result).Inc() }

// protocolError counts x/net's error types (a fixed set of short names
// such as "conn_close_lost_ping"), never anything the peer wrote.
func (m *hostMetrics) protocolError(errType string) { m.protocol.WithLabelValues(errType).Inc() }
