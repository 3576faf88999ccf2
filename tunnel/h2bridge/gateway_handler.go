package h2bridge

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
)

// Answers the gateway makes itself, with Paperclip's strings where it has
// one for the case.
const (
	msgInvalidToken  = "Invalid bridge token."
	msgUnavailable   = "bridge_unavailable"
	msgInvalidPath   = "Invalid request path."
	msgBodyTooLarge  = "Bridge request body exceeded the configured size limit."
	msgNotSent       = "Bridge could not send the request over the HTTP/2 session; it was not sent."
	msgStreamLost    = "Bridge lost the HTTP/2 stream before the response completed."
	outcomeHeader    = "X-Paperclip-Bridge-Outcome"
	outcomeUncertain = "indeterminate"
)

// forwardedHeaders is Paperclip's header allowlist, applied here as the
// gateway does; the host applies it again.
var forwardedHeaders = []string{"Accept", "Content-Type", "If-Match", "If-None-Match", "X-Paperclip-Github-Capability"}

// gateway turns each local HTTP/1.1 request into one stream of the
// session.
type gateway struct {
	cfg  GatewayConfig
	cc   *http2.ClientConn
	conn *pipeConn
	log  *slog.Logger
}

// available reports whether a new stream can be opened: the channel has
// not failed and the host has not sent GOAWAY.
func (g *gateway) available() bool {
	select {
	case <-g.conn.Lost():
		return false
	default:
	}
	st := g.cc.State()
	return !st.Closed && !st.Closing
}

func (g *gateway) tokenOK(auth string) bool {
	got, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || len(got) != len(g.cfg.Token) {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(g.cfg.Token)) == 1
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body *cappedReader
	unread := func() bool {
		if body != nil {
			return !body.eof.Load()
		}
		return r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody
	}
	// Whatever answers, an agent body not read to its end must not hold
	// the answer (see answerWriter), nor the handler's end: a read
	// deadline already passed makes net/http's read of the rest fail at
	// once. It is set only now, after the answer is out, because it also
	// fails the stream's body upload, and x/net then resets the stream,
	// answer and all.
	w = &answerWriter{ResponseWriter: w, unread: unread}
	var endOnce sync.Once
	endUnread := func() {
		endOnce.Do(func() {
			if unread() {
				_ = http.NewResponseController(w).SetReadDeadline(time.Unix(1, 0))
			}
		})
	}
	defer endUnread()
	// The gateway's own token check: a caller without the token never
	// opens a stream (the host checks again, independently).
	if !g.tokenOK(r.Header.Get("Authorization")) {
		writeJSON(w, http.StatusUnauthorized, errorBody{Error: msgInvalidToken})
		return
	}
	if !g.available() {
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: msgUnavailable})
		return
	}
	u, ok := streamURL(r.RequestURI)
	if !ok {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: msgInvalidPath})
		return
	}
	if r.ContentLength > g.cfg.MaxBodyBytes {
		writeJSON(w, http.StatusRequestEntityTooLarge, errorBody{Error: msgBodyTooLarge})
		return
	}
	out := &http.Request{Method: r.Method, URL: u, Host: authority, Header: g.streamHeader(r.Header)}
	if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
		// The body streams into the stream as it arrives; nothing of it
		// is held here beyond HTTP/2's flow-control window.
		body = &cappedReader{r: r.Body, max: g.cfg.MaxBodyBytes}
		out.Body, out.ContentLength = body, r.ContentLength
	}
	var sent atomic.Bool
	ctx := httptrace.WithClientTrace(r.Context(), &httptrace.ClientTrace{WroteHeaders: func() { sent.Store(true) }})
	resp, err := g.cc.RoundTrip(out.WithContext(ctx))
	if err != nil {
		g.fail(w, r, err, sent.Load(), body)
		return
	}
	defer resp.Body.Close()
	// Before that Close, which waits for the stream's upload of the
	// agent's body to end.
	defer endUnread()
	for k, vv := range resp.Header {
		if !hopByHop(k) {
			w.Header()[k] = vv
		}
	}
	status := resp.StatusCode
	if resp.Header.Get(outcomeHeader) == outcomeUncertain {
		// A 5xx invites a retry, and the host cannot tell whether the
		// mutation committed: answer non-retryable 409, header and body
		// kept, as Paperclip's gateway does.
		status = http.StatusConflict
	}
	if resp.ContentLength >= 0 {
		w.Header().Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	}
	w.WriteHeader(status)
	if _, err := io.Copy(w, resp.Body); err != nil {
		// Never pass a cut-off body as complete: abort the agent's
		// connection instead.
		g.log.Info("response cut off", "error", err)
		panic(http.ErrAbortHandler)
	}
}

// fail answers a stream that produced no response, by what may have
// reached the host. Nothing sent is always safe to retry; once headers
// went out, a mutation may have run, so it gets the indeterminate 409,
// never a retryable status (Paperclip's gateway answers 502 here).
func (g *gateway) fail(w http.ResponseWriter, r *http.Request, err error, sent bool, body *cappedReader) {
	unprocessed := !sent || refused(err)
	switch {
	case body != nil && body.exceeded.Load():
		writeJSON(w, http.StatusRequestEntityTooLarge, errorBody{Error: msgBodyTooLarge})
	case r.Context().Err() != nil:
		// The agent went away; there is no one to answer.
	case unprocessed && !g.available():
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: msgUnavailable})
	case unprocessed:
		g.log.Warn("stream not opened", "error", err)
		writeJSON(w, http.StatusBadGateway, errorBody{Error: msgNotSent})
	case safeMethod(r.Method):
		g.log.Warn("stream failed", "error", err)
		writeJSON(w, http.StatusBadGateway, errorBody{Error: msgStreamLost})
	default:
		g.log.Warn("mutation stream failed after it was sent", "error", err)
		w.Header().Set(outcomeHeader, outcomeUncertain)
		writeJSON(w, http.StatusConflict, errorBody{Error: msgStreamLost, Outcome: outcomeUncertain, Retryable: new(bool)})
	}
}

// refused reports a stream the host declared it never processed: reset
// with REFUSED_STREAM, or above the last stream id of its GOAWAY (which
// x/net reports only by this error's text; a test pins it).
func refused(err error) bool {
	if se, ok := errors.AsType[http2.StreamError](err); ok && se.Code == http2.ErrCodeRefusedStream {
		return true
	}
	return strings.Contains(err.Error(), "received Server's graceful shutdown GOAWAY")
}

// streamURL makes the stream's URL from the raw request target, so that
// :path is exactly the path and query the agent sent (no re-encoding).
// Only origin form can be a :path; "//x" would read as an authority.
func streamURL(target string) (*url.URL, bool) {
	if !strings.HasPrefix(target, "/") || strings.HasPrefix(target, "//") {
		return nil, false
	}
	path, query, hasQuery := strings.Cut(target, "?")
	return &url.URL{Scheme: "http", Host: authority, Opaque: path, RawQuery: query, ForceQuery: hasQuery && query == ""}, true
}

// streamHeader is what the stream carries: the allowlisted headers (minus
// any the agent named in Connection, which are hop-by-hop by its own
// word) and the bridge token. User-Agent is set empty so that the
// transport adds none of its own.
func (g *gateway) streamHeader(in http.Header) http.Header {
	h := http.Header{"Authorization": {"Bearer " + g.cfg.Token}, "User-Agent": {""}}
	named := strings.ToLower(strings.Join(in["Connection"], ","))
	for _, k := range forwardedHeaders {
		if vv, ok := in[k]; ok && !listed(named, strings.ToLower(k)) {
			h[k] = vv
		}
	}
	return h
}

func listed(list, name string) bool {
	for _, f := range strings.Split(list, ",") {
		if strings.TrimSpace(f) == name {
			return true
		}
	}
	return false
}

func hopByHop(k string) bool {
	switch k {
	case "Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade", "Te", "Trailer", "Content-Length":
		return true
	}
	return false
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions || m == http.MethodTrace
}

// cappedReader fails the read that takes a body past max, which resets
// the stream: the host never sees a truncated body as complete.
type cappedReader struct {
	r        io.Reader
	max, n   int64
	exceeded atomic.Bool
	eof      atomic.Bool // read to its end
}

var errBodyTooLarge = errors.New("request body exceeds the configured limit")

func (c *cappedReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > c.max {
		c.exceeded.Store(true)
		return 0, errBodyTooLarge
	}
	if err == io.EOF {
		c.eof.Store(true)
	}
	return n, err
}

func (c *cappedReader) Close() error { return nil } // the server closes the agent's body

// answerWriter closes the agent's connection after an answer given
// before the agent's body was read to its end. net/http would otherwise
// read the rest of a small body (up to 256 KiB) before sending the
// answer, and an agent trickling it, or one the host already refused,
// would hold the answer hostage until ReadTimeout: Connection: close
// skips that read. (The callback handler does the same on its HTTP/1
// side; ServeHTTP ends the read after the handler.)
type answerWriter struct {
	http.ResponseWriter
	unread    func() bool
	wroteHead bool
}

func (a *answerWriter) WriteHeader(code int) {
	if !a.wroteHead {
		a.wroteHead = true
		if a.unread() {
			a.Header().Set("Connection", "close")
		}
	}
	a.ResponseWriter.WriteHeader(code)
}

func (a *answerWriter) Write(b []byte) (int, error) {
	if !a.wroteHead {
		a.WriteHeader(http.StatusOK)
	}
	return a.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (a *answerWriter) Unwrap() http.ResponseWriter { return a.ResponseWriter }

// errorBody is every answer the gateway makes itself.
type errorBody struct {
	Error     string `json:"error"`
	Outcome   string `json:"outcome,omitempty"`
	Retryable *bool  `json:"retryable,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, body errorBody) {
	b, _ := json.Marshal(body) // strings and a bool: cannot fail
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
