package reliability

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

// rawConn is one keep-alive client connection driven by hand: one
// request at a time, its response read to the end before the next. With
// no client library in between, a response the bridge sent twice, or one
// too many, shows up as a mismatched answer to the next request or as
// stray bytes at the end (see leftover).
type rawConn struct {
	addr string
	c    net.Conn
	br   *bufio.Reader
}

func dialRaw(addr string) (*rawConn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &rawConn{addr: addr, c: c, br: bufio.NewReaderSize(c, 16<<10)}, nil
}

// reply is a response read off a rawConn.
type reply struct {
	status int
	header http.Header
	body   []byte
	close  bool // the server announced it closes the connection
}

// roundTrip writes req and reads one response within limit.
func (r *rawConn) roundTrip(req []byte, limit time.Duration) (reply, error) {
	_ = r.c.SetDeadline(time.Now().Add(limit))
	if _, err := r.c.Write(req); err != nil {
		return reply{}, fmt.Errorf("write: %w", err)
	}
	resp, err := http.ReadResponse(r.br, nil)
	if err != nil {
		return reply{}, fmt.Errorf("read head: %w", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return reply{}, fmt.Errorf("read body (status %d): %w", resp.StatusCode, err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: body, close: resp.Close}, nil
}

// leftover waits briefly and reports bytes nobody asked for.
func (r *rawConn) leftover(wait time.Duration) []byte {
	_ = r.c.SetReadDeadline(time.Now().Add(wait))
	var buf bytes.Buffer
	_, _ = io.Copy(&buf, r.br)
	return buf.Bytes()
}

func (r *rawConn) Close() error { return r.c.Close() }

// timedOut reports a client-side deadline: a request that hung.
func timedOut(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// getReq is a GET with the bridge token.
func getReq(key, target string) []byte {
	return []byte("GET " + target + " HTTP/1.1\r\nHost: bridge\r\nAuthorization: Bearer " + key + "\r\n\r\n")
}

// postReq is a JSON POST with the bridge token.
func postReq(key, target string, body []byte) []byte {
	head := "POST " + target + " HTTP/1.1\r\nHost: bridge\r\nAuthorization: Bearer " + key +
		"\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n"
	return append([]byte(head), body...)
}
