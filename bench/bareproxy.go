package main

import (
	"bufio"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
)

// bareProxyRole turns the harness binary into a "Go floor": the least a
// Go program does to forward the bench's GETs (a bearer check, the
// credential swap, pooled upstream connections) and nothing else: no route
// allowlist, header filtering, limits, timeouts, metrics or log. It is not
// a usable proxy. It is in the table to separate what the Go runtime costs
// from what clipbridge's own per-request work costs, next to nginx.
//
// It parses in one of two ways, chosen by CLIPBRIDGE_BENCH_PARSER:
// net/http's http.ReadRequest and http.ReadResponse (the parsers
// clipbridge uses), or "raw", a hand-written line scanner that allocates
// nothing and accepts only what the bench sends (see rawparse.go). The
// two rows together show what the parsers cost, and how close to nginx a
// Go proxy can come on this machine at all.
const bareProxyRole = "bare-proxy"

func runBareProxy() error {
	p := &bareProxy{
		upstream: os.Getenv("CLIPBRIDGE_BENCH_UPSTREAM"),
		raw:      os.Getenv("CLIPBRIDGE_BENCH_PARSER") == "raw",
		want:     []byte("Bearer " + os.Getenv("CLIPBRIDGE_BENCH_BRIDGE_TOKEN")),
		head: " HTTP/1.1\r\nHost: " + os.Getenv("CLIPBRIDGE_BENCH_UPSTREAM") +
			"\r\nAuthorization: Bearer " + os.Getenv("CLIPBRIDGE_BENCH_RUN_TOKEN") +
			"\r\nX-Paperclip-Run-Id: " + os.Getenv("CLIPBRIDGE_BENCH_RUN_ID") + "\r\n\r\n",
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Printf("listening %s\n", ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go p.serve(c)
	}
}

type bareProxy struct {
	upstream, head string
	raw            bool
	want           []byte
	mu             sync.Mutex
	idle           []*bareUp
}

type bareUp struct {
	c  net.Conn
	br *bufio.Reader
	bw *bufio.Writer
}

// errBareRefused ends a connection whose request the bare proxy does not
// forward (wrong token, or a body).
var errBareRefused = errors.New("bare proxy: refused")

func (p *bareProxy) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 4<<10)
	bw := bufio.NewWriterSize(c, 32<<10)
	buf := make([]byte, 32<<10)
	var line, status []byte // reused: "METHOD URI" and the status line
	for {
		var err error
		if p.raw {
			line, err = readRawRequest(br, line[:0], p.want)
		} else {
			line, err = p.readStdRequest(br, line[:0])
		}
		if errors.Is(err, errBareRefused) {
			_, _ = bw.WriteString("HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
			_ = bw.Flush()
			return
		}
		if err != nil {
			return
		}
		if status, err = p.forward(line, status[:0], bw, buf); err != nil {
			return
		}
		// Pipelined requests share one write.
		if br.Buffered() == 0 && bw.Flush() != nil {
			return
		}
	}
}

// readStdRequest reads a request with net/http's parser and returns its
// "METHOD URI" appended to line.
func (p *bareProxy) readStdRequest(br *bufio.Reader, line []byte) ([]byte, error) {
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, err
	}
	if req.ContentLength != 0 || subtle.ConstantTimeCompare([]byte(req.Header.Get("Authorization")), p.want) != 1 {
		return nil, errBareRefused
	}
	line = append(line, req.Method...)
	line = append(line, ' ')
	return append(line, req.RequestURI...), nil
}

// forward sends one request upstream and writes its answer into bw; it
// returns the status buffer for reuse.
func (p *bareProxy) forward(line, status []byte, bw *bufio.Writer, buf []byte) ([]byte, error) {
	u, err := p.get()
	if err != nil {
		return status, err
	}
	_, _ = u.bw.Write(line)
	_, _ = u.bw.WriteString(p.head)
	if err := u.bw.Flush(); err != nil {
		u.c.Close()
		return status, err
	}
	var ctype string
	var n int64
	var body io.Reader
	if p.raw {
		status, ctype, n, err = readRawResponse(u.br, status)
		body = u.br
	} else {
		var resp *http.Response
		if resp, err = http.ReadResponse(u.br, nil); err == nil {
			status = append(status, "HTTP/1.1 "+resp.Status...)
			ctype, n, body = resp.Header.Get("Content-Type"), resp.ContentLength, resp.Body
		}
	}
	if err != nil || n < 0 {
		u.c.Close()
		return status, errors.Join(err, errors.New("bare proxy: no response of known length"))
	}
	_, _ = bw.Write(status)
	_, _ = bw.WriteString("\r\nContent-Type: ")
	_, _ = bw.WriteString(ctype)
	_, _ = bw.WriteString("\r\nContent-Length: ")
	_, _ = bw.Write(strconv.AppendInt(buf[:0], n, 10))
	_, _ = bw.WriteString("\r\n\r\n")
	for n > 0 {
		k, err := io.ReadFull(body, buf[:min(n, int64(len(buf)))])
		_, _ = bw.Write(buf[:k])
		if err != nil {
			u.c.Close()
			return status, err
		}
		n -= int64(k)
	}
	p.mu.Lock()
	p.idle = append(p.idle, u)
	p.mu.Unlock()
	return status, nil
}

func (p *bareProxy) get() (*bareUp, error) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		u := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return u, nil
	}
	p.mu.Unlock()
	c, err := net.Dial("tcp", p.upstream)
	if err != nil {
		return nil, err
	}
	return &bareUp{c: c, br: bufio.NewReaderSize(c, 32<<10), bw: bufio.NewWriterSize(c, 4<<10)}, nil
}

// startBareProxy re-executes the harness in the bare-proxy role, with
// net/http's parsers or ("raw") the hand-written ones.
func startBareProxy(upstream string, s secrets, parser string) (*target, error) {
	start := time.Now()
	cmd, addr, err := startRole(bareProxyRole, "CLIPBRIDGE_BENCH_PARSER="+parser, "CLIPBRIDGE_BENCH_UPSTREAM="+upstream,
		"CLIPBRIDGE_BENCH_BRIDGE_TOKEN="+s.bridgeToken, "CLIPBRIDGE_BENCH_RUN_TOKEN="+s.runToken,
		"CLIPBRIDGE_BENCH_RUN_ID="+s.runID)
	if err != nil {
		return nil, err
	}
	stop := func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	return &target{base: "http://" + addr, auth: "Bearer " + s.bridgeToken,
		proc: tree(cmd.Process.Pid), startup: time.Since(start), stop: stop}, nil
}
