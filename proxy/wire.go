package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"syscall"
)

// writeRequest writes the upstream request: the head built from the
// allowlists, then the body, then flushes. The credential lines are
// written last, after every copied header, so nothing the agent sent can
// stand in for them or name them in Connection.
func (f *forwarder) writeRequest(bw *bufio.Writer, r *http.Request, ex *exchange, body *cappedBody, token string) error {
	bw.WriteString(r.Method)
	bw.WriteByte(' ')
	bw.WriteString(f.prefix)
	bw.WriteString(ex.path)
	if ex.hasQuery {
		bw.WriteByte('?')
		bw.WriteString(ex.rawQuery)
	}
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(f.host)
	bw.WriteString("\r\n")
	conn := r.Header["Connection"]
	for _, k := range upHeaders {
		vv := r.Header[k]
		if len(vv) == 0 || (len(conn) > 0 && namedIn(conn, k)) {
			continue
		}
		for _, v := range vv {
			// checkOutgoing has refused CR, LF and NUL in values.
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
	bw.WriteString("User-Agent: ")
	bw.WriteString(f.userAgent)
	switch {
	case body != nil && r.ContentLength >= 0:
		bw.WriteString("\r\nContent-Length: ")
		bw.WriteString(strconv.FormatInt(r.ContentLength, 10))
	case body != nil:
		bw.WriteString("\r\nTransfer-Encoding: chunked")
	case r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch:
		bw.WriteString("\r\nContent-Length: 0")
	}
	bw.WriteString("\r\nAuthorization: Bearer ")
	bw.WriteString(token)
	bw.WriteString("\r\nX-Paperclip-Run-Id: ")
	bw.WriteString(f.runID)
	bw.WriteString("\r\n\r\n")
	if body != nil {
		if err := writeBody(bw, body, r.ContentLength >= 0); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// writeBody copies the request body, chunk-encoding it when its length
// is unknown. An error (the cap crossed, the agent gone) leaves the
// request incomplete on the wire; the caller then closes the connection,
// so upstream can never take it for a whole request.
func writeBody(bw *bufio.Writer, body *cappedBody, declared bool) error {
	if declared {
		_, err := bw.ReadFrom(body)
		return err
	}
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	for {
		n, err := body.Read(buf)
		if n > 0 {
			bw.WriteString(strconv.FormatInt(int64(n), 16))
			bw.WriteString("\r\n")
			bw.Write(buf[:n])
			bw.WriteString("\r\n")
		}
		if err == io.EOF {
			_, werr := bw.WriteString("0\r\n\r\n")
			return werr
		}
		if err != nil {
			return err
		}
	}
}

// staleError is a response read that failed before any byte arrived with
// EOF or a reset: on a pooled connection, upstream closed it unused.
type staleError struct{ err error }

func (e staleError) Error() string { return e.err.Error() }
func (e staleError) Unwrap() error { return e.err }

// readResponse reads a response head, skipping interim 1xx answers.
func readResponse(br *bufio.Reader, method string) (*http.Response, error) {
	if _, err := br.Peek(1); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
			return nil, staleError{err}
		}
		return nil, err
	}
	req := answering(method)
	for {
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			return nil, err
		}
		switch {
		case resp.StatusCode < 100 || resp.StatusCode > 599:
			// ReadResponse takes any three digits; RFC 9110 defines
			// 100-599, and "000" must not reach the agent as a 200.
			return nil, fmt.Errorf("upstream answered with invalid status code %03d", resp.StatusCode)
		case resp.StatusCode == http.StatusSwitchingProtocols:
			return nil, errors.New("upstream switched protocols, which the bridge does not relay")
		case resp.StatusCode >= 100 && resp.StatusCode < 200:
			continue // 100 Continue, 103 Early Hints: the real head follows
		}
		return resp, nil
	}
}

// answered are the requests http.ReadResponse is told a response answers,
// one per common method. It only reads the method (HEAD has no body), so
// they are shared instead of allocating a Request, the largest single
// allocation of a forwarded call, for every response.
var answered = func() map[string]*http.Request {
	m := map[string]*http.Request{}
	for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions} {
		m[method] = &http.Request{Method: method}
	}
	return m
}()

func answering(method string) *http.Request {
	if r, ok := answered[method]; ok {
		return r
	}
	return &http.Request{Method: method}
}
