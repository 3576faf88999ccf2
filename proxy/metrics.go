package proxy

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Rejection reasons, one per refusal the callback API can make. They are
// the only values of the "reason" label.
const (
	reasonMalformed        = "malformed"
	reasonUnauthorized     = "unauthorized"
	reasonInvalidPath      = "invalid_path"
	reasonRouteDenied      = "route_denied"
	reasonQueueFull        = "queue_full"
	reasonUnsupportedMedia = "unsupported_media_type"
	reasonRequestTooLarge  = "request_too_large"
	reasonResponseTooLarge = "response_too_large"
	reasonBodyBudget       = "body_budget"
)

var allReasons = []string{reasonMalformed, reasonUnauthorized, reasonInvalidPath, reasonRouteDenied, reasonQueueFull,
	reasonUnsupportedMedia, reasonRequestTooLarge, reasonResponseTooLarge, reasonBodyBudget}

// routeNone labels requests that matched no rule.
const routeNone = "none"

// recorder owns the callback API's metrics. Labels are bounded: route is
// an allowlist pattern or "none", method is a known method or "other",
// reason and kind come from fixed lists.
type recorder struct {
	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	inFlight   prometheus.Gauge
	rejected   *prometheus.CounterVec
	upErrors   *prometheus.CounterVec
	upDuration prometheus.Histogram
}

func newRecorder(reg prometheus.Registerer) (*recorder, error) {
	r := &recorder{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clipbridge_http_requests_total",
			Help: "Callback API requests answered, by allowlist route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "clipbridge_http_request_duration_seconds",
			Help:    "Time from request start to the end of the response, by allowlist route pattern and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "method"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "clipbridge_http_requests_in_flight",
			Help: "Callback API requests being served now.",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clipbridge_proxy_rejected_total",
			Help: "Requests the bridge refused itself, by reason.",
		}, []string{"reason"}),
		upErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clipbridge_upstream_errors_total",
			Help: "Failed upstream calls, by kind: connect (nothing sent), timeout, reset, other.",
		}, []string{"kind"}),
		upDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "clipbridge_upstream_request_duration_seconds",
			Help:    "Time from sending a request upstream to receiving its response headers.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
	}
	for _, c := range []prometheus.Collector{r.requests, r.duration, r.inFlight, r.rejected, r.upErrors, r.upDuration} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	// Pre-create the bounded series so dashboards and rate() see zeros
	// from the start instead of absent series.
	for _, reason := range allReasons {
		r.rejected.WithLabelValues(reason)
	}
	for _, kind := range []string{kindConnect, kindTimeout, kindReset, kindOther} {
		r.upErrors.WithLabelValues(kind)
	}
	return r, nil
}

// methodLabel bounds the method label: methods are arbitrary tokens
// chosen by the caller.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

// codeLabel avoids an allocation for the common status codes.
func codeLabel(code int) string {
	switch code {
	case 200:
		return "200"
	case 201:
		return "201"
	case 204:
		return "204"
	case 304:
		return "304"
	case 400:
		return "400"
	case 401:
		return "401"
	case 403:
		return "403"
	case 404:
		return "404"
	case 409:
		return "409"
	case 413:
		return "413"
	case 415:
		return "415"
	case 502:
		return "502"
	case 503:
		return "503"
	case 504:
		return "504"
	}
	return strconv.Itoa(code)
}
