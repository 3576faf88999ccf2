package proxy

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/clipbridge/clipbridge/proxy/budget"
)

// forwarder sends an admitted request upstream with the real credential
// and relays the answer. Every failure needs a status that depends on
// whether the request may have reached upstream and on the method (502,
// 504 or the indeterminate 409), and response caps need a clean status
// before any byte is relayed; upstreamClient gives it exact control of
// both (see there for why not http.Transport or httputil.ReverseProxy).
type forwarder struct {
	host, prefix string
	client       *upstreamClient
	runToken     func() string
	runID        string
	userAgent    string
	maxBody      int64
	timeout      time.Duration
	budget       *budget.Budget
	rec          *recorder
	log          *slog.Logger
}

func newForwarder(o *Options, rec *recorder, b *budget.Budget) *forwarder {
	u := o.Upstream
	prefix := u.EscapedPath()
	for len(prefix) > 0 && prefix[len(prefix)-1] == '/' {
		prefix = prefix[:len(prefix)-1]
	}
	return &forwarder{
		host: u.Host, prefix: prefix,
		client:    newUpstreamClient(u.Scheme, u.Host, o.MaxInFlight),
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
	// One read of the credential per request: the value checked is the
	// value sent, even if the token file rotates in between.
	token := f.runToken()
	if err := f.checkOutgoing(r, exchangeOf(r), token); err != nil {
		f.fail(w, r, err, false)
		return
	}
	rc := http.NewResponseController(w)
	var body *cappedBody
	if HasBody(r) {
		body = &cappedBody{r: r.Body, max: f.maxBody, rc: rc, stall: f.timeout, ex: exchangeOf(r)}
	}
	for attempt := 0; ; attempt++ {
		retry := f.attempt(w, r, rc, body, token, attempt == 0)
		if !retry {
			return
		}
	}
}

// attempt makes one upstream call. It asks for a retry only when a pooled
// connection turned out to be closed by upstream before it read anything
// and the request is safe and body-less: upstream provably did not act.
func (f *forwarder) attempt(w http.ResponseWriter, r *http.Request, rc *http.ResponseController, body *cappedBody,
	token string, first bool) (retry bool) {
	ctx := r.Context()
	pc, err := f.client.get(ctx)
	if err != nil {
		f.armWrite(rc)
		// On a retry the first attempt was sent (to a connection upstream
		// had closed), so "not sent" would no longer be true.
		f.fail(w, r, err, !first)
		return false
	}
	// The agent hanging up (or the server closing) ends the upstream call
	// at once: every blocked read or write on the connection fails.
	stop := context.AfterFunc(ctx, func() { _ = pc.SetDeadline(time.Unix(1, 0)) })
	reusable := false
	defer func() {
		if !reusable {
			stop()
			pc.Close()
		}
	}()

	// Each stall bound is a connection deadline pushed forward with
	// progress: --upstream-timeout bounds the write of each body chunk,
	// the wait for the response head, and each read of the body.
	pc.pushWrite(f.timeout)
	if body != nil {
		body.progress = func() { pc.pushWrite(f.timeout) }
	}
	start := time.Now()
	err = f.writeRequest(pc.bw, r, exchangeOf(r), body, token)
	if err != nil {
		f.armWrite(rc)
		if body != nil && body.exceeded.Load() {
			f.rec.reject(r, reasonRequestTooLarge)
			WriteError(w, http.StatusRequestEntityTooLarge, msgRequestTooLarge)
			return false
		}
		if body != nil && body.agentErr != nil {
			// The agent stopped sending, or sent a body whose framing is
			// broken; upstream got an incomplete request on a connection
			// now closed, which it cannot have acted on. A stall is 408; a
			// broken body (a bad chunk, say) is the agent's malformed
			// request, 400, and its connection cannot be read further.
			f.log.LogAttrs(ctx, slog.LevelInfo, "agent request body failed",
				slog.String("route", exchangeOf(r).route), slog.String("error", body.agentErr.Error()))
			if isTimeout(body.agentErr) {
				WriteError(w, http.StatusRequestTimeout, msgBodyStalled)
				return false
			}
			w.Header().Set("Connection", "close")
			WriteError(w, http.StatusBadRequest, msgBodyMalformed)
			return false
		}
		f.fail(w, r, f.cause(ctx, err), pc.wrote)
		return false
	}
	pc.pushRead(f.timeout)
	resp, err := readResponse(pc.br, r.Method)
	if err != nil {
		if first && pc.reused && body == nil && isSafe(r.Method) && isStale(err) {
			return true
		}
		f.armWrite(rc)
		f.fail(w, r, f.cause(ctx, err), true)
		return false
	}
	f.rec.upDuration.Observe(time.Since(start).Seconds())
	progress := func() { pc.pushRead(f.timeout) }
	clean := f.relay(ctx, w, r, rc, resp, progress)
	// Pool the connection only if the hang-up hook never ran: once it has,
	// the connection's deadline is poisoned. stop() must come before put,
	// or a concurrent request could take a connection about to be closed.
	if clean && !resp.Close && stop() {
		reusable = true
		f.client.put(pc)
	}
	return false
}

// cause prefers "the agent went away" over the I/O error it provoked.
func (f *forwarder) cause(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return errAborted
	}
	return err
}

// isStale reports the failure of a pooled connection that upstream had
// already closed: not one byte of a response arrived.
func isStale(err error) bool {
	var se staleError
	return errors.As(err, &se)
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
		WriteError(w, http.StatusBadGateway, msgUnreachable)
	case isSafe(r.Method):
		WriteError(w, http.StatusGatewayTimeout, failMessage(kind))
	default:
		writeIndeterminate(w, failMessage(kind))
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
