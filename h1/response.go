package h1

import (
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// response is the http.ResponseWriter of one request. The head is written
// lazily: a handler that sets Content-Length streams straight out; one
// that does not is buffered up to smallBody bytes and then given a length,
// and only a larger body of unknown length is sent chunked.
type response struct {
	c      *conn
	req    *http.Request
	header http.Header

	status      int
	wroteHeader bool // WriteHeader called (the status is fixed)
	headSent    bool // the head is in the connection's buffer
	declared    int64
	written     int64
	chunked     bool
	noBody      bool // HEAD, 204, 304: body bytes are counted, not sent
	small       []byte
	closeAfter  bool
}

const smallBody = 2 << 10

func newResponse(c *conn, req *http.Request) *response {
	return &response{c: c, req: req, header: make(http.Header, 4), declared: -1, closeAfter: req.Close}
}

func (w *response) Header() http.Header { return w.header }

func (w *response) WriteHeader(code int) {
	if code < 100 || code > 999 {
		// As net/http: a status line needs three digits. A handler that
		// passes anything else has a bug; like any handler panic, this
		// ends the connection without an answer.
		panic("h1: invalid WriteHeader code " + strconv.Itoa(code))
	}
	if w.wroteHeader || code < 200 {
		return // interim answers are not relayed; a second call is a no-op
	}
	w.wroteHeader = true
	w.status = code
	w.noBody = w.req.Method == http.MethodHead || code == http.StatusNoContent || code == http.StatusNotModified
	if cl := w.header.Get("Content-Length"); cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil && n >= 0 {
			w.declared = n
		} else {
			w.header.Del("Content-Length")
		}
	}
}

func (w *response) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.noBody {
		w.written += int64(len(p))
		return len(p), nil
	}
	if w.declared >= 0 && w.written+int64(len(p)) > w.declared {
		return 0, http.ErrContentLength
	}
	if !w.headSent && w.declared < 0 {
		if len(w.small)+len(p) <= smallBody {
			w.small = append(w.small, p...)
			w.written += int64(len(p))
			return len(p), nil
		}
		w.chunked = true
		w.sendHead()
		if len(w.small) > 0 {
			w.chunk(w.small)
			w.small = nil
		}
	}
	if !w.headSent {
		w.sendHead()
	}
	w.written += int64(len(p))
	if w.chunked {
		w.chunk(p)
		return len(p), nil
	}
	return w.c.bw.Write(p)
}

func (w *response) chunk(p []byte) {
	bw := w.c.bw
	bw.WriteString(strconv.FormatInt(int64(len(p)), 16))
	bw.WriteString("\r\n")
	bw.Write(p)
	bw.WriteString("\r\n")
}

// sendHead writes the status line and headers into the buffer.
func (w *response) sendHead() {
	w.headSent = true
	bt, _ := w.req.Body.(*bodyTracker)
	if w.c.srv.shutdown.Load() || hasToken(w.header.Get("Connection"), "close") ||
		(w.req.ContentLength != 0 && bt != nil && !bt.sawEOF) {
		// An unread request body is not drained: the connection closes.
		w.closeAfter = true
	}
	bw := w.c.bw
	bw.WriteString("HTTP/1.1 ")
	bw.WriteString(strconv.Itoa(w.status))
	bw.WriteByte(' ')
	bw.WriteString(http.StatusText(w.status))
	bw.WriteString("\r\n")
	for k, vv := range w.header {
		if k == "Connection" || k == "Transfer-Encoding" || (k == "Content-Length" && w.noBody && w.req.Method != http.MethodHead) {
			continue
		}
		for _, v := range vv {
			if strings.ContainsAny(v, "\r\n") {
				continue // never let a value start a header of its own
			}
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
	if _, ok := w.header["Date"]; !ok {
		bw.WriteString("Date: ")
		bw.WriteString(httpDate())
		bw.WriteString("\r\n")
	}
	if w.chunked {
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	switch {
	case w.closeAfter:
		bw.WriteString("Connection: close\r\n")
	case !w.req.ProtoAtLeast(1, 1):
		// An HTTP/1.0 client that asked to keep the connection assumes
		// close unless told otherwise.
		bw.WriteString("Connection: keep-alive\r\n")
	}
	bw.WriteString("\r\n")
}

// finish completes the response after the handler returns.
func (w *response) finish() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.headSent {
		if w.declared < 0 && !w.noBody {
			w.header.Set("Content-Length", strconv.Itoa(len(w.small)))
			w.declared = int64(len(w.small))
		}
		w.sendHead()
		if len(w.small) > 0 {
			w.c.bw.Write(w.small)
		}
	}
	if w.chunked {
		w.c.bw.WriteString("0\r\n\r\n")
	}
	if !w.noBody && w.declared >= 0 && w.written < w.declared {
		// The handler sent less than it declared: the client can only
		// tell from the connection closing.
		w.closeAfter = true
	}
	if w.closeAfter {
		return w.c.bw.Flush()
	}
	return nil
}

// Flush sends what is buffered, the head included.
func (w *response) Flush() { _ = w.FlushError() }

// FlushError is Flush with its error, for http.ResponseController.
func (w *response) FlushError() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.headSent {
		if w.declared < 0 && !w.noBody {
			w.chunked = true
		}
		w.sendHead()
		if len(w.small) > 0 {
			w.chunk(w.small)
			w.small = nil
		}
	}
	return w.c.bw.Flush()
}

// SetReadDeadline and SetWriteDeadline let the handler bound each body
// read and each write through http.ResponseController.
func (w *response) SetReadDeadline(t time.Time) error  { return w.c.nc.SetReadDeadline(t) }
func (w *response) SetWriteDeadline(t time.Time) error { return w.c.nc.SetWriteDeadline(t) }

func hasToken(v, token string) bool {
	for v != "" {
		var t string
		t, v, _ = strings.Cut(v, ",")
		if strings.EqualFold(strings.TrimSpace(t), token) {
			return true
		}
	}
	return false
}

// httpDate is the Date header value, formatted at most once a second.
func httpDate() string {
	now := time.Now()
	if d := dateCache.Load(); d != nil && d.sec == now.Unix() {
		return d.text
	}
	d := &cachedDate{sec: now.Unix(), text: now.UTC().Format(http.TimeFormat)}
	dateCache.Store(d)
	return d.text
}

type cachedDate struct {
	sec  int64
	text string
}

var dateCache atomic.Pointer[cachedDate]

func itoa(n int) string { return strconv.Itoa(n) }

// validFieldName reports an RFC 9110 token.
func validFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// validFieldValue refuses control bytes other than tab.
func validFieldValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
