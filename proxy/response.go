package proxy

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"

	"github.com/clipbridge/clipbridge/proxy/policy"
)

// copyBufSize is the relay chunk: large enough that a 10 MiB body takes
// few syscalls, small enough to pool per request.
const copyBufSize = 32 << 10

var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// relay passes an upstream response to the agent, enforcing the response
// cap. A body whose declared length fits streams straight through; one of
// unknown length is held (up to the cap, within the budget) so that an
// over-cap body still gets a clean error status instead of a cut stream.
// Each read of the body is stall-bounded by its connection (stallConn);
// the caller closes the body, which returns a connection read to its end
// to the pool and closes any other.
func (f *forwarder) relay(ctx, callCtx context.Context, w http.ResponseWriter, r *http.Request, rc *http.ResponseController,
	resp *http.Response) {
	f.armWrite(rc)
	noBody := r.Method == http.MethodHead || resp.StatusCode == http.StatusNoContent ||
		resp.StatusCode == http.StatusNotModified
	switch {
	case !noBody && resp.ContentLength > f.maxBody:
		f.tooLarge(w, r)
	case noBody:
		copyAllowed(w.Header(), resp.Header, downHeaders)
		if r.Method == http.MethodHead && resp.ContentLength >= 0 && resp.ContentLength <= f.maxBody {
			w.Header().Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
		}
		w.WriteHeader(resp.StatusCode)
	case resp.ContentLength >= 0:
		f.stream(ctx, callCtx, w, r, rc, resp)
	default:
		f.hold(ctx, callCtx, w, r, rc, resp)
	}
}

// stream relays a body of declared, allowed length as it arrives.
func (f *forwarder) stream(ctx, callCtx context.Context, w http.ResponseWriter, r *http.Request, rc *http.ResponseController,
	resp *http.Response) {
	copyAllowed(w.Header(), resp.Header, downHeaders)
	w.Header().Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	w.WriteHeader(resp.StatusCode)
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			f.armWrite(rc)
			if _, werr := w.Write(buf[:n]); werr != nil {
				return // the agent went away; nothing left to tell it
			}
		}
		if rerr == io.EOF {
			return
		}
		if rerr != nil {
			// Headers and part of the body are out: the only honest
			// signal left is to abort the connection, so the agent
			// never takes a short body for a complete one.
			f.upstreamBroke(ctx, callCtx, r, rerr)
			exchangeOf(r).aborted = true
			f.armWrite(rc) // the stall that ended upstream may have used up the last deadline
			_ = rc.Flush() // what did arrive goes out before the cut
			panic(http.ErrAbortHandler)
		}
	}
}

// hold reads a body of unknown length into memory, up to the cap.
func (f *forwarder) hold(ctx, callCtx context.Context, w http.ResponseWriter, r *http.Request, rc *http.ResponseController,
	resp *http.Response) {
	var held []byte
	var reserved int64
	defer func() { f.budget.Release(reserved) }()
	for {
		if len(held) == cap(held) {
			// Grow by doubling, reserving the growth first. One byte past
			// the cap is enough to tell an over-cap body.
			newCap := min(max(2*int64(cap(held)), copyBufSize), f.maxBody+1)
			if !f.budget.Reserve(newCap - int64(cap(held))) {
				f.rec.reject(r, reasonBodyBudget)
				f.armWrite(rc)
				if isSafe(r.Method) {
					writeRetryLater(w, msgBodyBudget, 1)
				} else {
					policy.WriteIndeterminate(w, msgBodyBudget)
				}
				return
			}
			reserved = newCap
			grown := make([]byte, len(held), newCap)
			copy(grown, held)
			held = grown
		}
		n, err := resp.Body.Read(held[len(held):cap(held)])
		held = held[:len(held)+n]
		if int64(len(held)) > f.maxBody {
			f.armWrite(rc)
			f.tooLarge(w, r)
			return
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			kind := f.upstreamBroke(ctx, callCtx, r, err)
			f.armWrite(rc)
			if isSafe(r.Method) {
				policy.WriteError(w, http.StatusGatewayTimeout, failMessage(kind))
			} else {
				policy.WriteIndeterminate(w, failMessage(kind))
			}
			return
		}
	}
	copyAllowed(w.Header(), resp.Header, downHeaders)
	w.Header().Set("Content-Length", strconv.Itoa(len(held)))
	f.armWrite(rc)
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(held)
}

// tooLarge answers an upstream response over the cap: retryable 502 for a
// safe method, the indeterminate 409 for a mutation, which upstream has
// already carried out.
func (f *forwarder) tooLarge(w http.ResponseWriter, r *http.Request) {
	f.rec.reject(r, reasonResponseTooLarge)
	msg := "Bridge response body exceeded the configured size limit of " + strconv.FormatInt(f.maxBody, 10) + " bytes."
	if isSafe(r.Method) {
		policy.WriteError(w, http.StatusBadGateway, msg)
	} else {
		policy.WriteIndeterminate(w, msg)
	}
}

// upstreamBroke counts and logs a failure while reading a response body.
func (f *forwarder) upstreamBroke(ctx, callCtx context.Context, r *http.Request, err error) string {
	err = f.cause(ctx, callCtx, err)
	kind := classify(err, true)
	f.rec.upErrors.WithLabelValues(kind).Inc()
	f.log.LogAttrs(r.Context(), slog.LevelWarn, "upstream response failed",
		slog.String("route", exchangeOf(r).route), slog.String("kind", kind), slog.String("error", err.Error()))
	return kind
}
