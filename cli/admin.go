package cli

import (
	"net/http"
	"sync/atomic"
	"time"

	"github.com/clipbridge/clipbridge/metrics"
	"github.com/prometheus/client_golang/prometheus"
)

// readiness is what /readyz reports: serving, and every transport that
// must be up (the SSH tunnel, when there is one) is up.
type readiness struct {
	serving atomic.Bool
	checks  []func() bool
}

func (r *readiness) ready() bool {
	if !r.serving.Load() {
		return false
	}
	for _, c := range r.checks {
		if !c() {
			return false
		}
	}
	return true
}

// adminServer serves /metrics, /healthz, /readyz and /status on the local admin
// listener. It is never handed to a tunnel, so nothing on the execution
// host can reach it.
func adminServer(reg *prometheus.Registry, ready *readiness, status *statusSource) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Handler(reg))
	if status != nil {
		mux.Handle("GET /status", statusHandler(status))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready.ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	return &http.Server{
		Handler: mux,
		// Scrapes and probes are small and local; these bounds only stop a
		// stuck client from holding a goroutine.
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
}
