package proxy

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sync/atomic"
	"time"
)

// forwarder sends an admitted request upstream with the real credential
// and relays the answer. It talks to http.Transport directly rather than
// through httputil.ReverseProxy: every failure here needs a status that
// depends on whether the request may have reached upstream and on the
// method (502 / 504 / indeterminate 409), response caps need a clean
// status before any byte is relayed, and the header sets are allowlists
// built from scratch, so ReverseProxy's hop-by-hop and X-Forwarded logic
// would only have to be undone.
type forwarder struct {
	scheme, host, prefix string
	transport            http.RoundTripper
	runToken             func() string
	runID                string
	userAgent            []string
	maxBody              int64
	timeout              time.Duration
	budget               *budget
	rec                  *recorder
	log                  *slog.Logger
}

func newForwarder(o *Options, rec *recorder, b *budget) *forwarder {
	u := o.Upstream
	prefix := u.EscapedPath()
	for len(prefix) > 0 && prefix[len(prefix)-1] == '/' {
		prefix = prefix[:len(prefix)-1]
	}
	return &forwarder{
		scheme: u.Scheme, host: u.Host, prefix: prefix,
		transport: o.Transport,
		runToken:  o.RunToken,
		runID:     o.RunID,
		userAgent: []string{"clipbridge/" + o.Version},
		maxBody:   o.MaxBodyBytes,
		timeout:   o.UpstreamTimeout,
		budget:    b,
		rec:       rec,
		log:       o.Logger,
	}
}

func (f *forwarder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ex := exchangeOf(r)
	if f.budget.available() < f.firstHold() {
		f.rec.reject(r, reasonBodyBudget)
		writeRetryLater(w, msgBodyBudget, 1)
		return
	}
	rc := http.NewResponseController(w)
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	// One stall timer bounds every wait on upstream: for the response
	// head after the last request byte, and between response body reads.
	// Each sign of progress pushes it back.
	stall := time.AfterFunc(f.timeout, func() { cancel(errStalled) })
	defer stall.Stop()
	progress := func() { stall.Reset(f.timeout) }

	var sent atomic.Bool
	trace := &httptrace.ClientTrace{WroteHeaders: func() { sent.Store(true) }}
	ctx = httptrace.WithClientTrace(ctx, trace)

	out := &http.Request{
		Method: r.Method,
		URL: &url.URL{
			Scheme: f.scheme, Host: f.host,
			// Opaque carries the path exactly as the agent sent it: the
			// allowlist matched these bytes, so upstream gets these bytes.
			Opaque:     f.prefix + ex.path,
			RawQuery:   ex.rawQuery,
			ForceQuery: ex.hasQuery && ex.rawQuery == "",
		},
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: make(http.Header, 8),
		Host:   f.host,
	}
	copyAllowed(out.Header, r.Header, upHeaders)
	out.Header["User-Agent"] = f.userAgent
	var body *cappedBody
	if HasBody(r) {
		body = &cappedBody{r: r.Body, max: f.maxBody, progress: progress, rc: rc, stall: f.timeout}
		out.Body, out.ContentLength = body, r.ContentLength
	}
	// The credential goes in last, after every copied header, so nothing
	// the agent sent can replace or delete it.
	out.Header["Authorization"] = []string{"Bearer " + f.runToken()}
	out.Header["X-Paperclip-Run-Id"] = []string{f.runID}
	out = out.WithContext(ctx)

	start := time.Now()
	resp, err := f.transport.RoundTrip(out)
	if err != nil {
		f.armWrite(rc)
		if body != nil && body.exceeded.Load() {
			f.rec.reject(r, reasonRequestTooLarge)
			w.Header().Set("Connection", "close")
			WriteError(w, http.StatusRequestEntityTooLarge, msgRequestTooLarge)
			return
		}
		f.fail(w, r, context.Cause(ctx), err, sent.Load())
		return
	}
	f.rec.upDuration.Observe(time.Since(start).Seconds())
	progress()
	f.relay(ctx, w, r, rc, resp, progress)
}

// fail answers a call that got no response head from upstream.
func (f *forwarder) fail(w http.ResponseWriter, r *http.Request, cause, err error, sent bool) {
	if cause != nil {
		err = cause
	}
	kind := classify(err, sent)
	f.rec.upErrors.WithLabelValues(kind).Inc()
	f.log.LogAttrs(r.Context(), slog.LevelWarn, "upstream call failed",
		slog.String("route", exchangeOf(r).route), slog.String("kind", kind), slog.String("error", err.Error()))
	switch {
	case kind == kindConnect:
		WriteError(w, http.StatusBadGateway, msgUnreachable)
	case isSafe(r.Method):
		if kind == kindTimeout {
			WriteError(w, http.StatusGatewayTimeout, msgTimeout)
		} else {
			WriteError(w, http.StatusGatewayTimeout, msgUpstreamFailed)
		}
	default:
		if kind == kindTimeout {
			writeIndeterminate(w, msgTimeout)
		} else {
			writeIndeterminate(w, msgUpstreamFailed)
		}
	}
}

// armWrite gives the next write to the agent the stall timeout from now,
// however long the upload and the upstream wait took. Not every
// ResponseWriter supports deadlines (the queue worker's needs none).
func (f *forwarder) armWrite(rc *http.ResponseController) {
	_ = rc.SetWriteDeadline(time.Now().Add(f.timeout))
}

// firstHold is the first reservation a held response body makes; a
// request is admitted only while the budget has that much free.
func (f *forwarder) firstHold() int64 { return min(copyBufSize, f.maxBody+1) }

// isSafe reports the methods a retry cannot turn into a second mutation.
func isSafe(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}
