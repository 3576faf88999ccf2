package runner

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// execCounter returns the clipbridge_runner_execs_total child for one runner kind. Several runners
// may share a registry, so an already registered vector is reused rather than reported as an error.
// A nil registerer gives a working counter that nothing exports (handy in tests).
func execCounter(reg prometheus.Registerer, runner string) prometheus.Counter {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "clipbridge_runner_execs_total",
		Help: "Commands started on the execution host, by runner kind (local, exec, ssh, relay).",
	}, []string{"runner"})
	if reg != nil {
		if err := reg.Register(vec); err != nil {
			if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
				if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
					vec = existing
				}
			}
		}
	}
	return vec.WithLabelValues(runner)
}
