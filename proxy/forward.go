package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"time"

	"github.com/clipbridge/clipbridge/proxy/budget"
	"github.com/clipbridge/clipbridge/proxy/policy"
)

// forwarder sends an admitted request upstream with the real credential
// and relays the answer, through one net/http Transport (see
// newTransport). Every failure needs a status that depends on whether
// the request may have reached upstream and on the method (502, 504 or
// the indeterminate 409): the connections the Transport dials count
// their writes, and httptrace tells which connections a call was given,
// so "nothing was sent" is known exactly (sentTracker). Response caps
// need a clean status before any byte is relayed (response.go).
type forwarder struct {
	scheme, host, prefix string
	transport            *http.Transport
	runToken             func() string
	runID                string
	userAgent            string
	maxBody              int64
	timeout              time.Duration
	budget               *budget.Budget
	rec                  *recorder
	log                  *slog.Logger
}

func newForwarder(o *Options, rec *recorder, b *budget.Budget) *forwarder {
	u := o.Upstream
	prefix := u.EscapedPath()
	for len(prefix) > 0 && prefix[len(prefix)-1] == '/' {
		prefix = prefix[:len(prefix)-1]
	}
	return &forwarder{
		scheme: u.Scheme, host: u.Host, prefix: prefix,
		transport: newTransport(o.MaxInFlight),
		runToken:  o.RunToken,
		runID:     o.RunID,
		userAgent: "clipbridge/" + o.Version,
		maxBody:   o.MaxBodyBytes,
		timeout:   o.UpstreamTimeout,
		budget:    b,
		rec:       rec,
		log:       o.Logger,
	}
}

// errAborted is the failure when the agent's own request ended (it hung
// up) while upstream was being called.
var errAborted = errors.New("agent went away")

func (f *forwarder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.budget.Available() < f.firstHold() {
		f.rec.reject(r, reasonBodyBudget)
		writeRetryLater(w, msgBodyBudget, 1)
		return
	}
	ex := exchangeOf(r)
	// One read of the credential per request: the value checked is the
	// value sent, even if the token file rotates in between.
	token := f.runToken()
	if err := f.checkOutgoing(r, ex, token); err != nil {
		f.fail(w, r, err, false)
		return
	}
	rc := http.NewResponseController(w)
	ctx := r.Context()
	callCtx, watch := newStallWatch(ctx, f.timeout)
	defer watch.stop()
	var body *cappedBody
	if policy.HasBody(r) {
		body = &cappedBody{r: r.Body, max: f.maxBody, rc: rc, stall: f.timeout, ex: ex, watch: watch}
	}
	sent := sentTracker{watch: watch}
	defer sent.release()
	gotConn := false
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		gotConn = true
		sent.gotConn(info.Conn)
	}}
	out := f.upstreamRequest(httptrace.WithClientTrace(callCtx, trace), r, ex, body, token)

	start := time.Now()
	resp, err := f.transport.RoundTrip(out)
	if err == nil && (resp.StatusCode < 100 || resp.StatusCode > 599 || resp.StatusCode == http.StatusSwitchingProtocols) {
		// RFC 9110 defines 100-599 (a "000" must not reach the agent as
		// a 200), and the bridge relays no protocol switch.
		resp.Body.Close()
		resp, err = nil, fmt.Errorf("upstream answered with status code %03d, which the bridge does not relay", resp.StatusCode)
	}
	if err != nil {
		f.armWrite(rc)
		f.failed(w, r, body, f.cause(ctx, callCtx, err), sent.sent(gotConn))
		return
	}
	defer resp.Body.Close()
	f.rec.upDuration.Observe(time.Since(start).Seconds())
	f.relay(ctx, callCtx, w, r, rc, resp)
}

// upstreamRequest builds the one request sent upstream for r. Nothing of
// r is copied that is not named here: the target exactly as canonicalised
// (Opaque keeps its bytes as sent, escapes included), the allowlisted
// headers minus any the agent named in Connection, and last the bridge's
// own User-Agent and the credential, which no agent header can replace.
func (f *forwarder) upstreamRequest(ctx context.Context, r *http.Request, ex *exchange, body *cappedBody, token string) *http.Request {
	h := make(http.Header, len(upHeaders)+3)
	copyAllowed(h, r.Header, upHeaders)
	h.Set("User-Agent", f.userAgent)
	h.Set("Authorization", "Bearer "+token)
	h.Set("X-Paperclip-Run-Id", f.runID)
	out := &http.Request{
		Method: r.Method,
		URL: &url.URL{Scheme: f.scheme, Host: f.host, Opaque: f.prefix + ex.path,
			RawQuery: ex.rawQuery, ForceQuery: ex.hasQuery && ex.rawQuery == ""},
		Host:   f.host,
		Header: h,
		// Set, or Transport sends "Content-Length: 0" for a body-less
		// POST, PUT and PATCH itself, as Paperclip's router expects.
		ContentLength: 0,
	}
	if body != nil {
		// A length the agent declared is kept; an unknown one (chunked)
		// is sent chunked. Either way a body that breaks or crosses the
		// cap ends the upload early and the connection closes, so
		// upstream never sees a short body as a whole one.
		out.Body, out.ContentLength = body, r.ContentLength
		if r.ContentLength < 0 {
			out.ContentLength = -1
		}
	}
	return out.WithContext(ctx)
}

// failed answers a call whose RoundTrip returned no usable response.
func (f *forwarder) failed(w http.ResponseWriter, r *http.Request, body *cappedBody, err error, sent bool) {
	switch {
	case body != nil && body.exceeded.Load():
		f.rec.reject(r, reasonRequestTooLarge)
		policy.WriteError(w, http.StatusRequestEntityTooLarge, msgRequestTooLarge)
		return
	case body != nil && body.failure() != nil:
		// The agent stopped sending, or sent a body whose framing is
		// broken; upstream got an incomplete request on a connection
		// now closed, which it cannot have acted on. A stall is 408; a
		// broken body (a bad chunk, say) is the agent's malformed
		// request, 400, and its connection cannot be read further.
		agentErr := body.failure()
		f.log.LogAttrs(r.Context(), slog.LevelInfo, "agent request body failed",
			slog.String("route", exchangeOf(r).route), slog.String("error", agentErr.Error()))
		if isTimeout(agentErr) {
			policy.WriteError(w, http.StatusRequestTimeout, msgBodyStalled)
			return
		}
		w.Header().Set("Connection", "close")
		policy.WriteError(w, http.StatusBadRequest, msgBodyMalformed)
		return
	}
	f.fail(w, r, err, sent)
}

// cause names why a call failed, given the agent's request context and
// the call's own: the agent went away, or the call stalled, rather than
// the I/O error either provoked.
func (f *forwarder) cause(agent, call context.Context, err error) error {
	switch {
	case agent.Err() != nil:
		return errAborted
	case errors.Is(context.Cause(call), errStalled):
		return fmt.Errorf("%w: %w", context.DeadlineExceeded, errStalled)
	}
	return err
}

// fail answers a call that got no usable response head from upstream.
func (f *forwarder) fail(w http.ResponseWriter, r *http.Request, err error, sent bool) {
	if errors.Is(err, errAborted) {
		// The agent hung up first: not an upstream failure, and nobody is
		// left to answer.
		f.log.LogAttrs(r.Context(), slog.LevelInfo, "agent went away during the upstream call",
			slog.String("route", exchangeOf(r).route))
		return
	}
	kind := classify(err, sent)
	f.rec.upErrors.WithLabelValues(kind).Inc()
	f.log.LogAttrs(r.Context(), slog.LevelWarn, "upstream call failed",
		slog.String("route", exchangeOf(r).route), slog.String("kind", kind), slog.String("error", err.Error()))
	switch {
	case kind == kindConnect:
		policy.WriteError(w, http.StatusBadGateway, msgUnreachable)
	case isSafe(r.Method):
		policy.WriteError(w, http.StatusGatewayTimeout, failMessage(kind))
	default:
		policy.WriteIndeterminate(w, failMessage(kind))
	}
}

func failMessage(kind string) string {
	if kind == kindTimeout {
		return msgTimeout
	}
	return msgUpstreamFailed
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
