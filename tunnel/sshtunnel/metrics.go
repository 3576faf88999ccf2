package sshtunnel

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the tunnel's Prometheus series. All are unlabelled, so each
// exists (at zero) from start-up.
type metrics struct {
	up              prometheus.Gauge
	reconnects      prometheus.Counter
	connectDuration prometheus.Histogram
	keepaliveRTT    prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		up: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "clipbridge_tunnel_up",
			Help: "1 while the SSH remote port forward is established, 0 while it is down.",
		}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clipbridge_tunnel_reconnects_total",
			Help: "Times the SSH tunnel was re-established after being lost.",
		}),
		connectDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "clipbridge_tunnel_connect_duration_seconds",
			Help: "Time from dialling the SSH server to an established remote port forward, per successful connect.",
			// 10 ms (loopback) to about 20 s (a slow, distant host).
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 12),
		}),
		keepaliveRTT: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "clipbridge_tunnel_keepalive_rtt_seconds",
			Help: "Round-trip time of answered SSH keepalive@openssh.com requests.",
			// 0.5 ms (loopback) to about 4 s (a link about to be declared dead).
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
	}
	for _, c := range []prometheus.Collector{m.up, m.reconnects, m.connectDuration, m.keepaliveRTT} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
