package worker

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/clipbridge/clipbridge/proxy/budget"
	"github.com/clipbridge/clipbridge/proxy/policy"
	"github.com/clipbridge/clipbridge/tunnel/queue"
	"github.com/clipbridge/clipbridge/tunnel/queue/queuedir"
)

// Why an envelope cannot become a request. The worker answers both with 400 and forwards nothing:
// errEnvelopeTarget with "Invalid request path." (as the local listener answers a bad target),
// errEnvelopeHead with "Invalid bridge request payload.".
var (
	errEnvelopeTarget = errors.New("envelope path and query are not a valid origin-form request target")
	errEnvelopeHead   = errors.New("envelope method or headers are not valid HTTP")
)

// envelopeFraming are envelope headers the request does not take: they describe the HTTP
// exchange between the agent and the gateway, not the call. net/http moves Host out of the
// header map and frames the body itself; here the body's length is the envelope's.
var envelopeFraming = map[string]bool{"host": true, "content-length": true, "transfer-encoding": true}

// envelopeRequest builds the *http.Request the callback handler sees for a request envelope.
//
// The sandbox writes envelopes, so every field is hostile. The request built here is the one
// net/http's server would have handed the handler for the equivalent request on the wire
// (wireForm): method a token; target in origin form with no control byte, space or DEL;
// header names tokens, values trimmed of blanks and free of CR, LF, NUL and other controls.
// Anything else is refused, never repaired: a value with "\r\n" in it once travelled upstream
// verbatim and became a second, smuggled request carrying the run's credential.
func envelopeRequest(ctx context.Context, req *queue.Request, body io.Reader, size int64) (*http.Request, error) {
	if !policy.ValidMethod(req.Method) {
		return nil, errEnvelopeHead
	}
	target := envelopeTarget(req)
	if !policy.ValidTarget(target) {
		return nil, errEnvelopeTarget
	}
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return nil, errEnvelopeTarget
	}
	h := make(http.Header, len(req.Headers)+1)
	for k, v := range req.Headers {
		v = strings.Trim(v, " \t")
		if v == "" || envelopeFraming[strings.ToLower(k)] {
			continue
		}
		if !policy.ValidHeader(http.Header{k: {v}}) {
			return nil, errEnvelopeHead
		}
		h.Set(k, v)
	}
	if size > 0 {
		h.Set("Content-Length", strconv.FormatInt(size, 10))
	}
	hreq := (&http.Request{
		Method: req.Method, URL: u, RequestURI: target,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Host: "127.0.0.1", RemoteAddr: "queue",
		ContentLength: size, Body: http.NoBody,
	}).WithContext(ctx)
	if size > 0 {
		hreq.Body = io.NopCloser(body)
	}
	return hreq, nil
}

// envelopeTarget joins path and query as Paperclip's worker does: a query with or without its
// leading '?', and a lone "?" meaning none.
func envelopeTarget(req *queue.Request) string {
	query := req.Query
	if query == "?" {
		query = ""
	} else if query != "" && !strings.HasPrefix(query, "?") {
		query = "?" + query
	}
	return req.Path + query
}

// openBody is the envelope's DecodedBody for the worker, which must not copy a body it can avoid
// copying: a text body is read straight from the envelope's string; a base64 one is decoded into
// memory reserved on hold first (a *queuedir.BudgetError if it cannot be), and its text is then
// dropped.
func openBody(r *queue.Request, maxBody int64, hold *budget.Hold) (io.Reader, int64, error) {
	if text, ok := r.TextBody(); ok {
		if int64(len(text)) > maxBody {
			return nil, 0, queue.ErrBodyTooLarge
		}
		return strings.NewReader(text), int64(len(text)), nil
	}
	if need := int64(base64.StdEncoding.DecodedLen(len(r.Body))); r.BodyEncoding == queue.EncodingBase64 && !hold.Grow(need) {
		return nil, 0, &queuedir.BudgetError{Need: need}
	}
	b, err := r.DecodedBody(maxBody)
	if err != nil {
		return nil, 0, err
	}
	r.Body = ""
	return bytes.NewReader(b), int64(len(b)), nil
}
