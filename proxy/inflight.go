package proxy

import "net/http"

// limitInFlight caps concurrent forwarded requests. A full bridge answers
// at once with 503 and Retry-After instead of queueing: the caller (an
// agent's HTTP client) is better placed to back off than a hidden queue
// that grows without bound.
func limitInFlight(max int, rec *recorder) func(http.Handler) http.Handler {
	slots := make(chan struct{}, max)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case slots <- struct{}{}:
			default:
				rec.reject(r, reasonQueueFull)
				writeRetryLater(w, msgQueueFull, 1)
				return
			}
			defer func() { <-slots }()
			next.ServeHTTP(w, r)
		})
	}
}
